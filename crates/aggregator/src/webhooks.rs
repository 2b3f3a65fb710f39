//! Push webhooks of git hosts: `POST /api/webhooks/{github|gitlab|gitea|generic}`.
//!
//! ```text
//!  host ─▶ verify (HMAC / token) ─▶ event for our repo and branch? ─▶ fetch now, ask deployer + transitioner to refresh
//!           └ 401, nothing else      └ 202 "ignored: why"
//! ```
//!
//! Verification and the event check are pure functions over the headers and
//! body; the handler in `http.rs` carries out the refresh. Secrets come from
//! the aggregator's config (`webhooks.<host>.secret_file` or `secret_env`),
//! never from the repo.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Where one host's webhook secret comes from.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretSource {
    /// File holding the secret (trimmed).
    #[serde(default)]
    pub secret_file: Option<PathBuf>,
    /// Environment variable holding the secret.
    #[serde(default)]
    pub secret_env: Option<String>,
}

/// `webhooks:` in the aggregator's config: each host optional.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhooksConfig {
    #[serde(default)]
    pub github: Option<SecretSource>,
    #[serde(default)]
    pub gitlab: Option<SecretSource>,
    #[serde(default)]
    pub gitea: Option<SecretSource>,
    #[serde(default)]
    pub generic: Option<SecretSource>,
}

/// The git hosts whose push webhooks are understood.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Host {
    GitHub,
    GitLab,
    Gitea,
    Generic,
}

/// Header of the generic webhook: `sha256=` and the hex HMAC-SHA256 of the body.
pub const GENERIC_SIGNATURE_HEADER: &str = "x-slipway-signature-256";

impl Host {
    /// The host named in the path (`github`, `gitlab`, `gitea`, `generic`).
    pub fn from_path(name: &str) -> Option<Host> {
        Some(match name {
            "github" => Host::GitHub,
            "gitlab" => Host::GitLab,
            "gitea" => Host::Gitea,
            "generic" => Host::Generic,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Host::GitHub => "github",
            Host::GitLab => "gitlab",
            Host::Gitea => "gitea",
            Host::Generic => "generic",
        }
    }
}

/// The loaded secrets, one per configured host.
#[derive(Clone, Default)]
pub struct Secrets {
    github: Option<String>,
    gitlab: Option<String>,
    gitea: Option<String>,
    generic: Option<String>,
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secrets(..)")
    }
}

impl Secrets {
    /// Reads every configured secret; a source that gives none is a config error.
    pub fn load(config: &WebhooksConfig) -> Result<Secrets, String> {
        let load = |host: &str, source: &Option<SecretSource>| -> Result<Option<String>, String> {
            let Some(source) = source else { return Ok(None) };
            let secret = match (&source.secret_file, &source.secret_env) {
                (Some(file), _) => std::fs::read_to_string(file)
                    .map_err(|e| format!("webhooks.{host}.secret_file {}: {e}", file.display()))?
                    .trim()
                    .to_string(),
                (None, Some(var)) => std::env::var(var)
                    .map_err(|_| format!("webhooks.{host}.secret_env: the variable {var} is not set"))?,
                (None, None) => return Err(format!("webhooks.{host} needs secret_file or secret_env")),
            };
            if secret.is_empty() {
                return Err(format!("webhooks.{host}: the secret is empty"));
            }
            Ok(Some(secret))
        };
        Ok(Secrets {
            github: load("github", &config.github)?,
            gitlab: load("gitlab", &config.gitlab)?,
            gitea: load("gitea", &config.gitea)?,
            generic: load("generic", &config.generic)?,
        })
    }

    /// The secret of `host`, if it is configured.
    pub fn of(&self, host: Host) -> Option<&str> {
        match host {
            Host::GitHub => self.github.as_deref(),
            Host::GitLab => self.gitlab.as_deref(),
            Host::Gitea => self.gitea.as_deref(),
            Host::Generic => self.generic.as_deref(),
        }
    }
}

