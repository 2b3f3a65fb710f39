//! Preview envs over HTTP: `GET|POST /api/previews`, `PATCH|DELETE
//! /api/previews/{name}`, pull request events (`POST /api/previews/events`
//! and the hosts' pull request webhooks), and the removal of expired previews.
//!
//! ```text
//!  POST /api/previews ───────────┐
//!  PATCH / DELETE ───────────────┤
//!  PR opened/synchronize/closed ─┼─▶ slipway_core::previews (files of one commit) ─▶ app::write
//!  expiry loop (the store's clock)┘
//! ```
//!
//! The aggregator removes expired previews (not the transitioner): it is the
//! one that creates them and holds `preview_domain`, and it already commits on
//! behalf of people. Every change is one commit by the acting token (or
//! `slipway-previews` for expiry, `<host>-webhook` for a signed event).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use slipway_core::merge::Vars;
use slipway_core::previews::{self as core, Addressing, NewPreview, PreviewChange, PreviewEntry, PreviewError};
use slipway_core::status::RolloutStatus;
use slipway_core::tokens::Scope;
use slipway_repo::Change;

use crate::app::{App, Written};
use crate::error::ApiError;
use crate::http::{allowed, caller, commit, counted, json_body, optional_json_body, written, ApiResult};
use crate::input;
use crate::message;
use crate::refusal::Refusal;
use crate::webhooks::{self, Host};

/// Defaults of `previews:`.
mod defaults {
    use std::time::Duration;

    pub fn ttl() -> Duration {
        Duration::from_secs(3 * 24 * 3600)
    }
    pub fn expiry_check_interval() -> Duration {
        Duration::from_secs(60)
    }
    pub fn pr_name() -> String {
        "pr-${number}".to_string()
    }
}

/// `previews:` in the aggregator's config.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PreviewsConfig {
    /// Previews are served under `<path_prefix>/<name>` (`${preview_path}`); none: at `/`.
    #[serde(default)]
    pub path_prefix: Option<String>,
    /// The time to live of a preview created without `ttl`.
    #[serde(default = "defaults::ttl", with = "humantime_serde")]
    pub default_ttl: Duration,
    /// How often expired previews are looked for.
    #[serde(default = "defaults::expiry_check_interval", with = "humantime_serde")]
    pub expiry_check_interval: Duration,
    /// Previews made from pull request events; none: events are refused.
    #[serde(default)]
    pub from_pull_requests: Option<FromPullRequests>,
}

impl Default for PreviewsConfig {
    fn default() -> Self {
        PreviewsConfig {
            path_prefix: None,
            default_ttl: defaults::ttl(),
            expiry_check_interval: defaults::expiry_check_interval(),
            from_pull_requests: None,
        }
    }
}

/// `previews.from_pull_requests`: the preview of a pull request. `${number}`,
/// `${branch}`, `${head_sha}` and `${short_sha}` (7 characters) are replaced
/// in `name` and in the services' values.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FromPullRequests {
    /// The template env.
    pub template: String,
    #[serde(default = "defaults::pr_name")]
    pub name: String,
    /// Service → variables overridden in the preview.
    #[serde(default)]
    pub services: BTreeMap<String, BTreeMap<String, String>>,
    /// Time to live; none: `default_ttl`. A push to the pull request extends it.
    #[serde(default, with = "humantime_serde")]
    pub ttl: Option<Duration>,
}

