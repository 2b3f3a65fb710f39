//! The admin endpoints (`/live`, `/ready`) and the JSON error shape of every
//! error answer, on a real listener. No env is deployed: no cluster is needed.

use std::time::Duration;

use slipway_deployer::DeployerConfig;
use slipway_kit::testing::{assert_json_errors_for_unknown_paths_and_methods, assert_ready_only_after_the_first_fetch};
use slipway_kit::Drain;

const REPO: &str = "commits:\n  - message: initial\n    files:\n      deployers.yaml: \"deployers: {}\\n\"\n";

#[tokio::test]
async fn ready_is_503_until_the_first_fetch_succeeds_and_live_is_200_throughout() {
    let dir = tempfile::tempdir().unwrap();
    // The repo does not exist yet: every fetch fails until it is created.
    let origin = dir.path().join("origin.git");
    let mut config = DeployerConfig::new(origin.display().to_string(), dir.path().join("checkout"));
    config.poll_interval = Duration::from_millis(50);
    let shutdown = Drain::new();
    let running = slipway_deployer::start(config, shutdown.clone()).await.unwrap();
    assert_ready_only_after_the_first_fetch(&format!("http://{}", running.addr), || {
        git_fixture::Fixture::from_yaml(REPO).unwrap().build(&origin).unwrap();
    })
    .await;
    shutdown.begin();
    running.task.await.unwrap().unwrap();
}

#[tokio::test]
async fn every_error_answer_is_the_json_error_shape_including_404_and_405() {
    let repo = git_fixture::temp(REPO).unwrap();
    let config = DeployerConfig::new(repo.url(), repo.scratch("checkout"));
    let shutdown = Drain::new();
    let running = slipway_deployer::start(config, shutdown.clone()).await.unwrap();
    let base = format!("http://{}", running.addr);
    assert_json_errors_for_unknown_paths_and_methods(&base, "/nope").await;
    let response = reqwest::Client::new()
        .post(format!("{base}/status"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 405);
    assert!(response.json::<serde_json::Value>().await.unwrap()["error"].is_string());
    shutdown.begin();
    running.task.await.unwrap().unwrap();
}
