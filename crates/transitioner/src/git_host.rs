//! The git host's REST API for pull requests (GitHub, Gitea) and merge requests
//! (GitLab): config, the request each call makes and how its answer is read
//! (pure, unit-tested), and the client that sends them with timeouts and retries.
//!
//! ```text
//!   call (find_open, get, create, update, close)
//!     ──request()──▶ HostRequest {method, path, query, body}
//!     ──send()────▶ host API (auth header per host, retried on 5xx/429/no answer)
//!     ──parse()───▶ PullRequest {number, url, state, title, body}
//! ```

use std::path::PathBuf;
use std::time::Duration;

use backon::Retryable as _;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use slipway_core::status::PullRequestState;

/// `git_host` in the transitioner's config.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GitHostConfig {
    pub kind: HostKind,
    /// Base URL of the host's REST API (default: `https://api.github.com` for
    /// GitHub, `https://gitlab.com/api/v4` for GitLab; required for Gitea).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_url: Option<String>,
    /// `owner/name` on GitHub and Gitea; on GitLab the project's path
    /// (`group/sub/project`) or its numeric id (also accepted as `project`).
    #[serde(alias = "project")]
    pub repo: String,
    /// File holding the API token (its first line).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_file: Option<PathBuf>,
    /// Environment variable holding the API token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_env: Option<String>,
    /// How long one call to the host may take.
    #[serde(default = "default_timeout", with = "humantime_serde")]
    pub timeout: Duration,
    /// How many times a call that got no answer, a 5xx or a 429 is tried in all.
    #[serde(default = "default_attempts")]
    pub attempts: usize,
    /// The wait before the first retry; it doubles up to ten times this.
    #[serde(default = "default_retry_wait", with = "humantime_serde")]
    pub retry_wait: Duration,
}

fn default_timeout() -> Duration {
    Duration::from_secs(10)
}
fn default_attempts() -> usize {
    3
}
fn default_retry_wait() -> Duration {
    Duration::from_millis(500)
}

/// The kinds of git host whose API the transitioner speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HostKind {
    Github,
    Gitlab,
    Gitea,
}

impl HostKind {
    /// The name in config and in `/status`.
    pub fn name(self) -> &'static str {
        match self {
            HostKind::Github => "github",
            HostKind::Gitlab => "gitlab",
            HostKind::Gitea => "gitea",
        }
    }

    fn default_api_url(self) -> Option<&'static str> {
        match self {
            HostKind::Github => Some("https://api.github.com"),
            HostKind::Gitlab => Some("https://gitlab.com/api/v4"),
            HostKind::Gitea => None,
        }
    }

    /// The `Authorization`-like header each host documents for a token.
    fn auth_header(self, token: &str) -> (&'static str, String) {
        match self {
            HostKind::Github => ("authorization", format!("Bearer {token}")),
            HostKind::Gitlab => ("private-token", token.to_string()),
            HostKind::Gitea => ("authorization", format!("token {token}")),
        }
    }
}

