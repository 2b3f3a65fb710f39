//! The HTTP API (docs/http-api.md, "Transitioner"). A run on request commits to
//! the repo, so it needs a bearer token from `api_tokens_file` / `api_tokens_env`;
//! `POST /refresh` only nudges the poll loop and stays open, rate-limited.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};
use slipway_core::status::{RunAnswer, VerdictAnswer};
use slipway_core::tokens::{check_name, Principal, Scope, Tokens};
use slipway_kit::admin::{self, Admin};
use slipway_kit::lease::{Leadership, LeaseError};
use slipway_kit::refresh::RefreshGate;

use crate::approve::Kind;
use crate::transitioner::{Error, Transitioner};

#[derive(Clone)]
struct Api {
    transitioner: Arc<Transitioner>,
    /// `None`: no tokens are configured, so every run on request is refused.
    tokens: Option<Arc<Tokens>>,
}

/// The API's routes, with the admin endpoints of `slipway_kit::admin`. `refresh`
/// wakes the poll loop; `tokens` may ask for runs. Ready once a fetch of the
/// resource repo has succeeded (the status has its head).
pub fn router(transitioner: Arc<Transitioner>, refresh: RefreshGate, tokens: Option<Tokens>) -> Router {
    let (ready_of, metrics_of) = (transitioner.clone(), transitioner.clone());
    let admin = Admin {
        ready: Arc::new(move || match ready_of.repo_commit() {
            Some(_) => Ok(()),
            None => Err("the resource repo has not been fetched yet".to_string()),
        }),
        metrics: Arc::new(move || {
            let metrics = metrics_of.metrics();
            metrics.set_leader(metrics_of.leadership().leads());
            slipway_kit::metrics_response(&metrics.registry)
        }),
        refresh,
    };
    Router::new()
        .route("/status", get(status))
        .route("/transitions/{name}/run", post(run_now))
        .route("/transitions/{name}/approve", post(approve))
        .route("/transitions/{name}/reject", post(reject))
        .with_state(Api {
            transitioner,
            tokens: tokens.map(Arc::new),
        })
        .merge(admin::router(admin))
}

/// Marks a run a follower passed on to the leader (the value names the
/// follower), so it is never passed on again.
pub const PASSED_ON_BY: &str = "x-slipway-passed-on-by";

/// How long a run passed on to the leader may take (fetch, deployer, push).
const PASS_ON_TIMEOUT: Duration = Duration::from_secs(120);

/// A run asked of a replica that does not hold the Lease: passed on to the
/// leader at the address its Lease names, with the caller's token and body, and
/// the leader's answer returned as it is. When there is no leader, or it cannot
/// be reached, or the request was already passed on: `503` naming the leader.
async fn pass_on_to_leader(
    leadership: &Leadership,
    not_leader: LeaseError,
    name: &str,
    headers: &HeaderMap,
    body: Bytes,
) -> Response {
    let leader = leadership.leader();
    let identity = leader.as_ref().and_then(|l| l.identity.clone());
    let address = leader.and_then(|l| l.address);
    if let (Some(address), false) = (&address, headers.contains_key(PASSED_ON_BY)) {
        let me = leadership.identity().unwrap_or("a follower");
        match pass_on(address, name, headers, body, me).await {
            Ok(answer) => return answer,
            Err(e) => tracing::warn!(transition = %name, "cannot pass the run on to the leader at {address}: {e}"),
        }
    }
    let message = match &identity {
        Some(leader) => format!("{not_leader}; ask the leader, {leader}"),
        None => format!("{not_leader}; try again once a leader is elected"),
    };
    let body = json!({"error": message, "field": null, "leader": identity});
    let mut refused = (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response();
    refused
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("2"));
    refused
}

