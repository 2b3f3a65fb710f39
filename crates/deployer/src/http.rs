//! The HTTP API (docs/http-api.md): `/status`, `POST /deploy` (bearer token with
//! scope `deploy`), and the admin endpoints of `slipway_kit::admin` (`/live`,
//! `/ready`, `/health`, `/metrics`, `/refresh`).

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;
use slipway_core::redeploy::DeployRequest;
use slipway_core::tokens::{Principal, Scope, Tokens};
use slipway_kit::admin::{self, Admin};
use slipway_kit::refresh::RefreshGate;

use slipway_core::status::DeployerStatus;

use crate::deployer::{Deployer, DeployerError};

/// The state of `POST /deploy`.
#[derive(Clone)]
struct DeployApi {
    deployer: Arc<Deployer>,
    /// `None`: no tokens are configured, so every redeploy is refused.
    tokens: Option<Arc<Tokens>>,
}

/// The JSON error every endpoint answers with.
fn error(status: StatusCode, message: impl std::fmt::Display, extra: serde_json::Value) -> Response {
    let mut body = json!({"error": message.to_string()});
    if let (Some(map), serde_json::Value::Object(more)) = (body.as_object_mut(), extra) {
        map.extend(more);
    }
    let mut response = (status, Json(body)).into_response();
    if status == StatusCode::UNAUTHORIZED {
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"slipway\""),
        );
    }
    response
}

/// The caller's token; 401 without one, with a wrong one, or when none are configured.
fn caller(api: &DeployApi, headers: &HeaderMap) -> Result<Principal, Response> {
    let Some(tokens) = &api.tokens else {
        return Err(error(
            StatusCode::UNAUTHORIZED,
            "this deployer accepts no tokens: set api_tokens_file or api_tokens_env in its config to allow POST /deploy; nothing was deployed",
            json!({}),
        ));
    };
    let authorization = headers.get(header::AUTHORIZATION).map(HeaderValue::as_bytes);
    tokens
        .authenticate(authorization)
        .cloned()
        .map_err(|e| error(StatusCode::UNAUTHORIZED, e, json!({})))
}

/// `POST /deploy {"envs": [...], "force": bool}`: redeploys those envs now (every
/// env this replica holds without `envs`) and answers what was applied per env.
async fn deploy(State(api): State<DeployApi>, headers: HeaderMap, body: Bytes) -> Response {
    let principal = match caller(&api, &headers) {
        Ok(p) => p,
        Err(refused) => return refused,
    };
    let request: DeployRequest = if body.iter().all(u8::is_ascii_whitespace) {
        DeployRequest::default()
    } else {
        match serde_json::from_slice(&body) {
            Ok(r) => r,
            Err(e) => {
                return error(
                    StatusCode::BAD_REQUEST,
                    format!(
                        "invalid body: {e} (expected {{\"envs\": [\"dev\"], \"force\": true}}); nothing was deployed"
                    ),
                    json!({}),
                )
            }
        }
    };
    let envs: Vec<Option<&str>> = match &request.envs {
        Some(envs) => envs.iter().map(|e| Some(e.as_str())).collect(),
        None => vec![None],
    };
    for env in envs {
        if let Err(missing) = principal.require(Scope::Deploy, env) {
            return error(
                StatusCode::FORBIDDEN,
                format!("{missing}; nothing was deployed"),
                json!({"missing_scope": missing.scope_text()}),
            );
        }
    }
    tracing::info!(by = %principal.name, envs = ?request.envs, force = request.force, "redeploy asked for");
    match api.deployer.redeploy(&request).await {
        Ok(answer) => Json(answer).into_response(),
        Err(DeployerError::UnknownEnvs { unknown, known }) => {
            let message = DeployerError::UnknownEnvs {
                unknown: unknown.clone(),
                known: known.clone(),
            }
            .to_string();
            error(
                StatusCode::NOT_FOUND,
                format!("{message}; nothing was deployed"),
                json!({"unknown": unknown, "known": known}),
            )
        }
        Err(e) => error(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("{e}; nothing was deployed"),
            json!({}),
        ),
    }
}