/// Checks `preview_domain` and `previews:` at start-up.
pub fn check_config(domain: Option<&str>, config: &PreviewsConfig) -> Result<(), String> {
    if let Some(domain) = domain {
        let labels_ok = !domain.is_empty()
            && domain.len() <= 253
            && domain
                .split('.')
                .all(|l| slipway_core::names::validate_env_name(l).is_ok());
        if !labels_ok {
            return Err(format!(
                "preview_domain {domain:?} must be a lower-case DNS name such as preview.example.com"
            ));
        }
    }
    if let Some(p) = &config.path_prefix {
        if !p.starts_with('/') || p.contains(char::is_whitespace) || p.contains("//") {
            return Err(format!(
                "previews.path_prefix {p:?} must be a URL path such as /previews"
            ));
        }
    }
    if config.default_ttl.is_zero() || config.default_ttl > core::MAX_TTL {
        return Err("previews.default_ttl must be more than zero and at most 90d".to_string());
    }
    if config.expiry_check_interval.is_zero() {
        return Err("previews.expiry_check_interval must be more than zero".to_string());
    }
    if let Some(pr) = &config.from_pull_requests {
        slipway_core::names::validate_env_name(&pr.template)
            .map_err(|e| format!("previews.from_pull_requests.template: {e}"))?;
        let sample = PrEvent {
            action: PrAction::Opened,
            number: 1,
            branch: "b".into(),
            head_sha: "0123456789abcdef".into(),
            url: None,
        };
        let check = |what: &str, text: &str| {
            let out = sample.fill(text);
            match out.find("${") {
                Some(_) => Err(format!(
                    "previews.from_pull_requests.{what}: {text:?} uses a variable other than number, branch, head_sha and short_sha"
                )),
                None => Ok(()),
            }
        };
        check("name", &pr.name)?;
        for (service, vars) in &pr.services {
            slipway_core::names::validate_service_name(service)
                .map_err(|e| format!("previews.from_pull_requests.services: {e}"))?;
            for (name, value) in vars {
                check(&format!("services.{service}.{name}"), value)?;
            }
        }
        if pr.ttl.is_some_and(|t| t.is_zero() || t > core::MAX_TTL) {
            return Err("previews.from_pull_requests.ttl must be more than zero and at most 90d".to_string());
        }
    }
    Ok(())
}

/// The commit of a preview change.
fn commit_of(c: PreviewChange) -> Change {
    Change {
        message: message::compose(&c.subject, "", &[(message::ACTION, "preview"), (message::ENV, &c.env)]),
        files: c.files,
    }
}

/// The name `events` is the path of the events endpoint, so it cannot name a preview.
fn checked_name(name: &str) -> Result<(String, String), Refusal> {
    if name.strip_prefix(core::PREFIX).unwrap_or(name) == "events" {
        return Err(Refusal::InvalidName {
            field: "name".into(),
            reason: "the preview name \"events\" is reserved (POST /api/previews/events)".into(),
        });
    }
    Ok(core::names(name)?)
}

fn parse_services(map: &Map<String, Value>) -> Result<BTreeMap<String, Vars>, Refusal> {
    let mut out = BTreeMap::new();
    let not_object = || {
        Refusal::InvalidName {
        field: "services".into(),
        reason: "field \"services\" must be an object of service → object of variables, e.g. {\"web\": {\"version\": \"pr-42\"}}".into(),
    }
    };
    match map.get("services") {
        None | Some(Value::Null) => {}
        Some(Value::Object(services)) => {
            for (service, vars) in services {
                input::service_name(service, "services")?;
                let Value::Object(vars) = vars else {
                    return Err(not_object());
                };
                out.insert(service.clone(), crate::versions::vars_from_json(vars)?);
            }
        }
        Some(_) => return Err(not_object()),
    }
    Ok(out)
}

fn parse_ttl(map: &Map<String, Value>) -> Result<Option<Duration>, Refusal> {
    Ok(input::optional_str(map, "ttl")?.map(core::parse_ttl).transpose()?)
}

/// A checked `POST /api/previews` body.
pub fn parse_create(body: &[u8], default_ttl: Duration) -> Result<NewPreview, Refusal> {
    let map = input::object(body, &["name", "from", "services", "ttl", "source"])?;
    let name = input::required_str(&map, "name")?;
    checked_name(name)?;
    let from = input::required_str(&map, "from")?;
    input::env_name(from, "from")?;
    let source = input::optional_str(&map, "source")?;
    if let Some(s) = source {
        input::plain_text(s, "source", false)?;
        if s.len() > 500 {
            return Err(input::too_long("source", "500 bytes"));
        }
    }
    Ok(NewPreview {
        name: name.to_string(),
        from: from.to_string(),
        services: parse_services(&map)?,
        ttl: parse_ttl(&map)?.unwrap_or(default_ttl),
        source: source.map(str::to_string),
    })
}

