//! Merging objects: JSON merge patch (RFC 7386), strategic merge patch and the
//! merge step of server-side apply.
//!
//! Lists are merged by their Kubernetes merge key where one exists; every other
//! list is atomic (replaced as a whole). The simulator knows these keyed lists:
//!
//! | list                                               | key                        |
//! |----------------------------------------------------|----------------------------|
//! | `containers`, `initContainers`, `ephemeralContainers`, `env`, `volumes`, `imagePullSecrets` | `name` |
//! | `volumeMounts`                                     | `mountPath`                |
//! | container `ports`                                  | `containerPort`, `protocol` (default `TCP`) |
//! | Service `ports`                                    | `port`, `protocol` (default `TCP`) |
//! | `conditions`                                       | `type`                     |
//! | `ownerReferences`                                  | `uid`                      |
//!
//! Custom resources have no keyed lists (their schemas' `x-kubernetes-list-type`
//! is not interpreted). `spec.selector`/`selector` and `roleRef` are atomic maps.

use serde_json::{Map, Value};

/// A key field of a keyed list and the value it has when absent.
pub type KeyField = (&'static str, Option<&'static str>);

const BY_NAME: &[KeyField] = &[("name", None)];
const BY_MOUNT_PATH: &[KeyField] = &[("mountPath", None)];
const CONTAINER_PORTS: &[KeyField] = &[("containerPort", None), ("protocol", Some("TCP"))];
const SERVICE_PORTS: &[KeyField] = &[("port", None), ("protocol", Some("TCP"))];
const BY_TYPE: &[KeyField] = &[("type", None)];
const BY_UID: &[KeyField] = &[("uid", None)];

/// Merge keys of the list in field `field`, given the field names leading to it.
pub fn list_keys(path: &[String], field: &str, custom: bool) -> Option<&'static [KeyField]> {
    if custom && !matches!(field, "ownerReferences") {
        return None;
    }
    match field {
        "containers" | "initContainers" | "ephemeralContainers" | "env" | "volumes" | "imagePullSecrets" => {
            Some(BY_NAME)
        }
        "volumeMounts" => Some(BY_MOUNT_PATH),
        "ports" => {
            let in_container = path
                .iter()
                .any(|p| matches!(p.as_str(), "containers" | "initContainers" | "ephemeralContainers"));
            Some(if in_container { CONTAINER_PORTS } else { SERVICE_PORTS })
        }
        "conditions" => Some(BY_TYPE),
        "ownerReferences" => Some(BY_UID),
        _ => None,
    }
}

/// Maps that are replaced as a whole rather than merged key by key.
pub fn is_atomic_map(field: &str) -> bool {
    matches!(field, "selector" | "roleRef")
}

/// The key of a list item as a map of key fields (defaults filled in).
pub fn item_key(item: &Value, keys: &[KeyField]) -> Map<String, Value> {
    let mut m = Map::new();
    let mut sorted: Vec<&KeyField> = keys.iter().collect();
    sorted.sort_by_key(|k| k.0);
    for (field, default) in sorted {
        match item.get(*field) {
            Some(v) if !v.is_null() => {
                m.insert(field.to_string(), v.clone());
            }
            _ => {
                if let Some(d) = default {
                    m.insert(field.to_string(), Value::String(d.to_string()));
                }
            }
        }
    }
    m
}

fn same_key(a: &Value, b: &Value, keys: &[KeyField]) -> bool {
    item_key(a, keys) == item_key(b, keys)
}

/// RFC 7386 JSON merge patch.
pub fn json_merge(target: &mut Value, patch: &Value) {
    let Value::Object(p) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let t = target.as_object_mut().expect("target was just made an object");
    for (k, v) in p {
        if v.is_null() {
            t.remove(k);
        } else {
            json_merge(t.entry(k.clone()).or_insert(Value::Null), v);
        }
    }
}

/// Strategic merge patch: like a merge patch, but keyed lists merge item by item,
/// and the `$patch` / `$setElementOrder` / `$retainKeys` directives are honoured
/// (the latter two by ignoring them).
pub fn strategic_merge(target: &mut Value, patch: &Value, path: &mut Vec<String>, custom: bool) {
    let Value::Object(p) = patch else {
        *target = patch.clone();
        return;
    };
    if p.get("$patch").and_then(Value::as_str) == Some("replace") {
        let mut v = patch.clone();
        if let Some(m) = v.as_object_mut() {
            m.remove("$patch");
        }
        *target = v;
        return;
    }
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let t = target.as_object_mut().expect("target was just made an object");
    for (k, v) in p {
        if k.starts_with('$') {
            continue;
        }
        if v.is_null() {
            t.remove(k);
            continue;
        }
        match v {
            Value::Array(items) => {
                if let (Some(keys), Some(Value::Array(existing))) = (list_keys(path, k, custom), t.get_mut(k)) {
                    path.push(k.clone());
                    for item in items {
                        let directive = item.get("$patch").and_then(Value::as_str);
                        let pos = existing.iter().position(|e| same_key(e, item, keys));
                        match (directive, pos) {
                            (Some("delete"), Some(i)) => {
                                existing.remove(i);
                            }
                            (Some("delete"), None) => {}
                            (_, Some(i)) => strategic_merge(&mut existing[i], item, path, custom),
                            (_, None) => {
                                let mut fresh = Value::Null;
                                strategic_merge(&mut fresh, item, path, custom);
                                existing.push(fresh);
                            }
                        }
                    }
                    path.pop();
                } else {
                    t.insert(k.clone(), strip_directives(v));
                }
            }
            Value::Object(_) if !is_atomic_map(k) => {
                path.push(k.clone());
                strategic_merge(t.entry(k.clone()).or_insert(Value::Null), v, path, custom);
                path.pop();
            }
            _ => {
                t.insert(k.clone(), strip_directives(v));
            }
        }
    }
}