async fn pass_on(address: &str, name: &str, headers: &HeaderMap, body: Bytes, me: &str) -> Result<Response, String> {
    let mut url = reqwest::Url::parse(address).map_err(|e| format!("invalid address: {e}"))?;
    url.path_segments_mut()
        .map_err(|()| "the address cannot take a path".to_string())?
        .pop_if_empty()
        .extend(["transitions", name, "run"]);
    let client = reqwest::Client::builder()
        .timeout(PASS_ON_TIMEOUT)
        .build()
        .map_err(|e| e.to_string())?;
    let mut request = client.post(url).header(PASSED_ON_BY, me).body(body);
    for h in [header::AUTHORIZATION, header::CONTENT_TYPE] {
        if let Some(value) = headers.get(&h) {
            request = request.header(h, value.clone());
        }
    }
    let answer = request.send().await.map_err(|e| e.to_string())?;
    let status = answer.status();
    let content_type = answer.headers().get(header::CONTENT_TYPE).cloned();
    let bytes = answer.bytes().await.map_err(|e| e.to_string())?;
    let mut response = (status, bytes).into_response();
    if let Some(content_type) = content_type {
        response.headers_mut().insert(header::CONTENT_TYPE, content_type);
    }
    Ok(response)
}

/// The JSON error every endpoint answers with.
fn error(status: StatusCode, message: impl std::fmt::Display, field: Option<&str>) -> Response {
    let mut response = (status, Json(json!({"error": message.to_string(), "field": field}))).into_response();
    if status == StatusCode::UNAUTHORIZED {
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"slipway\""),
        );
    }
    response
}

/// The status, with `leader` (who holds the Lease, and whether it is this
/// replica) when leader election is configured.
async fn status(State(api): State<Api>) -> Response {
    let mut status = serde_json::to_value(api.transitioner.status()).unwrap_or_else(|_| json!({}));
    if let (Some(leader), Some(map)) = (api.transitioner.leadership().leader(), status.as_object_mut()) {
        map.insert("leader".into(), json!(leader));
    }
    Json(status).into_response()
}

/// The caller's token; 401 without one, with a wrong one, or when none are configured.
fn caller(api: &Api, headers: &HeaderMap) -> Result<Principal, Response> {
    let Some(tokens) = &api.tokens else {
        return Err(error(
            StatusCode::UNAUTHORIZED,
            "this transitioner accepts no tokens yet: set api_tokens_file or api_tokens_env in its config (the aggregator's token)",
            None,
        ));
    };
    let authorization = headers.get(header::AUTHORIZATION).map(HeaderValue::as_bytes);
    tokens
        .authenticate(authorization)
        .cloned()
        .map_err(|e| error(StatusCode::UNAUTHORIZED, e, None))
}

/// The transition's target env, as last read from the repo; `None` for a
/// transition not seen yet, which then needs the scope for every env.
fn target_of(api: &Api, name: &str) -> Option<String> {
    api.transitioner
        .status()
        .transitions
        .into_iter()
        .find(|t| t.name == name)
        .map(|t| t.target)
}

/// `403` naming the missing scope unless `principal` may act for `scope` in `target`.
fn authorize(principal: &Principal, scope: Scope, target: Option<&str>, nothing: &str) -> Result<(), Response> {
    principal.require(scope, target).map_err(|missing| {
        let body = json!({
            "error": format!("{missing}; {nothing}"),
            "field": null,
            "missing_scope": missing.scope_text(),
        });
        (StatusCode::FORBIDDEN, Json(body)).into_response()
    })
}

/// The optional body of a run: `{"author": NAME, "override_windows": true, "reason": "..."}`.
#[derive(Debug, Default)]
struct RunBody {
    /// Who asked for the run (the aggregator passes its caller on).
    author: Option<String>,
    /// Break-glass: the reason for running through closed windows.
    override_reason: Option<String>,
}

const RUN_FIELDS: &str = "author, override_windows, reason";

