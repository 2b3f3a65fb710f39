//! What the UI shows of a playground-like stack: deployables, live trees, logs and diffs.

use std::time::Duration;

use anyhow::Result;
use integration_test::client::{wait_for, Api};
use integration_test::stack::{Stack, StackOptions};
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(90);

async fn start() -> Result<(tempfile::TempDir, Stack, Api)> {
    let dir = tempfile::Builder::new().prefix("slipway-visibility-").tempdir()?;
    let mut opts = StackOptions::new(&dir.path().join("stack"));
    opts.rollout_delay = Duration::from_millis(300);
    opts.poll_interval = Duration::from_millis(500);
    let stack = Stack::start(opts).await?;
    let api = Api::new(&stack.aggregator.url, &stack.token);
    Ok((dir, stack, api))
}

/// How many units (services and deployable files) the state shows in `env`.
fn units_shown(state: &Value, env: &str) -> usize {
    let count = |key: &str| {
        state[key]
            .as_array()
            .map(|rows| rows.iter().filter(|r| r["envs"].get(env).is_some()).count())
            .unwrap_or(0)
    };
    count("services") + count("deployables")
}

#[tokio::test(flavor = "multi_thread")]
async fn redis_deployable_is_in_state_per_env_and_env_summaries_count_it() -> Result<()> {
    let (_dir, stack, api) = start().await?;
    let state = wait_for(WAIT, "redis Clean in every deployed env", || async {
        let state = api.state().await?;
        let redis = state["deployables"]
            .as_array()
            .and_then(|rows| rows.iter().find(|r| r["file"] == "redis.yaml"))
            .cloned()
            .unwrap_or_default();
        let statuses: Vec<String> = ["dev", "pp", "prod"]
            .iter()
            .map(|e| redis["envs"][e]["status"].as_str().unwrap_or("-").to_string())
            .collect();
        if statuses.iter().all(|s| s == "Clean") {
            Ok(Ok(state))
        } else {
            Ok(Err(format!("redis statuses {statuses:?}")))
        }
    })
    .await?;
    let redis = state["deployables"]
        .as_array()
        .and_then(|rows| rows.iter().find(|r| r["file"] == "redis.yaml"))
        .unwrap();
    assert_eq!(redis["envs"]["dev"]["path"], "dev/deployable/redis.yaml");
    assert_eq!(redis["envs"]["dev"]["phase"], "Deployed");
    let kinds: Vec<&str> = redis["envs"]["dev"]["resources"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["kind"].as_str())
        .collect();
    assert!(kinds.contains(&"Deployment") && kinds.contains(&"Service"), "{kinds:?}");
    assert!(redis["envs"].get("latest").is_none(), "latest is not deployed");

    // What the deployer counts in an env is what the state shows in it.
    let status: Value = reqwest::get(format!("{}/status", stack.deployer.url))
        .await?
        .json()
        .await?;
    for env in ["dev", "pp", "prod"] {
        let counted = status["envs"][env]["services"]
            .as_object()
            .map(|m| m.len())
            .unwrap_or(0);
        assert_eq!(counted, 3, "web, api and redis in {env}");
        assert_eq!(units_shown(&state, env), counted, "{env}");
    }
    stack.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn the_aggregator_serves_the_deployers_live_view_of_a_service_and_a_deployable() -> Result<()> {
    let (_dir, stack, api) = start().await?;
    let view = wait_for(WAIT, "web in dev: Deployment → ReplicaSet → 2 ready Pods", || async {
        let (status, view) = api.call("GET", "/api/envs/dev/services/web/live", None).await?;
        let deployment = view["objects"]
            .as_array()
            .and_then(|o| o.iter().find(|o| o["kind"] == "Deployment"))
            .cloned()
            .unwrap_or_default();
        let pods = deployment["children"][0]["pods"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        if status == 200 && pods.len() == 2 && pods.iter().all(|p| p["ready"] == true) {
            Ok(Ok(view))
        } else {
            Ok(Err(format!("{status}: {view}")))
        }
    })
    .await?;
    assert_eq!(view["namespace"], "slipway-dev");
    let (status, redis) = api
        .call("GET", "/api/envs/dev/deployables/redis.yaml/live", None)
        .await?;
    assert_eq!(status, 200, "{redis}");
    assert_eq!(redis["unit"], "deployable/redis.yaml");
    let (status, body) = api.call("GET", "/api/envs/dev/services/nope/live", None).await?;
    assert_eq!(status, 404, "{body}");
    assert!(body["error"].as_str().unwrap_or_default().contains("nope"), "{body}");
    stack.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn the_aggregator_streams_a_pods_log_from_the_deployer() -> Result<()> {
    let (_dir, stack, api) = start().await?;
    wait_for(WAIT, "a ready pod of web in dev", || async {
        let (status, view) = api.call("GET", "/api/envs/dev/services/web/live", None).await?;
        let ready = view["objects"]
            .as_array()
            .and_then(|o| o.iter().find(|o| o["kind"] == "Deployment"))
            .map(|d| d["children"][0]["pods"][0]["ready"] == true)
            .unwrap_or(false);
        Ok(if status == 200 && ready {
            Ok(())
        } else {
            Err(format!("{status}: {view}"))
        })
    })
    .await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let url = format!("{}/api/envs/dev/services/web/logs?tail=3", stack.aggregator.url);
    let response = reqwest::get(&url).await?;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let body = response.text().await?;
    assert_eq!(body.matches("event: line").count(), 3, "{body}");
    assert!(body.contains("event: end"), "{body}");
    stack.stop().await;
    Ok(())
}
