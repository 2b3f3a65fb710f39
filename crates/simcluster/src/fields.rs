//! Field ownership: the sets of fields in `metadata.managedFields` (FieldsV1).
//!
//! A [`FieldSet`] is a set of paths. Each path element is a FieldsV1 key as the
//! real server writes it: `f:<field>` for a map key, `k:{"name":"web"}` for an
//! item of a keyed list. A path in the set means "this node is owned": a leaf,
//! or (when other paths extend it) a node that also has a `"."` entry.

use std::collections::BTreeSet;

use serde_json::{json, Map, Value};

use crate::merge::{is_atomic_map, item_key, list_keys, KeyField};

/// One path of FieldsV1 keys.
pub type Path = Vec<String>;

/// A set of owned fields.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FieldSet(pub BTreeSet<Path>);

/// Metadata fields the server manages itself; nobody owns them.
const SERVER_METADATA: &[&str] = &[
    "name",
    "namespace",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "managedFields",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "selfLink",
];

fn skip_top(path: &[String], key: &str) -> bool {
    match path {
        [] => key == "apiVersion" || key == "kind",
        [m] if m == "f:metadata" => SERVER_METADATA.contains(&key),
        _ => false,
    }
}

/// Field names (without the `f:` prefix) along a path, for merge-key lookups.
fn field_names(path: &[String]) -> Vec<String> {
    path.iter()
        .filter_map(|p| p.strip_prefix("f:").map(str::to_string))
        .collect()
}

fn key_element(item: &Value, keys: &[KeyField]) -> String {
    format!("k:{}", Value::Object(item_key(item, keys)))
}

impl FieldSet {
    /// Whether the set owns nothing.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether the set owns `path` itself.
    pub fn contains(&self, path: &[String]) -> bool {
        self.0.contains(path)
    }

    /// Whether the set owns `path` or anything below it.
    pub fn owns_within(&self, path: &[String]) -> bool {
        self.0
            .range(path.to_vec()..)
            .next()
            .is_some_and(|p| p.starts_with(path))
    }

    /// Parses a FieldsV1 tree.
    pub fn from_fields_v1(v: &Value) -> FieldSet {
        fn walk(v: &Value, path: &mut Path, out: &mut BTreeSet<Path>) {
            let Some(m) = v.as_object() else { return };
            if (m.is_empty() || m.contains_key(".")) && !path.is_empty() {
                out.insert(path.clone());
            }
            for (k, child) in m {
                if k == "." {
                    continue;
                }
                path.push(k.clone());
                walk(child, path, out);
                path.pop();
            }
        }
        let mut out = BTreeSet::new();
        walk(v, &mut Vec::new(), &mut out);
        FieldSet(out)
    }

    /// Renders the FieldsV1 tree.
    pub fn to_fields_v1(&self) -> Value {
        let mut root = Map::new();
        for path in &self.0 {
            let mut node = &mut root;
            for el in path {
                node = node
                    .entry(el.clone())
                    .or_insert_with(|| json!({}))
                    .as_object_mut()
                    .expect("tree nodes are maps");
            }
        }
        // Owned nodes that have children get a "." entry.
        fn mark(node: &mut Map<String, Value>, path: &mut Path, set: &BTreeSet<Path>) {
            for (k, child) in node.iter_mut() {
                path.push(k.clone());
                if let Some(m) = child.as_object_mut() {
                    if !m.is_empty() {
                        mark(m, path, set);
                        if set.contains(path) {
                            m.insert(".".into(), json!({}));
                        }
                    }
                }
                path.pop();
            }
        }
        mark(&mut root, &mut Vec::new(), &self.0);
        Value::Object(root)
    }

