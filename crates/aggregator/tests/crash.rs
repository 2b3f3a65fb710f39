//! The real binary, killed with SIGKILL in the middle of a stream of posts:
//! every post it answered `201` is in the repo after a restart; and stopped
//! with SIGTERM: it finishes the push in flight and answers it, then exits 0.

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

/// The binary, started: the process, its URL, and its log (stderr) so far.
struct Started {
    child: Child,
    url: String,
    log: Arc<Mutex<String>>,
}

impl Started {
    /// Sends the process SIGTERM.
    async fn terminate(&self) {
        let pid = self.child.id().expect("the process runs").to_string();
        let sent = Command::new("kill").args(["-TERM", &pid]).status().await.unwrap();
        assert!(sent.success());
    }

    /// Waits up to 20 s for its log to have a line with `text`.
    async fn logged(&self, text: &str) {
        tokio::time::timeout(Duration::from_secs(20), async {
            while !self.log.lock().unwrap().contains(text) {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await
        .unwrap_or_else(|_| panic!("no {text:?} in the log: {}", self.log.lock().unwrap()));
    }
}

/// Starts the binary (logging at `rust_log`) and waits for its `listening on` line.
async fn start(config: &std::path::Path, rust_log: &str) -> Started {
    let mut child = Command::new(env!("CARGO_BIN_EXE_slipway-aggregator"))
        .args(["serve", "--config"])
        .arg(config)
        .env("CRASH_TEST_TOKENS", format!("ci:{TOKEN}"))
        .env("RUST_LOG", rust_log)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("the aggregator binary starts");
    let log: Arc<Mutex<String>> = Arc::default();
    let mut stderr = BufReader::new(child.stderr.take().expect("stderr is piped")).lines();
    let kept = log.clone();
    tokio::spawn(async move {
        while let Ok(Some(line)) = stderr.next_line().await {
            let mut log = kept.lock().unwrap();
            log.push_str(&line);
            log.push('\n');
        }
    });
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
    Started { child, url, log }
}

#[tokio::test]
async fn every_post_answered_201_survives_a_sigkill() {
    let repo = git_fixture::temp(REPO).unwrap();
    let more = format!(
        "api_tokens_env: CRASH_TEST_TOKENS\nui_path: {}\npoll_interval: 1s\n",
        repo.scratch("ui").display()
    );
    let config = repo.service_config("aggregator.yaml", &repo.url(), &more).unwrap();
    let Started { mut child, url, .. } = start(&config, "warn").await;

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

    let Started { mut child, url, .. } = start(&config, "warn").await;
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
    let config = repo
        .service_config("aggregator.yaml", &repo.url(), "api_tokens_env: CRASH_TEST_TOKENS\n")
        .unwrap();
    let mut started = start(&config, "warn").await;
    let events = reqwest::get(format!("{}/api/events", started.url)).await.unwrap();
    assert_eq!(events.status().as_u16(), 200);
    started.terminate().await;
    let status = tokio::time::timeout(Duration::from_secs(10), started.child.wait())
        .await
        .expect("the aggregator stops within 10 s of SIGTERM")
        .unwrap();
    assert!(status.success(), "{status}");
    drop(events);
}

/// A `pre-receive` hook that says a push arrived (creates `arrived`) and holds
/// it until `release` exists, so a test can act while a push is in flight.
fn hold_pushes(repo: &git_fixture::TempRepo, arrived: &std::path::Path, release: &std::path::Path) {
    use std::os::unix::fs::PermissionsExt as _;
    let hook = repo.path.join("hooks/pre-receive");
    std::fs::create_dir_all(hook.parent().unwrap()).unwrap();
    std::fs::write(
        &hook,
        format!(
            "#!/bin/sh\n: > '{}'\nwhile [ ! -e '{}' ]; do sleep 0.02; done\n",
            arrived.display(),
            release.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// An aggregator whose remote holds pushes, and a post whose push is held there.
struct HeldPush {
    repo: git_fixture::TempRepo,
    _remote: git_fixture::http::HttpRemote,
    release: std::path::PathBuf,
    started: Started,
    post: tokio::task::JoinHandle<reqwest::Result<reqwest::Response>>,
}

impl HeldPush {
    async fn start() -> HeldPush {
        let repo = git_fixture::temp(REPO).unwrap();
        let (arrived, release) = (repo.scratch("push-arrived"), repo.scratch("push-release"));
        hold_pushes(&repo, &arrived, &release);
        // Over smart HTTP, so the push runs the remote's hooks.
        let remote = git_fixture::http::HttpRemote::serve(&repo.path).unwrap();
        let more = "api_tokens_env: CRASH_TEST_TOKENS\npoll_interval: 1h\n";
        let config = repo.service_config("aggregator.yaml", &remote.url(), more).unwrap();
        let started = start(&config, "info").await;
        let post = tokio::spawn(
            reqwest::Client::new()
                .post(format!("{}/api/versions", started.url))
                .bearer_auth(TOKEN)
                .json(&json!({"service": "s1", "env": "latest", "vars": {"version": "2"}}))
                .send(),
        );
        tokio::time::timeout(Duration::from_secs(20), async {
            while !arrived.exists() {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await
        .expect("the push reaches the remote");
        HeldPush {
            repo,
            _remote: remote,
            release,
            started,
            post,
        }
    }

    /// Sends SIGTERM, checks that the process waits (its log says `waiting`),
    /// lets the push go on, and returns once the process exited 0 with the version pushed.
    async fn terminate_then_release(&mut self, waiting: &str) {
        self.started.terminate().await;
        self.started.logged(waiting).await;
        assert!(
            self.started.child.try_wait().unwrap().is_none(),
            "the process waits for the push in flight"
        );
        std::fs::write(&self.release, "").unwrap();
        let status = tokio::time::timeout(Duration::from_secs(20), self.started.child.wait())
            .await
            .expect("the aggregator exits after the push")
            .unwrap();
        assert!(status.success(), "{status}");
        assert_eq!(
            self.repo.read("latest/version/s1.yaml").as_deref(),
            Some("version: '2'\n")
        );
    }
}

#[tokio::test]
async fn sigterm_during_a_push_lets_it_finish_answers_the_post_and_exits_0() {
    let mut held = HeldPush::start().await;
    held.terminate_then_release("shutting down").await;
    let answer = tokio::time::timeout(Duration::from_secs(20), &mut held.post)
        .await
        .expect("the post is answered")
        .unwrap()
        .expect("the post is answered, not cut off");
    assert_eq!(answer.status().as_u16(), 201);
}

#[tokio::test]
async fn sigterm_waits_for_a_push_whose_client_went_away() {
    let mut held = HeldPush::start().await;
    // The client gives up: its connection closes while the push is held.
    held.post.abort();
    let _ = (&mut held.post).await;
    held.terminate_then_release("waiting for the work in flight to finish")
        .await;
}
