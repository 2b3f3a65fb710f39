//! The HTTP API (docs/http-api.md): `/health`, `/status`, `/refresh`, `/metrics`.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;

use crate::deployer::Deployer;

/// The router of the deployer's API.
pub fn router(deployer: Arc<Deployer>) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/status", get(status))
        .route("/refresh", post(refresh))
        .route("/metrics", get(metrics))
        .with_state(deployer)
}

async fn health() -> Json<serde_json::Value> {
    Json(json!({"status": "ok"}))
}

async fn status(State(d): State<Arc<Deployer>>) -> Response {
    Json(d.status()).into_response()
}

async fn refresh(State(d): State<Arc<Deployer>>) -> Response {
    d.request_refresh();
    (StatusCode::ACCEPTED, Json(json!({"status": "scheduled"}))).into_response()
}

async fn metrics(State(d): State<Arc<Deployer>>) -> Response {
    slipway_common::service::metrics_response(&d.metrics.registry)
}