    /// The fields an applied configuration sets (what its manager will own).
    pub fn of_applied(obj: &Value, custom: bool) -> FieldSet {
        fn walk(v: &Value, path: &mut Path, custom: bool, out: &mut BTreeSet<Path>) {
            let Some(m) = v.as_object() else { return };
            for (k, child) in m {
                if child.is_null() || skip_top(path, k) {
                    continue;
                }
                let names = field_names(path);
                path.push(format!("f:{k}"));
                match child {
                    Value::Object(c) if !c.is_empty() && !is_atomic_map(k) => walk(child, path, custom, out),
                    Value::Array(items) if list_keys(&names, k, custom).is_some() => {
                        let keys = list_keys(&names, k, custom).expect("checked above");
                        if items.is_empty() {
                            out.insert(path.clone());
                        }
                        for item in items {
                            path.push(key_element(item, keys));
                            out.insert(path.clone());
                            walk(item, path, custom, out);
                            path.pop();
                        }
                    }
                    _ => {
                        out.insert(path.clone());
                    }
                }
                path.pop();
            }
        }
        let mut out = BTreeSet::new();
        walk(obj, &mut Vec::new(), custom, &mut out);
        FieldSet(out)
    }

    /// The fields a non-apply write changed (what its manager takes over).
    pub fn of_changes(old: Option<&Value>, new: &Value, custom: bool) -> FieldSet {
        fn walk(
            old: Option<&Value>,
            new: &Value,
            path: &mut Path,
            custom: bool,
            updating: bool,
            out: &mut BTreeSet<Path>,
        ) {
            let Some(m) = new.as_object() else { return };
            let om = old.and_then(Value::as_object);
            for (k, nv) in m {
                if nv.is_null() || skip_top(path, k) {
                    continue;
                }
                let ov = om.and_then(|o| o.get(k));
                if ov == Some(nv) {
                    continue;
                }
                let names = field_names(path);
                path.push(format!("f:{k}"));
                match nv {
                    Value::Object(c) if !c.is_empty() && !is_atomic_map(k) => {
                        let ov = ov.filter(|o| o.is_object());
                        // Go maps and pointer structs get a "." entry when created; plain structs do not.
                        // Custom resources are untyped: every map is a map.
                        let plain_struct = k == "metadata"
                            || (!custom && matches!(k.as_str(), "spec" | "template" | "status" | "strategy"));
                        if ov.is_none() && !plain_struct {
                            out.insert(path.clone());
                        }
                        walk(ov, nv, path, custom, updating, out);
                    }
                    Value::Array(items) if list_keys(&names, k, custom).is_some() => {
                        let keys = list_keys(&names, k, custom).expect("checked above");
                        let old_items = ov.and_then(Value::as_array);
                        // A keyed list created by an update (not a create) is owned as a whole too.
                        if updating && old_items.is_none() && !ov.is_some_and(Value::is_null) {
                            out.insert(path.clone());
                        }
                        for item in items {
                            let key = item_key(item, keys);
                            let old_item = old_items.and_then(|o| o.iter().find(|x| item_key(x, keys) == key));
                            if old_item == Some(item) {
                                continue;
                            }
                            path.push(key_element(item, keys));
                            if old_item.is_none() {
                                out.insert(path.clone());
                            }
                            walk(old_item, item, path, custom, updating, out);
                            path.pop();
                        }
                    }
                    _ => {
                        out.insert(path.clone());
                    }
                }
                path.pop();
            }
        }
        let mut out = BTreeSet::new();
        walk(old, new, &mut Vec::new(), custom, old.is_some(), &mut out);
        FieldSet(out)
    }

    /// Drops the paths that no longer exist in `obj`.
    pub fn retain_existing(&mut self, obj: &Value) {
        self.0.retain(|p| value_at(obj, p).is_some());
    }

    /// Removes the given paths.
    pub fn remove_all(&mut self, other: &FieldSet) {
        for p in &other.0 {
            self.0.remove(p);
        }
    }
}

fn key_matches(item: &Value, key: &Map<String, Value>) -> bool {
    key.iter().all(|(f, want)| match item.get(f) {
        Some(v) if !v.is_null() => v == want,
        // absent key fields match their default (only `protocol: TCP` has one)
        _ => f == "protocol" && want == "TCP",
    })
}

