//! The deployer's API as the transitioner uses it: its status, and a nudge after a push.

use std::time::Duration;

use slipway_core::status::DeployerStatus;

/// A client of the deployer's HTTP API.
#[derive(Debug, Clone)]
pub struct DeployerClient {
    base: String,
    http: reqwest::Client,
}

impl DeployerClient {
    /// A client for the deployer at `base_url` (e.g. `http://deployer:8080`).
    pub fn new(base_url: &str, timeout: Duration) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .build()?;
        Ok(DeployerClient {
            base: base_url.trim_end_matches('/').to_string(),
            http,
        })
    }

    /// `GET /status`; the error says, for the transition's status, why it is unavailable.
    pub async fn status(&self) -> Result<DeployerStatus, String> {
        let url = format!("{}/status", self.base);
        let response = self
            .http
            .get(&url)
            .send()
            .await
            .map_err(|e| format!("deployer unreachable at {url}: {}", error_chain(&e)))?;
        if !response.status().is_success() {
            return Err(format!("deployer answered {} at {url}", response.status()));
        }
        response
            .json::<DeployerStatus>()
            .await
            .map_err(|e| format!("deployer sent an unreadable status at {url}: {}", error_chain(&e)))
    }

    /// `POST /refresh`, so the deployer applies a promotion without waiting for its poll.
    /// Failures only delay the deploy until the deployer's next poll, so they are logged, not returned.
    pub async fn refresh(&self) {
        let url = format!("{}/refresh", self.base);
        if let Err(e) = self.http.post(&url).send().await {
            tracing::debug!("cannot ask the deployer to refresh at {url}: {}", error_chain(&e));
        }
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(&format!(": {s}"));
        source = s.source();
    }
    text
}
