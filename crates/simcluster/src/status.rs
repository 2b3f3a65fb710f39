//! Kubernetes `Status` errors, shaped like the real API server's.

use serde_json::{json, Map, Value};

use crate::resources::ResourceType;

/// One entry of `details.causes`.
#[derive(Clone, Debug, PartialEq)]
pub struct Cause {
    /// `FieldValueRequired`, `FieldValueInvalid`, ...
    pub reason: &'static str,
    /// Message without the field prefix (`Required value`).
    pub message: String,
    /// Field path (`spec.replicas`).
    pub field: String,
}

impl Cause {
    /// A `FieldValueRequired` cause.
    pub fn required(field: impl Into<String>, detail: &str) -> Cause {
        let message = if detail.is_empty() {
            "Required value".to_string()
        } else {
            format!("Required value: {detail}")
        };
        Cause {
            reason: "FieldValueRequired",
            message,
            field: field.into(),
        }
    }

    /// A `FieldValueInvalid` cause; `value` is already rendered the way Go prints it.
    pub fn invalid(field: impl Into<String>, value: &str, detail: &str) -> Cause {
        Cause {
            reason: "FieldValueInvalid",
            message: format!("Invalid value: {value}: {detail}"),
            field: field.into(),
        }
    }
}

/// An API error answered as a `Status` object.
#[derive(Clone, Debug, PartialEq)]
pub struct ApiError {
    /// HTTP status code.
    pub code: u16,
    /// Status reason (`NotFound`, `Conflict`, ...).
    pub reason: &'static str,
    /// Human-readable message.
    pub message: String,
    /// `details`, when the real server sends them.
    pub details: Option<Value>,
    /// Seconds for a `Retry-After` header.
    pub retry_after: Option<u64>,
}

/// A manager as the conflict message shows it: `name"`, or `name" using v1` for Update managers
/// (the caller passes `name" using v1` already joined).
fn quoted(m: &str) -> String {
    if m.contains("\" using ") {
        m.to_string()
    } else {
        format!("{m}\"")
    }
}

fn details(rt: &ResourceType, name: &str, kind: &str) -> Value {
    let mut d = Map::new();
    if !name.is_empty() {
        d.insert("name".into(), json!(name));
    }
    if !rt.group.is_empty() {
        d.insert("group".into(), json!(rt.group));
    }
    d.insert("kind".into(), json!(kind));
    Value::Object(d)
}

impl ApiError {
    fn new(code: u16, reason: &'static str, message: impl Into<String>, details: Option<Value>) -> ApiError {
        ApiError {
            code,
            reason,
            message: message.into(),
            details,
            retry_after: None,
        }
    }

    /// 404 for a missing object.
    pub fn not_found(rt: &ResourceType, name: &str) -> ApiError {
        let msg = format!("{} \"{name}\" not found", rt.qualified_plural());
        ApiError::new(404, "NotFound", msg, Some(details(rt, name, &rt.plural)))
    }

    /// 404 for a missing namespace (create or get inside it).
    pub fn namespace_not_found(ns: &str) -> ApiError {
        let msg = format!("namespaces \"{ns}\" not found");
        ApiError::new(404, "NotFound", msg, Some(json!({"name": ns, "kind": "namespaces"})))
    }

    /// 404 for an unknown resource in a served group-version.
    pub fn unknown_resource() -> ApiError {
        ApiError::new(
            404,
            "NotFound",
            "the server could not find the requested resource",
            Some(json!({})),
        )
    }

    /// 409 for a create of an existing object.
    pub fn already_exists(rt: &ResourceType, name: &str) -> ApiError {
        let msg = format!("{} \"{name}\" already exists", rt.qualified_plural());
        ApiError::new(409, "AlreadyExists", msg, Some(details(rt, name, &rt.plural)))
    }

    /// 409 for an update with a stale resourceVersion.
    pub fn stale(rt: &ResourceType, name: &str) -> ApiError {
        let msg = format!(
            "Operation cannot be fulfilled on {} \"{name}\": the object has been modified; please apply your changes to the latest version and try again",
            rt.qualified_plural()
        );
        ApiError::new(409, "Conflict", msg, Some(details(rt, name, &rt.plural)))
    }

    /// 409 for a delete whose precondition does not hold.
    pub fn precondition(rt: &ResourceType, name: &str, what: &str, expected: &str, actual: &str) -> ApiError {
        let msg = format!(
            "Operation cannot be fulfilled on {} \"{name}\": the {what} in the precondition ({expected}) does not match the {what} in record ({actual}). The object might have been modified",
            rt.qualified_kind()
        );
        ApiError::new(409, "Conflict", msg, Some(details(rt, name, &rt.kind)))
    }

    /// 409 for server-side apply conflicts: (manager, field path) pairs.
    pub fn apply_conflicts(conflicts: &[(String, String)]) -> ApiError {
        let n = conflicts.len();
        let mut msg = format!("Apply failed with {n} conflict{}: ", if n == 1 { "" } else { "s" });
        if n == 1 {
            msg.push_str(&format!(
                "conflict with \"{}: {}",
                quoted(&conflicts[0].0),
                conflicts[0].1
            ));
        } else {
            let mut managers: Vec<&String> = conflicts.iter().map(|c| &c.0).collect();
            managers.dedup();
            let parts: Vec<String> = managers
                .iter()
                .map(|m| {
                    let fields: Vec<String> = conflicts
                        .iter()
                        .filter(|c| &c.0 == *m)
                        .map(|c| format!("- {}", c.1))
                        .collect();
                    format!("conflicts with \"{}:\n{}", quoted(m), fields.join("\n"))
                })
                .collect();
            msg.push_str(&parts.join("\n"));
        }
        let causes: Vec<Value> = conflicts
            .iter()
            .map(|(m, f)| json!({"reason": "FieldManagerConflict", "message": format!("conflict with \"{}", quoted(m)), "field": f}))
            .collect();
        ApiError::new(409, "Conflict", msg, Some(json!({ "causes": causes })))
    }

