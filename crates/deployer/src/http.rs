//! The HTTP API (docs/http-api.md): `/health`, `/status`, `/refresh`, `/metrics`.

use std::sync::Arc;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::Utc;
use serde_json::json;
use slipway_kit::refresh::RefreshGate;

use crate::deployer::Deployer;

/// The router of the deployer's API. `POST /refresh` stays open (it only asks for a
/// reconcile now, and a git host's webhook points at it) and is rate-limited.
pub fn router(deployer: Arc<Deployer>) -> Router {
    let (d, head_of) = (deployer.clone(), deployer.clone());
    let gate = RefreshGate::new(Arc::new(Utc::now), Arc::new(move || head_of.repo_commit()), move || {
        d.request_refresh()
    });
    Router::new()
        .route("/health", get(health))
        .route("/status", get(status))
        .route("/refresh", post(move || async move { gate.nudge() }))
        .route("/metrics", get(metrics))
        .with_state(deployer)
}

async fn health() -> Json<serde_json::Value> {
    Json(json!({"status": "ok"}))
}

async fn status(State(d): State<Arc<Deployer>>) -> Response {
    Json(d.status()).into_response()
}

async fn metrics(State(d): State<Arc<Deployer>>) -> Response {
    slipway_kit::metrics_response(&d.metrics.registry)
}