/// Checks the request's signature or token with `secret`; `Err` says why it
/// is refused (for the 401's message: never the expected value).
pub fn verify(host: Host, header: impl Fn(&str) -> Option<String>, body: &[u8], secret: &str) -> Result<(), String> {
    match host {
        Host::GitHub => hmac_sha256_header(
            &header("x-hub-signature-256"),
            "X-Hub-Signature-256",
            Some("sha256="),
            body,
            secret,
        ),
        Host::Gitea => hmac_sha256_header(&header("x-gitea-signature"), "X-Gitea-Signature", None, body, secret),
        Host::Generic => hmac_sha256_header(
            &header(GENERIC_SIGNATURE_HEADER),
            "X-Slipway-Signature-256",
            Some("sha256="),
            body,
            secret,
        ),
        Host::GitLab => match header("x-gitlab-token") {
            None => Err("the X-Gitlab-Token header is missing".to_string()),
            Some(token) if constant_time_eq(token.as_bytes(), secret.as_bytes()) => Ok(()),
            Some(_) => Err("the X-Gitlab-Token does not match the configured secret".to_string()),
        },
    }
}

fn hmac_sha256_header(
    value: &Option<String>,
    name: &str,
    prefix: Option<&str>,
    body: &[u8],
    secret: &str,
) -> Result<(), String> {
    let Some(value) = value else {
        return Err(format!("the {name} header is missing"));
    };
    let hex = match prefix {
        Some(p) => value
            .strip_prefix(p)
            .ok_or_else(|| format!("the {name} header must start with {p}"))?,
        None => value.as_str(),
    };
    let signature = decode_hex(hex.trim()).ok_or_else(|| format!("the {name} header is not hex"))?;
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret.as_bytes());
    ring::hmac::verify(&key, body, &signature)
        .map_err(|_| format!("the {name} does not match the body signed with the configured secret"))
}

/// The hex HMAC-SHA256 of `body` with `secret`, as the hosts send it (without prefix).
pub fn sign(body: &[u8], secret: &str) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret.as_bytes());
    ring::hmac::sign(&key, body)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// What a verified event asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// A push to our repo and branch (or an event that does not say): refresh.
    Refresh,
    /// Not for us; the reason is answered as `ignored: <reason>`.
    Ignored(String),
}

/// Whether a verified event is a push to `branch` of the repo at `versions_url`.
/// An event that names no repo or no ref is taken as ours (the generic hook
/// may send any body).
pub fn judge(
    host: Host,
    header: impl Fn(&str) -> Option<String>,
    body: &[u8],
    versions_url: &str,
    branch: &str,
) -> Verdict {
    let event = match host {
        Host::GitHub => header("x-github-event"),
        Host::Gitea => header("x-gitea-event"),
        Host::GitLab => header("x-gitlab-event"),
        Host::Generic => None,
    };
    if let Some(event) = &event {
        let push = matches!(event.to_ascii_lowercase().as_str(), "push" | "push hook");
        if !push {
            return Verdict::Ignored(format!("{event} events do not change the repo"));
        }
    }
    let Ok(payload) = serde_json::from_slice::<Value>(body) else {
        return match host {
            Host::Generic => Verdict::Refresh,
            _ => Verdict::Ignored("the body is not JSON".to_string()),
        };
    };
    if let Some(reference) = payload.get("ref").and_then(Value::as_str) {
        let ours = format!("refs/heads/{branch}");
        if reference != ours && reference != branch {
            return Verdict::Ignored(format!("a push to {reference}, not to {ours}"));
        }
    }
    let urls: Vec<&str> = ["repository", "project"]
        .iter()
        .filter_map(|k| payload.get(*k))
        .flat_map(|r| {
            let fields = [
                "clone_url",
                "ssh_url",
                "git_url",
                "html_url",
                "git_http_url",
                "git_ssh_url",
                "url",
                "web_url",
            ];
            let mut found: Vec<&str> = fields
                .iter()
                .filter_map(|f| r.get(*f).and_then(Value::as_str))
                .collect();
            if let Some(s) = r.as_str() {
                found.push(s);
            }
            found
        })
        .collect();
    if urls.is_empty() {
        return Verdict::Refresh;
    }
    let ours = normalize(versions_url);
    if urls.iter().any(|u| normalize(u) == ours) {
        Verdict::Refresh
    } else {
        Verdict::Ignored(format!("a push to {}, not to {versions_url}", urls[0]))
    }
}

