//! Object metadata helpers every part of the simulator needs: timestamps in
//! the real server's format, metadata fields, key order.

use serde_json::{Map, Value};

/// RFC 3339 UTC with second precision, as the real server writes timestamps.
pub fn now_rfc3339() -> String {
    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// A string field of `metadata`, empty when absent.
pub fn meta_str<'a>(obj: &'a Value, field: &str) -> &'a str {
    obj.get("metadata")
        .and_then(|m| m.get(field))
        .and_then(Value::as_str)
        .unwrap_or_default()
}

/// Whether the object still has finalizers that hold its deletion.
pub fn has_finalizers(obj: &Value) -> bool {
    obj.pointer("/metadata/finalizers")
        .and_then(Value::as_array)
        .is_some_and(|f| !f.is_empty())
}

/// Puts the top-level keys in the order the real server writes them.
pub fn reorder(obj: Value) -> Value {
    let Value::Object(mut m) = obj else { return obj };
    let mut out = Map::new();
    for k in ["kind", "apiVersion", "metadata"] {
        if let Some(v) = m.remove(k) {
            out.insert(k.to_string(), v);
        }
    }
    let rest: Vec<String> = m.keys().filter(|k| *k != "status").cloned().collect();
    for k in rest {
        if let Some(v) = m.remove(&k) {
            out.insert(k, v);
        }
    }
    if let Some(v) = m.remove("status") {
        out.insert("status".into(), v);
    }
    Value::Object(out)
}
