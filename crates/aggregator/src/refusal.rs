//! Why a planner refuses a request: the domain's answer, without HTTP. Every
//! variant carries what the person sending the request needs to fix it (the
//! field, env, service or commit at fault); [`crate::error`] turns it into a
//! status code and the JSON error shape.

use slipway_core::previews::PreviewError;

/// Where a request named an env: in its body, in the URL path, or in the query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EnvGiven {
    /// A field of the body (`"env": ...`): the request is wrong.
    Body,
    /// The path (`/api/locks/{env}`): there is no such resource.
    Path,
    /// The query (`?env=`): there is no such resource, and the parameter is named.
    Query,
}

/// A request a planner will not carry out, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("the body is not valid JSON: {reason}")]
    NotJson { reason: String },
    #[error("the body must be a JSON object with the fields {}", fields.join(", "))]
    NotAnObject { fields: Vec<String> },
    #[error("unknown field {field:?}; the fields are {}", allowed.join(", "))]
    UnknownField { field: String, allowed: Vec<String> },
    #[error("missing field {field:?}")]
    MissingField { field: String },
    #[error("field {field:?} must be a string")]
    NotAString { field: String },
    #[error("field {field:?} must be true or false")]
    NotABool { field: String },
    #[error(
        "field {field:?} holds the control character U+{code:04X} at character {position}; only text, tabs and line breaks (\\n{}) are allowed",
        if *crlf { ", \\r\\n" } else { "" }
    )]
    ControlCharacter {
        field: String,
        /// The character's code point.
        code: u32,
        /// Its position in the field, counted in characters from 1.
        position: usize,
        /// Whether the field takes `\r\n` line ends.
        crlf: bool,
    },
    #[error("field {field:?} is longer than {limit}; shorten it (nothing was committed)")]
    TooLong { field: String, limit: String },
    /// A service or env name that breaks the naming rules; `reason` says which.
    #[error("{reason}")]
    InvalidName { field: String, reason: String },
    #[error("unknown environment {env:?}: {} (an env is a top-level folder, or named in deployers.yaml or transitions.yaml)", known_list(known))]
    UnknownEnv {
        env: String,
        /// The envs the repo knows.
        known: Vec<String>,
        given: EnvGiven,
    },
    #[error("unknown service {service:?} in {env}: {} (a service is known once some env has its version/ or base/ file); nothing was committed", known_service_list(known))]
    UnknownService {
        env: String,
        service: String,
        /// The services the repo knows.
        known: Vec<String>,
    },
    #[error(
        "{service} would not render in {env}: {file}{} uses variable {variable:?}, which the posted vars do not define (a promotion copies them as they are); nothing was committed. Add it to vars, or post with \"force\": true",
        line.map(|l| format!(" line {l}")).unwrap_or_default()
    )]
    UndefinedVariable {
        /// The deployed env whose base needs the variable.
        env: String,
        service: String,
        /// The base file.
        file: String,
        line: Option<usize>,
        variable: String,
    },
    #[error("field \"vars\" must be an object of strings, numbers and booleans")]
    VarsNotAnObject,
    #[error("vars is empty; give at least the variables the service's base uses (e.g. version, image)")]
    NoVars,
    #[error("invalid variable name {name:?}: use letters, digits, '_', '-' and '.'")]
    InvalidVarName { name: String },
    #[error("variable {name:?} is null; give it a string, number or boolean")]
    NullVar { name: String },
    #[error("variable {name:?} is not a scalar; vars must be a flat map of strings, numbers and booleans")]
    NotAScalarVar { name: String },
    #[error("the reason is empty; say why (e.g. \"release freeze\")")]
    EmptyReason,
    #[error("the reason must be a single line")]
    MultilineReason,
    #[error("missing field \"reason\": say why (e.g. {{\"reason\": \"release freeze\"}})")]
    NoReason,
    #[error("invalid transition name {name:?}")]
    InvalidTransitionName { name: String },
    /// The env's `locks.yaml` cannot be read, so whether a version may go in is unknown.
    #[error("cannot tell whether {env} is locked: {reason}; fix the file first")]
    LocksUnreadable { env: String, reason: String },
    /// The env's `locks.yaml` cannot be read, so it cannot be rewritten either.
    #[error("{reason}; fix the file by hand first")]
    LocksUnrewritable { env: String, reason: String },
    #[error("{} is locked ({}); nothing was committed. Unlock it first (DELETE /api/locks/...) or post again later", locked_label(env, service.as_deref()), reasons.join("; "))]
    Locked {
        env: String,
        /// The locked service; `None` when the whole env is locked.
        service: Option<String>,
        reasons: Vec<String>,
    },
    #[error(
        "{target} is not locked with reason {reason:?}; {}. Nothing was changed",
        held_label(held)
    )]
    ReasonNotHeld {
        /// `env` or `env/service`.
        target: String,
        reason: String,
        /// The reasons it is locked with.
        held: Vec<String>,
    },
    #[error("{commit:?} is not a commit id (4 to 40 hex digits)")]
    NotACommitId { commit: String },
    #[error("the resource repo has no commits yet")]
    NoCommits,
    #[error("commit {commit} is not in the history of the branch")]
    CommitNotOnBranch { commit: String },
    #[error("commit {commit} has no {path}: {service} was not in {env} then; pick a commit from its history")]
    NoVersionFileAt {
        /// The commit, abbreviated.
        commit: String,
        path: String,
        env: String,
        service: String,
    },
    #[error("{path} at {commit} is not UTF-8 text")]
    NotUtf8At { path: String, commit: String },
    #[error("{path} at {commit} cannot be restored: {reason}")]
    UnrestorableAt {
        path: String,
        commit: String,
        reason: String,
    },
    #[error("unknown parameter {name:?}; use env, service, limit, author, kind and q")]
    UnknownParameter { name: String },
    #[error("unknown kind {value:?}; use version, promotion, lock, rollback or other (comma-separated for several)")]
    InvalidKind { value: String },
    #[error("limit must be a number from 1 to {max}")]
    InvalidLimit { max: usize },
    /// A preview that cannot be created, changed or removed as asked.
    #[error(transparent)]
    Preview(#[from] slipway_core::previews::PreviewError),
}