fn parse_key(el: &str) -> Option<Map<String, Value>> {
    serde_json::from_str::<Value>(el.strip_prefix("k:")?)
        .ok()?
        .as_object()
        .cloned()
}

/// The value at a FieldsV1 path.
pub fn value_at<'a>(obj: &'a Value, path: &[String]) -> Option<&'a Value> {
    let mut cur = obj;
    for el in path {
        cur = if let Some(f) = el.strip_prefix("f:") {
            cur.as_object()?.get(f)?
        } else if el.starts_with("k:") {
            let key = parse_key(el)?;
            cur.as_array()?.iter().find(|i| key_matches(i, &key))?
        } else {
            return None;
        };
    }
    Some(cur)
}

/// Removes the node at a FieldsV1 path (a map key or a list item).
pub fn remove_at(obj: &mut Value, path: &[String]) {
    let Some((last, parent_path)) = path.split_last() else {
        return;
    };
    let mut cur = obj;
    for el in parent_path {
        let next = if let Some(f) = el.strip_prefix("f:") {
            cur.as_object_mut().and_then(|m| m.get_mut(f))
        } else if let Some(key) = parse_key(el) {
            cur.as_array_mut()
                .and_then(|a| a.iter_mut().find(|i| key_matches(i, &key)))
        } else {
            None
        };
        match next {
            Some(n) => cur = n,
            None => return,
        }
    }
    if let Some(f) = last.strip_prefix("f:") {
        if let Some(m) = cur.as_object_mut() {
            m.remove(f);
        }
    } else if let Some(key) = parse_key(last) {
        if let Some(a) = cur.as_array_mut() {
            a.retain(|i| !key_matches(i, &key));
        }
    }
}

/// A path as the real server prints it in conflicts: `.spec.containers[name="web"].image`.
pub fn display_path(path: &[String]) -> String {
    let mut s = String::new();
    for el in path {
        if let Some(f) = el.strip_prefix("f:") {
            s.push('.');
            s.push_str(f);
        } else if let Some(key) = parse_key(el) {
            let parts: Vec<String> = key.iter().map(|(k, v)| format!("{k}={v}")).collect();
            s.push_str(&format!("[{}]", parts.join(",")));
        } else {
            s.push_str(&format!("[{el}]"));
        }
    }
    s
}

/// One entry of `metadata.managedFields`.
#[derive(Clone, Debug, PartialEq)]
pub struct ManagedEntry {
    /// Field manager name.
    pub manager: String,
    /// `Apply` or `Update`.
    pub operation: String,
    /// apiVersion the manager used.
    pub api_version: String,
    /// RFC 3339 time of its last change.
    pub time: String,
    /// `status` for status-subresource writes.
    pub subresource: Option<String>,
    /// Owned fields.
    pub fields: FieldSet,
}

impl ManagedEntry {
    /// Whether this entry belongs to the same (manager, operation, subresource).
    pub fn is(&self, manager: &str, operation: &str, subresource: Option<&str>) -> bool {
        self.manager == manager && self.operation == operation && self.subresource.as_deref() == subresource
    }
}

/// Reads `metadata.managedFields`.
pub fn read_managed(obj: &Value) -> Vec<ManagedEntry> {
    match obj.pointer("/metadata/managedFields").and_then(Value::as_array) {
        Some(list) => managed_entries(list),
        None => Vec::new(),
    }
}

/// Reads a `managedFields` list.
pub fn managed_entries(list: &[Value]) -> Vec<ManagedEntry> {
    list.iter()
        .map(|e| {
            let s = |k: &str| e.get(k).and_then(Value::as_str).unwrap_or_default().to_string();
            ManagedEntry {
                manager: s("manager"),
                operation: s("operation"),
                api_version: s("apiVersion"),
                time: s("time"),
                subresource: e.get("subresource").and_then(Value::as_str).map(str::to_string),
                fields: FieldSet::from_fields_v1(e.get("fieldsV1").unwrap_or(&Value::Null)),
            }
        })
        .collect()
}

