//! The HTTP API (docs/http-api.md, section Aggregator): thin handlers that check
//! the caller, read the body, and call the pure planners through [`crate::app::write`].

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use futures::{Stream, StreamExt};
use serde_json::json;
use slipway_core::locks::LockTarget;
use slipway_core::model::version_path;
use slipway_core::tokens::{AuthError, Principal, Scope};
use slipway_core::RepoSnapshot;
use slipway_kit::admin::{self, Admin};
use slipway_repo::Change;
use tokio_stream::wrappers::BroadcastStream;

use crate::app::{self, App, Written};
use crate::error::ApiError;
use crate::history;
use crate::input;
use crate::lock_changes;
use crate::metrics::Metrics;
use crate::refusal::{EnvGiven, Refusal};
use crate::rollback;
use crate::versions;

/// The fields of `POST /api/transitions/{name}/run`; the run itself is the transitioner's.
const RUN_FIELDS: &[&str] = &["override_windows", "reason"];

/// Largest request body: 1 MiB.
pub const MAX_BODY: usize = 1 << 20;

/// The whole router: API, health, metrics, and the UI as fallback.
pub fn router(app: Arc<App>) -> Router {
    let ui = crate::ui::router(app.config.ui_path.clone());
    let (ready_of, metrics_of) = (app.clone(), app.clone());
    let admin = Admin {
        ready: Arc::new(move || ready_of.fetches.readiness()),
        metrics: Arc::new(move || {
            metrics_of
                .metrics
                .subscribers
                .set(metrics_of.store.subscribers() as i64);
            slipway_kit::metrics_response(&metrics_of.metrics.registry)
        }),
        refresh: app.refresh.clone(),
    };
    Router::new()
        .route("/api/versions", post(post_version))
        .route("/api/state", get(get_state))
        .route("/api/history", get(get_history))
        .route("/api/locks/{env}", put(lock_env).delete(unlock_env))
        .route("/api/locks/{env}/{*service}", put(lock_service).delete(unlock_service))
        .route("/api/rollback", post(post_rollback))
        .route("/api/deploy", post(crate::redeploy::post_deploy))
        .route("/api/transitions/{name}/run", post(run_transition))
        .route("/api/transitions/{name}/approve", post(approve_transition))
        .route("/api/transitions/{name}/reject", post(reject_transition))
        .route("/api/events", get(events))
        // What runs, from the deployer: live views, logs and diffs.
        .route("/api/envs/{env}/services/{*rest}", get(crate::inspect::service))
        .route("/api/envs/{env}/deployables/{*rest}", get(crate::inspect::deployable))
        .route("/api/envs/{env}/diff", get(crate::inspect::env_diff))
        // Push webhooks of git hosts (webhooks.rs).
        .route("/api/webhooks/{host}", post(crate::webhooks::receive))
        // Promotion insight: what the next promotion ships, env diffs.
        .route("/api/transitions/{name}/preview", get(get_preview))
        .route("/api/diff", get(get_diff))
        .route("/api/timeline", get(get_timeline))
        .route("/api/dora", get(get_dora))
        // Preview envs (previews.rs).
        .route(
            "/api/previews",
            get(crate::previews::list).post(crate::previews::create),
        )
        .route("/api/previews/events", post(crate::previews::event))
        .route(
            "/api/previews/{name}",
            axum::routing::patch(crate::previews::change).delete(crate::previews::delete),
        )
        .route("/api/{*rest}", axum::routing::any(api_not_found))
        .with_state(app)
        .merge(admin::router(admin))
        .merge(ui)
}

/// An answer or a refusal, counted in the metrics.
pub(crate) type ApiResult = Result<Response, ApiError>;

pub(crate) fn counted(app: &App, result: ApiResult) -> Response {
    match result {
        Ok(r) => r,
        Err(e) => {
            app.metrics
                .rejected
                .get_or_create(&Metrics::label("status", e.status.as_str()))
                .inc();
            if e.status.is_server_error() {
                tracing::warn!(status = %e.status, "{}", e.message);
            } else {
                tracing::info!(status = %e.status, "refused: {}", e.message);
            }
            e.into_response()
        }
    }
}

