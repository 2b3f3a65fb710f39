//! The real binary under SIGTERM: a transition run in flight finishes (its
//! promotion is committed), then the process exits 0.

mod support;

use std::sync::Arc;
use std::time::Duration;

use axum::routing::get;
use axum::Router;
use slipway_core::status::RolloutStatus;
use support::*;
use tokio::sync::Notify;

const PP: &str = r#"
commits:
  - message: setup
    files:
      transitions.yaml: "transitions:\n  pp: {source: dev, target: pp, preconditions: [SourceClean]}\n"
      dev/version/s1.yaml: "version: '1'\n"
      pp/version/s1.yaml: "version: '1'\n"
  - message: s1 2
    name: promoted
    files:
      dev/version/s1.yaml: "version: '2'\n"
"#;

/// A deployer whose `GET /status` tells `asked`, then answers `real`'s status a
/// second later: a run that asks is in flight for that second.
async fn slow_deployer(real: String, asked: Arc<Notify>) -> String {
    let app = Router::new().route(
        "/status",
        get(move || {
            let (real, asked) = (real.clone(), asked.clone());
            async move {
                asked.notify_one();
                tokio::time::sleep(Duration::from_secs(1)).await;
                reqwest::get(format!("{real}/status"))
                    .await
                    .unwrap()
                    .text()
                    .await
                    .unwrap()
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_during_a_transition_run_lets_it_finish_and_exits_0() {
    let repo = repo(PP);
    let promoted = repo.named("promoted").unwrap().to_string();
    let deployer = FakeDeployer::start().await;
    deployer.set_env("dev", &promoted, RolloutStatus::Clean, "", Some("2026-11-22T09:00:00Z"));
    let asked = Arc::new(Notify::new());
    let slow = slow_deployer(deployer.url(), asked.clone()).await;
    let more = format!("poll_interval: 1h\ndeployer_url: {slow}\n");
    let config = repo.service_config("t.yaml", &repo.url(), &more).unwrap();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_slipway-transitioner"))
        .args(["serve", "--config"])
        .arg(&config)
        .stdout(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();

    // The first run, at start, is waiting for the deployer's status.
    tokio::time::timeout(Duration::from_secs(20), asked.notified())
        .await
        .expect("the transitioner asks the deployer for its status");
    assert!(
        repo.read("pp/version/s1.yaml").unwrap().contains("'1'"),
        "not promoted yet"
    );
    let pid = child.id().unwrap().to_string();
    let term = tokio::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .await
        .unwrap();
    assert!(term.success());

    let exit = tokio::time::timeout(Duration::from_secs(20), child.wait())
        .await
        .expect("the transitioner exits after the run")
        .unwrap();
    assert!(exit.success(), "{exit:?}");
    assert_eq!(
        repo.read("pp/version/s1.yaml").unwrap(),
        "version: '2'\n",
        "the run in flight finished"
    );
}