/// Why the `git_host` config cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("git_host: set exactly one of token_file and token_env (the token never lives in the repo)")]
    TokenSource,
    #[error("git_host: cannot read the token file {path}: {reason}")]
    TokenFile { path: String, reason: String },
    #[error("git_host: the token file {0} is empty")]
    EmptyTokenFile(String),
    #[error("git_host: the environment variable {0} (token_env) is not set or empty")]
    TokenEnv(String),
    #[error("git_host: kind {kind} needs api_url (the base of its REST API, e.g. https://gitea.example.com/api/v1)")]
    NoApiUrl { kind: &'static str },
    #[error("git_host: api_url {url:?} is not an http(s) URL: {reason}")]
    ApiUrl { url: String, reason: String },
    #[error("git_host: repo {repo:?} must be owner/name for {kind}")]
    Repo { repo: String, kind: &'static str },
    #[error("git_host: attempts must be at least 1")]
    Attempts,
}

impl GitHostConfig {
    /// Checks the config and reads the token: the client, ready to call the host.
    pub fn client(&self) -> Result<HostClient, ConfigError> {
        let api = match (&self.api_url, self.kind.default_api_url()) {
            (Some(url), _) => url.clone(),
            (None, Some(url)) => url.to_string(),
            (None, None) => return Err(ConfigError::NoApiUrl { kind: self.kind.name() }),
        };
        let parsed = reqwest::Url::parse(&api).map_err(|e| ConfigError::ApiUrl {
            url: api.clone(),
            reason: e.to_string(),
        })?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(ConfigError::ApiUrl {
                url: api,
                reason: format!("the scheme is {}", parsed.scheme()),
            });
        }
        let owner_and_name = self
            .repo
            .split_once('/')
            .filter(|(o, n)| !o.is_empty() && !n.is_empty() && !n.contains('/'));
        let repo_ok = match self.kind {
            HostKind::Github | HostKind::Gitea => owner_and_name.is_some(),
            HostKind::Gitlab => !self.repo.is_empty() && !self.repo.starts_with('/') && !self.repo.ends_with('/'),
        };
        if !repo_ok {
            return Err(ConfigError::Repo {
                repo: self.repo.clone(),
                kind: self.kind.name(),
            });
        }
        if self.attempts == 0 {
            return Err(ConfigError::Attempts);
        }
        let token = self.token()?;
        let http = reqwest::Client::builder()
            .timeout(self.timeout)
            .connect_timeout(self.timeout)
            .user_agent(concat!("slipway-transitioner/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ConfigError::ApiUrl {
                url: api.clone(),
                reason: format!("cannot set up the HTTP client: {e}"),
            })?;
        Ok(HostClient {
            kind: self.kind,
            api: parsed,
            repo: self.repo.clone(),
            token,
            http,
            attempts: self.attempts,
            retry_wait: self.retry_wait,
        })
    }

    fn token(&self) -> Result<String, ConfigError> {
        match (&self.token_file, &self.token_env) {
            (Some(path), None) => {
                let shown = path.display().to_string();
                let text = std::fs::read_to_string(path).map_err(|e| ConfigError::TokenFile {
                    path: shown.clone(),
                    reason: e.to_string(),
                })?;
                let token = text.lines().next().unwrap_or_default().trim().to_string();
                if token.is_empty() {
                    return Err(ConfigError::EmptyTokenFile(shown));
                }
                Ok(token)
            }
            (None, Some(var)) => match std::env::var(var) {
                Ok(token) if !token.trim().is_empty() => Ok(token.trim().to_string()),
                _ => Err(ConfigError::TokenEnv(var.clone())),
            },
            _ => Err(ConfigError::TokenSource),
        }
    }
}

/// A pull/merge request as the host describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullRequest {
    /// GitHub and Gitea `number`, GitLab `iid`.
    pub number: u64,
    pub url: String,
    pub state: PullRequestState,
    pub title: String,
    pub body: String,
    /// The branch it merges from (to filter Gitea's list).
    pub head: String,
    /// The branch it merges into.
    pub base: String,
}

/// One call to the host's pull-request API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Call<'a> {
    /// The open requests from `head` into `base` (Gitea: one page of all open ones).
    FindOpen {
        head: &'a str,
        base: &'a str,
        page: u32,
    },
    Get {
        number: u64,
    },
    Create {
        head: &'a str,
        base: &'a str,
        title: &'a str,
        body: &'a str,
    },
    Update {
        number: u64,
        title: &'a str,
        body: &'a str,
    },
    Close {
        number: u64,
    },
}

/// Gitea pages its lists; this many requests a page.
pub const GITEA_PAGE: usize = 50;
/// Gitea: how many pages of open pull requests are looked through at most.
const GITEA_PAGES: u32 = 20;

/// What a call sends: method, path segments under the API base, query, JSON body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostRequest {
    pub method: reqwest::Method,
    /// Segments under the API base; each is percent-encoded on its own (GitLab's
    /// `group/project` id becomes `group%2Fproject`, as its API wants).
    pub segments: Vec<String>,
    pub query: Vec<(&'static str, String)>,
    pub body: Option<Value>,
}