/// What a preview's answer in `GET /api/previews` holds: the repo's view and the deployer's.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(rename = "PreviewEnv"))]
pub struct PreviewView {
    #[serde(flatten)]
    pub entry: PreviewEntry,
    /// The deployer's rollout status of the env; none before it reported one.
    pub status: Option<RolloutStatus>,
    pub reason: String,
    /// The commit the deployer reconciled it to.
    pub deployed_commit: Option<String>,
    pub expired: bool,
}

/// `GET /api/previews`.
pub async fn list(State(app): State<Arc<App>>, headers: HeaderMap) -> Response {
    let result = (|| {
        crate::http::reader(&app, &headers)?;
        let snapshot = app.store.snapshot();
        let deployer = app.store.deployer();
        let now = app.store.clock().now();
        let previews: Vec<PreviewView> = core::list(&snapshot)
            .map_err(Refusal::from)?
            .into_iter()
            .map(|entry| {
                let env = deployer.as_ref().and_then(|d| d.envs.get(&entry.env));
                PreviewView {
                    status: env.map(|e| e.status),
                    reason: env.map(|e| e.reason.clone()).unwrap_or_default(),
                    deployed_commit: env.and_then(|e| e.commit.clone()),
                    expired: entry.expires <= now,
                    entry,
                }
            })
            .collect();
        Ok::<_, ApiError>(Json(json!({"previews": previews})).into_response())
    })();
    counted(&app, result)
}

/// `POST /api/previews {"name", "from", "services", "ttl", "source"}`: 201 with the commit, 409 on a clash.
pub async fn create(State(app): State<Arc<App>>, headers: HeaderMap, body: Body) -> Response {
    let result = async {
        let principal = caller(&app, &headers)?;
        let bytes = json_body(&headers, body).await?;
        let req = parse_create(&bytes, app.config.previews.default_ttl)?;
        let (_, env) = core::names(&req.name).map_err(Refusal::from)?;
        allowed(&principal, Scope::Previews, Some(&env))?;
        let w = create_preview(&app, principal.name, req).await?;
        tracing::info!(%env, commit = %w.commit, "preview created");
        Ok(written(&app, "preview", w, StatusCode::CREATED))
    }
    .await;
    counted(&app, result)
}

async fn create_preview(app: &Arc<App>, author: String, req: NewPreview) -> Result<Written, ApiError> {
    let clock = app.store.clock();
    let (domain, prefix) = (
        app.config.preview_domain.clone(),
        app.config.previews.path_prefix.clone(),
    );
    commit(app, author, move |snap| {
        let at = Addressing {
            domain: domain.as_deref(),
            path_prefix: prefix.as_deref(),
        };
        Ok(Some(commit_of(core::create(snap, &req, at, clock.now())?)))
    })
    .await
}

async fn update_preview(
    app: &Arc<App>,
    author: String,
    name: String,
    services: BTreeMap<String, Vars>,
    ttl: Option<Duration>,
) -> Result<Written, ApiError> {
    let clock = app.store.clock();
    commit(app, author, move |snap| {
        Ok(core::update(snap, &name, &services, ttl, clock.now())?.map(commit_of))
    })
    .await
}

async fn remove_preview(app: &Arc<App>, author: String, name: String, why: String) -> Result<Written, ApiError> {
    commit(app, author, move |snap| {
        Ok(Some(commit_of(core::remove(snap, &name, &why)?)))
    })
    .await
}

