//! Wrong JSON types in built-in kinds (`data: {x: true}` in a ConfigMap,
//! `replicas: "3"`), rejected the way the real API server rejects them.
//!
//! The real server decodes a body into its Go struct before anything else, so
//! a wrong type never reaches validation. Each way in words it differently:
//!
//! - create and replace (POST, PUT): 400 BadRequest from the decoder,
//!   `ConfigMap in version "v1" cannot be handled as a ConfigMap: json: cannot
//!   unmarshal bool into Go struct field ConfigMap.data of type string`
//!   (the first wrong field in document order);
//! - server-side apply: the structured-merge-diff conversion names every wrong
//!   field, `failed to create typed patch object (ns/name; /v1, Kind=ConfigMap):
//!   .data.x: expected string, got ...`. Real servers up to now answer that with
//!   500 and no reason; the simulator answers 400 BadRequest (as the fix under
//!   way upstream does), so that clients treat it as the manifest's fault rather
//!   than retry;
//! - merge, strategic merge and JSON patches: 422 Invalid with one cause on the
//!   field `patch` holding the patched object and the decoder's message.
//!
//! The field types come from the table in `schema`; custom resources are checked
//! against their own schema elsewhere.

use serde_json::{Map, Value};

use crate::resources::ResourceType;
use crate::schema::{self, Struct, Ty};
use crate::status::{ApiError, Cause};

/// What is wrong with one value.
#[derive(Clone, Debug, PartialEq)]
enum Problem {
    /// The JSON type does not fit the Go type.
    Type,
    /// A number that the integer type cannot hold (`1.5`, `1e12` for an `int32`).
    Number,
    /// A `[]byte` string that is not base64: offset of the first bad input byte.
    Base64(usize),
    /// A quantity that is neither a string nor a number.
    Quantity,
}

/// One wrong value.
#[derive(Clone, Debug)]
struct Mismatch {
    /// Go struct that holds the field (`ConfigMap`, `ObjectMeta`).
    go_struct: String,
    /// JSON field names from the root, as `encoding/json` shows them (`metadata.labels`).
    go_path: String,
    /// The path server-side apply shows (`.metadata.labels.app`, `.spec.template.spec.containers[name="web"].image`).
    apply_path: String,
    expected: &'static Ty,
    got: Value,
    problem: Problem,
}

/// The table that applies to a kind; custom resources have none here.
fn table(rt: &ResourceType) -> Option<&'static Struct> {
    if rt.is_custom() {
        return None;
    }
    Some(schema::of(&rt.group, &rt.kind).unwrap_or(&schema::METADATA_ONLY))
}

fn mismatches(rt: &ResourceType, obj: &Value) -> Vec<Mismatch> {
    let mut out = Vec::new();
    if let (Some(s), Some(o)) = (table(rt), obj.as_object()) {
        walk_struct(s, &rt.kind, o, "", "", &mut out);
    }
    out
}

fn walk_struct(
    s: &'static Struct,
    go_struct: &str,
    o: &Map<String, Value>,
    go_path: &str,
    apply_path: &str,
    out: &mut Vec<Mismatch>,
) {
    // Document order: the decoder reports the first wrong field it reads.
    for (k, v) in o {
        let Some(field) = s.fields.iter().find(|f| f.json == k) else {
            continue;
        };
        let go_path = if go_path.is_empty() {
            k.clone()
        } else {
            format!("{go_path}.{k}")
        };
        walk(&field.ty, v, go_struct, &go_path, &format!("{apply_path}.{k}"), out);
    }
}

fn walk(ty: &'static Ty, v: &Value, go_struct: &str, go_path: &str, apply_path: &str, out: &mut Vec<Mismatch>) {
    let mut push = |problem: Problem| {
        out.push(Mismatch {
            go_struct: go_struct.to_string(),
            go_path: go_path.to_string(),
            apply_path: apply_path.to_string(),
            expected: ty,
            got: v.clone(),
            problem,
        })
    };
    // `null` leaves a Go field at its zero value: never an error.
    if v.is_null() {
        return;
    }
    match ty {
        Ty::Str | Ty::Named(_) | Ty::Time => {
            if !v.is_string() {
                push(Problem::Type);
            }
        }
        Ty::Int32 | Ty::Int64 | Ty::IntOrString => match v {
            Value::Number(n) => {
                let fits = match ty {
                    Ty::Int64 => n.as_i64().is_some(),
                    _ => n.as_i64().is_some_and(|i| i32::try_from(i).is_ok()),
                };
                if !fits {
                    push(Problem::Number);
                }
            }
            Value::String(_) if matches!(ty, Ty::IntOrString) => {}
            _ => push(Problem::Type),
        },
        Ty::Bool => {
            if !v.is_boolean() {
                push(Problem::Type);
            }
        }
        Ty::Bytes => match v.as_str() {
            Some(s) => {
                if let Some(at) = base64_error(s) {
                    push(Problem::Base64(at));
                }
            }
            None => push(Problem::Type),
        },
        Ty::Quantity => {
            if !v.is_string() && !v.is_number() {
                push(Problem::Quantity);
            }
        }
        Ty::Map(t) => match v.as_object() {
            Some(m) => {
                for (k, item) in m {
                    walk(t, item, go_struct, go_path, &format!("{apply_path}.{k}"), out);
                }
            }
            None => push(Problem::Type),
        },
        Ty::List(t) => match v.as_array() {
            Some(items) => {
                for (i, item) in items.iter().enumerate() {
                    let at = format!("{apply_path}{}", element_path(t, item, i));
                    walk(t, item, go_struct, go_path, &at, out);
                }
            }
            None => push(Problem::Type),
        },
        Ty::Struct(s) => match v.as_object() {
            Some(o) => walk_struct(s, s.go, o, go_path, apply_path, out),
            None => push(Problem::Type),
        },
    }
}

