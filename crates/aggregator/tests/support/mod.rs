//! Starts an aggregator on a fixture repo, in this process, on a free loopback port.
#![allow(dead_code)]

use std::time::Duration;

use serde_json::Value;
use slipway_aggregator::AggregatorConfig;
use slipway_kit::Drain;

pub const CI_TOKEN: &str = "ci-secret-token";
pub const ALICE_TOKEN: &str = "alice-secret-token";

/// A small repo: `latest` feeds `dev`, which is deployed.
pub const REPO: &str = r#"
commits:
  - message: initial
    name: initial
    files:
      transitions.yaml: |
        transitions:
          dev: {source: latest, target: dev}
      deployers.yaml: |
        deployers:
          dev: {cluster: main, namespace: dev}
      latest/version/s1.yaml: "version: '1'\n"
      dev/version/s1.yaml: "version: '1'\n"
      dev/base/s1.yaml: |
        apiVersion: v1
        kind: ConfigMap
        metadata: {name: s1}
        data: {version: "${version}"}
"#;

pub struct Harness {
    pub repo: git_fixture::TempRepo,
    pub base: String,
    pub http: reqwest::Client,
    shutdown: Drain,
    task: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

pub fn config(repo: &git_fixture::TempRepo) -> AggregatorConfig {
    let tokens = repo.scratch("tokens");
    std::fs::write(&tokens, format!("ci:{CI_TOKEN}\nalice:{ALICE_TOKEN}\n")).unwrap();
    let mut c = AggregatorConfig::new(repo.url(), repo.scratch("aggregator-checkout"));
    c.api_tokens_file = Some(tokens);
    c.ui_path = repo.scratch("ui-not-built");
    c.poll_interval = Duration::from_millis(200);
    c.peer_poll_interval = Duration::from_millis(50);
    c.peer_timeout = Duration::from_secs(2);
    c
}

impl Harness {
    pub async fn start(yaml: &str) -> Harness {
        Harness::start_with(yaml, |_| {}).await
    }

    pub async fn start_with(yaml: &str, tweak: impl FnOnce(&mut AggregatorConfig)) -> Harness {
        let repo = git_fixture::temp(yaml).unwrap();
        let mut c = config(&repo);
        tweak(&mut c);
        Harness::start_on(repo, c).await
    }

    /// Starts on an existing fixture repo with a given config.
    pub async fn start_on(repo: git_fixture::TempRepo, c: AggregatorConfig) -> Harness {
        Harness::start_on_clock(repo, c, slipway_kit::clock::SystemClock::shared()).await
    }

    /// [`Harness::start_on`] with a given clock.
    pub async fn start_on_clock(
        repo: git_fixture::TempRepo,
        c: AggregatorConfig,
        clock: slipway_kit::clock::SharedClock,
    ) -> Harness {
        let shutdown = Drain::new();
        let running = slipway_aggregator::start_with_clock(c, shutdown.clone(), clock)
            .await
            .unwrap();
        Harness {
            repo,
            base: format!("http://{}", running.addr),
            http: reqwest::Client::new(),
            shutdown,
            task: Some(running.task),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Sends a request; returns status and JSON body (Null when not JSON).
    pub async fn send(&self, method: &str, path: &str, token: Option<&str>, body: Option<Value>) -> (u16, Value) {
        let mut req = self.http.request(method.parse().unwrap(), self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let response = req.send().await.unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    pub async fn post_version(&self, service: &str, env: &str, version: &str) -> (u16, Value) {
        self.send(
            "POST",
            "/api/versions",
            Some(CI_TOKEN),
            Some(serde_json::json!({"service": service, "env": env, "vars": {"version": version}, "changelog": format!("{service} {version}")})),
        )
        .await
    }

    pub async fn state(&self) -> Value {
        let (status, body) = self.send("GET", "/api/state", None, None).await;
        assert_eq!(status, 200, "{body}");
        body
    }

    pub async fn stop(mut self) {
        self.shutdown.begin();
        if let Some(task) = self.task.take() {
            tokio::time::timeout(Duration::from_secs(10), task)
                .await
                .expect("the aggregator shuts down promptly")
                .unwrap()
                .unwrap();
        }
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        self.shutdown.begin();
    }
}

/// Polls `check` until it returns true, up to 10 s.
pub async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while tokio::time::Instant::now() < deadline {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("timed out waiting for: {what}");
}