/// The caller's token: 401 without one, 403 with a wrong one.
pub(crate) fn caller(app: &App, headers: &HeaderMap) -> Result<Principal, ApiError> {
    let authorization = headers.get(header::AUTHORIZATION).map(|v| v.as_bytes());
    app.tokens.authenticate(authorization).cloned().map_err(|e| {
        let status = match e {
            AuthError::Unknown => StatusCode::FORBIDDEN,
            AuthError::Missing | AuthError::Malformed => StatusCode::UNAUTHORIZED,
        };
        ApiError::new(status, e.to_string())
    })
}

/// The name of the caller's token if it has `scope` for `env` (401/403 as
/// [`caller`], and 403 naming the missing scope). Checked before the body is
/// read, except where the env comes from the body.
pub fn authorize(app: &App, headers: &HeaderMap, scope: Scope, env: Option<&str>) -> Result<String, ApiError> {
    let principal = caller(app, headers)?;
    allowed(&principal, scope, env)?;
    Ok(principal.name)
}

/// 403 naming the missing scope, unless `principal` has `scope` for `env`.
pub(crate) fn allowed(principal: &Principal, scope: Scope, env: Option<&str>) -> Result<(), ApiError> {
    principal.require(scope, env).map_err(|e| ApiError::missing_scope(&e))
}

pub(crate) fn reader(app: &App, headers: &HeaderMap) -> Result<(), ApiError> {
    if app.config.read_requires_token {
        authorize(app, headers, Scope::Read, None)?;
    }
    Ok(())
}

/// 415 unless the request says its body is JSON (`application/json`, parameters
/// such as `; charset=utf-8` allowed): a form or plain text is never taken for JSON.
fn json_content_type(headers: &HeaderMap) -> Result<(), ApiError> {
    let value = headers.get(header::CONTENT_TYPE).map(|v| v.to_str());
    let got = match value {
        Some(Ok(v)) if slipway_core::content_type::is_json(v) => return Ok(()),
        Some(Ok(v)) => format!("got {v:?}"),
        Some(Err(_)) => "got an unreadable one".to_string(),
        None => "got none".to_string(),
    };
    Err(ApiError::new(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        format!("the body must be JSON, sent with the header 'Content-Type: application/json' ({got}); nothing was committed"),
    ))
}

/// A JSON body that must be there: 415 for another content type, 413 over [`MAX_BODY`].
pub(crate) async fn json_body(headers: &HeaderMap, body: Body) -> Result<Bytes, ApiError> {
    json_content_type(headers)?;
    body_bytes(headers, body).await
}

/// A JSON body that may be left out: an empty body is none, whatever its content type.
pub(crate) async fn optional_json_body(headers: &HeaderMap, body: Body) -> Result<Option<Bytes>, ApiError> {
    let bytes = body_bytes(headers, body).await?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    json_content_type(headers)?;
    Ok(Some(bytes))
}

/// Reads the body, refusing more than [`MAX_BODY`] with 413.
async fn body_bytes(headers: &HeaderMap, body: Body) -> Result<Bytes, ApiError> {
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the body is larger than {MAX_BODY} bytes (1 MiB)"),
        )
        .on("body")
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > MAX_BODY) {
        return Err(too_large());
    }
    axum::body::to_bytes(body, MAX_BODY).await.map_err(|e| {
        // http-body-util's limit error says "length limit exceeded".
        if e.to_string().contains("length limit") {
            too_large()
        } else {
            ApiError::bad_request(format!("cannot read the body: {e}"), "body")
        }
    })
}

/// The answer to a write of the resource repo (versions, locks, rollbacks).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct CommitAnswer {
    /// The new commit, or the current one when nothing changed.
    pub commit: String,
    /// The repo already said so: nothing was committed.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    #[cfg_attr(feature = "ts", ts(as = "Option<bool>", optional))]
    pub unchanged: bool,
}