    /// 422 with one cause per invalid field.
    pub fn invalid(rt: &ResourceType, name: &str, causes: Vec<Cause>) -> ApiError {
        Self::invalid_kind(&rt.kind, &rt.group, name, causes)
    }

    /// 422 for an arbitrary kind (e.g. `PatchOptions` in `meta.k8s.io`).
    pub fn invalid_kind(kind: &str, group: &str, name: &str, causes: Vec<Cause>) -> ApiError {
        let qualified = if group.is_empty() {
            kind.to_string()
        } else {
            format!("{kind}.{group}")
        };
        let rendered: Vec<String> = causes.iter().map(|c| format!("{}: {}", c.field, c.message)).collect();
        let list = if rendered.len() == 1 {
            rendered[0].clone()
        } else {
            format!("[{}]", rendered.join(", "))
        };
        let msg = format!("{qualified} \"{name}\" is invalid: {list}");
        let mut d = Map::new();
        if !name.is_empty() {
            d.insert("name".into(), json!(name));
        }
        if !group.is_empty() {
            d.insert("group".into(), json!(group));
        }
        if !kind.is_empty() {
            d.insert("kind".into(), json!(kind));
        }
        d.insert(
            "causes".into(),
            Value::Array(
                causes
                    .iter()
                    .map(|c| json!({"reason": c.reason, "message": c.message, "field": c.field}))
                    .collect(),
            ),
        );
        ApiError::new(422, "Invalid", msg, Some(Value::Object(d)))
    }

    /// 422 with empty details (failed JSON patch `test`).
    pub fn invalid_request() -> ApiError {
        ApiError::new(
            422,
            "Invalid",
            "the server rejected our request due to an error in our request",
            Some(json!({})),
        )
    }

    /// 400 Bad Request (no details).
    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(400, "BadRequest", message, None)
    }

    /// 405 for a verb the URL does not support.
    pub fn method_not_allowed() -> ApiError {
        ApiError::new(
            405,
            "MethodNotAllowed",
            "the server does not allow this method on the requested resource",
            Some(json!({})),
        )
    }

    /// 415 for an unknown patch content type.
    pub fn unsupported_media_type() -> ApiError {
        ApiError::new(
            415,
            "UnsupportedMediaType",
            "415: Unsupported Media Type",
            Some(json!({})),
        )
    }

    /// 415 for a body the simulator does not decode (protobuf of a kind it has no table for);
    /// `detail` says which.
    pub fn unsupported_body(detail: &str) -> ApiError {
        ApiError::new(
            415,
            "UnsupportedMediaType",
            format!("the body of the request was in an unknown format - accepted media types include: application/json, application/yaml, application/vnd.kubernetes.protobuf ({detail})"),
            Some(json!({})),
        )
    }

    /// 403 for a create inside a Terminating namespace.
    pub fn namespace_terminating(rt: &ResourceType, name: &str, ns: &str) -> ApiError {
        let msg = format!(
            "{} \"{name}\" is forbidden: unable to create new content in namespace {ns} because it is being terminated",
            rt.qualified_plural()
        );
        let mut d = details(rt, name, &rt.plural);
        d["causes"] = json!([{"reason": "NamespaceTerminating", "message": format!("namespace {ns} is being terminated"), "field": "metadata.namespace"}]);
        ApiError::new(403, "Forbidden", msg, Some(d))
    }

    /// 500 injected by fault injection.
    pub fn internal(message: &str) -> ApiError {
        ApiError::new(
            500,
            "InternalError",
            format!("Internal error occurred: {message}"),
            Some(json!({"causes": [{"message": message}]})),
        )
    }

    /// 503 injected by fault injection.
    pub fn unavailable() -> ApiError {
        ApiError::new(
            503,
            "ServiceUnavailable",
            "the server is currently unable to handle the request",
            Some(json!({})),
        )
    }

    /// 429 injected by fault injection (with `Retry-After: 1`).
    pub fn too_many_requests() -> ApiError {
        let mut e = ApiError::new(
            429,
            "TooManyRequests",
            "the server has received too many requests and has asked us to try again later",
            Some(json!({"retryAfterSeconds": 1})),
        );
        e.retry_after = Some(1);
        e
    }

    /// The `Status` object.
    pub fn to_status(&self) -> Value {
        let mut s = json!({
            "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": self.message, "reason": self.reason,
        });
        if let Some(d) = &self.details {
            s["details"] = d.clone();
        }
        s["code"] = json!(self.code);
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::Registry;

    #[test]
    fn not_found_names_the_qualified_plural() {
        let reg = Registry::default();
        let rt = reg.get("apps", "v1", "deployments").unwrap();
        let s = ApiError::not_found(&rt, "x").to_status();
        assert_eq!(s["message"], "deployments.apps \"x\" not found");
        assert_eq!(
            s["details"],
            json!({"name": "x", "group": "apps", "kind": "deployments"})
        );
    }

    #[test]
    fn single_conflict_message_matches_the_real_server() {
        let e = ApiError::apply_conflicts(&[("slipway".into(), ".spec.replicas".into())]);
        assert_eq!(
            e.message,
            "Apply failed with 1 conflict: conflict with \"slipway\": .spec.replicas"
        );
    }
}