/// The request `call` makes on a host of `kind` for `repo`.
pub fn request(kind: HostKind, repo: &str, call: &Call<'_>) -> HostRequest {
    use reqwest::Method;
    let collection: Vec<String> = match kind {
        HostKind::Github | HostKind::Gitea => {
            let mut segments = vec!["repos".to_string()];
            segments.extend(repo.split('/').map(str::to_string));
            segments.push("pulls".to_string());
            segments
        }
        HostKind::Gitlab => vec!["projects".into(), repo.to_string(), "merge_requests".into()],
    };
    let one = |number: u64| {
        let mut segments = collection.clone();
        segments.push(number.to_string());
        segments
    };
    let plain = |method, segments, body| HostRequest {
        method,
        segments,
        query: Vec::new(),
        body,
    };
    match (kind, call) {
        (HostKind::Github, Call::FindOpen { head, base, .. }) => {
            let owner = repo.split('/').next().unwrap_or_default();
            HostRequest {
                method: Method::GET,
                segments: collection,
                query: vec![
                    ("state", "open".into()),
                    ("head", format!("{owner}:{head}")),
                    ("base", base.to_string()),
                ],
                body: None,
            }
        }
        (HostKind::Gitea, Call::FindOpen { page, .. }) => HostRequest {
            method: Method::GET,
            segments: collection,
            query: vec![
                ("state", "open".into()),
                ("page", page.to_string()),
                ("limit", GITEA_PAGE.to_string()),
            ],
            body: None,
        },
        (HostKind::Gitlab, Call::FindOpen { head, base, .. }) => HostRequest {
            method: Method::GET,
            segments: collection,
            query: vec![
                ("state", "opened".into()),
                ("source_branch", head.to_string()),
                ("target_branch", base.to_string()),
            ],
            body: None,
        },
        (_, Call::Get { number }) => plain(Method::GET, one(*number), None),
        (
            HostKind::Github | HostKind::Gitea,
            Call::Create {
                head,
                base,
                title,
                body,
            },
        ) => plain(
            Method::POST,
            collection,
            Some(json!({"title": title, "head": head, "base": base, "body": body})),
        ),
        (
            HostKind::Gitlab,
            Call::Create {
                head,
                base,
                title,
                body,
            },
        ) => plain(
            Method::POST,
            collection,
            Some(json!({"source_branch": head, "target_branch": base, "title": title, "description": body})),
        ),
        (HostKind::Github | HostKind::Gitea, Call::Update { number, title, body }) => {
            plain(Method::PATCH, one(*number), Some(json!({"title": title, "body": body})))
        }
        (HostKind::Gitlab, Call::Update { number, title, body }) => plain(
            Method::PUT,
            one(*number),
            Some(json!({"title": title, "description": body})),
        ),
        (HostKind::Github | HostKind::Gitea, Call::Close { number }) => {
            plain(Method::PATCH, one(*number), Some(json!({"state": "closed"})))
        }
        (HostKind::Gitlab, Call::Close { number }) => {
            plain(Method::PUT, one(*number), Some(json!({"state_event": "close"})))
        }
    }
}

/// Reads one pull/merge request from a host's JSON.
pub fn parse(kind: HostKind, value: &Value) -> Result<PullRequest, String> {
    let text = |key: &str| value.get(key).and_then(Value::as_str).unwrap_or_default().to_string();
    let number_key = if kind == HostKind::Gitlab { "iid" } else { "number" };
    let number = value
        .get(number_key)
        .and_then(Value::as_u64)
        .ok_or_else(|| format!("the answer has no {number_key}"))?;
    let state_text = text("state");
    let merged = value.get("merged").and_then(Value::as_bool) == Some(true)
        || value.get("merged_at").is_some_and(|m| !m.is_null());
    let state = match (kind, state_text.as_str()) {
        (HostKind::Gitlab, "merged") => PullRequestState::Merged,
        (HostKind::Gitlab, "opened") => PullRequestState::Open,
        (HostKind::Gitlab, "closed" | "locked") => PullRequestState::Closed,
        (HostKind::Github | HostKind::Gitea, "open") => PullRequestState::Open,
        (HostKind::Github | HostKind::Gitea, "closed") if merged => PullRequestState::Merged,
        (HostKind::Github | HostKind::Gitea, "closed") => PullRequestState::Closed,
        (_, other) => return Err(format!("unknown state {other:?} of #{number}")),
    };
    let (url_key, body_key) = match kind {
        HostKind::Gitlab => ("web_url", "description"),
        _ => ("html_url", "body"),
    };
    let branch = |side: &str, gitlab_key: &str| match kind {
        HostKind::Gitlab => text(gitlab_key),
        _ => value
            .get(side)
            .and_then(|s| s.get("ref"))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
    };
    Ok(PullRequest {
        number,
        url: text(url_key),
        state,
        title: text("title"),
        body: text(body_key),
        head: branch("head", "source_branch"),
        base: branch("base", "target_branch"),
    })
}