/// `PATCH /api/previews/{name} {"ttl", "services"}`: a new expiry (`ttl` from now) and/or new variables.
pub async fn change(State(app): State<Arc<App>>, Path(name): Path<String>, headers: HeaderMap, body: Body) -> Response {
    let result = async {
        let principal = caller(&app, &headers)?;
        let (_, env) = checked_name(&name)?;
        allowed(&principal, Scope::Previews, Some(&env))?;
        let bytes = optional_json_body(&headers, body).await?.unwrap_or_default();
        let map = if bytes.is_empty() {
            Map::new()
        } else {
            input::object(&bytes, &["ttl", "services"])?
        };
        let services = parse_services(&map)?;
        let ttl = parse_ttl(&map)?;
        if services.is_empty() && ttl.is_none() {
            return Err(Refusal::MissingField { field: "ttl".into() }.into());
        }
        let w = update_preview(&app, principal.name, name, services, ttl).await?;
        tracing::info!(%env, commit = %w.commit, created = w.created, "preview changed");
        Ok(written(&app, "preview", w, StatusCode::OK))
    }
    .await;
    counted(&app, result)
}

/// `DELETE /api/previews/{name}`: one commit removing its folder and `deployers.yaml` entry.
pub async fn delete(State(app): State<Arc<App>>, Path(name): Path<String>, headers: HeaderMap) -> Response {
    let result = async {
        let principal = caller(&app, &headers)?;
        let (_, env) = checked_name(&name)?;
        allowed(&principal, Scope::Previews, Some(&env))?;
        let w = remove_preview(&app, principal.name, name, String::new()).await?;
        tracing::info!(%env, commit = %w.commit, "preview removed");
        Ok(written(&app, "preview", w, StatusCode::OK))
    }
    .await;
    counted(&app, result)
}

/// Removes every preview whose expiry is past by the store's clock, one commit each.
pub async fn remove_expired(app: &Arc<App>) -> Vec<Result<Written, ApiError>> {
    let now = app.store.clock().now();
    let mut out = Vec::new();
    for name in core::expired(&app.store.snapshot(), now) {
        let why = format!("expired at or before {}", now.format("%Y-%m-%d %H:%M UTC"));
        let result = remove_preview(app, "slipway-previews".into(), name.clone(), why).await;
        match &result {
            Ok(w) => {
                tracing::info!(preview = %name, commit = %w.commit, "expired preview removed");
                app.nudge_peers();
            }
            Err(e) => tracing::warn!(preview = %name, "cannot remove the expired preview: {}", e.message),
        }
        out.push(result);
    }
    out
}

/// Looks for expired previews every `previews.expiry_check_interval` until shutdown.
pub async fn expiry_loop(app: Arc<App>) {
    let mut every = tokio::time::interval(app.config.previews.expiry_check_interval);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let draining = app.drain.draining();
    tokio::pin!(draining);
    loop {
        tokio::select! {
            _ = &mut draining => return,
            _ = every.tick() => {
                remove_expired(&app).await;
            }
        }
    }
}

/// What happened to a pull request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PrAction {
    Opened,
    Synchronize,
    Closed,
}

/// A pull request event, from any host.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrEvent {
    pub action: PrAction,
    pub number: u64,
    pub branch: String,
    pub head_sha: String,
    /// The pull request's page, shown as the preview's source.
    #[serde(default)]
    pub url: Option<String>,
}

impl PrEvent {
    fn fill(&self, text: &str) -> String {
        let short: String = self.head_sha.chars().take(7).collect();
        text.replace("${number}", &self.number.to_string())
            .replace("${branch}", &self.branch)
            .replace("${head_sha}", &self.head_sha)
            .replace("${short_sha}", &short)
    }

    fn source(&self) -> String {
        self.url
            .clone()
            .unwrap_or_else(|| format!("pull request #{} ({})", self.number, self.branch))
    }
}