/// The router of the deployer's API. `POST /refresh` stays open (it only asks for a
/// reconcile now, and a git host's webhook points at it) and is rate-limited; with
/// sharding on it is passed on to the other replicas' `POST /refresh/local`.
/// Ready once the run loop's first fetch of the resource repo has succeeded.
pub fn router(deployer: Arc<Deployer>, tokens: Option<Tokens>) -> Router {
    let (d, head_of, ready_of, metrics_of) = (deployer.clone(), deployer.clone(), deployer.clone(), deployer.clone());
    let gate = RefreshGate::new(deployer.clock(), Arc::new(move || head_of.repo_commit()), move || {
        d.request_refresh();
        d.forward_refresh();
    });
    let (d, head_of) = (deployer.clone(), deployer.clone());
    let local_gate = RefreshGate::new(deployer.clock(), Arc::new(move || head_of.repo_commit()), move || {
        d.request_refresh()
    });
    let admin = Admin {
        ready: Arc::new(move || ready_of.fetches().readiness()),
        metrics: Arc::new(move || {
            metrics_of.update_held_gauges();
            slipway_kit::metrics_response(&metrics_of.metrics.registry)
        }),
        refresh: gate,
    };
    Router::new()
        .route("/status", get(status))
        // A refresh another replica passed on: this replica only, never passed on again.
        .route(
            "/refresh/local",
            post(move || async move { local_gate.nudge().into_response() }),
        )
        // What runs: live view, logs and diff of a service or a deployable file, diff of an env.
        .route("/envs/{env}/services/{*rest}", get(crate::inspect_http::service))
        .route("/envs/{env}/deployables/{*rest}", get(crate::inspect_http::deployable))
        .route("/envs/{env}/diff", get(crate::inspect_http::env_diff))
        .with_state(deployer.clone())
        .route("/deploy", post(deploy))
        .with_state(DeployApi {
            deployer,
            tokens: tokens.map(Arc::new),
        })
        .merge(admin::router(admin))
}

/// `GET /status` query: `local=true` answers with this replica's envs only.
#[derive(Debug, Default, serde::Deserialize)]
struct StatusQuery {
    #[serde(default)]
    local: bool,
}

/// How long `/status` waits for another replica's envs.
const PEER_STATUS_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

async fn status(State(d): State<Arc<Deployer>>, Query(q): Query<StatusQuery>) -> Response {
    let mut status = d.status();
    if !q.local && d.shards().is_on() {
        add_envs_of_other_replicas(&mut status).await;
    }
    Json(status).into_response()
}

/// With sharding on, the envs held by other replicas, from their `/status?local=true`
/// at the address their env Leases announce: so `/status` on any replica shows
/// every env. An owner that does not answer leaves its envs out (its `owners`
/// entry still names it).
async fn add_envs_of_other_replicas(status: &mut DeployerStatus) {
    let mut by_address: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (env, owner) in &status.owners {
        if let (false, Some(address)) = (owner.me, &owner.address) {
            by_address.entry(address.clone()).or_default().push(env.clone());
        }
    }
    let client = reqwest::Client::new();
    let answers = futures::future::join_all(by_address.into_iter().map(|(address, envs)| {
        let client = client.clone();
        async move {
            let answer = async {
                client
                    .get(format!("{address}/status?local=true"))
                    .timeout(PEER_STATUS_TIMEOUT)
                    .send()
                    .await?
                    .error_for_status()?
                    .json::<DeployerStatus>()
                    .await
            }
            .await;
            (address, envs, answer)
        }
    }))
    .await;
    for (address, envs, answer) in answers {
        match answer {
            Ok(mut theirs) => {
                for env in envs {
                    if let Some(s) = theirs.envs.remove(&env) {
                        status.envs.insert(env, s);
                    }
                }
            }
            Err(e) => tracing::debug!(%address, "cannot read the envs of another replica: {e}"),
        }
    }
}
