//! The HTTP API (docs/http-api.md, "Transitioner").

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;
use tokio::sync::Notify;

use crate::transitioner::{Error, Transitioner};

#[derive(Clone)]
struct Api {
    transitioner: Arc<Transitioner>,
    refresh: Arc<Notify>,
}

/// The API's routes. `refresh` wakes the poll loop.
pub fn router(transitioner: Arc<Transitioner>, refresh: Arc<Notify>) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/status", get(status))
        .route("/refresh", post(refresh_now))
        .route("/transitions/{name}/run", post(run_now))
        .route("/metrics", get(metrics))
        .with_state(Api { transitioner, refresh })
}

async fn health() -> Json<serde_json::Value> {
    Json(json!({"status": "ok"}))
}

async fn status(State(api): State<Api>) -> Response {
    Json(api.transitioner.status()).into_response()
}

async fn refresh_now(State(api): State<Api>) -> Response {
    api.refresh.notify_one();
    (StatusCode::ACCEPTED, Json(json!({"status": "scheduled"}))).into_response()
}

async fn run_now(State(api): State<Api>, Path(name): Path<String>) -> Response {
    match api.transitioner.run_now(&name).await {
        Ok(outcome) => Json(json!({
            "result": outcome.decision.result,
            "reason": outcome.decision.reason,
            "commit": outcome.commit,
        }))
        .into_response(),
        Err(e) => {
            let code = match &e {
                Error::UnknownTransition { .. } => StatusCode::NOT_FOUND,
                Error::Git(_) => StatusCode::BAD_GATEWAY,
                Error::Rules(_) => StatusCode::CONFLICT,
            };
            let field = matches!(e, Error::UnknownTransition { .. }).then_some("name");
            (code, Json(json!({"error": e.to_string(), "field": field}))).into_response()
        }
    }
}

async fn metrics(State(api): State<Api>) -> Response {
    slipway_common::service::metrics_response(&api.transitioner.metrics().registry)
}