/// The generic event body `{action, number, branch, head_sha, url?}`.
pub fn parse_event(body: &[u8]) -> Result<PrEvent, Refusal> {
    let event: PrEvent = serde_json::from_slice(body).map_err(|e| Refusal::NotJson {
        reason: format!(
            "{e}; expected {{\"action\": \"opened|synchronize|closed\", \"number\": 42, \"branch\": \"...\", \"head_sha\": \"...\", \"url\"?: \"...\"}}"
        ),
    })?;
    for (field, text) in [("branch", &event.branch), ("head_sha", &event.head_sha)] {
        if text.is_empty() {
            return Err(Refusal::MissingField { field: field.into() });
        }
        input::plain_text(text, field, false)?;
    }
    Ok(event)
}

/// The pull request event of a host's webhook, if it is one Slipway acts on
/// (GitHub and Gitea `pull_request`, GitLab `Merge Request Hook`).
pub fn pull_request_event(host: Host, header: impl Fn(&str) -> Option<String>, body: &[u8]) -> Option<PrEvent> {
    let payload: Value = serde_json::from_slice(body).ok()?;
    let text = |v: &Value, path: &[&str]| -> Option<String> {
        path.iter()
            .try_fold(v, |v, k| v.get(*k))
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    match host {
        Host::GitHub | Host::Gitea => {
            let event = header(if host == Host::GitHub {
                "x-github-event"
            } else {
                "x-gitea-event"
            })?;
            if event != "pull_request" {
                return None;
            }
            let action = match payload.get("action")?.as_str()? {
                "opened" | "reopened" => PrAction::Opened,
                "synchronize" | "synchronized" => PrAction::Synchronize,
                "closed" => PrAction::Closed,
                _ => return None,
            };
            Some(PrEvent {
                action,
                number: payload.get("number")?.as_u64()?,
                branch: text(&payload, &["pull_request", "head", "ref"])?,
                head_sha: text(&payload, &["pull_request", "head", "sha"])?,
                url: text(&payload, &["pull_request", "html_url"]),
            })
        }
        Host::GitLab => {
            if header("x-gitlab-event")? != "Merge Request Hook" {
                return None;
            }
            let attrs = payload.get("object_attributes")?;
            let action = match attrs.get("action")?.as_str()? {
                "open" | "reopen" => PrAction::Opened,
                "update" => PrAction::Synchronize,
                "close" | "merge" => PrAction::Closed,
                _ => return None,
            };
            Some(PrEvent {
                action,
                number: attrs.get("iid")?.as_u64()?,
                branch: text(attrs, &["source_branch"])?,
                head_sha: text(attrs, &["last_commit", "id"])?,
                url: text(attrs, &["url"]),
            })
        }
        Host::Generic => None,
    }
}

/// Carries out a pull request event: opened creates (or updates) the preview,
/// synchronize updates (or creates) it and extends its expiry, closed removes it.
pub async fn apply_event(app: &Arc<App>, event: &PrEvent, author: String) -> ApiResult {
    let Some(pr) = &app.config.previews.from_pull_requests else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "previews from pull requests are not configured: set previews.from_pull_requests in the aggregator's config",
        ));
    };
    let name = event.fill(&pr.name);
    let (short, env) = checked_name(&name)?;
    let mut services = BTreeMap::new();
    for (service, vars) in &pr.services {
        let vars: Vars = vars
            .iter()
            .map(|(k, v)| (k.clone(), serde_yaml::Value::from(event.fill(v))))
            .collect();
        services.insert(service.clone(), vars);
    }
    let ttl = pr.ttl.unwrap_or(app.config.previews.default_ttl);
    let exists = |app: &App| {
        app.store
            .snapshot()
            .deployers()
            .is_ok_and(|d| d.deployers.get(&env).is_some_and(|t| t.preview.is_some()))
    };
    // The repo may have moved since the last fetch; a clash or a missing
    // preview found by the write is answered by trying the other way once.
    let (did, result) = match (event.action, exists(app)) {
        (PrAction::Closed, _) => (
            "removed",
            remove_preview(app, author, name.clone(), String::new()).await,
        ),
        (_, false) => {
            let req = NewPreview {
                name: name.clone(),
                from: pr.template.clone(),
                services: services.clone(),
                ttl,
                source: Some(event.source()),
            };
            match create_preview(app, author.clone(), req).await {
                Err(e) if e.status == StatusCode::CONFLICT => (
                    "updated",
                    update_preview(app, author, name.clone(), services, Some(ttl)).await,
                ),
                r => ("created", r),
            }
        }
        (_, true) => (
            "updated",
            update_preview(app, author, name.clone(), services, Some(ttl)).await,
        ),
    };
    let (did, w) = match result {
        Ok(w) => (if w.created { did } else { "unchanged" }, w),
        // A closed pull request whose preview is gone already: nothing to do.
        Err(e) if e.status == StatusCode::NOT_FOUND && event.action == PrAction::Closed => {
            let commit = app.store.snapshot().commit.clone();
            return Ok(
                Json(json!({"action": "unchanged", "preview": short, "env": env, "commit": commit})).into_response(),
            );
        }
        Err(e) => return Err(e),
    };
    if w.created {
        app.metrics
            .commits
            .get_or_create(&crate::metrics::Metrics::label("action", "preview"))
            .inc();
        app.nudge_peers();
    }
    tracing::info!(%env, action = did, commit = %w.commit, "pull request event");
    let status = if did == "created" {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((
        status,
        Json(json!({"action": did, "preview": short, "env": env, "commit": w.commit})),
    )
        .into_response())
}

