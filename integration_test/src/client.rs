//! A small client of the aggregator API, and waiting for conditions, for tests and tools.

use std::future::Future;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail};
use serde_json::{json, Value};

/// The aggregator API with a bearer token.
#[derive(Clone)]
pub struct Api {
    pub base: String,
    pub token: String,
    http: reqwest::Client,
}

impl Api {
    pub fn new(base: &str, token: &str) -> Self {
        Api {
            base: base.trim_end_matches('/').to_string(),
            token: token.to_string(),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap_or_default(),
        }
    }

    async fn send(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> anyhow::Result<(u16, Value)> {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token);
        if let Some(body) = body {
            req = req.json(&body);
        }
        let resp = req.send().await?;
        let status = resp.status().as_u16();
        let text = resp.text().await?;
        let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Ok((status, value))
    }

    /// `POST /api/versions` with the example repo's version variables.
    pub async fn post_version(
        &self,
        env: &str,
        service: &str,
        version: &str,
        changelog: &str,
    ) -> anyhow::Result<(u16, Value)> {
        let image = format!("registry.example/{}:{version}", service.replace('/', "-"));
        self.post_vars(
            env,
            service,
            json!({"version": version, "image": image, "replicas": 2}),
            changelog,
        )
        .await
    }

    /// `POST /api/versions` with any variables.
    pub async fn post_vars(
        &self,
        env: &str,
        service: &str,
        vars: Value,
        changelog: &str,
    ) -> anyhow::Result<(u16, Value)> {
        self.send(
            reqwest::Method::POST,
            "/api/versions",
            Some(json!({"env": env, "service": service, "vars": vars, "changelog": changelog})),
        )
        .await
    }

    /// `GET /api/state`.
    pub async fn state(&self) -> anyhow::Result<Value> {
        let (status, body) = self.send(reqwest::Method::GET, "/api/state", None).await?;
        if status != 200 {
            bail!("GET /api/state answered {status}: {body}");
        }
        Ok(body)
    }

    /// Any request; returns the status code and the JSON body.
    pub async fn call(&self, method: &str, path: &str, body: Option<Value>) -> anyhow::Result<(u16, Value)> {
        let method = reqwest::Method::from_bytes(method.as_bytes())?;
        self.send(method, path, body).await
    }
}

/// The state of one service in one env, from a `/api/state` answer.
pub fn service_env<'a>(state: &'a Value, service: &str, env: &str) -> Option<&'a Value> {
    state["services"]
        .as_array()?
        .iter()
        .find(|s| s["name"] == service)?
        .get("envs")?
        .get(env)
}

/// Polls `check` until it returns `Some`, or fails after `timeout` naming `what`
/// and the last observation.
pub async fn wait_for<T, F, Fut>(timeout: Duration, what: &str, mut check: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<Result<T, String>>>,
{
    let start = Instant::now();
    loop {
        let last = match check().await {
            Ok(Ok(value)) => return Ok(value),
            Ok(Err(observed)) => observed,
            Err(e) => format!("error: {e:#}"),
        };
        if start.elapsed() > timeout {
            return Err(anyhow!(
                "timed out after {timeout:?} waiting for {what}; last seen: {last}"
            ));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