/// Why a call to the host failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HostError {
    #[error("{host} API unreachable at {url}: {reason}")]
    Unreachable {
        host: &'static str,
        url: String,
        reason: String,
    },
    #[error("{host} API answered {status} to {method} {url}: {message}")]
    Status {
        host: &'static str,
        method: String,
        url: String,
        status: u16,
        message: String,
    },
    #[error("{host} API sent an unreadable answer to {method} {url}: {reason}")]
    Unreadable {
        host: &'static str,
        method: String,
        url: String,
        reason: String,
    },
}

impl HostError {
    /// Worth trying again: no answer, the host's own failure, or rate limiting.
    fn is_transient(&self) -> bool {
        match self {
            HostError::Unreachable { .. } => true,
            HostError::Status { status, .. } => *status >= 500 || *status == 429,
            HostError::Unreadable { .. } => false,
        }
    }
}

/// The client of one repo's pull requests on its host.
#[derive(Debug, Clone)]
pub struct HostClient {
    kind: HostKind,
    api: reqwest::Url,
    repo: String,
    token: String,
    http: reqwest::Client,
    attempts: usize,
    retry_wait: Duration,
}

impl HostClient {
    pub fn kind(&self) -> HostKind {
        self.kind
    }

    /// The open request from `head` into `base`, if there is one.
    pub async fn find_open(&self, head: &str, base: &str) -> Result<Option<PullRequest>, HostError> {
        for page in 1..=GITEA_PAGES {
            let listed = self.list(&Call::FindOpen { head, base, page }).await?;
            let count = listed.len();
            if let Some(found) = listed.into_iter().find(|p| p.head == head && p.base == base) {
                return Ok(Some(found));
            }
            // GitHub and GitLab filter on the host: one answer says it all.
            if self.kind != HostKind::Gitea || count < GITEA_PAGE {
                break;
            }
        }
        Ok(None)
    }

    pub async fn get(&self, number: u64) -> Result<PullRequest, HostError> {
        self.one(&Call::Get { number }).await
    }

    pub async fn create(&self, head: &str, base: &str, title: &str, body: &str) -> Result<PullRequest, HostError> {
        self.one(&Call::Create {
            head,
            base,
            title,
            body,
        })
        .await
    }

    pub async fn update(&self, number: u64, title: &str, body: &str) -> Result<PullRequest, HostError> {
        self.one(&Call::Update { number, title, body }).await
    }

    pub async fn close(&self, number: u64) -> Result<PullRequest, HostError> {
        self.one(&Call::Close { number }).await
    }

    async fn one(&self, call: &Call<'_>) -> Result<PullRequest, HostError> {
        let (value, method, url) = self.send(call).await?;
        parse(self.kind, &value).map_err(|reason| self.unreadable(&method, &url, reason))
    }

    async fn list(&self, call: &Call<'_>) -> Result<Vec<PullRequest>, HostError> {
        let (value, method, url) = self.send(call).await?;
        let items = value
            .as_array()
            .ok_or_else(|| self.unreadable(&method, &url, "not a list".to_string()))?;
        items
            .iter()
            .map(|item| parse(self.kind, item).map_err(|reason| self.unreadable(&method, &url, reason)))
            .collect()
    }

    fn unreadable(&self, method: &str, url: &str, reason: String) -> HostError {
        HostError::Unreadable {
            host: self.kind.name(),
            method: method.to_string(),
            url: url.to_string(),
            reason,
        }
    }