/// `POST /api/previews/events`: a generic pull request event, with a token
/// (scope `previews`) or signed like the generic webhook (`X-Slipway-Signature-256`).
pub async fn event(State(app): State<Arc<App>>, headers: HeaderMap, body: Body) -> Response {
    let result = async {
        let signed = !headers.contains_key(header::AUTHORIZATION)
            && headers.contains_key(webhooks::GENERIC_SIGNATURE_HEADER);
        let principal = if signed { None } else { Some(caller(&app, &headers)?) };
        let bytes = json_body(&headers, body).await?;
        if signed {
            let Some(secret) = app.webhook_secrets.of(Host::Generic) else {
                return Err(ApiError::new(
                    StatusCode::UNAUTHORIZED,
                    "a signed event needs webhooks.generic.secret_file or secret_env in the aggregator's config; or send a bearer token",
                ));
            };
            let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
            webhooks::verify(Host::Generic, header, &bytes, secret)
                .map_err(|why| ApiError::new(StatusCode::UNAUTHORIZED, format!("event refused: {why}")))?;
        }
        let event = parse_event(&bytes)?;
        let author = match principal {
            Some(p) => {
                let name = app
                    .config
                    .previews
                    .from_pull_requests
                    .as_ref()
                    .map(|pr| event.fill(&pr.name));
                let env = name.as_deref().map(core::names).transpose().map_err(Refusal::from)?;
                allowed(&p, Scope::Previews, env.as_ref().map(|(_, e)| e.as_str()))?;
                p.name
            }
            None => "generic-webhook".to_string(),
        };
        apply_event(&app, &event, author).await
    }
    .await;
    counted(&app, result)
}