/// A repo URL reduced to `host/path` (no scheme, user, port, `.git`, case of the host),
/// so that the https and ssh URLs of one repo compare equal.
fn normalize(url: &str) -> String {
    let url = url.trim().trim_end_matches('/');
    let url = url.strip_suffix(".git").unwrap_or(url);
    let (authority, path) = match url.split_once("://") {
        Some((_, rest)) => rest.split_once('/').unwrap_or((rest, "")),
        None if url.contains('@') && url.contains(':') && !url.starts_with('/') => {
            url.split_once(':').unwrap_or((url, ""))
        }
        None => ("", url),
    };
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = host.split(':').next().unwrap_or(host).to_ascii_lowercase();
    format!("{host}/{}", path.trim_start_matches('/'))
}

/// Webhook requests looked at per second.
pub const RATE_PER_SECOND: u32 = 20;

/// At most `per_second` webhook requests a second are looked at; the rest are
/// answered 429 (hosts retry failed deliveries, and the next poll catches up).
pub struct RateLimit {
    per_second: u32,
    window: std::sync::Mutex<(Option<Instant>, u32)>,
}

impl RateLimit {
    pub fn new(per_second: u32) -> Self {
        RateLimit {
            per_second,
            window: std::sync::Mutex::new((None, 0)),
        }
    }

    /// Whether a request arriving `now` may go on.
    pub fn allow(&self, now: Instant) -> bool {
        let mut w = self.window.lock().unwrap_or_else(|p| p.into_inner());
        match w.0 {
            Some(start) if now.duration_since(start) < Duration::from_secs(1) => {
                w.1 += 1;
                w.1 <= self.per_second
            }
            _ => {
                *w = (Some(now), 1);
                true
            }
        }
    }
}

