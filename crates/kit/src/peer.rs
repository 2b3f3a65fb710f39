//! The client one service uses for another's API: `GET /status`, `POST
//! /refresh`, and posts that carry the peer token. Every call is bounded by
//! the configured timeout, so a hung peer delays nothing past it.

use std::time::Duration;

use serde::de::DeserializeOwned;

/// Why a peer's answer is not available.
#[derive(Debug, thiserror::Error)]
pub enum PeerError {
    /// The HTTP client could not be built (TLS set-up).
    #[error("cannot set up the HTTP client for the {peer} at {url}: {reason}")]
    Setup {
        peer: &'static str,
        url: String,
        reason: String,
    },
    /// No answer: connection refused, DNS, timeout.
    #[error("{peer} unreachable at {url}: {reason}")]
    Unreachable {
        peer: &'static str,
        url: String,
        reason: String,
    },
    /// An answer that is not a success.
    #[error("{peer} answered {status} at {url}")]
    Status {
        peer: &'static str,
        url: String,
        status: reqwest::StatusCode,
    },
    /// A success whose body is not what the peer's API promises.
    #[error("{peer} sent an unreadable status at {url}: {reason}")]
    Unreadable {
        peer: &'static str,
        url: String,
        reason: String,
    },
}

/// A client of one peer service.
#[derive(Debug, Clone)]
pub struct PeerClient {
    peer: &'static str,
    base: String,
    http: reqwest::Client,
    /// Like `http` with the timeout on connecting only, for answers that stream
    /// for as long as the caller reads (followed logs).
    streaming: reqwest::Client,
    token: Option<String>,
}

impl PeerClient {
    /// A client for the service `peer` (`"deployer"`, `"transitioner"`: it names
    /// the peer in errors) at `base_url`; `token` goes with [`PeerClient::post`].
    pub fn new(
        peer: &'static str,
        base_url: &str,
        timeout: Duration,
        token: Option<String>,
    ) -> Result<Self, PeerError> {
        let base = base_url.trim_end_matches('/').to_string();
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .build()
            .map_err(|e| PeerError::Setup {
                peer,
                url: base.clone(),
                reason: error_chain(&e),
            })?;
        let streaming = reqwest::Client::builder()
            .connect_timeout(timeout)
            .build()
            .map_err(|e| PeerError::Setup {
                peer,
                url: base.clone(),
                reason: error_chain(&e),
            })?;
        Ok(PeerClient {
            peer,
            base,
            http,
            streaming,
            token,
        })
    }

    /// The peer's URL for `path` (which starts with `/`).
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The same peer (clients, token) at another address: one replica of it
    /// that the one at the configured URL named.
    pub fn at(&self, base_url: &str) -> PeerClient {
        PeerClient {
            base: base_url.trim_end_matches('/').to_string(),
            ..self.clone()
        }
    }

    /// Whether a peer token is configured.
    pub fn has_token(&self) -> bool {
        self.token.is_some()
    }

    /// `GET /status`, read as `T`.
    pub async fn status<T: DeserializeOwned>(&self) -> Result<T, PeerError> {
        let url = self.url("/status");
        let response = self.http.get(&url).send().await.map_err(|e| PeerError::Unreachable {
            peer: self.peer,
            url: url.clone(),
            reason: error_chain(&e),
        })?;
        if !response.status().is_success() {
            return Err(PeerError::Status {
                peer: self.peer,
                url,
                status: response.status(),
            });
        }
        response.json::<T>().await.map_err(|e| PeerError::Unreadable {
            peer: self.peer,
            url,
            reason: error_chain(&e),
        })
    }

    /// `POST /refresh`, so the peer looks at the repo without waiting for its poll.
    /// A failure only delays that until the peer's next poll: logged, not returned.
    pub async fn refresh(&self) {
        let url = self.url("/refresh");
        if let Err(e) = self.http.post(&url).send().await {
            tracing::debug!(
                "cannot ask the {} to refresh at {url} (its own poll will catch up): {}",
                self.peer,
                error_chain(&e)
            );
        }
    }

    /// A `GET` of `path` (with its query), for reads the caller forwards.
    pub fn get(&self, path: &str) -> reqwest::RequestBuilder {
        self.http.get(self.url(path))
    }

    /// A `GET` of `path` whose answer may stream for long: only connecting is
    /// bounded by the timeout; the caller ends it by dropping the response.
    pub fn get_streaming(&self, path: &str) -> reqwest::RequestBuilder {
        self.streaming.get(self.url(path))
    }

    /// A `POST` to `path` with the peer token as bearer token, for writes.
    pub fn post(&self, path: &str) -> reqwest::RequestBuilder {
        let request = self.http.post(self.url(path));
        match &self.token {
            Some(token) => request.bearer_auth(token),
            None => request,
        }
    }
}

/// An error with its causes, which reqwest keeps out of its own message.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(&format!(": {s}"));
        source = s.source();
    }
    text
}