impl Refusal {
    /// What the JSON error carries besides `error` and `field`, for a client to act on.
    pub fn details(&self) -> serde_json::Map<String, serde_json::Value> {
        let mut out = serde_json::Map::new();
        match self {
            Refusal::UndefinedVariable {
                env,
                service,
                file,
                line,
                variable,
            } => {
                out.insert("env".into(), env.clone().into());
                out.insert("service".into(), service.clone().into());
                out.insert("file".into(), file.clone().into());
                out.insert("line".into(), (*line).into());
                out.insert("variable".into(), variable.clone().into());
            }
            Refusal::UnknownService { known, .. } => {
                out.insert("known_services".into(), known.clone().into());
            }
            Refusal::UnknownEnv { known, .. } => {
                out.insert("known_envs".into(), known.clone().into());
            }
            Refusal::Preview(PreviewError::NotFound { known, .. }) => {
                out.insert("known_previews".into(), known.clone().into());
            }
            _ => {}
        }
        out
    }

    /// The input field (or parameter) at fault, when there is one (`vars.<name>` for a variable).
    pub fn field(&self) -> Option<String> {
        let field = match self {
            Refusal::NotJson { .. } | Refusal::NotAnObject { .. } => "body",
            Refusal::UnknownField { field, .. }
            | Refusal::MissingField { field }
            | Refusal::NotAString { field }
            | Refusal::NotABool { field }
            | Refusal::ControlCharacter { field, .. }
            | Refusal::TooLong { field, .. }
            | Refusal::InvalidName { field, .. } => field,
            Refusal::UnknownEnv { given, .. } => match given {
                EnvGiven::Body | EnvGiven::Query => "env",
                EnvGiven::Path => return None,
            },
            Refusal::VarsNotAnObject | Refusal::NoVars | Refusal::UndefinedVariable { .. } => "vars",
            Refusal::InvalidVarName { name } | Refusal::NullVar { name } | Refusal::NotAScalarVar { name } => {
                return Some(format!("vars.{name}"))
            }
            Refusal::EmptyReason | Refusal::MultilineReason | Refusal::NoReason => "reason",
            Refusal::InvalidTransitionName { .. } => "name",
            Refusal::UnknownService { .. }
            | Refusal::LocksUnreadable { .. }
            | Refusal::LocksUnrewritable { .. }
            | Refusal::Locked { .. }
            | Refusal::ReasonNotHeld { .. }
            | Refusal::NoCommits => return None,
            Refusal::NotACommitId { .. }
            | Refusal::CommitNotOnBranch { .. }
            | Refusal::NoVersionFileAt { .. }
            | Refusal::NotUtf8At { .. }
            | Refusal::UnrestorableAt { .. } => "commit",
            Refusal::UnknownParameter { name, .. } => name,
            Refusal::InvalidLimit { .. } => "limit",
            Refusal::InvalidKind { .. } => "kind",
            Refusal::Preview(e) => match e {
                PreviewError::InvalidName(_) => "name",
                PreviewError::UnknownTemplate { .. } => "from",
                PreviewError::UnknownService { .. } => "services",
                PreviewError::BadTtl { .. } => "ttl",
                PreviewError::Exists { .. } | PreviewError::NotFound { .. } | PreviewError::File(_) => return None,
            },
        };
        Some(field.to_string())
    }
}

fn known_list(known: &[String]) -> String {
    if known.is_empty() {
        "the repo has none yet".to_string()
    } else {
        format!("known are {}", known.join(", "))
    }
}

fn known_service_list(known: &[String]) -> String {
    if known.is_empty() {
        "the repo has none yet".to_string()
    } else {
        format!("known are {}", known.join(", "))
    }
}

fn locked_label(env: &str, service: Option<&str>) -> String {
    match service {
        None => format!("environment {env}"),
        Some(s) => format!("service {s} in {env}"),
    }
}

fn held_label(held: &[String]) -> String {
    if held.is_empty() {
        "it is not locked".to_string()
    } else {
        format!("its reasons are {held:?}")
    }
}