/// `POST /api/webhooks/{host}`: verifies, judges, and asks for a refresh.
pub async fn receive(
    axum::extract::State(app): axum::extract::State<std::sync::Arc<crate::app::App>>,
    axum::extract::Path(host): axum::extract::Path<String>,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> axum::response::Response {
    use axum::http::StatusCode;
    use axum::response::IntoResponse as _;

    let answer = |status: StatusCode, body: Value| (status, axum::Json(body)).into_response();
    let Some(host) = Host::from_path(&host) else {
        return answer(
            StatusCode::NOT_FOUND,
            serde_json::json!({"error": format!("no webhook for {host}: expected github, gitlab, gitea or generic")}),
        );
    };
    let count = |outcome: &str| {
        app.metrics
            .webhooks
            .get_or_create(&vec![
                ("host".to_string(), host.name().to_string()),
                ("outcome".to_string(), outcome.to_string()),
            ])
            .inc();
    };
    let Some(secret) = app.webhook_secrets.of(host) else {
        count("not_configured");
        return answer(
            StatusCode::NOT_FOUND,
            serde_json::json!({"error": format!(
                "the {0} webhook is not configured: set webhooks.{0}.secret_file or secret_env in the aggregator's config",
                host.name()
            )}),
        );
    };
    if !app.webhook_limit.allow(Instant::now()) {
        count("rate_limited");
        let mut response = answer(
            StatusCode::TOO_MANY_REQUESTS,
            serde_json::json!({"error": "too many webhook requests; try again in a second"}),
        );
        response.headers_mut().insert(
            axum::http::header::RETRY_AFTER,
            axum::http::HeaderValue::from_static("1"),
        );
        return response;
    }
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
    if let Err(why) = verify(host, header, &body, secret) {
        count("refused");
        tracing::warn!(host = host.name(), "webhook refused: {why}");
        return answer(
            StatusCode::UNAUTHORIZED,
            serde_json::json!({"error": format!("webhook refused: {why}")}),
        );
    }
    if let Some(event) = crate::previews::pull_request_event(host, header, &body) {
        count("pull_request");
        let author = format!("{}-webhook", host.name());
        let result = crate::previews::apply_event(&app, &event, author).await;
        return crate::http::counted(&app, result);
    }
    let repo = &app.config.repo;
    match judge(host, header, &body, &repo.versions_url, &repo.versions_branch) {
        Verdict::Ignored(why) => {
            count("ignored");
            tracing::info!(host = host.name(), "webhook ignored: {why}");
            answer(
                StatusCode::ACCEPTED,
                serde_json::json!({"status": format!("ignored: {why}")}),
            )
        }
        Verdict::Refresh => {
            count("refreshing");
            tracing::info!(host = host.name(), "webhook: a push, refreshing");
            app.fetch_now.notify_one();
            app.nudge_peers();
            answer(StatusCode::ACCEPTED, serde_json::json!({"status": "refreshing"}))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| pairs.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string())
    }

    #[test]
    fn signatures_of_each_host_are_checked_against_the_body() {
        let body = br#"{"ref":"refs/heads/main"}"#;
        let sig = sign(body, "s3cret");
        let github = format!("sha256={sig}");
        assert!(verify(
            Host::GitHub,
            headers(&[("x-hub-signature-256", &github)]),
            body,
            "s3cret"
        )
        .is_ok());
        assert!(verify(
            Host::GitHub,
            headers(&[("x-hub-signature-256", &github)]),
            b"{}",
            "s3cret"
        )
        .is_err());
        assert!(verify(
            Host::GitHub,
            headers(&[("x-hub-signature-256", &github)]),
            body,
            "other"
        )
        .is_err());
        assert!(verify(Host::GitHub, headers(&[]), body, "s3cret")
            .unwrap_err()
            .contains("missing"));
        assert!(verify(Host::Gitea, headers(&[("x-gitea-signature", &sig)]), body, "s3cret").is_ok());
        assert!(verify(
            Host::Generic,
            headers(&[(GENERIC_SIGNATURE_HEADER, &github)]),
            body,
            "s3cret"
        )
        .is_ok());
        assert!(verify(Host::GitLab, headers(&[("x-gitlab-token", "s3cret")]), body, "s3cret").is_ok());
        assert!(verify(Host::GitLab, headers(&[("x-gitlab-token", "s3creT")]), body, "s3cret").is_err());
    }

    #[test]
    fn pushes_to_other_repos_branches_and_other_events_are_ignored() {
        let url = "https://git.example.com/ops/resources.git";
        let push = |r: &str, repo: &str| format!(r#"{{"ref":"{r}","repository":{{"clone_url":"{repo}"}}}}"#);
        let gh = headers(&[("x-github-event", "push")]);
        assert_eq!(
            judge(Host::GitHub, &gh, push("refs/heads/main", url).as_bytes(), url, "main"),
            Verdict::Refresh
        );
        let ssh = "git@git.example.com:ops/resources.git";
        assert_eq!(
            judge(
                Host::GitHub,
                &gh,
                push("refs/heads/main", "https://GIT.example.com/ops/resources").as_bytes(),
                ssh,
                "main"
            ),
            Verdict::Refresh
        );
        assert!(
            matches!(judge(Host::GitHub, &gh, push("refs/heads/dev", url).as_bytes(), url, "main"), Verdict::Ignored(why) if why.contains("refs/heads/dev"))
        );
        assert!(
            matches!(judge(Host::GitHub, &gh, push("refs/heads/main", "https://git.example.com/ops/other.git").as_bytes(), url, "main"), Verdict::Ignored(why) if why.contains("other"))
        );
        let ping = headers(&[("x-github-event", "ping")]);
        assert!(
            matches!(judge(Host::GitHub, &ping, b"{}", url, "main"), Verdict::Ignored(why) if why.contains("ping"))
        );
        let gitlab = headers(&[("x-gitlab-event", "Push Hook")]);
        let body = format!(r#"{{"ref":"refs/heads/main","project":{{"git_http_url":"{url}"}}}}"#);
        assert_eq!(
            judge(Host::GitLab, &gitlab, body.as_bytes(), url, "main"),
            Verdict::Refresh
        );
        assert_eq!(
            judge(Host::Generic, headers(&[]), b"anything", url, "main"),
            Verdict::Refresh
        );
    }

    #[test]
    fn the_rate_limit_lets_through_so_many_a_second() {
        let limit = RateLimit::new(2);
        let t0 = Instant::now();
        assert!(limit.allow(t0));
        assert!(limit.allow(t0));
        assert!(!limit.allow(t0 + Duration::from_millis(500)));
        assert!(limit.allow(t0 + Duration::from_millis(1000)));
    }
}