/// How server-side apply names a list element: by its keys (`[name="web"]`) in keyed lists, else by index.
fn element_path(t: &Ty, item: &Value, i: usize) -> String {
    let keys = match t {
        Ty::Struct(s) => s.keys,
        _ => &[],
    };
    let parts: Vec<String> = keys
        .iter()
        .filter_map(|k| item.get(*k).map(|v| format!("{k}={v}")))
        .collect();
    if parts.is_empty() {
        format!("[{i}]")
    } else {
        format!("[{}]", parts.join(","))
    }
}

/// Offset of the first byte Go's padded standard base64 decoder refuses, if any.
fn base64_error(s: &str) -> Option<usize> {
    let alphabet = |c: u8| c.is_ascii_alphanumeric() || c == b'+' || c == b'/';
    // Go skips newlines inside base64 data.
    let chars: Vec<(usize, u8)> = s
        .bytes()
        .enumerate()
        .filter(|(_, c)| *c != b'\n' && *c != b'\r')
        .collect();
    let mut quantum_start = 0;
    for (n, (at, c)) in chars.iter().enumerate() {
        if n % 4 == 0 {
            quantum_start = *at;
        }
        if *c == b'=' {
            // Padding only in the last two places of the last quantum.
            let pos = n % 4;
            let rest = &chars[n..];
            let all_padding = rest.iter().all(|(_, c)| *c == b'=');
            if pos < 2 || !all_padding || !chars.len().is_multiple_of(4) || (pos == 2 && rest.len() != 2) {
                return Some(*at);
            }
            return None;
        }
        if !alphabet(*c) {
            return Some(*at);
        }
    }
    (!chars.len().is_multiple_of(4)).then_some(quantum_start)
}

/// `encoding/json`'s name for a JSON value's type.
fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// The decoder's message for one wrong value.
fn decode_message(m: &Mismatch) -> String {
    let target = format!(
        "Go struct field {}.{} of type {}",
        m.go_struct,
        m.go_path,
        m.expected.go_name()
    );
    match m.problem {
        Problem::Type => format!("json: cannot unmarshal {} into {target}", json_type(&m.got)),
        Problem::Number => format!("json: cannot unmarshal number {} into {target}", m.got),
        Problem::Base64(at) => format!("illegal base64 data at input byte {at}"),
        Problem::Quantity => {
            "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'".into()
        }
    }
}

/// Go's `%v` of a decoded JSON value.
fn go_plain(v: &Value) -> String {
    match v {
        Value::Null => "<nil>".into(),
        Value::String(s) => s.clone(),
        Value::Array(a) => format!("[{}]", a.iter().map(go_plain).collect::<Vec<_>>().join(" ")),
        Value::Object(o) => {
            let mut parts: Vec<String> = o.iter().map(|(k, v)| format!("{k}:{}", go_plain(v))).collect();
            parts.sort();
            format!("map[{}]", parts.join(" "))
        }
        other => other.to_string(),
    }
}

/// Go's `%#v` of a decoded JSON value.
fn go_syntax(v: &Value) -> String {
    match v {
        Value::Null => "interface {}(nil)".into(),
        Value::String(s) => format!("{s:?}"),
        Value::Array(a) => format!(
            "[]interface {{}}{{{}}}",
            a.iter().map(go_syntax).collect::<Vec<_>>().join(", ")
        ),
        Value::Object(o) => {
            let mut parts: Vec<String> = o.iter().map(|(k, v)| format!("{k:?}:{}", go_syntax(v))).collect();
            parts.sort();
            format!("map[string]interface {{}}{{{}}}", parts.join(", "))
        }
        other => other.to_string(),
    }
}

