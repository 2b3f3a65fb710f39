//! The HTTP API (docs/http-api.md): `/status`, and the admin endpoints of
//! `slipway_kit::admin` (`/live`, `/ready`, `/health`, `/metrics`, `/refresh`).

use std::sync::Arc;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use slipway_kit::admin::{self, Admin};
use slipway_kit::refresh::RefreshGate;

use crate::deployer::Deployer;

/// The router of the deployer's API. `POST /refresh` stays open (it only asks for a
/// reconcile now, and a git host's webhook points at it) and is rate-limited.
/// Ready once the run loop's first fetch of the resource repo has succeeded.
pub fn router(deployer: Arc<Deployer>) -> Router {
    let (d, head_of, ready_of, metrics_of) = (deployer.clone(), deployer.clone(), deployer.clone(), deployer.clone());
    let gate = RefreshGate::new(deployer.clock(), Arc::new(move || head_of.repo_commit()), move || {
        d.request_refresh()
    });
    let admin = Admin {
        ready: Arc::new(move || ready_of.fetches().readiness()),
        metrics: Arc::new(move || slipway_kit::metrics_response(&metrics_of.metrics.registry)),
        refresh: gate,
    };
    Router::new()
        .route("/status", get(status))
        // What runs: live view, logs and diff of a service or a deployable file, diff of an env.
        .route("/envs/{env}/services/{*rest}", get(crate::inspect_http::service))
        .route("/envs/{env}/deployables/{*rest}", get(crate::inspect_http::deployable))
        .route("/envs/{env}/diff", get(crate::inspect_http::env_diff))
        .with_state(deployer)
        .merge(admin::router(admin))
}

async fn status(State(d): State<Arc<Deployer>>) -> Response {
    Json(d.status()).into_response()
}
