//! The real binary, killed with SIGKILL in the middle of a stream of posts:
//! every post it answered `201` is in the repo after a restart.

use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::Notify;

const REPO: &str = r#"
commits:
  - message: initial
    files:
      latest/version/s0.yaml: "version: '0'\n"
"#;

const TOKEN: &str = "crash-test-token";

/// Starts the binary and waits for its `listening on` line.
async fn start(config: &std::path::Path) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_slipway-aggregator"))
        .args(["serve", "--config"])
        .arg(config)
        .env("CRASH_TEST_TOKENS", format!("ci:{TOKEN}"))
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("the aggregator binary starts");
    let stdout = child.stdout.take().expect("stdout is piped");
    let mut lines = BufReader::new(stdout).lines();
    let line = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(line) = lines.next_line().await.expect("stdout is readable") {
            if line.contains("listening on") {
                return line;
            }
        }
        panic!("the aggregator exited before listening");
    })
    .await
    .expect("the aggregator prints its listening line within 30 s");
    let url = line
        .split("listening on ")
        .nth(1)
        .expect("the line names the URL")
        .trim()
        .to_string();
    // Keep reading stdout so the process never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    (child, url)
}

#[tokio::test]
async fn every_post_answered_201_survives_a_sigkill() {
    let repo = git_fixture::temp(REPO).unwrap();
    let config = repo.scratch("aggregator.yaml");
    std::fs::write(
        &config,
        format!(
            "versions_url: {}\nversions_checkout_path: {}\napi_tokens_env: CRASH_TEST_TOKENS\nui_path: {}\npoll_interval: 1s\n",
            repo.url(),
            repo.scratch("checkout").display(),
            repo.scratch("ui").display()
        ),
    )
    .unwrap();
    let (mut child, url) = start(&config).await;

    let accepted: Arc<Mutex<Vec<(String, String, String)>>> = Arc::default();
    // Told after every accepted post, so the kill waits on the count, not on a clock.
    let counted = Arc::new(Notify::new());
    let stop = Arc::new(AtomicBool::new(false));
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let mut clients = Vec::new();
    for client in 0..4 {
        let (accepted, counted, stop, http, url) = (
            accepted.clone(),
            counted.clone(),
            stop.clone(),
            http.clone(),
            url.clone(),
        );
        clients.push(tokio::spawn(async move {
            let mut n = 0;
            while !stop.load(Ordering::SeqCst) {
                n += 1;
                let service = format!("c{client}-n{n}");
                let version = format!("{client}.{n}");
                let body = json!({"service": service, "env": "latest", "vars": {"version": version}});
                let Ok(response) = http
                    .post(format!("{url}/api/versions"))
                    .bearer_auth(TOKEN)
                    .json(&body)
                    .send()
                    .await
                else {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                    continue;
                };
                if response.status().as_u16() == 201 {
                    if let Ok(answer) = response.json::<Value>().await {
                        let commit = answer["commit"].as_str().unwrap_or_default().to_string();
                        accepted.lock().unwrap().push((service, version, commit));
                        counted.notify_one();
                    }
                }
            }
        }));
    }
    // Kill it while posts are in flight.
    tokio::time::timeout(Duration::from_secs(60), async {
        while accepted.lock().unwrap().len() < 40 {
            counted.notified().await;
        }
    })
    .await
    .expect("40 posts are accepted within 60 s");
    child.start_kill().unwrap();
    child.wait().await.unwrap();
    stop.store(true, Ordering::SeqCst);
    for c in clients {
        c.await.unwrap();
    }

    let (mut child, url) = start(&config).await;
    let accepted = accepted.lock().unwrap().clone();
    let log = repo.log();
    for (service, version, commit) in &accepted {
        assert_eq!(
            repo.read(&format!("latest/version/{service}.yaml")).as_deref(),
            Some(format!("version: '{version}'\n").as_str()),
            "{service} was answered 201 but is not in the repo"
        );
        assert!(
            log.iter().any(|(id, _, _)| id == commit),
            "commit {commit} of {service} is missing"
        );
    }
    // The restarted aggregator accepts posts again.
    let response = http
        .post(format!("{url}/api/versions"))
        .bearer_auth(TOKEN)
        .json(&json!({"service": "after-restart", "env": "latest", "vars": {"version": "1"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 201);
    child.start_kill().unwrap();
    child.wait().await.unwrap();
}

#[tokio::test]
async fn sigterm_ends_the_process_cleanly_even_with_an_open_event_stream() {
    let repo = git_fixture::temp(REPO).unwrap();
    let config = repo.scratch("aggregator.yaml");
    std::fs::write(
        &config,
        format!(
            "versions_url: {}\nversions_checkout_path: {}\napi_tokens_env: CRASH_TEST_TOKENS\n",
            repo.url(),
            repo.scratch("checkout").display(),
        ),
    )
    .unwrap();
    let (mut child, url) = start(&config).await;
    let events = reqwest::get(format!("{url}/api/events")).await.unwrap();
    assert_eq!(events.status().as_u16(), 200);
    let pid = child.id().expect("the process runs").to_string();
    let killed = Command::new("kill").args(["-TERM", &pid]).status().await.unwrap();
    assert!(killed.success());
    let status = tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .expect("the aggregator stops within 10 s of SIGTERM")
        .unwrap();
    assert!(status.success(), "{status}");
    drop(events);
}
