//! The JSON error of every endpoint: `{"error": "...", "field": ...}` with its status code.
//!
//! The HTTP edge: the planners' [`Refusal`]s and the repo's [`GitError`]s become
//! status codes here, and nowhere else.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use slipway_core::previews::PreviewError;
use slipway_core::tokens::MissingScope;
use slipway_repo::GitError;

use crate::app::WriteError;
use crate::refusal::{EnvGiven, Refusal};

/// A request that cannot be answered as asked, and what the client should do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
    /// The input field at fault, when there is one.
    pub field: Option<String>,
    /// The scope the caller's token lacks (`locks=prod`), on a 403.
    pub missing_scope: Option<String>,
    /// More fields of the answer (`env`, `file`, `line`, `variable`, `known_services`, ...).
    pub details: serde_json::Map<String, serde_json::Value>,
}

#[derive(Serialize)]
struct Body<'a> {
    error: &'a str,
    field: Option<&'a str>,
    /// The scope the caller's token lacks (403 only), as a tokens file grants it.
    #[serde(skip_serializing_if = "Option::is_none")]
    missing_scope: Option<&'a str>,
    #[serde(flatten)]
    details: &'a serde_json::Map<String, serde_json::Value>,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            message: message.into(),
            field: None,
            missing_scope: None,
            details: serde_json::Map::new(),
        }
    }

    /// 403: the caller's token lacks a scope; the answer names it.
    pub fn missing_scope(err: &MissingScope) -> Self {
        ApiError {
            missing_scope: Some(err.scope_text()),
            ..ApiError::new(
                StatusCode::FORBIDDEN,
                format!("{err}; nothing was changed. Add the scope to the token's entry in api_tokens_file / api_tokens_env"),
            )
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

/// The status code of a refusal: what is wrong with the request (400), too
/// large (413), not there (404), at odds with the repo (409), or held by a lock (423).
pub fn refusal_status(refusal: &Refusal) -> StatusCode {
    match refusal {
        Refusal::TooLong { .. } => StatusCode::PAYLOAD_TOO_LARGE,
        Refusal::UnknownEnv { given, .. } => match given {
            EnvGiven::Body => StatusCode::BAD_REQUEST,
            EnvGiven::Path | EnvGiven::Query => StatusCode::NOT_FOUND,
        },
        Refusal::NoCommits | Refusal::CommitNotOnBranch { .. } | Refusal::UnknownService { .. } => {
            StatusCode::NOT_FOUND
        }
        Refusal::LocksUnreadable { .. }
        | Refusal::LocksUnrewritable { .. }
        | Refusal::NoVersionFileAt { .. }
        | Refusal::NotUtf8At { .. }
        | Refusal::UnrestorableAt { .. } => StatusCode::CONFLICT,
        Refusal::Locked { .. } | Refusal::ReasonNotHeld { .. } => StatusCode::LOCKED,
        Refusal::UndefinedVariable { .. } => StatusCode::UNPROCESSABLE_ENTITY,
        Refusal::NotJson { .. }
        | Refusal::NotAnObject { .. }
        | Refusal::UnknownField { .. }
        | Refusal::MissingField { .. }
        | Refusal::NotAString { .. }
        | Refusal::NotABool { .. }
        | Refusal::ControlCharacter { .. }
        | Refusal::InvalidName { .. }
        | Refusal::VarsNotAnObject
        | Refusal::NoVars
        | Refusal::InvalidVarName { .. }
        | Refusal::NullVar { .. }
        | Refusal::NotAScalarVar { .. }
        | Refusal::EmptyReason
        | Refusal::MultilineReason
        | Refusal::NoReason
        | Refusal::InvalidTransitionName { .. }
        | Refusal::NotACommitId { .. }
        | Refusal::UnknownParameter { .. }
        | Refusal::InvalidLimit { .. }
        | Refusal::InvalidKind { .. } => StatusCode::BAD_REQUEST,
        Refusal::Preview(e) => match e {
            PreviewError::Exists { .. } | PreviewError::File(_) => StatusCode::CONFLICT,
            PreviewError::NotFound { .. } => StatusCode::NOT_FOUND,
            PreviewError::InvalidName(_)
            | PreviewError::UnknownTemplate { .. }
            | PreviewError::UnknownService { .. }
            | PreviewError::BadTtl { .. } => StatusCode::BAD_REQUEST,
        },
    }
}

impl From<Refusal> for ApiError {
    fn from(refusal: Refusal) -> Self {
        ApiError {
            status: refusal_status(&refusal),
            message: refusal.to_string(),
            field: refusal.field(),
            missing_scope: None,
            details: refusal.details(),
        }
    }
}

impl From<WriteError> for ApiError {
    fn from(err: WriteError) -> Self {
        match err {
            WriteError::Refused(r) => r.into(),
            WriteError::Repo(e) => ApiError::repo(&e),
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
            missing_scope: self.missing_scope.as_deref(),
            details: &self.details,
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

#[cfg(test)]
mod tests {
    use super::*;

    fn api(refusal: Refusal) -> ApiError {
        refusal.into()
    }

    #[test]
    fn an_unknown_env_is_a_bad_request_in_a_body_and_not_found_in_a_path_or_query() {
        let unknown = |given| Refusal::UnknownEnv {
            env: "staging".into(),
            known: vec!["dev".into(), "prod".into()],
            given,
        };
        let body = api(unknown(EnvGiven::Body));
        assert_eq!(
            (body.status, body.field.as_deref()),
            (StatusCode::BAD_REQUEST, Some("env"))
        );
        assert_eq!(
            body.message,
            "unknown environment \"staging\": known are dev, prod (an env is a top-level folder, or named in deployers.yaml or transitions.yaml)"
        );
        let path = api(unknown(EnvGiven::Path));
        assert_eq!((path.status, path.field), (StatusCode::NOT_FOUND, None));
        let query = api(unknown(EnvGiven::Query));
        assert_eq!(
            (query.status, query.field.as_deref()),
            (StatusCode::NOT_FOUND, Some("env"))
        );
        let none = api(Refusal::UnknownEnv {
            env: "dev".into(),
            known: vec![],
            given: EnvGiven::Body,
        });
        assert!(none.message.contains("the repo has none yet"), "{}", none.message);
    }

    #[test]
    fn locks_refuse_with_423_naming_what_is_locked_and_why() {
        let env = api(Refusal::Locked {
            env: "prod".into(),
            service: None,
            reasons: vec!["freeze".into(), "audit".into()],
        });
        assert_eq!((env.status, env.field), (StatusCode::LOCKED, None));
        assert_eq!(
            env.message,
            "environment prod is locked (freeze; audit); nothing was committed. Unlock it first (DELETE /api/locks/...) or post again later"
        );
        let service = api(Refusal::Locked {
            env: "prod".into(),
            service: Some("s1".into()),
            reasons: vec!["incident".into()],
        });
        assert!(
            service.message.starts_with("service s1 in prod is locked (incident)"),
            "{}",
            service.message
        );
        let not_held = api(Refusal::ReasonNotHeld {
            target: "dev/s1".into(),
            reason: "x".into(),
            held: vec![],
        });
        assert_eq!(not_held.status, StatusCode::LOCKED);
        assert_eq!(
            not_held.message,
            "dev/s1 is not locked with reason \"x\"; it is not locked. Nothing was changed"
        );
    }

    #[test]
    fn what_the_repo_holds_conflicts_with_409_and_a_missing_commit_is_404() {
        let conflicts = [
            Refusal::LocksUnreadable {
                env: "dev".into(),
                reason: "dev/locks.yaml line 1: bad".into(),
            },
            Refusal::LocksUnrewritable {
                env: "dev".into(),
                reason: "dev/locks.yaml line 1: bad".into(),
            },
            Refusal::NoVersionFileAt {
                commit: "abcdef1".into(),
                path: "dev/version/s1.yaml".into(),
                env: "dev".into(),
                service: "s1".into(),
            },
            Refusal::NotUtf8At {
                path: "dev/version/s1.yaml".into(),
                commit: "abcdef1".into(),
            },
            Refusal::UnrestorableAt {
                path: "dev/version/s1.yaml".into(),
                commit: "abcdef1".into(),
                reason: "not a mapping".into(),
            },
        ];
        for refusal in conflicts {
            assert_eq!(api(refusal.clone()).status, StatusCode::CONFLICT, "{refusal:?}");
        }
        let missing = api(Refusal::CommitNotOnBranch { commit: "abcd".into() });
        assert_eq!(
            (missing.status, missing.field.as_deref()),
            (StatusCode::NOT_FOUND, Some("commit"))
        );
        assert_eq!(missing.message, "commit abcd is not in the history of the branch");
        assert_eq!(api(Refusal::NoCommits).status, StatusCode::NOT_FOUND);
    }

    #[test]
    fn bad_input_is_400_naming_the_field_and_too_long_text_is_413() {
        let cases = [
            (Refusal::NotJson { reason: "EOF".into() }, "body", "the body is not valid JSON: EOF"),
            (
                Refusal::NotAnObject {
                    fields: vec!["env".into(), "service".into()],
                },
                "body",
                "the body must be a JSON object with the fields env, service",
            ),
            (
                Refusal::UnknownField {
                    field: "servce".into(),
                    allowed: vec!["service".into()],
                },
                "servce",
                "unknown field \"servce\"; the fields are service",
            ),
            (
                Refusal::MissingField { field: "vars".into() },
                "vars",
                "missing field \"vars\"",
            ),
            (
                Refusal::ControlCharacter {
                    field: "changelog".into(),
                    code: 0,
                    position: 2,
                    crlf: true,
                },
                "changelog",
                "field \"changelog\" holds the control character U+0000 at character 2; only text, tabs and line breaks (\\n, \\r\\n) are allowed",
            ),
            (
                Refusal::NullVar { name: "image".into() },
                "vars.image",
                "variable \"image\" is null; give it a string, number or boolean",
            ),
            (
                Refusal::NoReason,
                "reason",
                "missing field \"reason\": say why (e.g. {\"reason\": \"release freeze\"})",
            ),
            (
                Refusal::InvalidTransitionName { name: "a/b".into() },
                "name",
                "invalid transition name \"a/b\"",
            ),
            (
                Refusal::NotACommitId { commit: "HEAD".into() },
                "commit",
                "\"HEAD\" is not a commit id (4 to 40 hex digits)",
            ),
            (
                Refusal::UnknownParameter { name: "page".into() },
                "page",
                "unknown parameter \"page\"; use env, service, limit, author, kind and q",
            ),
            (
                Refusal::InvalidKind { value: "deploy".into() },
                "kind",
                "unknown kind \"deploy\"; use version, promotion, lock, rollback or other (comma-separated for several)",
            ),
            (
                Refusal::InvalidLimit { max: 1000 },
                "limit",
                "limit must be a number from 1 to 1000",
            ),
        ];
        for (refusal, field, message) in cases {
            let e = api(refusal);
            assert_eq!(e.status, StatusCode::BAD_REQUEST, "{message}");
            assert_eq!(e.field.as_deref(), Some(field), "{message}");
            assert_eq!(e.message, message);
        }
        let long = api(Refusal::TooLong {
            field: "reason".into(),
            limit: "300 characters".into(),
        });
        assert_eq!(
            (long.status, long.field.as_deref()),
            (StatusCode::PAYLOAD_TOO_LARGE, Some("reason"))
        );
        assert_eq!(
            long.message,
            "field \"reason\" is longer than 300 characters; shorten it (nothing was committed)"
        );
    }

    #[test]
    fn a_refused_write_keeps_its_status_and_a_failed_repo_is_a_gateway_error() {
        let refused = ApiError::from(WriteError::Refused(Refusal::EmptyReason));
        assert_eq!(
            (refused.status, refused.field.as_deref()),
            (StatusCode::BAD_REQUEST, Some("reason"))
        );
        let repo = ApiError::from(WriteError::Repo(GitError::TooManyRetries {
            url: "file:///repo".into(),
            attempts: 3,
        }));
        assert_eq!(repo.status, StatusCode::SERVICE_UNAVAILABLE);
    }
}