pub(crate) fn written(app: &Arc<App>, action: &str, w: Written, created_status: StatusCode) -> Response {
    if w.created {
        crate::notifications::after_write(app, action, &w);
        app.metrics
            .commits
            .get_or_create(&Metrics::label("action", action))
            .inc();
        // Posted versions ask the peers once per batch (batch.rs), not once per post.
        if action != "version" {
            app.nudge_peers();
        }
        let answer = CommitAnswer {
            commit: w.commit,
            unchanged: false,
        };
        (created_status, Json(answer)).into_response()
    } else {
        let answer = CommitAnswer {
            commit: w.commit,
            unchanged: true,
        };
        (StatusCode::OK, Json(answer)).into_response()
    }
}

async fn post_version(State(app): State<Arc<App>>, headers: HeaderMap, body: Body) -> Response {
    let result = async {
        let principal = caller(&app, &headers)?;
        let bytes = json_body(&headers, body).await?;
        let req = versions::parse_request(&bytes)?;
        allowed(&principal, Scope::Versions, Some(&req.env))?;
        let author = principal.name;
        let (env, service) = (req.env.clone(), req.service.clone());
        // The guard travels with the post into its batch: shutdown waits for the
        // push that carries it, even when the client went away.
        let w = app.versions.post(author, req, app.drain.guard()).await?;
        tracing::info!(%env, %service, commit = %w.commit, created = w.created, "version posted");
        Ok(written(&app, "version", w, StatusCode::CREATED))
    }
    .await;
    counted(&app, result)
}

async fn get_state(State(app): State<Arc<App>>, headers: HeaderMap) -> Response {
    if let Err(e) = reader(&app, &headers) {
        return counted(&app, Err(e));
    }
    let (tag, json) = match app.store.current_state() {
        Some(current) => current,
        // Recomputing after a change takes a few milliseconds of CPU: keep it off the executor.
        None => {
            let store = app.store.clone();
            match tokio::task::spawn_blocking(move || store.state()).await {
                Ok(current) => current,
                Err(e) => {
                    let err = ApiError::new(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        format!("cannot compute the state: {e}"),
                    );
                    return counted(&app, Err(err));
                }
            }
        }
    };
    let cache = [
        (header::ETAG, tag.clone()),
        (header::CACHE_CONTROL, "no-cache".to_string()),
    ];
    let unchanged = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == tag));
    if unchanged {
        return (StatusCode::NOT_MODIFIED, cache).into_response();
    }
    (cache, [(header::CONTENT_TYPE, "application/json")], json).into_response()
}

async fn get_history(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Query(params): Query<BTreeMap<String, String>>,
) -> Response {
    let result = async {
        reader(&app, &headers)?;
        let query = history::parse_query(&params)?;
        let head = app.store.snapshot().commit.clone();
        let Ok(head) = head.parse::<slipway_repo::CommitId>() else {
            return Ok(Json(json!({"entries": []})).into_response());
        };
        if let Some(env) = &query.env {
            let snapshot = app.store.snapshot();
            input::known_env(&snapshot, env, EnvGiven::Query)?;
        }
        let mut entries = app
            .repo
            .read(move |r| history::list(r, head, &query))
            .await
            .map_err(|e| ApiError::repo(&e))?;
        if let Some(template) = &app.config.commit_url_template {
            for e in &mut entries {
                e.commit_url = Some(crate::history_filter::commit_url(template, &e.commit));
            }
        }
        Ok(Json(json!({"entries": entries})).into_response())
    }
    .await;
    counted(&app, result)
}

async fn get_preview(State(app): State<Arc<App>>, Path(name): Path<String>, headers: HeaderMap) -> Response {
    let result = async {
        reader(&app, &headers)?;
        input::transition_name(&name)?;
        let snapshot = app.store.snapshot();
        let preview = app
            .repo
            .read(move |r| crate::preview::transition_preview(r, &snapshot, &name))
            .await?;
        Ok(Json(preview).into_response())
    }
    .await;
    counted(&app, result)
}

