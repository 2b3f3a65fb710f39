//! The JSON error of every endpoint: `{"error": "...", "field": ...}` with its status code.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use slipway_repo::GitError;

/// A request that cannot be answered as asked, and what the client should do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
    /// The input field at fault, when there is one.
    pub field: Option<String>,
}

#[derive(Serialize)]
struct Body<'a> {
    error: &'a str,
    field: Option<&'a str>,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            message: message.into(),
            field: None,
        }
    }

    /// The same error, naming the input field at fault.
    pub fn on(mut self, field: &str) -> Self {
        self.field = Some(field.to_string());
        self
    }

    pub fn bad_request(message: impl Into<String>, field: &str) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, message).on(field)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::NOT_FOUND, message)
    }

    pub fn conflict(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::CONFLICT, message)
    }

    pub fn locked(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::LOCKED, message)
    }

    /// The resource repo could not be reached or refused the write.
    pub fn repo(err: &GitError) -> Self {
        match err {
            GitError::TooManyRetries { .. } | GitError::RemoteLocked { .. } => {
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, err.to_string())
            }
            GitError::Timeout { action: "push", .. } => ApiError::new(
                StatusCode::GATEWAY_TIMEOUT,
                format!("the resource repo did not answer in time; the push may have arrived, look at the history before trying again: {err}"),
            ),
            GitError::Timeout { .. } => ApiError::new(
                StatusCode::GATEWAY_TIMEOUT,
                format!("the resource repo did not answer in time, nothing was committed: {err}"),
            ),
            _ => ApiError::new(
                StatusCode::BAD_GATEWAY,
                format!("the resource repo is unreachable or refused the change, nothing was committed: {err}"),
            ),
        }
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.status.as_u16(), self.message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Body {
            error: &self.message,
            field: self.field.as_deref(),
        };
        let mut response = (self.status, axum::Json(body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Bearer realm=\"slipway\""),
            );
        }
        response
    }
}