fn strip_directives(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(k, _)| !k.starts_with('$'))
                .map(|(k, v)| (k.clone(), strip_directives(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(strip_directives).collect()),
        other => other.clone(),
    }
}

/// The merge step of server-side apply: the applied configuration laid over the
/// live object (maps and keyed lists merged, everything else replaced). Fields
/// the applier stopped setting are removed separately, by ownership.
pub fn apply_merge(live: &Value, applied: &Value, path: &mut Vec<String>, custom: bool) -> Value {
    match (live, applied) {
        (Value::Object(l), Value::Object(a)) => {
            let mut out = l.clone();
            for (k, av) in a {
                if av.is_null() {
                    continue;
                }
                let merged = match l.get(k) {
                    Some(lv) if !(av.is_object() && is_atomic_map(k)) => {
                        if let (Value::Array(_), Some(keys)) = (av, list_keys(path, k, custom)) {
                            path.push(k.clone());
                            let m = merge_keyed(lv, av, keys, path, custom);
                            path.pop();
                            m
                        } else if av.is_object() {
                            path.push(k.clone());
                            let m = apply_merge(lv, av, path, custom);
                            path.pop();
                            m
                        } else {
                            av.clone()
                        }
                    }
                    _ => without_nulls(av),
                };
                out.insert(k.clone(), merged);
            }
            Value::Object(out)
        }
        _ => applied.clone(),
    }
}

fn merge_keyed(live: &Value, applied: &Value, keys: &[KeyField], path: &mut Vec<String>, custom: bool) -> Value {
    let (Value::Array(l), Value::Array(a)) = (live, applied) else {
        return applied.clone();
    };
    let mut out = l.clone();
    for item in a {
        match out.iter().position(|e| same_key(e, item, keys)) {
            Some(i) => out[i] = apply_merge(&out[i], item, path, custom),
            None => out.push(without_nulls(item)),
        }
    }
    Value::Array(out)
}

fn without_nulls(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k.clone(), without_nulls(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(without_nulls).collect()),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn merge_patch_deletes_with_null_and_replaces_lists() {
        let mut t = json!({"data": {"a": "1", "b": "2"}, "list": [1, 2]});
        json_merge(&mut t, &json!({"data": {"a": null, "c": "3"}, "list": [3]}));
        assert_eq!(t, json!({"data": {"b": "2", "c": "3"}, "list": [3]}));
    }

    #[test]
    fn strategic_merge_keeps_other_container_fields() {
        let mut t = json!({"spec": {"containers": [{"name": "app", "image": "a:1", "env": [{"name": "X", "value": "1"}]},
                                                   {"name": "side", "image": "s:1"}]}});
        let p = json!({"spec": {"containers": [{"name": "app", "image": "a:2"}]}});
        strategic_merge(&mut t, &p, &mut Vec::new(), false);
        assert_eq!(
            t["spec"]["containers"][0],
            json!({"name": "app", "image": "a:2", "env": [{"name": "X", "value": "1"}]})
        );
        assert_eq!(t["spec"]["containers"][1]["name"], "side");
    }

    #[test]
    fn strategic_merge_delete_directive_removes_item() {
        let mut t = json!({"env": [{"name": "A"}, {"name": "B"}]});
        strategic_merge(
            &mut t,
            &json!({"env": [{"name": "A", "$patch": "delete"}]}),
            &mut Vec::new(),
            false,
        );
        assert_eq!(t, json!({"env": [{"name": "B"}]}));
    }

    #[test]
    fn container_ports_key_defaults_protocol() {
        let keys = list_keys(&["spec".into(), "containers".into()], "ports", false).unwrap();
        let k = item_key(&json!({"containerPort": 80}), keys);
        assert_eq!(Value::Object(k).to_string(), r#"{"containerPort":80,"protocol":"TCP"}"#);
    }

    #[test]
    fn apply_merge_merges_keyed_lists_and_replaces_atomic_maps() {
        let live = json!({"spec": {"selector": {"matchLabels": {"a": "1", "b": "2"}},
                                   "containers": [{"name": "x", "image": "1", "resources": {}}]}});
        let applied =
            json!({"spec": {"selector": {"matchLabels": {"a": "1"}}, "containers": [{"name": "x", "image": "2"}]}});
        let m = apply_merge(&live, &applied, &mut Vec::new(), false);
        assert_eq!(m["spec"]["selector"], json!({"matchLabels": {"a": "1"}}));
        assert_eq!(
            m["spec"]["containers"][0],
            json!({"name": "x", "image": "2", "resources": {}})
        );
    }
}
