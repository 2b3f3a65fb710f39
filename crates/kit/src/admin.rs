//! The admin endpoints every service serves (`/live`, `/ready`, `/health`,
//! `/metrics`, `POST /refresh`) and the one JSON error shape, `{"error": "..."}`,
//! of every 4xx and 5xx answer, axum's own 404 and 405 included.

use std::sync::Arc;

use axum::body::{Body, HttpBody as _};
use axum::extract::Request;
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;

use crate::refresh::RefreshGate;

/// Whether the service can do its job; the error says why not.
pub type Readiness = Arc<dyn Fn() -> Result<(), String> + Send + Sync>;

/// The service's metrics answer (see [`crate::metrics_response`]).
pub type Metrics = Arc<dyn Fn() -> Response + Send + Sync>;

/// What the admin endpoints of one service read.
#[derive(Clone)]
pub struct Admin {
    /// `GET /ready`: 200 when `Ok`, 503 with the error otherwise.
    pub ready: Readiness,
    /// `GET /metrics`.
    pub metrics: Metrics,
    /// `POST /refresh`.
    pub refresh: RefreshGate,
}

/// The admin routes, to merge into the service's router.
pub fn router(admin: Admin) -> Router {
    let Admin {
        ready,
        metrics,
        refresh,
    } = admin;
    Router::new()
        .route("/live", get(|| async { Json(json!({"status": "ok"})) }))
        // Kept for probes and scripts written before /live and /ready.
        .route("/health", get(|| async { Json(json!({"status": "ok"})) }))
        .route(
            "/ready",
            get(move || async move {
                match ready() {
                    Ok(()) => Json(json!({"status": "ready"})).into_response(),
                    Err(why) => error(StatusCode::SERVICE_UNAVAILABLE, why),
                }
            }),
        )
        .route("/metrics", get(move || async move { metrics() }))
        .route("/refresh", post(move || async move { refresh.nudge().into_response() }))
}

/// The JSON error answer: `{"error": message}` with `status`.
pub fn error(status: StatusCode, message: impl std::fmt::Display) -> Response {
    (status, Json(json!({"error": message.to_string()}))).into_response()
}

/// Wraps `router` so that every error answer without a body of its own (axum's
/// 404 for an unknown path, its 405 for a wrong method, a bare status code) gets
/// the JSON error shape. Answers with a body are left as their handler wrote them.
pub fn json_errors(router: Router) -> Router {
    router.layer(axum::middleware::from_fn(fill_empty_error))
}

async fn fill_empty_error(request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    let response = next.run(request).await;
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) || response.body().size_hint().exact() != Some(0) {
        return response;
    }
    let message = match status {
        StatusCode::NOT_FOUND => format!("no such endpoint: {path}"),
        StatusCode::METHOD_NOT_ALLOWED => format!("method {method} is not allowed on {path}"),
        other => other.canonical_reason().unwrap_or("error").to_lowercase(),
    };
    let (mut parts, _) = response.into_parts();
    let body = json!({"error": message}).to_string();
    parts
        .headers
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(body))
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};

    use axum::http::Method;
    use tower::ServiceExt as _;

    use super::*;
    use crate::clock::SystemClock;

    async fn call(router: &Router, method: Method, path: &str) -> (StatusCode, serde_json::Value) {
        let request = Request::builder().method(method).uri(path).body(Body::empty()).unwrap();
        let response = router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let body = axum::body::to_bytes(response.into_body(), 1 << 16).await.unwrap();
        (status, serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null))
    }

    fn admin(ready: Arc<AtomicBool>) -> Router {
        let gate = RefreshGate::new(SystemClock::shared(), Arc::new(|| None), || {});
        json_errors(router(Admin {
            ready: Arc::new(move || {
                if ready.load(Ordering::SeqCst) {
                    Ok(())
                } else {
                    Err("not fetched yet".into())
                }
            }),
            metrics: Arc::new(|| "m 1\n".into_response()),
            refresh: gate,
        }))
    }

    #[tokio::test]
    async fn ready_is_503_with_the_reason_until_the_service_says_it_is_ready() {
        let ready = Arc::new(AtomicBool::new(false));
        let router = admin(ready.clone());
        assert_eq!(call(&router, Method::GET, "/live").await.0, StatusCode::OK);
        let (status, body) = call(&router, Method::GET, "/ready").await;
        assert_eq!(
            (status, body["error"].as_str()),
            (StatusCode::SERVICE_UNAVAILABLE, Some("not fetched yet"))
        );
        ready.store(true, Ordering::SeqCst);
        assert_eq!(call(&router, Method::GET, "/ready").await.0, StatusCode::OK);
    }

    #[tokio::test]
    async fn unknown_paths_and_wrong_methods_answer_the_json_error_shape() {
        let router = admin(Arc::default());
        let (status, body) = call(&router, Method::GET, "/nope").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(body["error"], "no such endpoint: /nope");
        let (status, body) = call(&router, Method::GET, "/refresh").await;
        assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(body["error"], "method GET is not allowed on /refresh");
    }
}
