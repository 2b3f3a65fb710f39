//! Comparing what Slipway applies with what the cluster has.
//!
//! The API server adds defaults (`protocol: TCP`, `revisionHistoryLimit`, ...),
//! status and metadata of its own, so a live object equals the desired one when
//! every field of the desired manifest is present in it with the same value.
//! Lists are compared element by element and must have the same length.

use serde_json::Value;

use crate::object::MANAGER;

/// One field that differs, for `check` and logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldChange {
    /// `spec.template.spec.containers[0].image`.
    pub path: String,
    /// The live value (`None` when absent).
    pub live: Option<String>,
    pub desired: String,
}

impl std::fmt::Display for FieldChange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.live {
            Some(live) => write!(f, "{}: {} → {}", self.path, live, self.desired),
            None => write!(f, "{}: (absent) → {}", self.path, self.desired),
        }
    }
}

/// Whether every field of `desired` is in `live` with the same value.
pub fn contains(live: &Value, desired: &Value) -> bool {
    match (desired, live) {
        (Value::Object(d), Value::Object(l)) => d.iter().all(|(k, dv)| match l.get(k) {
            Some(lv) => contains(lv, dv),
            // The server drops null and empty values it stores as absent.
            None => is_empty(dv),
        }),
        (Value::Array(d), Value::Array(l)) => d.len() == l.len() && d.iter().zip(l).all(|(dv, lv)| contains(lv, dv)),
        (Value::Number(d), Value::Number(l)) => d.as_f64() == l.as_f64(),
        (Value::Array(d), Value::Null) => d.is_empty(),
        (Value::Object(d), Value::Null) => d.is_empty(),
        (d, l) => d == l,
    }
}

fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Object(m) => m.is_empty(),
        Value::Array(a) => a.is_empty(),
        _ => false,
    }
}

/// The fields of `desired` whose value in `live` differs (at most `limit`).
pub fn changes(live: &Value, desired: &Value, limit: usize) -> Vec<FieldChange> {
    let mut out = Vec::new();
    walk(live, desired, String::new(), &mut out, limit);
    out
}

fn short(v: &Value) -> String {
    let text = v.to_string();
    if text.chars().count() > 80 {
        format!("{}…", text.chars().take(80).collect::<String>())
    } else {
        text
    }
}

fn walk(live: &Value, desired: &Value, path: String, out: &mut Vec<FieldChange>, limit: usize) {
    if out.len() >= limit || contains(live, desired) {
        return;
    }
    match (desired, live) {
        (Value::Object(d), Value::Object(l)) => {
            for (k, dv) in d {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                match l.get(k) {
                    Some(lv) => walk(lv, dv, p, out, limit),
                    None if is_empty(dv) => {}
                    None => out.push(FieldChange {
                        path: p,
                        live: None,
                        desired: short(dv),
                    }),
                }
                if out.len() >= limit {
                    return;
                }
            }
        }
        (Value::Array(d), Value::Array(l)) if d.len() == l.len() => {
            for (i, (dv, lv)) in d.iter().zip(l).enumerate() {
                walk(lv, dv, format!("{path}[{i}]"), out, limit);
            }
        }
        _ => out.push(FieldChange {
            path,
            live: Some(short(live)),
            desired: short(desired),
        }),
    }
}

/// The parts of `live` at the places `desired` names: for `desired`,
/// [`contains`] and [`changes`] answer the same for the shape as for the whole
/// object, at a fraction of its size (server defaults, status and metadata of
/// the server's own are left out).
pub fn shape(live: &Value, desired: &Value) -> Value {
    match (desired, live) {
        (Value::Object(d), Value::Object(l)) => Value::Object(
            d.iter()
                .filter_map(|(k, dv)| l.get(k).map(|lv| (k.clone(), shape(lv, dv))))
                .collect(),
        ),
        (Value::Array(d), Value::Array(l)) if d.len() == l.len() => {
            Value::Array(d.iter().zip(l).map(|(dv, lv)| shape(lv, dv)).collect())
        }
        _ => live.clone(),
    }
}

/// Whether Slipway's field manager applied this object (it owns fields in it).
pub fn applied_by_slipway(live: &Value) -> bool {
    live.pointer("/metadata/managedFields")
        .and_then(Value::as_array)
        .is_some_and(|entries| {
            entries.iter().any(|e| {
                e.get("manager").and_then(Value::as_str) == Some(MANAGER)
                    && e.get("operation").and_then(Value::as_str) == Some("Apply")
            })
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    use serde_json::json;

    #[test]
    fn server_defaults_and_extra_fields_do_not_count_as_changes() {
        let desired = json!({"spec": {"ports": [{"port": 80}], "selector": {"app": "a"}}});
        let live = json!({"spec": {"ports": [{"port": 80, "protocol": "TCP", "targetPort": 80}],
                          "selector": {"app": "a"}, "type": "ClusterIP"}, "status": {}});
        assert!(contains(&live, &desired));
        assert!(changes(&live, &desired, 10).is_empty());
    }

    #[test]
    fn a_changed_value_is_reported_with_its_path() {
        let desired = json!({"spec": {"template": {"spec": {"containers": [{"name": "app", "image": "a:2"}]}}}});
        let live = json!({"spec": {"template": {"spec": {"containers": [{"name": "app", "image": "a:1", "imagePullPolicy": "IfNotPresent"}]}}}});
        assert!(!contains(&live, &desired));
        let c = changes(&live, &desired, 10);
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].path, "spec.template.spec.containers[0].image");
        assert_eq!(
            c[0].to_string(),
            "spec.template.spec.containers[0].image: \"a:1\" → \"a:2\""
        );
    }

    #[test]
    fn lists_of_different_length_and_missing_fields_differ() {
        let desired = json!({"data": {"k": "v"}, "items": [1, 2]});
        assert!(!contains(&json!({"data": {}, "items": [1, 2]}), &desired));
        assert!(!contains(&json!({"data": {"k": "v"}, "items": [1, 2, 3]}), &desired));
        let c = changes(&json!({"items": [1]}), &desired, 10);
        assert_eq!(c[0].path, "data");
        assert_eq!(c[0].live, None);
        assert_eq!(c[1].path, "items");
    }

    #[test]
    fn empty_desired_values_match_absent_live_ones_and_numbers_compare_by_value() {
        assert!(contains(
            &json!({"a": 1.0}),
            &json!({"a": 1, "b": null, "c": {}, "d": []})
        ));
    }

    #[test]
    fn ownership_is_read_from_managed_fields() {
        let owned = json!({"metadata": {"managedFields": [{"manager": "slipway", "operation": "Apply"}]}});
        let other = json!({"metadata": {"managedFields": [{"manager": "kubectl", "operation": "Update"}]}});
        assert!(applied_by_slipway(&owned));
        assert!(!applied_by_slipway(&other));
        assert!(!applied_by_slipway(&json!({})));
    }
}