/// Writes `metadata.managedFields` (entries owning nothing are dropped).
pub fn write_managed(obj: &mut Value, entries: &[ManagedEntry]) {
    // The real server orders entries by operation (Apply first), then time, manager and subresource.
    let mut sorted: Vec<&ManagedEntry> = entries.iter().collect();
    sorted.sort_by(|a, b| {
        (&a.operation, &a.time, &a.manager, &a.subresource).cmp(&(&b.operation, &b.time, &b.manager, &b.subresource))
    });
    let list: Vec<Value> = sorted
        .into_iter()
        .filter(|e| !e.fields.is_empty())
        .map(|e| {
            let mut v = json!({
                "manager": e.manager, "operation": e.operation, "apiVersion": e.api_version,
                "time": e.time, "fieldsType": "FieldsV1", "fieldsV1": e.fields.to_fields_v1(),
            });
            if let Some(s) = &e.subresource {
                v["subresource"] = json!(s);
            }
            v
        })
        .collect();
    if let Some(m) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        if list.is_empty() {
            m.remove("managedFields");
        } else {
            m.insert("managedFields".into(), Value::Array(list));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &[&str]) -> Path {
        s.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn applied_deployment_fields_match_the_real_server() {
        let obj = json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "labels": {"app": "web"}},
            "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
                     "template": {"spec": {"containers": [{"name": "web", "image": "nginx",
                                                           "ports": [{"containerPort": 80}]}]}}}});
        let fs = FieldSet::of_applied(&obj, false);
        let v1 = fs.to_fields_v1();
        assert_eq!(v1["f:metadata"], json!({"f:labels": {"f:app": {}}}));
        assert_eq!(v1["f:spec"]["f:selector"], json!({}));
        let c = &v1["f:spec"]["f:template"]["f:spec"]["f:containers"]["k:{\"name\":\"web\"}"];
        assert_eq!(c["."], json!({}));
        assert_eq!(
            c["f:ports"]["k:{\"containerPort\":80,\"protocol\":\"TCP\"}"],
            json!({".": {}, "f:containerPort": {}})
        );
        assert_eq!(FieldSet::from_fields_v1(&v1), fs);
    }

    #[test]
    fn changes_mark_new_maps_and_changed_leaves() {
        let old = json!({"metadata": {"name": "c"}, "data": {"a": "1", "b": "2"}});
        let new = json!({"metadata": {"name": "c", "labels": {"x": "y"}}, "data": {"a": "1", "b": "3"}});
        let fs = FieldSet::of_changes(Some(&old), &new, false);
        let want: BTreeSet<Path> = [
            p(&["f:data", "f:b"]),
            p(&["f:metadata", "f:labels"]),
            p(&["f:metadata", "f:labels", "f:x"]),
        ]
        .into_iter()
        .collect();
        assert_eq!(fs.0, want);
    }

    #[test]
    fn value_at_and_remove_at_follow_keyed_items() {
        let mut obj = json!({"spec": {"containers": [{"name": "a", "ports": [{"containerPort": 80, "protocol": "TCP"}]},
                                                     {"name": "b"}]}});
        let port = p(&[
            "f:spec",
            "f:containers",
            "k:{\"name\":\"a\"}",
            "f:ports",
            "k:{\"containerPort\":80,\"protocol\":\"TCP\"}",
        ]);
        assert!(value_at(&obj, &port).is_some());
        remove_at(&mut obj, &p(&["f:spec", "f:containers", "k:{\"name\":\"b\"}"]));
        assert_eq!(obj["spec"]["containers"].as_array().unwrap().len(), 1);
        assert_eq!(
            display_path(&port),
            ".spec.containers[name=\"a\"].ports[containerPort=80,protocol=\"TCP\"]"
        );
    }
}
