//! The admin endpoints (`/live`, `/ready`) and the JSON error shape of every
//! error answer, on a real listener. No env is deployed: no cluster is needed.

use std::time::Duration;

use serde_json::Value;
use slipway_deployer::DeployerConfig;
use slipway_kit::Drain;

const REPO: &str = "commits:\n  - message: initial\n    files:\n      deployers.yaml: \"deployers: {}\\n\"\n";

async fn get(http: &reqwest::Client, url: String) -> (u16, Value) {
    let response = http.get(url).send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn ready_is_503_until_the_first_fetch_succeeds_and_live_is_200_throughout() {
    let dir = tempfile::tempdir().unwrap();
    // The repo does not exist yet: every fetch fails until it is created.
    let origin = dir.path().join("origin.git");
    let mut config = DeployerConfig::new(origin.display().to_string(), dir.path().join("checkout"));
    config.poll_interval = Duration::from_millis(50);
    let shutdown = Drain::new();
    let running = slipway_deployer::start(config, shutdown.clone()).await.unwrap();
    let base = format!("http://{}", running.addr);
    let http = reqwest::Client::new();

    assert_eq!(get(&http, format!("{base}/live")).await.0, 200);
    let (status, body) = get(&http, format!("{base}/ready")).await;
    assert_eq!(status, 503, "{body}");
    assert!(body["error"].as_str().unwrap().contains("not been fetched"), "{body}");

    git_fixture::Fixture::from_yaml(REPO).unwrap().build(&origin).unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let seen = get(&http, format!("{base}/ready")).await;
        if seen.0 == 200 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "/ready never answered 200: {seen:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(get(&http, format!("{base}/live")).await.0, 200);
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
    let http = reqwest::Client::new();

    let (status, body) = get(&http, format!("{base}/nope")).await;
    assert_eq!((status, body["error"].as_str()), (404, Some("no such endpoint: /nope")));
    let (status, body) = get(&http, format!("{base}/refresh")).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (405, Some("method GET is not allowed on /refresh"))
    );
    let response = http.post(format!("{base}/status")).send().await.unwrap();
    assert_eq!(response.status(), 405);
    assert!(response.json::<Value>().await.unwrap()["error"].is_string());
    shutdown.begin();
    running.task.await.unwrap().unwrap();
}