async fn get_diff(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Query(params): Query<BTreeMap<String, String>>,
) -> Response {
    let result = async {
        reader(&app, &headers)?;
        let snapshot = app.store.snapshot();
        // Rendering every object of two envs is CPU work: off the executor's threads.
        let answer = tokio::task::spawn_blocking(move || crate::preview::env_diff(&snapshot, &params))
            .await
            .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, format!("the diff failed: {e}")))??;
        Ok(Json(answer).into_response())
    }
    .await;
    counted(&app, result)
}

/// The delivery record (version-file history and deploy notes) at the last fetched head.
async fn delivery_record(app: &App) -> Result<slipway_core::delivery::Record, ApiError> {
    let head = app.store.snapshot().commit.clone();
    let Ok(head) = head.parse::<slipway_repo::CommitId>() else {
        return Ok(slipway_core::delivery::Record::default());
    };
    app.repo
        .read(move |r| crate::delivery::record(r, head))
        .await
        .map_err(|e| ApiError::repo(&e))
}

async fn get_timeline(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Query(params): Query<BTreeMap<String, String>>,
) -> Response {
    let result = async {
        reader(&app, &headers)?;
        let query = crate::delivery::parse_timeline_query(&params)?;
        let record = delivery_record(&app).await?;
        match crate::delivery::find_timeline(&record, &query) {
            Some(t) => Ok(Json(t).into_response()),
            None => Err(ApiError::not_found(match query {
                crate::delivery::TimelineQuery::Version { service, version } => {
                    format!("no commit brought version {version:?} of {service} into any env")
                }
                crate::delivery::TimelineQuery::Commit(c) => format!("commit {c:?} changed no version file"),
            })),
        }
    }
    .await;
    counted(&app, result)
}

async fn get_dora(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Query(params): Query<BTreeMap<String, String>>,
) -> Response {
    let result = async {
        reader(&app, &headers)?;
        let query = crate::delivery::parse_dora_query(&params)?;
        input::known_env(&app.store.snapshot(), &query.env, EnvGiven::Query)?;
        let record = delivery_record(&app).await?;
        let keys = crate::delivery::four_keys(&record, &query, chrono::Utc::now());
        app.metrics.dora(&keys);
        Ok(Json(keys).into_response())
    }
    .await;
    counted(&app, result)
}

async fn change_lock(
    app: &Arc<App>,
    headers: &HeaderMap,
    body: Body,
    env: String,
    target: LockTarget,
    lock: bool,
) -> ApiResult {
    let author = authorize(app, headers, Scope::Locks, Some(&env))?;
    input::env_name(&env, "env")?;
    if let LockTarget::Service(s) = &target {
        input::service_name(s, "service")?;
    }
    let body = optional_json_body(headers, body).await?;
    let op = lock_changes::parse_op(lock, body.as_deref())?;
    let label = lock_changes::target_label(&env, &target);
    let w = commit(app, author, move |snap| lock_changes::plan(snap, &env, &target, &op)).await?;
    tracing::info!(target = %label, lock, commit = %w.commit, created = w.created, "lock changed");
    Ok(written(app, "lock", w, StatusCode::OK))
}

/// Commits `plan` on the newest head as `author`, holding a drain guard until it is pushed.
pub(crate) async fn commit<F>(app: &Arc<App>, author: String, plan: F) -> Result<Written, ApiError>
where
    F: FnMut(&RepoSnapshot) -> Result<Option<Change>, Refusal> + Send + 'static,
{
    let store = app.store.clone();
    let in_flight = app.drain.guard();
    let w = app
        .repo
        .with(move |r| {
            let _in_flight = in_flight;
            app::write(r, &store, &author, plan)
        })
        .await?;
    Ok(w)
}

async fn lock_env(State(app): State<Arc<App>>, Path(env): Path<String>, headers: HeaderMap, body: Body) -> Response {
    let r = change_lock(&app, &headers, body, env, LockTarget::Env, true).await;
    counted(&app, r)
}

