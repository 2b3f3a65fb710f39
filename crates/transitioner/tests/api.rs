//! The HTTP API on a real listener (docs/http-api.md, "Transitioner").

mod support;

use std::time::Duration;

use serde_json::Value;
use slipway_common::status::{TransitionResult, TransitionerStatus};
use slipway_transitioner::{start, Config, ManualClock};
use support::*;
use tokio_util::sync::CancellationToken;

#[tokio::test]
async fn api_serves_health_status_refresh_manual_runs_and_metrics() {
    let repo = repo(
        r#"
commits:
  - message: setup
    files:
      transitions.yaml: "transitions:\n  dev: {source: latest, target: dev}\n  prod: {source: dev, target: prod, manual: true}\n"
      latest/version/s1.yaml: "version: '1'\n"
      dev/version/s1.yaml: "version: '1'\n"
"#,
    );
    let mut config = Config::new(repo.url(), repo.scratch("checkout"));
    // Long enough that only /refresh makes the second run happen.
    config.poll_interval = Duration::from_secs(3600);
    let shutdown = CancellationToken::new();
    let clock = std::sync::Arc::new(ManualClock::new(at("2026-11-22T10:00:00Z")));
    let running = start(&config, clock, shutdown.clone()).await.unwrap();
    let base = format!("http://{}", running.addr);
    let http = reqwest::Client::new();

    let health: Value = http
        .get(format!("{base}/health"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health, serde_json::json!({"status": "ok"}));

    // The first poll runs at start.
    let status = wait_for(&http, &base, |s| {
        s.transitions.len() == 2 && s.transitions.iter().all(|t| t.result.is_some())
    })
    .await;
    assert_eq!(status.transitions[0].name, "dev");
    assert_eq!(status.transitions[1].result, Some(TransitionResult::Skipped));
    assert!(status.transitions[1].manual);

    // A new version and POST /refresh: promoted without waiting for the poll interval.
    repo.commit("s1 2", &[("latest/version/s1.yaml", Some("version: '2'\n"))])
        .unwrap();
    let refresh = http.post(format!("{base}/refresh")).send().await.unwrap();
    assert_eq!(refresh.status(), 202);
    let status = wait_for(&http, &base, |s| !s.transitions[0].recent_runs.is_empty()).await;
    assert_eq!(status.transitions[0].recent_runs[0].promotions[0].new, "2");
    assert_eq!(repo.read("dev/version/s1.yaml").unwrap(), "version: '2'\n");

    // The manual transition runs on request.
    let run = http.post(format!("{base}/transitions/prod/run")).send().await.unwrap();
    assert_eq!(run.status(), 200);
    let run: Value = run.json().await.unwrap();
    assert_eq!(run["result"], "Success");
    assert_eq!(run["commit"].as_str(), repo.head().as_deref());
    assert_eq!(repo.read("prod/version/s1.yaml").unwrap(), "version: '2'\n");
    // Again: nothing left to promote.
    let run: Value = http
        .post(format!("{base}/transitions/prod/run"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(run["result"], "Skipped");
    assert_eq!(run["commit"], Value::Null);

    let missing = http.post(format!("{base}/transitions/nope/run")).send().await.unwrap();
    assert_eq!(missing.status(), 404);
    let missing: Value = missing.json().await.unwrap();
    assert!(missing["error"].as_str().unwrap().contains("nope"), "{missing}");
    assert_eq!(missing["field"], "name");

    let metrics = http
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("slipway_transitioner_runs_total{transition=\"dev\",result=\"Success\"} 1"),
        "{metrics}"
    );

    shutdown.cancel();
    running.task.await.unwrap().unwrap();
}

async fn wait_for(
    http: &reqwest::Client,
    base: &str,
    done: impl Fn(&TransitionerStatus) -> bool,
) -> TransitionerStatus {
    for _ in 0..500 {
        let status: TransitionerStatus = http
            .get(format!("{base}/status"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if done(&status) {
            return status;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the transitioner status never reached the expected state");
}
