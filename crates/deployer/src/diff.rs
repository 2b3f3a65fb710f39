//! Comparing what Slipway applies with what the cluster has.
//!
//! The API server adds defaults (`protocol: TCP`, `revisionHistoryLimit`, ...),
//! status and metadata of its own, so a live object equals the desired one when
//! every field of the desired manifest is present in it with the same value.
//! Lists are compared element by element and must have the same length.

use serde_json::Value;

use crate::object::{HASH_ANNOTATION, MANAGER};

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

/// Paths of a live object that the plan, the prune rules and the rollout
/// judgement read, whatever the manifest says.
const ALWAYS_KEPT: &[&[&str]] = &[
    &["apiVersion"],
    &["kind"],
    &["metadata", "name"],
    &["metadata", "namespace"],
    &["metadata", "labels"],
    &["metadata", "generation"],
    &["metadata", "resourceVersion"],
    &["metadata", "deletionTimestamp"],
    &["metadata", "managedFields"],
    &["metadata", "annotations", HASH_ANNOTATION],
    &["spec", "replicas"],
    &["spec", "progressDeadlineSeconds"],
    &["spec", "completions"],
    &["spec", "updateStrategy"],
    &["status"],
];

/// Condition fields the rollout judgement does not read.
const CONDITION_TIMES: &[&str] = &[
    "lastTransitionTime",
    "lastUpdateTime",
    "lastHeartbeatTime",
    "lastProbeTime",
];

/// What a cache keeps of a live object: the fields of its desired manifest
/// (`None` when it has none), and those of [`ALWAYS_KEPT`]. For that manifest,
/// [`contains`] and [`changes`] answer the same for the projection as for the
/// whole object, at a fraction of its size (server defaults, uid, timestamps
/// and condition times are left out).
pub fn project(live: &Value, desired: Option<&Value>) -> Value {
    let mut out = match desired {
        Some(d) => shaped(live, d),
        None => Value::Object(serde_json::Map::new()),
    };
    for path in ALWAYS_KEPT {
        let mut from = live;
        let mut found = true;
        for key in *path {
            match from.get(key) {
                Some(v) => from = v,
                None => {
                    found = false;
                    break;
                }
            }
        }
        if !found {
            continue;
        }
        put(&mut out, path, from.clone());
    }
    if let Some(Value::Array(conditions)) = out.pointer_mut("/status/conditions") {
        for c in conditions.iter_mut().filter_map(Value::as_object_mut) {
            c.retain(|k, _| !CONDITION_TIMES.contains(&k.as_str()));
        }
    }
    out
}

/// Sets the value at `path`, making the objects on the way.
fn put(to: &mut Value, path: &[&str], value: Value) {
    let Some((first, rest)) = path.split_first() else {
        return;
    };
    let Some(map) = to.as_object_mut() else { return };
    if rest.is_empty() {
        map.insert(first.to_string(), value);
    } else {
        let next = map
            .entry(first.to_string())
            .or_insert_with(|| Value::Object(serde_json::Map::new()));
        put(next, rest, value);
    }
}

/// The parts of `live` at the places `desired` names.
fn shaped(live: &Value, desired: &Value) -> Value {
    match (desired, live) {
        (Value::Object(d), Value::Object(l)) => Value::Object(
            d.iter()
                .filter_map(|(k, dv)| l.get(k).map(|lv| (k.clone(), shaped(lv, dv))))
                .collect(),
        ),
        (Value::Array(d), Value::Array(l)) if d.len() == l.len() => {
            Value::Array(d.iter().zip(l).map(|(dv, lv)| shaped(lv, dv)).collect())
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

    #[test]
    fn a_projection_answers_like_the_whole_object_for_its_manifest_and_keeps_what_rollouts_read() {
        let desired = json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "labels": {"app": "web"}, "annotations": {"team": "a"}},
            "spec": {"template": {"spec": {"containers": [{"name": "app", "image": "a:1"}]}}}});
        let live = json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "dev", "uid": "u1", "generation": 3,
                         "resourceVersion": "42", "creationTimestamp": "2026-01-01T00:00:00Z",
                         "labels": {"app": "web", "slipway.dev/env": "dev"},
                         "annotations": {"team": "a", "slipway.dev/manifest-hash": "h", "other": "x"},
                         "managedFields": [{"manager": "slipway", "operation": "Apply"}]},
            "spec": {"replicas": 2, "progressDeadlineSeconds": 600, "revisionHistoryLimit": 10,
                     "template": {"spec": {"dnsPolicy": "ClusterFirst",
                         "containers": [{"name": "app", "image": "a:2", "imagePullPolicy": "IfNotPresent"}]}}},
            "status": {"observedGeneration": 3, "replicas": 2,
                       "conditions": [{"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable",
                                       "message": "done", "lastUpdateTime": "2026-01-01T00:00:00Z"}]}});
        let p = project(&live, Some(&desired));
        assert_eq!(contains(&p, &desired), contains(&live, &desired));
        assert_eq!(changes(&p, &desired, 10), changes(&live, &desired, 10));
        assert_eq!(changes(&p, &desired, 10).len(), 1);
        for kept in [
            "/metadata/generation",
            "/metadata/resourceVersion",
            "/metadata/labels/slipway.dev~1env",
            "/metadata/annotations/slipway.dev~1manifest-hash",
            "/spec/replicas",
            "/spec/progressDeadlineSeconds",
            "/status/observedGeneration",
            "/status/conditions/0/reason",
        ] {
            assert_eq!(p.pointer(kept), live.pointer(kept), "{kept}");
        }
        assert!(applied_by_slipway(&p));
        for dropped in [
            "/metadata/uid",
            "/metadata/creationTimestamp",
            "/metadata/annotations/other",
            "/spec/revisionHistoryLimit",
            "/spec/template/spec/dnsPolicy",
            "/spec/template/spec/containers/0/imagePullPolicy",
            "/status/conditions/0/lastUpdateTime",
        ] {
            assert_eq!(p.pointer(dropped), None, "{dropped}");
        }
        // Without a manifest only the always-kept fields remain.
        let bare = project(&live, None);
        assert_eq!(bare.pointer("/spec/template"), None);
        assert_eq!(bare.pointer("/metadata/labels"), live.pointer("/metadata/labels"));
    }
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