async fn unlock_env(State(app): State<Arc<App>>, Path(env): Path<String>, headers: HeaderMap, body: Body) -> Response {
    let r = change_lock(&app, &headers, body, env, LockTarget::Env, false).await;
    counted(&app, r)
}

async fn lock_service(
    State(app): State<Arc<App>>,
    Path((env, service)): Path<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let r = change_lock(&app, &headers, body, env, LockTarget::Service(service), true).await;
    counted(&app, r)
}

async fn unlock_service(
    State(app): State<Arc<App>>,
    Path((env, service)): Path<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let r = change_lock(&app, &headers, body, env, LockTarget::Service(service), false).await;
    counted(&app, r)
}

async fn post_rollback(State(app): State<Arc<App>>, headers: HeaderMap, body: Body) -> Response {
    let result = async {
        let principal = caller(&app, &headers)?;
        let bytes = json_body(&headers, body).await?;
        let req = rollback::parse_request(&bytes)?;
        allowed(&principal, Scope::Rollback, Some(&req.env))?;
        let author = principal.name;
        let store = app.store.clone();
        let in_flight = app.drain.guard();
        let w = app
            .repo
            .with(move |r| {
                let _in_flight = in_flight;
                let from = app::commit_on_branch(r, &req.commit)?;
                let old = r.read_file(from, &version_path(&req.env, &req.service))?;
                let from = from.to_string();
                app::write(r, &store, &author, |snap| {
                    rollback::plan(snap, &req, &author, &from, old.as_deref())
                })
            })
            .await?;
        tracing::info!(commit = %w.commit, created = w.created, "rollback");
        Ok(written(&app, "rollback", w, StatusCode::CREATED))
    }
    .await;
    counted(&app, result)
}

async fn run_transition(
    State(app): State<Arc<App>>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let result = async {
        let principal = caller(&app, &headers)?;
        input::transition_name(&name)?;
        let mut forwarded = serde_json::Map::new();
        if let Some(bytes) = optional_json_body(&headers, body).await? {
            // The transitioner checks the values (a reason is required with override_windows).
            forwarded = input::object(&bytes, RUN_FIELDS)?;
        }
        let override_windows = input::optional_bool(&forwarded, "override_windows", false)?;
        let target = transition_target(&app, &name);
        allowed(&principal, Scope::Run, target.as_deref())?;
        if override_windows {
            allowed(&principal, Scope::Override, target.as_deref())?;
        }
        forwarded.insert("author".to_string(), json!(principal.name));
        to_transitioner(&app, &format!("/transitions/{name}/run"), forwarded).await
    }
    .await;
    counted(&app, result)
}

async fn approve_transition(app: State<Arc<App>>, name: Path<String>, headers: HeaderMap, body: Body) -> Response {
    verdict(app, name, headers, body, "approve").await
}

async fn reject_transition(app: State<Arc<App>>, name: Path<String>, headers: HeaderMap, body: Body) -> Response {
    verdict(app, name, headers, body, "reject").await
}

/// `POST /api/transitions/{name}/approve|reject` `{"reason"}`: passed on to the
/// transitioner, which records the verdict as a commit by the caller.
async fn verdict(
    State(app): State<Arc<App>>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Body,
    action: &str,
) -> Response {
    let result = async {
        let principal = caller(&app, &headers)?;
        let mut forwarded = serde_json::Map::new();
        if let Some(bytes) = optional_json_body(&headers, body).await? {
            // The transitioner checks the values (a rejection needs a reason).
            forwarded = input::object(&bytes, &["reason"])?;
        }
        input::transition_name(&name)?;
        allowed(&principal, Scope::Approve, transition_target(&app, &name).as_deref())?;
        forwarded.insert("author".to_string(), json!(principal.name));
        to_transitioner(&app, &format!("/transitions/{name}/{action}"), forwarded).await
    }
    .await;
    counted(&app, result)
}