fn run_body(headers: &HeaderMap, body: &[u8]) -> Result<RunBody, Response> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(RunBody::default());
    }
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok());
    if !content_type.is_some_and(slipway_core::content_type::is_json) {
        return Err(error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "the body must be JSON, sent with the header 'Content-Type: application/json'",
            None,
        ));
    }
    let bad = |message: String, field: &str| error(StatusCode::BAD_REQUEST, message, Some(field));
    let value: Value =
        serde_json::from_slice(body).map_err(|e| bad(format!("the body is not valid JSON: {e}"), "body"))?;
    let Value::Object(map) = value else {
        return Err(bad(
            "the body must be a JSON object such as {\"author\": \"alice\"}".into(),
            "body",
        ));
    };
    if let Some(unknown) = map
        .keys()
        .find(|k| !["author", "override_windows", "reason"].contains(&k.as_str()))
    {
        return Err(bad(
            format!("unknown field {unknown:?}; the fields are {RUN_FIELDS}"),
            unknown,
        ));
    }
    let author = match map.get("author") {
        None | Some(Value::Null) => None,
        Some(Value::String(name)) => {
            check_name(name).map_err(|problem| bad(format!("invalid author {name:?}: {problem}"), "author"))?;
            Some(name.clone())
        }
        Some(_) => return Err(bad("field \"author\" must be a string".into(), "author")),
    };
    let override_windows = match map.get("override_windows") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => {
            return Err(bad(
                "field \"override_windows\" must be true or false".into(),
                "override_windows",
            ))
        }
    };
    let reason = match map.get("reason") {
        None | Some(Value::Null) => None,
        Some(Value::String(r)) if r.trim().is_empty() => None,
        Some(Value::String(r)) => Some(r.trim().to_string()),
        Some(_) => return Err(bad("field \"reason\" must be a string".into(), "reason")),
    };
    let override_reason = match (override_windows, reason) {
        (true, Some(reason)) => Some(reason),
        (true, None) => {
            return Err(bad(
                "override_windows needs a reason: say why this promotion cannot wait for its window".into(),
                "reason",
            ))
        }
        (false, Some(_)) => {
            return Err(bad(
                "reason is recorded only with \"override_windows\": true; leave it out for a plain run".into(),
                "reason",
            ))
        }
        (false, None) => None,
    };
    Ok(RunBody {
        author,
        override_reason,
    })
}

async fn run_now(State(api): State<Api>, Path(name): Path<String>, headers: HeaderMap, body: Bytes) -> Response {
    let principal = match caller(&api, &headers) {
        Ok(principal) => principal,
        Err(refused) => return refused,
    };
    let request = match run_body(&headers, &body) {
        Ok(request) => request,
        Err(refused) => return refused,
    };
    let target = target_of(&api, &name);
    if let Err(refused) = authorize(&principal, Scope::Run, target.as_deref(), "nothing was run") {
        return refused;
    }
    if request.override_reason.is_some() {
        if let Err(refused) = authorize(&principal, Scope::Override, target.as_deref(), "nothing was run") {
            return refused;
        }
    }
    let author = request.author.unwrap_or(principal.name);
    let leadership = api.transitioner.leadership();
    if let Err(not_leader) = leadership.check() {
        return pass_on_to_leader(leadership, not_leader, &name, &headers, body).await;
    }
    match api
        .transitioner
        .run_now_with(&name, &author, request.override_reason.as_deref())
        .await
    {
        Ok(outcome) => Json(RunAnswer {
            result: outcome.decision.result,
            state: outcome.decision.state,
            reason: outcome.decision.reason,
            commit: outcome.commit,
        })
        .into_response(),
        Err(e) => refused(e),
    }
}

/// The answer to an error of the transitioner.
fn refused(e: Error) -> Response {
    use crate::approve::ApprovalError as A;
    let code = match &e {
        Error::UnknownTransition { .. } => StatusCode::NOT_FOUND,
        Error::Git(_) | Error::Approval(A::Git(_)) => StatusCode::BAD_GATEWAY,
        Error::Rules(_) => StatusCode::CONFLICT,
        Error::Approval(A::NotAnApprover { .. } | A::OwnChange { .. }) => StatusCode::FORBIDDEN,
        Error::Approval(A::NotRequired { .. } | A::NothingPending { .. } | A::Changed { .. } | A::Unreadable(_)) => {
            StatusCode::CONFLICT
        }
    };
    let field = matches!(e, Error::UnknownTransition { .. }).then_some("name");
    error(code, e, field)
}

async fn approve(api: State<Api>, name: Path<String>, headers: HeaderMap, body: Bytes) -> Response {
    verdict(api, name, headers, body, Kind::Approve).await
}