/// Go's `%T` of a decoded JSON value.
fn go_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "<nil>",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_f64() => "float64",
        Value::Number(_) => "int64",
        Value::String(_) => "string",
        Value::Array(_) => "[]interface {}",
        Value::Object(_) => "map[string]interface {}",
    }
}

/// structured-merge-diff's message for a value of the wrong type.
fn apply_message(m: &Mismatch) -> String {
    let got = &m.got;
    let what = match m.expected {
        Ty::Int32 | Ty::Int64 => format!("expected numeric (int or float), got {}", go_type(got)),
        Ty::Bool => format!("expected boolean, got &{{{}}}", go_plain(got)),
        Ty::Map(_) | Ty::Struct(_) => format!("expected map, got &{{{}}}", go_plain(got)),
        Ty::List(_) => format!("expected list, got &{{{}}}", go_plain(got)),
        Ty::IntOrString => format!("expected scalar, got &{{{}}}", go_plain(got)),
        _ => format!(
            "expected string, got &value.valueUnstructured{{Value:{}}}",
            go_syntax(got)
        ),
    };
    format!("{}: {what}", m.apply_path)
}

/// Checks a create or replace body (POST, PUT): 400 as the real decoder answers.
pub fn check_object(rt: &ResourceType, obj: &Value) -> Result<(), ApiError> {
    match mismatches(rt, obj).first() {
        None => Ok(()),
        Some(m) => Err(ApiError::bad_request(format!(
            "{kind} in version \"{version}\" cannot be handled as a {kind}: {}",
            decode_message(m),
            kind = rt.kind,
            version = rt.version,
        ))),
    }
}

/// Checks a server-side apply body: 400 naming every wrong field the way
/// structured-merge-diff does (values it accepts but the Go type cannot hold,
/// such as `replicas: 1.5`, fail in the conversion that follows, with the decoder's words).
pub fn check_apply(rt: &ResourceType, obj: &Value, namespace: &str, name: &str) -> Result<(), ApiError> {
    let all = mismatches(rt, obj);
    let typed: Vec<String> = all
        .iter()
        .filter(|m| matches!(m.problem, Problem::Type | Problem::Quantity))
        .map(apply_message)
        .collect();
    let errors = match typed.as_slice() {
        [] if all.is_empty() => return Ok(()),
        // Types structured-merge-diff accepts, values the Go type cannot hold.
        [] => return check_object(rt, obj),
        [one] => one.clone(),
        many => format!("errors:\n  {}", many.join("\n  ")),
    };
    // Go prints a GroupVersionKind as `group/version, Kind=Kind`, also for the empty core group.
    let gvk = format!("{}/{}, Kind={}", rt.group, rt.version, rt.kind);
    Err(ApiError::bad_request(format!(
        "failed to create typed patch object ({namespace}/{name}; {gvk}): {errors}"
    )))
}

