//! Checks shared by every request body: JSON objects with known fields, text
//! without control characters, size limits, names, and whether an environment
//! exists. Everything git or a reader would choke on is refused here, as the
//! client's error, before anything reaches the repo.

use serde_json::{Map, Value};
use slipway_core::names::{validate_env_name, validate_service_name};
use slipway_core::RepoSnapshot;

use crate::refusal::{EnvGiven, Refusal};

/// Longest changelog, in bytes (64 KiB).
pub const MAX_CHANGELOG_BYTES: usize = 64 * 1024;
/// Longest lock reason, in characters.
pub const MAX_REASON_CHARS: usize = 300;

/// Fields whose text may use `\r\n` line ends (they become `\n`).
const CRLF_FIELDS: &[&str] = &["changelog"];

/// Refuses control characters in `text` (naming `field`): line feeds and tabs
/// are text, and so is `\r\n` where `crlf` is set; anything else (a NUL byte,
/// escape sequences, a lone carriage return) is not.
pub fn plain_text(text: &str, field: &str, crlf: bool) -> Result<(), Refusal> {
    let mut chars = text.chars().enumerate().peekable();
    while let Some((i, c)) = chars.next() {
        let allowed = match c {
            '\n' | '\t' => true,
            '\r' => crlf && chars.peek().is_some_and(|(_, next)| *next == '\n'),
            c => !c.is_control(),
        };
        if !allowed {
            return Err(Refusal::ControlCharacter {
                field: field.to_string(),
                code: u32::from(c),
                position: i + 1,
                crlf,
            });
        }
    }
    Ok(())
}

/// Checks every string of a request value, keys included (`field` names it, `vars.x` inside objects).
fn plain_value(value: &Value, field: &str, crlf: bool) -> Result<(), Refusal> {
    match value {
        Value::String(s) => plain_text(s, field, crlf),
        Value::Array(items) => items.iter().try_for_each(|v| plain_value(v, field, crlf)),
        Value::Object(map) => map.iter().try_for_each(|(k, v)| {
            let inner = format!("{field}.{k}");
            plain_text(k, &inner, false)?;
            plain_value(v, &inner, crlf)
        }),
        Value::Null | Value::Bool(_) | Value::Number(_) => Ok(()),
    }
}

/// A text field over its size limit, naming the field and the limit.
pub fn too_long(field: &str, limit: &str) -> Refusal {
    Refusal::TooLong {
        field: field.to_string(),
        limit: limit.to_string(),
    }
}

/// Parses a body as a JSON object that holds only `allowed` fields, whose strings
/// hold no control characters (see [`plain_text`]).
pub fn object(body: &[u8], allowed: &[&str]) -> Result<Map<String, Value>, Refusal> {
    let value: Value = serde_json::from_slice(body).map_err(|e| Refusal::NotJson { reason: e.to_string() })?;
    let names = || allowed.iter().map(|f| f.to_string()).collect();
    let Value::Object(map) = value else {
        return Err(Refusal::NotAnObject { fields: names() });
    };
    if let Some(unknown) = map.keys().find(|k| !allowed.contains(&k.as_str())) {
        return Err(Refusal::UnknownField {
            field: unknown.clone(),
            allowed: names(),
        });
    }
    for (field, value) in &map {
        plain_value(value, field, CRLF_FIELDS.contains(&field.as_str()))?;
    }
    Ok(map)
}

/// A string field that must be present.
pub fn required_str<'a>(map: &'a Map<String, Value>, field: &str) -> Result<&'a str, Refusal> {
    match map.get(field) {
        None | Some(Value::Null) => Err(Refusal::MissingField {
            field: field.to_string(),
        }),
        Some(Value::String(s)) => Ok(s),
        Some(_) => Err(Refusal::NotAString {
            field: field.to_string(),
        }),
    }
}

/// A string field that may be absent or null.
pub fn optional_str<'a>(map: &'a Map<String, Value>, field: &str) -> Result<Option<&'a str>, Refusal> {
    match map.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(Refusal::NotAString {
            field: field.to_string(),
        }),
    }
}

/// A boolean field; `default` when absent or null.
pub fn optional_bool(map: &Map<String, Value>, field: &str, default: bool) -> Result<bool, Refusal> {
    match map.get(field) {
        None | Some(Value::Null) => Ok(default),
        Some(Value::Bool(b)) => Ok(*b),
        Some(_) => Err(Refusal::NotABool {
            field: field.to_string(),
        }),
    }
}

/// A valid service name, or a refusal naming `field`.
pub fn service_name(name: &str, field: &str) -> Result<(), Refusal> {
    validate_service_name(name).map_err(|e| invalid_name(field, &e))
}

/// A valid env name, or a refusal naming `field`.
pub fn env_name(name: &str, field: &str) -> Result<(), Refusal> {
    validate_env_name(name).map_err(|e| invalid_name(field, &e))
}

