//! The admin endpoints (`/live`, `/ready`) and the JSON error shape of every
//! error answer, on a real listener.

mod support;

use std::time::Duration;

use serde_json::Value;
use slipway_kit::testing::{assert_json_errors_for_unknown_paths_and_methods, assert_ready_only_after_the_first_fetch};
use slipway_kit::Drain;
use slipway_transitioner::{start, Config, ManualClock};
use support::*;

const REPO: &str = r#"
commits:
  - message: setup
    files:
      transitions.yaml: "transitions:\n  dev: {source: latest, target: dev}\n"
      latest/version/s1.yaml: "version: '1'\n"
"#;

#[tokio::test]
async fn ready_is_503_until_the_first_fetch_succeeds_and_live_is_200_throughout() {
    let dir = tempfile::tempdir().unwrap();
    // The repo does not exist yet: every fetch fails until it is created.
    let origin = dir.path().join("origin.git");
    let mut config = Config::new(origin.display().to_string(), dir.path().join("checkout"));
    config.poll_interval = Duration::from_millis(50);
    let shutdown = Drain::new();
    let clock = std::sync::Arc::new(ManualClock::new(at("2026-11-22T10:00:00Z")));
    let running = start(&config, clock, shutdown.clone()).await.unwrap();
    assert_ready_only_after_the_first_fetch(&format!("http://{}", running.addr), || {
        git_fixture::Fixture::from_yaml(REPO).unwrap().build(&origin).unwrap();
    })
    .await;
    shutdown.begin();
    running.task.await.unwrap().unwrap();
}

#[tokio::test]
async fn every_error_answer_is_the_json_error_shape_including_404_and_405() {
    let repo = repo(REPO);
    let config = Config::new(repo.url(), repo.scratch("checkout"));
    let shutdown = Drain::new();
    let clock = std::sync::Arc::new(ManualClock::new(at("2026-11-22T10:00:00Z")));
    let running = start(&config, clock, shutdown.clone()).await.unwrap();
    let base = format!("http://{}", running.addr);
    assert_json_errors_for_unknown_paths_and_methods(&base, "/no/such/path").await;
    // A refusal of the API itself keeps its own message.
    let response = reqwest::Client::new()
        .post(format!("{base}/transitions/dev/run"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    let body: Value = response.json().await.unwrap();
    assert!(body["error"].as_str().unwrap().contains("api_tokens_file"), "{body}");
    shutdown.begin();
    running.task.await.unwrap().unwrap();
}