    /// Sends `call`, retrying transient failures with exponential backoff.
    async fn send(&self, call: &Call<'_>) -> Result<(Value, String, String), HostError> {
        let request = request(self.kind, &self.repo, call);
        let mut url = self.api.clone();
        {
            let Ok(mut path) = url.path_segments_mut() else {
                // Checked in `client()`: an http(s) URL always has a path.
                return Err(HostError::Unreachable {
                    host: self.kind.name(),
                    url: self.api.to_string(),
                    reason: "the API URL cannot have a path".to_string(),
                });
            };
            path.pop_if_empty().extend(&request.segments);
        }
        if !request.query.is_empty() {
            url.query_pairs_mut().extend_pairs(&request.query);
        }
        let method = request.method.to_string();
        let shown = url.to_string();
        let attempt = || async { self.send_once(&request, url.clone()).await };
        let backoff = backon::ExponentialBuilder::default()
            .with_min_delay(self.retry_wait)
            .with_max_delay(self.retry_wait * 10)
            .with_max_times(self.attempts - 1);
        let value = attempt
            .retry(backoff)
            .when(HostError::is_transient)
            .notify(|e, wait| tracing::debug!("{e}; trying again in {wait:?}"))
            .await?;
        Ok((value, method, shown))
    }

    async fn send_once(&self, request: &HostRequest, url: reqwest::Url) -> Result<Value, HostError> {
        let host = self.kind.name();
        let (name, value) = self.kind.auth_header(&self.token);
        let accept = match self.kind {
            HostKind::Github => "application/vnd.github+json",
            HostKind::Gitlab | HostKind::Gitea => "application/json",
        };
        let mut builder = self
            .http
            .request(request.method.clone(), url.clone())
            .header(name, value)
            .header(reqwest::header::ACCEPT, accept);
        if self.kind == HostKind::Github {
            builder = builder.header("x-github-api-version", "2022-11-28");
        }
        if let Some(body) = &request.body {
            builder = builder.json(body);
        }
        let shown = url.to_string();
        let response = builder.send().await.map_err(|e| HostError::Unreachable {
            host,
            url: shown.clone(),
            reason: slipway_kit::peer::error_chain(&e),
        })?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(|e| HostError::Unreachable {
            host,
            url: shown.clone(),
            reason: slipway_kit::peer::error_chain(&e),
        })?;
        if !status.is_success() {
            return Err(HostError::Status {
                host,
                method: request.method.to_string(),
                url: shown,
                status: status.as_u16(),
                message: host_message(&bytes),
            });
        }
        serde_json::from_slice(&bytes).map_err(|e| self.unreadable(request.method.as_str(), &shown, e.to_string()))
    }
}