fn invalid_name(field: &str, err: &impl std::fmt::Display) -> Refusal {
    Refusal::InvalidName {
        field: field.to_string(),
        reason: err.to_string(),
    }
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

/// `env` unless the repo knows it (see [`known_envs`]); the refusal lists the known envs.
pub fn known_env(snapshot: &RepoSnapshot, env: &str, given: EnvGiven) -> Result<(), Refusal> {
    if is_known_env(snapshot, env) {
        return Ok(());
    }
    Err(Refusal::UnknownEnv {
        env: env.to_string(),
        known: known_envs(snapshot),
        given,
    })
}

/// A transition's name as the URL gives it: letters, digits, `-`, `_` and `.`.
pub fn transition_name(name: &str) -> Result<(), Refusal> {
    let valid = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.');
    if valid {
        Ok(())
    } else {
        Err(Refusal::InvalidTransitionName { name: name.to_string() })
    }
}

/// A reason for a lock: one line of text.
pub fn lock_reason(reason: &str) -> Result<String, Refusal> {
    let reason = reason.trim();
    if reason.is_empty() {
        return Err(Refusal::EmptyReason);
    }
    if reason.contains(['\n', '\r']) {
        return Err(Refusal::MultilineReason);
    }
    plain_text(reason, "reason", false)?;
    if reason.chars().count() > MAX_REASON_CHARS {
        return Err(too_long("reason", &format!("{MAX_REASON_CHARS} characters")));
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
        let err = known_env(&s, "staging", EnvGiven::Body).unwrap_err();
        assert!(err.to_string().contains("known are dev, latest, prod"), "{err}");
        assert_eq!(known_env(&s, "dev", EnvGiven::Body), Ok(()));
    }

    #[test]
    fn objects_refuse_unknown_fields_and_wrong_types() {
        let err = object(br#"{"servce": "x"}"#, &["service"]).unwrap_err();
        assert_eq!(err.field().as_deref(), Some("servce"));
        let err = object(b"[1]", &["service"]).unwrap_err();
        assert_eq!(err.field().as_deref(), Some("body"));
        let m = object(br#"{"service": 3}"#, &["service"]).unwrap();
        assert!(required_str(&m, "service").is_err());
        assert_eq!(optional_str(&m, "other").unwrap(), None);
    }

    #[test]
    fn control_characters_are_refused_naming_the_field_but_line_breaks_are_text() {
        let fields = ["service", "env", "vars", "changelog", "reason", "commit"];
        let cases = [
            (r#"{"changelog": "a\u0000b"}"#, Some("changelog")),
            (r#"{"changelog": "line\r\nnext\n\tindented"}"#, None),
            (r#"{"changelog": "lone\rreturn"}"#, Some("changelog")),
            (r#"{"changelog": "\u001b[31mred"}"#, Some("changelog")),
            (r#"{"reason": "a\u007fb"}"#, Some("reason")),
            (r#"{"vars": {"image": "reg/s1:1\u0000"}}"#, Some("vars.image")),
            (r#"{"vars": {"note": "two\nlines"}}"#, None),
            (r#"{"vars": {"note": "crlf\r\n"}}"#, Some("vars.note")),
            (r#"{"service": "s1\u0000"}"#, Some("service")),
            (r#"{"commit": "\u0085abc"}"#, Some("commit")),
        ];
        for (body, field) in cases {
            match object(body.as_bytes(), &fields) {
                Ok(_) => assert_eq!(field, None, "{body} was accepted"),
                Err(e) => {
                    assert!(matches!(e, Refusal::ControlCharacter { .. }), "{body}: {e:?}");
                    assert_eq!(e.field().as_deref(), field, "{body}: {e}");
                    assert!(e.to_string().contains("control character U+"), "{e}");
                    assert!(!e.to_string().contains('\0'), "the message itself is clean");
                }
            }
        }
    }

    #[test]
    fn transition_names_are_plain_words() {
        assert_eq!(transition_name("dev-to_prod.1"), Ok(()));
        for name in ["", "a/b", "a b", "ä"] {
            assert_eq!(
                transition_name(name),
                Err(Refusal::InvalidTransitionName { name: name.into() })
            );
        }
    }

    #[test]
    fn lock_reasons_are_one_line_of_at_most_300_characters() {
        assert_eq!(lock_reason("  freeze ").unwrap(), "freeze");
        assert_eq!(lock_reason("two\nlines"), Err(Refusal::MultilineReason));
        assert_eq!(lock_reason(" \t"), Err(Refusal::EmptyReason));
        let err = lock_reason(&"x".repeat(301)).unwrap_err();
        assert!(
            matches!(&err, Refusal::TooLong { field, .. } if field == "reason"),
            "{err:?}"
        );
        assert!(err.to_string().contains("300 characters"), "{err}");
        assert!(lock_reason(&"é".repeat(300)).is_ok());
    }
}
