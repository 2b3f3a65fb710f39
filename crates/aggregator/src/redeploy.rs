//! `POST /api/deploy {"envs": [...], "force": bool}` (token scope `deploy` for
//! every env): checks the envs against `deployers.yaml` and passes the
//! redeploy on to the deployer with the peer token. With the envs sharded
//! over several deployer replicas, the one at `deployer_url` applies the envs
//! it holds and names the owner of the others; those are asked once more at
//! their owner's address, and the answers are merged per env.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use slipway_core::redeploy::{DeployAnswer, DeployRequest, DeployResult};
use slipway_core::tokens::Scope;
use slipway_kit::peer::PeerClient;

use crate::app::App;
use crate::error::ApiError;
use crate::http::{allowed, caller, counted, optional_json_body};

/// How long a redeploy may take on the deployer (a forced one applies every object).
const DEPLOY_TIMEOUT: Duration = Duration::from_secs(300);

/// The handler of `POST /api/deploy`.
pub async fn post_deploy(State(app): State<Arc<App>>, headers: HeaderMap, body: Body) -> Response {
    let result = async {
        let principal = caller(&app, &headers)?;
        let request: DeployRequest = match optional_json_body(&headers, body).await? {
            None => DeployRequest::default(),
            Some(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    format!(
                        "invalid body: {e} (expected {{\"envs\": [\"dev\"], \"force\": true}}); nothing was deployed"
                    ),
                )
            })?,
        };
        let known: Vec<String> = app
            .store
            .snapshot()
            .deployers()
            .map(|d| d.deployers.into_keys().collect())
            .unwrap_or_default();
        match &request.envs {
            Some(envs) => {
                let unknown: Vec<&String> = envs.iter().filter(|e| !known.contains(e)).collect();
                if !unknown.is_empty() {
                    let mut e = ApiError::not_found(format!(
                        "{} not in deployers.yaml; its envs are: {}; nothing was deployed",
                        unknown.iter().map(|e| e.as_str()).collect::<Vec<_>>().join(", "),
                        known.join(", ")
                    ))
                    .on("envs");
                    e.details.insert("unknown".into(), serde_json::json!(unknown));
                    e.details.insert("known".into(), serde_json::json!(known));
                    return Err(e);
                }
                for env in envs {
                    allowed(&principal, Scope::Deploy, Some(env))?;
                }
            }
            None => allowed(&principal, Scope::Deploy, None)?,
        }
        let Some(deployer) = &app.deployer else {
            return Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "no deployer_url is configured, so nothing can be redeployed from here",
            ));
        };
        tracing::info!(by = %principal.name, envs = ?request.envs, force = request.force, "redeploy");
        let mut answer = ask(deployer, &request).await?;
        // Envs another replica holds: asked once more at their owner's address.
        let mut elsewhere: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (env, e) in &answer.envs {
            if let (DeployResult::NotHeld, Some(address)) = (e.result, &e.owner_address) {
                elsewhere.entry(address.clone()).or_default().push(env.clone());
            }
        }
        for (address, envs) in elsewhere {
            let request = DeployRequest {
                envs: Some(envs),
                force: request.force,
            };
            match ask(&deployer.at(&address), &request).await {
                Ok(theirs) => answer.envs.extend(theirs.envs),
                Err(e) => tracing::warn!(%address, "cannot pass the redeploy on to the env's owner: {}", e.message),
            }
        }
        app.metrics
            .redeploys
            .get_or_create(&crate::metrics::Metrics::label("force", &request.force.to_string()))
            .inc();
        Ok(Json(answer).into_response())
    }
    .await;
    counted(&app, result)
}

/// Posts the redeploy to one deployer replica; its refusals are passed on
/// (a 401 about the aggregator's own token is a 502: the caller's was fine).
async fn ask(deployer: &PeerClient, request: &DeployRequest) -> Result<DeployAnswer, ApiError> {
    let url = deployer.url("/deploy");
    let response = deployer
        .post("/deploy")
        .timeout(DEPLOY_TIMEOUT)
        .json(request)
        .send()
        .await
        .map_err(|e| {
            ApiError::new(
                StatusCode::BAD_GATEWAY,
                format!("the deployer is unreachable at {url}: {e}"),
            )
        })?;
    let status = response.status();
    let text = response.text().await.map_err(|e| {
        ApiError::new(
            StatusCode::BAD_GATEWAY,
            format!("the deployer's answer was cut off: {e}"),
        )
    })?;
    if status.is_success() {
        return serde_json::from_str(&text).map_err(|e| {
            ApiError::new(
                StatusCode::BAD_GATEWAY,
                format!("unreadable answer of the deployer at {url}: {e}"),
            )
        });
    }
    let message = serde_json::from_str::<serde_json::Value>(&text)
        .ok()
        .and_then(|v| v["error"].as_str().map(str::to_string))
        .unwrap_or(text);
    if status == reqwest::StatusCode::UNAUTHORIZED || status == reqwest::StatusCode::FORBIDDEN {
        let configured = if deployer.has_token() {
            "the configured peer token is not in the deployer's api_tokens_file / api_tokens_env with scope deploy"
        } else {
            "no peer_token_file / peer_token_env is configured"
        };
        return Err(ApiError::new(
            StatusCode::BAD_GATEWAY,
            format!(
                "the deployer refused the aggregator's token ({status}: {message}): {configured}; nothing was deployed"
            ),
        ));
    }
    let status = StatusCode::from_u16(status.as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
    Err(ApiError::new(status, format!("the deployer at {url}: {message}")))
}