/// Checks the result of a merge, strategic merge or JSON patch: 422 on the field `patch`.
pub fn check_patched(rt: &ResourceType, patched: &Value) -> Result<(), ApiError> {
    match mismatches(rt, patched).first() {
        None => Ok(()),
        Some(m) => {
            let shown = serde_json::to_string(&Value::String(patched.to_string())).unwrap_or_default();
            Err(ApiError::invalid_kind(
                "",
                "",
                "",
                vec![Cause::invalid("patch", &shown, &decode_message(m))],
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::Registry;
    use serde_json::json;

    fn rt(group: &str, plural: &str) -> std::sync::Arc<ResourceType> {
        Registry::default().get(group, "v1", plural).unwrap()
    }

    fn create_error(group: &str, plural: &str, obj: Value) -> String {
        check_object(&rt(group, plural), &obj).unwrap_err().message
    }

    #[test]
    fn a_bool_in_configmap_data_is_the_decoders_error() {
        let e = create_error("", "configmaps", json!({"data": {"x": true}}));
        assert_eq!(
            e,
            "ConfigMap in version \"v1\" cannot be handled as a ConfigMap: json: cannot unmarshal bool into Go struct field ConfigMap.data of type string"
        );
    }

    #[test]
    fn nested_fields_name_the_innermost_struct_and_the_whole_path() {
        let e = create_error("apps", "deployments", json!({"spec": {"replicas": "3"}}));
        assert!(
            e.ends_with(
                "json: cannot unmarshal string into Go struct field DeploymentSpec.spec.replicas of type int32"
            ),
            "{e}"
        );
        let e = create_error(
            "apps",
            "deployments",
            json!({"spec": {"template": {"spec": {"containers": [{"name": "web", "ports": [{"containerPort": "80"}]}]}}}}),
        );
        assert!(
            e.ends_with("cannot unmarshal string into Go struct field ContainerPort.spec.template.spec.containers.ports.containerPort of type int32"),
            "{e}"
        );
        let e = create_error(
            "apps",
            "deployments",
            json!({"spec": {"template": {"spec": {"containers": {"name": "web"}}}}}),
        );
        assert!(e.ends_with("cannot unmarshal object into Go struct field PodSpec.spec.template.spec.containers of type []v1.Container"), "{e}");
        let e = create_error("", "configmaps", json!({"metadata": {"labels": {"n": 1}}}));
        assert!(
            e.ends_with("cannot unmarshal number into Go struct field ObjectMeta.metadata.labels of type string"),
            "{e}"
        );
    }

    #[test]
    fn the_first_wrong_field_in_document_order_is_reported() {
        let e = create_error(
            "",
            "configmaps",
            json!({"data": {"a": 1}, "metadata": {"labels": {"b": true}}}),
        );
        assert!(e.contains("ConfigMap.data"), "{e}");
    }

    #[test]
    fn integers_that_do_not_fit_and_bad_base64_are_reported_like_go() {
        let e = create_error("apps", "deployments", json!({"spec": {"replicas": 1.5}}));
        assert!(
            e.ends_with("cannot unmarshal number 1.5 into Go struct field DeploymentSpec.spec.replicas of type int32"),
            "{e}"
        );
        let e = create_error("", "secrets", json!({"data": {"pw": "not base64!"}}));
        assert!(
            e.ends_with("cannot be handled as a Secret: illegal base64 data at input byte 3"),
            "{e}"
        );
        assert_eq!(base64_error("YWRtaW4="), None);
        assert_eq!(base64_error("czNjcmV0"), None);
        assert_eq!(base64_error("YWJj\nZA=="), None);
        assert_eq!(base64_error("YWJjZA"), Some(4));
        assert_eq!(base64_error("Y="), Some(1));
    }

    #[test]
    fn right_types_nulls_and_unknown_fields_pass() {
        let ok = json!({"metadata": {"name": "x", "labels": {"a": "b"}, "annotations": null}, "data": {"k": "v"},
                        "binaryData": {"b": "AAEC"}, "immutable": true, "whatever": 5});
        assert!(check_object(&rt("", "configmaps"), &ok).is_ok());
        let svc = json!({"spec": {"ports": [{"port": 80, "targetPort": "http"}, {"port": 81, "targetPort": 8081}]}});
        assert!(check_object(&rt("", "services"), &svc).is_ok());
        let sa = json!({"metadata": {"labels": {"a": 1}}});
        assert!(
            check_object(&rt("", "serviceaccounts"), &sa).is_err(),
            "metadata is checked for every kind"
        );
    }

    #[test]
    fn apply_lists_every_wrong_field_with_structured_merge_diff_paths() {
        let obj = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
            "spec": {"replicas": "2", "template": {"spec": {"containers": [{"name": "web", "image": 5}]}}}});
        let e = check_apply(&rt("apps", "deployments"), &obj, "ns", "web").unwrap_err();
        assert_eq!((e.code, e.reason), (400, "BadRequest"));
        assert_eq!(
            e.message,
            "failed to create typed patch object (ns/web; apps/v1, Kind=Deployment): errors:\n  \
             .spec.replicas: expected numeric (int or float), got string\n  \
             .spec.template.spec.containers[name=\"web\"].image: expected string, got &value.valueUnstructured{Value:5}"
        );
        let cm = json!({"data": {"x": true}});
        let e = check_apply(&rt("", "configmaps"), &cm, "ns", "c").unwrap_err();
        assert_eq!(
            e.message,
            "failed to create typed patch object (ns/c; /v1, Kind=ConfigMap): .data.x: expected string, got &value.valueUnstructured{Value:true}"
        );
    }

    #[test]
    fn a_patch_that_makes_a_wrong_type_is_invalid_on_the_field_patch() {
        let patched = json!({"apiVersion": "v1", "kind": "ConfigMap", "data": {"x": true}});
        let e = check_patched(&rt("", "configmaps"), &patched).unwrap_err();
        assert_eq!((e.code, e.reason), (422, "Invalid"));
        assert!(
            e.message.starts_with(" \"\" is invalid: patch: Invalid value: \"{"),
            "{}",
            e.message
        );
        assert!(e
            .message
            .ends_with("json: cannot unmarshal bool into Go struct field ConfigMap.data of type string"));
        let details = e.details.unwrap();
        assert_eq!(details["causes"][0]["field"], "patch");
        assert_eq!(details["causes"][0]["reason"], "FieldValueInvalid");
    }
}