async fn reject(api: State<Api>, name: Path<String>, headers: HeaderMap, body: Bytes) -> Response {
    verdict(api, name, headers, body, Kind::Reject).await
}

/// `POST /transitions/{name}/approve|reject` with `{"author", "reason"}` (reason required to reject).
async fn verdict(
    State(api): State<Api>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Bytes,
    kind: Kind,
) -> Response {
    let principal = match caller(&api, &headers) {
        Ok(principal) => principal,
        Err(refused) => return refused,
    };
    let body = match verdict_body(&headers, &body, kind) {
        Ok(body) => body,
        Err(refused) => return refused,
    };
    let target = target_of(&api, &name);
    if let Err(refused) = authorize(&principal, Scope::Approve, target.as_deref(), "nothing was recorded") {
        return refused;
    }
    let who = body.author.unwrap_or(principal.name);
    match api
        .transitioner
        .verdict(&name, &who, kind, body.reason.as_deref())
        .await
    {
        Ok(recorded) => {
            // The status after the run that followed the verdict (it may have promoted).
            let status = api.transitioner.status();
            let d = &recorded.decision;
            let answer = match status.transitions.iter().find(|t| t.name == name) {
                Some(t) => VerdictAnswer {
                    commit: recorded.commit,
                    state: t.state,
                    reason: t.reason.clone(),
                    would_ship: t.would_ship.clone(),
                    approved_by: t.approved_by.clone(),
                    rejected: t.rejected.clone(),
                },
                None => VerdictAnswer {
                    commit: recorded.commit,
                    state: Some(d.state),
                    reason: d.reason.clone(),
                    would_ship: d.would_ship.clone(),
                    approved_by: d.approved_by.clone(),
                    rejected: d.rejected.clone(),
                },
            };
            Json(answer).into_response()
        }
        Err(e) => refused(e),
    }
}

struct VerdictBody {
    author: Option<String>,
    reason: Option<String>,
}

fn verdict_body(headers: &HeaderMap, body: &[u8], kind: Kind) -> Result<VerdictBody, Response> {
    let bad = |message: String, field: &str| error(StatusCode::BAD_REQUEST, message, Some(field));
    let map = json_object(headers, body, &["author", "reason"])?;
    let author = string_field(&map, "author")?;
    if let Some(name) = &author {
        check_name(name).map_err(|problem| bad(format!("invalid author {name:?}: {problem}"), "author"))?;
    }
    let reason = string_field(&map, "reason")?.filter(|r| !r.trim().is_empty());
    if kind == Kind::Reject && reason.is_none() {
        return Err(bad(
            "a rejection needs a reason: say what must change before it may ship".into(),
            "reason",
        ));
    }
    Ok(VerdictBody { author, reason })
}

/// The body as a JSON object with only `fields` (an empty body is an empty object).
fn json_object(headers: &HeaderMap, body: &[u8], fields: &[&str]) -> Result<serde_json::Map<String, Value>, Response> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(serde_json::Map::new());
    }
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok());
    if !content_type.is_some_and(slipway_core::content_type::is_json) {
        return Err(error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "the body must be JSON, sent with the header 'Content-Type: application/json'",
            None,
        ));
    }
    let bad = |message: String, field: &str| error(StatusCode::BAD_REQUEST, message, Some(field));
    let value: Value =
        serde_json::from_slice(body).map_err(|e| bad(format!("the body is not valid JSON: {e}"), "body"))?;
    let Value::Object(map) = value else {
        return Err(bad("the body must be a JSON object".into(), "body"));
    };
    if let Some(unknown) = map.keys().find(|k| !fields.contains(&k.as_str())) {
        return Err(bad(
            format!("unknown field {unknown:?}; the fields are {}", fields.join(", ")),
            unknown,
        ));
    }
    Ok(map)
}

fn string_field(map: &serde_json::Map<String, Value>, field: &str) -> Result<Option<String>, Response> {
    match map.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.trim().to_string())),
        Some(_) => Err(error(
            StatusCode::BAD_REQUEST,
            format!("field {field:?} must be a string"),
            Some(field),
        )),
    }
}