/// Posts `body` to the transitioner's `path` with the peer token and passes its answer on.
/// The target env of transition `name` in the repo as last fetched. The scopes
/// of a transition endpoint are for its target; a transition the repo does not
/// know needs them for every env (the transitioner then says it does not exist).
fn transition_target(app: &App, name: &str) -> Option<String> {
    app.store
        .snapshot()
        .transitions()
        .ok()
        .and_then(|ts| ts.into_iter().find(|t| t.name == name))
        .map(|t| t.target)
}

async fn to_transitioner(
    app: &App,
    path: &str,
    body: serde_json::Map<String, serde_json::Value>,
) -> Result<Response, ApiError> {
    let Some(transitioner) = &app.transitioner else {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "no transitioner_url is configured, so transitions cannot be run or approved from here",
        ));
    };
    let url = transitioner.url(path);
    let request = transitioner.post(path).json(&body);
    let response = request.send().await.map_err(|e| {
        ApiError::new(
            StatusCode::BAD_GATEWAY,
            format!("the transitioner is unreachable at {url}: {e}"),
        )
    })?;
    let status = StatusCode::from_u16(response.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
    let text = response.bytes().await.map_err(|e| {
        ApiError::new(
            StatusCode::BAD_GATEWAY,
            format!("the transitioner's answer was cut off: {e}"),
        )
    })?;
    // The transitioner answers 401 only for the aggregator's own token; its 403s are
    // about the caller (four eyes, not an approver) and are passed on.
    if status == StatusCode::UNAUTHORIZED {
        // The caller's own token was fine: passing the 401 on would send them looking at the wrong token.
        let configured = if transitioner.has_token() {
            "the configured peer token is not in the transitioner's api_tokens_file / api_tokens_env"
        } else {
            "no peer_token_file / peer_token_env is configured"
        };
        return Err(ApiError::new(
            StatusCode::BAD_GATEWAY,
            format!("the transitioner refused the aggregator's token ({status}): {configured}; nothing was run"),
        ));
    }
    if status.is_success() {
        // The call may have committed: look at the repo now rather than at the next poll.
        app.fetch_now.notify_one();
    }
    Ok((status, [(header::CONTENT_TYPE, "application/json")], text).into_response())
}

async fn events(
    State(app): State<Arc<App>>,
    mut headers: HeaderMap,
    Query(params): Query<BTreeMap<String, String>>,
) -> Response {
    // Browsers' EventSource cannot send headers, so the token may come as `?access_token=`.
    if let Some(token) = params.get("access_token") {
        if !headers.contains_key(header::AUTHORIZATION) {
            if let Ok(value) = axum::http::HeaderValue::from_str(&format!("Bearer {token}")) {
                headers.insert(header::AUTHORIZATION, value);
            }
        }
    }
    if let Err(e) = reader(&app, &headers) {
        return counted(&app, Err(e));
    }
    Sse::new(event_stream(&app))
        .keep_alive(KeepAlive::default())
        .into_response()
}

fn event_stream(app: &Arc<App>) -> impl Stream<Item = Result<Event, Infallible>> {
    let rx = app.store.subscribe();
    app.metrics.subscribers.set(app.store.subscribers() as i64);
    let app2 = app.clone();
    let shutdown = app.drain.draining();
    BroadcastStream::new(rx)
        .filter_map(|item| async move {
            let event = match item {
                Ok(e) => e,
                // A slow reader missed events: one generic event makes it reload.
                Err(_) => crate::store::StateEvent {
                    commit: String::new(),
                    cause: "repo",
                },
            };
            Some(Ok(Event::default()
                .event("state")
                .data(serde_json::to_string(&event).unwrap_or_default())))
        })
        .take_until(shutdown)
        .chain(futures::stream::once(async move {
            app2.metrics.subscribers.set(app2.store.subscribers() as i64);
            Ok(Event::default().comment("shutting down"))
        }))
}

async fn api_not_found(State(app): State<Arc<App>>, uri: axum::http::Uri) -> Response {
    counted(
        &app,
        Err(ApiError::not_found(format!("no such API endpoint: {}", uri.path()))),
    )
}
