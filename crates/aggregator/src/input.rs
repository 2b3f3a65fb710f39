//! Checks shared by every request body: JSON objects with known fields, names,
//! and whether an environment exists.

use serde_json::{Map, Value};
use slipway_common::names::{validate_env_name, validate_service_name};
use slipway_common::RepoSnapshot;

use crate::error::ApiError;

/// Parses a body as a JSON object that holds only `allowed` fields.
pub fn object(body: &[u8], allowed: &[&str]) -> Result<Map<String, Value>, ApiError> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("the body is not valid JSON: {e}"), "body"))?;
    let Value::Object(map) = value else {
        return Err(ApiError::bad_request(
            format!("the body must be a JSON object with the fields {}", allowed.join(", ")),
            "body",
        ));
    };
    if let Some(unknown) = map.keys().find(|k| !allowed.contains(&k.as_str())) {
        return Err(ApiError::bad_request(
            format!("unknown field {unknown:?}; the fields are {}", allowed.join(", ")),
            unknown,
        ));
    }
    Ok(map)
}

/// A string field that must be present.
pub fn required_str<'a>(map: &'a Map<String, Value>, field: &str) -> Result<&'a str, ApiError> {
    match map.get(field) {
        None | Some(Value::Null) => Err(ApiError::bad_request(format!("missing field {field:?}"), field)),
        Some(Value::String(s)) => Ok(s),
        Some(_) => Err(ApiError::bad_request(
            format!("field {field:?} must be a string"),
            field,
        )),
    }
}

/// A string field that may be absent or null.
pub fn optional_str<'a>(map: &'a Map<String, Value>, field: &str) -> Result<Option<&'a str>, ApiError> {
    match map.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(ApiError::bad_request(
            format!("field {field:?} must be a string"),
            field,
        )),
    }
}

/// A valid service name, or 400 naming `field`.
pub fn service_name(name: &str, field: &str) -> Result<(), ApiError> {
    validate_service_name(name).map_err(|e| ApiError::bad_request(e.to_string(), field))
}

/// A valid env name, or 400 naming `field`.
pub fn env_name(name: &str, field: &str) -> Result<(), ApiError> {
    validate_env_name(name).map_err(|e| ApiError::bad_request(e.to_string(), field))
}

/// Every env the repo knows: folders, and envs named in `deployers.yaml` or `transitions.yaml`.
pub fn known_envs(snapshot: &RepoSnapshot) -> Vec<String> {
    let mut envs = snapshot.envs();
    if let Ok(d) = snapshot.deployers() {
        envs.extend(d.deployers.into_keys());
    }
    if let Ok(ts) = snapshot.transitions() {
        for t in ts {
            envs.push(t.source);
            envs.push(t.target);
        }
    }
    envs.sort();
    envs.dedup();
    envs
}

/// Whether `env` is known to the repo (see [`known_envs`]).
pub fn is_known_env(snapshot: &RepoSnapshot, env: &str) -> bool {
    snapshot.has_env(env) || known_envs(snapshot).iter().any(|e| e == env)
}

/// The error for an env the repo does not know.
pub fn unknown_env(snapshot: &RepoSnapshot, env: &str) -> String {
    let known = known_envs(snapshot);
    let known = if known.is_empty() {
        "the repo has none yet".to_string()
    } else {
        format!("known are {}", known.join(", "))
    };
    format!("unknown environment {env:?}: {known} (an env is a top-level folder, or named in deployers.yaml or transitions.yaml)")
}

/// A reason for a lock: one line of text.
pub fn lock_reason(reason: &str) -> Result<String, ApiError> {
    let reason = reason.trim();
    if reason.is_empty() {
        return Err(ApiError::bad_request(
            "the reason is empty; say why (e.g. \"release freeze\")",
            "reason",
        ));
    }
    if reason.contains(['\n', '\r']) {
        return Err(ApiError::bad_request("the reason must be a single line", "reason"));
    }
    if reason.chars().count() > 300 {
        return Err(ApiError::bad_request(
            "the reason is longer than 300 characters",
            "reason",
        ));
    }
    Ok(reason.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envs_are_known_by_folder_or_by_config_files() {
        let s = RepoSnapshot::from_files(
            "c",
            [
                ("latest/version/s1.yaml", "version: '1'\n"),
                ("deployers.yaml", "deployers:\n  dev: {cluster: main, namespace: dev}\n"),
                (
                    "transitions.yaml",
                    "transitions:\n  prod: {source: dev, target: prod}\n",
                ),
            ],
        );
        for env in ["latest", "dev", "prod"] {
            assert!(is_known_env(&s, env), "{env}");
        }
        assert!(!is_known_env(&s, "staging"));
        assert!(unknown_env(&s, "staging").contains("known are dev, latest, prod"));
    }

    #[test]
    fn objects_refuse_unknown_fields_and_wrong_types() {
        let err = object(br#"{"servce": "x"}"#, &["service"]).unwrap_err();
        assert_eq!(err.field.as_deref(), Some("servce"));
        let err = object(b"[1]", &["service"]).unwrap_err();
        assert_eq!(err.field.as_deref(), Some("body"));
        let m = object(br#"{"service": 3}"#, &["service"]).unwrap();
        assert!(required_str(&m, "service").is_err());
        assert_eq!(optional_str(&m, "other").unwrap(), None);
    }
}