/// The host's own words from an error answer (`message` on all three), or its start.
fn host_message(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    match serde_json::from_str::<Value>(&text) {
        Ok(v) => match v.get("message").or_else(|| v.get("error")) {
            Some(Value::String(s)) => s.clone(),
            Some(other) => other.to_string(),
            None => v.to_string(),
        },
        Err(_) => text.chars().take(200).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::Method;

    fn config(kind: HostKind, repo: &str) -> GitHostConfig {
        GitHostConfig {
            kind,
            api_url: None,
            repo: repo.to_string(),
            token_file: None,
            token_env: Some("SLIPWAY_TEST_HOST_TOKEN_UNSET".to_string()),
            timeout: default_timeout(),
            attempts: default_attempts(),
            retry_wait: default_retry_wait(),
        }
    }

    #[test]
    fn config_errors_name_the_key_to_fix() {
        let err = |c: GitHostConfig| c.client().unwrap_err().to_string();
        assert!(err(config(HostKind::Gitea, "o/r")).contains("needs api_url"));
        assert!(err(config(HostKind::Github, "just-a-name")).contains("owner/name"));
        assert!(err(config(HostKind::Github, "o/r/x")).contains("owner/name"));
        assert!(err(config(HostKind::Github, "o/r")).contains("SLIPWAY_TEST_HOST_TOKEN_UNSET"));
        let mut both = config(HostKind::Gitlab, "group/sub/project");
        both.token_file = Some("/nonexistent".into());
        assert!(err(both.clone()).contains("exactly one of token_file and token_env"));
        both.token_env = None;
        assert!(err(both).contains("cannot read the token file /nonexistent"));
        let mut ftp = config(HostKind::Github, "o/r");
        ftp.api_url = Some("ftp://host/api".into());
        assert!(err(ftp).contains("not an http(s) URL"));
    }

    #[test]
    fn the_token_is_the_first_line_of_its_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        std::fs::write(&path, "s3cret\n").unwrap();
        let mut c = config(HostKind::Gitlab, "1234");
        (c.token_file, c.token_env) = (Some(path.clone()), None);
        assert_eq!(c.token().unwrap(), "s3cret");
        std::fs::write(&path, "\n").unwrap();
        assert!(c.client().unwrap_err().to_string().contains("is empty"));
    }

    #[test]
    fn github_calls_use_the_pulls_api() {
        let r = request(
            HostKind::Github,
            "acme/res",
            &Call::FindOpen {
                head: "slipway/promote/prod",
                base: "main",
                page: 1,
            },
        );
        assert_eq!(
            (r.method, r.segments.join("/")),
            (Method::GET, "repos/acme/res/pulls".into())
        );
        assert_eq!(
            r.query,
            vec![
                ("state", "open".to_string()),
                ("head", "acme:slipway/promote/prod".to_string()),
                ("base", "main".to_string())
            ]
        );
        let r = request(HostKind::Github, "acme/res", &Call::Close { number: 7 });
        assert_eq!(
            (r.method, r.segments.join("/")),
            (Method::PATCH, "repos/acme/res/pulls/7".into())
        );
        assert_eq!(r.body, Some(json!({"state": "closed"})));
    }

    #[test]
    fn gitlab_calls_use_the_merge_requests_api_with_the_project_as_one_segment() {
        let r = request(
            HostKind::Gitlab,
            "group/sub/res",
            &Call::Update {
                number: 3,
                title: "t",
                body: "b",
            },
        );
        assert_eq!(r.method, Method::PUT);
        assert_eq!(r.segments, vec!["projects", "group/sub/res", "merge_requests", "3"]);
        assert_eq!(r.body, Some(json!({"title": "t", "description": "b"})));
        let r = request(HostKind::Gitlab, "42", &Call::Close { number: 3 });
        assert_eq!(r.body, Some(json!({"state_event": "close"})));
    }

    #[test]
    fn states_are_read_per_host() {
        let gh = json!({"number": 5, "html_url": "u", "state": "closed", "merged_at": "2026-01-01T00:00:00Z", "title": "t", "body": null, "head": {"ref": "h"}, "base": {"ref": "main"}});
        let pr = parse(HostKind::Github, &gh).unwrap();
        assert_eq!(
            (pr.number, pr.state, pr.body.as_str(), pr.head.as_str()),
            (5, PullRequestState::Merged, "", "h")
        );
        let gh_closed = json!({"number": 5, "state": "closed", "merged_at": null});
        assert_eq!(
            parse(HostKind::Github, &gh_closed).unwrap().state,
            PullRequestState::Closed
        );
        let gitea = json!({"number": 2, "state": "closed", "merged": true});
        assert_eq!(parse(HostKind::Gitea, &gitea).unwrap().state, PullRequestState::Merged);
        let gl = json!({"iid": 9, "id": 1234, "web_url": "w", "state": "opened", "description": "d", "source_branch": "h", "target_branch": "main"});
        let pr = parse(HostKind::Gitlab, &gl).unwrap();
        assert_eq!(
            (pr.number, pr.state, pr.body.as_str(), pr.base.as_str()),
            (9, PullRequestState::Open, "d", "main")
        );
        assert_eq!(
            parse(HostKind::Gitlab, &json!({"iid": 9, "state": "merged"}))
                .unwrap()
                .state,
            PullRequestState::Merged
        );
        assert!(parse(HostKind::Gitlab, &json!({"number": 9, "state": "opened"}))
            .unwrap_err()
            .contains("iid"));
    }

    #[test]
    fn only_missing_answers_5xx_and_429_are_retried() {
        let status = |status| HostError::Status {
            host: "github",
            method: "GET".into(),
            url: "u".into(),
            status,
            message: String::new(),
        };
        assert!(status(502).is_transient());
        assert!(status(429).is_transient());
        assert!(!status(401).is_transient());
        assert!(!status(422).is_transient());
    }
}