impl From<PreviewError> for ApiError {
    fn from(e: PreviewError) -> Self {
        Refusal::from(e).into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| pairs.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string())
    }

    #[test]
    fn a_create_body_is_checked_field_by_field() {
        let ttl = defaults::ttl();
        let req = parse_create(
            br#"{"name": "pr-42", "from": "dev", "services": {"web": {"version": "pr-42", "replicas": 1}}, "ttl": "1d"}"#,
            ttl,
        )
        .unwrap();
        assert_eq!(req.ttl, Duration::from_secs(86400));
        assert_eq!(req.services["web"]["replicas"], serde_yaml::Value::from(1));
        let req = parse_create(br#"{"name": "pr-42", "from": "dev"}"#, ttl).unwrap();
        assert_eq!(req.ttl, ttl);
        for (body, field) in [
            (r#"{"from": "dev"}"#, "name"),
            (r#"{"name": "PR 42", "from": "dev"}"#, "name"),
            (r#"{"name": "events", "from": "dev"}"#, "name"),
            (r#"{"name": "pr-1", "from": "dev", "ttl": "forever"}"#, "ttl"),
            (
                r#"{"name": "pr-1", "from": "dev", "services": {"web": "1"}}"#,
                "services",
            ),
            (
                r#"{"name": "pr-1", "from": "dev", "services": {"Web": {}}}"#,
                "services",
            ),
            (r#"{"name": "pr-1", "from": "dev", "colour": "red"}"#, "colour"),
        ] {
            let err = parse_create(body.as_bytes(), ttl).unwrap_err();
            assert_eq!(err.field().as_deref(), Some(field), "{body}: {err}");
        }
    }

    #[test]
    fn pull_request_webhooks_of_each_host_become_events() {
        let github = br#"{"action": "synchronize", "number": 42, "pull_request": {"head": {"ref": "feature", "sha": "abcdef1234"}, "html_url": "https://github.com/o/r/pull/42"}}"#;
        let e = pull_request_event(Host::GitHub, headers(&[("x-github-event", "pull_request")]), github).unwrap();
        assert_eq!(
            e,
            PrEvent {
                action: PrAction::Synchronize,
                number: 42,
                branch: "feature".into(),
                head_sha: "abcdef1234".into(),
                url: Some("https://github.com/o/r/pull/42".into()),
            }
        );
        assert!(pull_request_event(Host::GitHub, headers(&[("x-github-event", "push")]), github).is_none());
        let gitea = br#"{"action": "synchronized", "number": 7, "pull_request": {"head": {"ref": "f", "sha": "aa"}}}"#;
        let e = pull_request_event(Host::Gitea, headers(&[("x-gitea-event", "pull_request")]), gitea).unwrap();
        assert_eq!((e.action, e.number), (PrAction::Synchronize, 7));
        let gitlab = br#"{"object_attributes": {"iid": 3, "action": "merge", "source_branch": "f", "last_commit": {"id": "bb"}, "url": "u"}}"#;
        let e = pull_request_event(
            Host::GitLab,
            headers(&[("x-gitlab-event", "Merge Request Hook")]),
            gitlab,
        )
        .unwrap();
        assert_eq!((e.action, e.number, e.url.as_deref()), (PrAction::Closed, 3, Some("u")));
        let labeled = br#"{"action": "labeled", "number": 42, "pull_request": {"head": {"ref": "f", "sha": "a"}}}"#;
        assert!(pull_request_event(Host::GitHub, headers(&[("x-github-event", "pull_request")]), labeled).is_none());
    }

    #[test]
    fn event_variables_are_filled_and_unknown_ones_refused_at_start() {
        let e =
            parse_event(br#"{"action": "opened", "number": 42, "branch": "feat", "head_sha": "0123456789"}"#).unwrap();
        assert_eq!(e.fill("pr-${number}-${short_sha}"), "pr-42-0123456");
        assert_eq!(e.source(), "pull request #42 (feat)");
        assert!(parse_event(br#"{"action": "merged", "number": 1, "branch": "b", "head_sha": "a"}"#).is_err());
        let mut config = PreviewsConfig {
            from_pull_requests: Some(FromPullRequests {
                template: "dev".into(),
                name: defaults::pr_name(),
                services: BTreeMap::from([(
                    "web".to_string(),
                    BTreeMap::from([("version".to_string(), "pr-${number}-${sha}".to_string())]),
                )]),
                ttl: None,
            }),
            ..PreviewsConfig::default()
        };
        let err = check_config(Some("preview.example.com"), &config).unwrap_err();
        assert!(err.contains("services.web.version"), "{err}");
        config.from_pull_requests = None;
        assert!(check_config(Some("preview.example.com"), &config).is_ok());
        assert!(check_config(Some("Preview_Example"), &config).is_err());
        config.path_prefix = Some("previews".into());
        assert!(check_config(None, &config).is_err());
    }
}
