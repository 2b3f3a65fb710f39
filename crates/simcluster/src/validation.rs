//! Validation as the real API server does it: object names, label keys and
//! values, annotation keys, workload selectors and templates, and the
//! `openAPIV3Schema` of custom resources (types, minimum/maximum, enum, required).

use serde_json::{Map, Value};

use crate::resources::ResourceType;
use crate::status::Cause;

const DNS1123_SUBDOMAIN_MSG: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
const DNS1123_LABEL_MSG: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
const DNS1035_LABEL_MSG: &str = "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')";
const NAME_PART_MSG: &str = "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";
const LABEL_VALUE_MSG: &str = "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')";

fn is_dns_label(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b[0] != b'-'
        && b[b.len() - 1] != b'-'
}

fn is_dns_subdomain(s: &str) -> bool {
    s.len() <= 253 && s.split('.').all(is_dns_label)
}

/// Checks a DNS-1123 subdomain; the error is the real server's message.
pub fn check_dns_subdomain(s: &str) -> Result<(), String> {
    if s.len() > 253 {
        return Err("must be no more than 253 characters".into());
    }
    if is_dns_subdomain(s) {
        Ok(())
    } else {
        Err(DNS1123_SUBDOMAIN_MSG.into())
    }
}

/// Checks a DNS-1123 label.
pub fn check_dns_label(s: &str) -> Result<(), String> {
    if s.len() > 63 {
        return Err("must be no more than 63 characters".into());
    }
    if is_dns_label(s) {
        Ok(())
    } else {
        Err(DNS1123_LABEL_MSG.into())
    }
}

fn is_name_part(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
}

/// Checks a qualified name (label or annotation key): `[prefix/]name`.
pub fn check_qualified_name(s: &str) -> Result<(), String> {
    let (prefix, name) = match s.split_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, s),
    };
    if let Some(p) = prefix {
        if p.is_empty() {
            return Err("prefix part must be non-empty".into());
        }
        if !is_dns_subdomain(p) {
            return Err(format!("prefix part {DNS1123_SUBDOMAIN_MSG}"));
        }
    }
    if name.is_empty() {
        return Err("name part must be non-empty".into());
    }
    if name.len() > 63 {
        return Err("name part must be no more than 63 characters".into());
    }
    if name.contains('/') || !is_name_part(name) {
        return Err(NAME_PART_MSG.into());
    }
    Ok(())
}

/// Checks a label value.
pub fn check_label_value(s: &str) -> Result<(), String> {
    if s.len() > 63 {
        return Err("must be no more than 63 characters".into());
    }
    if s.is_empty() || is_name_part(s) {
        Ok(())
    } else {
        Err(LABEL_VALUE_MSG.into())
    }
}

/// Renders a value the way Go's `%#v`-ish messages show it: strings quoted.
pub fn go_value(v: &Value) -> String {
    match v {
        Value::String(s) => format!("{s:?}"),
        Value::Null => "null".into(),
        other => other.to_string(),
    }
}

/// Go's rendering of a `map[string]string`.
pub fn go_string_map(m: Option<&Map<String, Value>>) -> String {
    let Some(m) = m else {
        return "map[string]string(nil)".into();
    };
    let parts: Vec<String> = m
        .iter()
        .map(|(k, v)| format!("{:?}:{:?}", k, v.as_str().unwrap_or_default()))
        .collect();
    format!("map[string]string{{{}}}", parts.join(", "))
}

/// Validates metadata (name, labels, annotations) for a kind.
pub fn validate_metadata(rt: &ResourceType, obj: &Value) -> Vec<Cause> {
    let mut causes = Vec::new();
    let name = obj
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if name.is_empty() {
        causes.push(Cause::required("metadata.name", "name or generateName is required"));
    } else {
        let check = match (rt.group.as_str(), rt.plural.as_str()) {
            ("", "namespaces") => check_dns_label(name),
            ("", "services") => {
                if name.len() <= 63 && name.starts_with(|c: char| c.is_ascii_lowercase()) && is_dns_label(name) {
                    Ok(())
                } else {
                    Err(DNS1035_LABEL_MSG.to_string())
                }
            }
            ("rbac.authorization.k8s.io", _) => {
                if name == "." || name == ".." || name.contains('/') || name.contains('%') {
                    Err("may not be '.' or '..' and may not contain '/' or '%'".to_string())
                } else {
                    Ok(())
                }
            }
            _ => check_dns_subdomain(name),
        };
        if let Err(e) = check {
            causes.push(Cause::invalid(
                "metadata.name",
                &go_value(&Value::String(name.into())),
                &e,
            ));
        }
    }
    if let Some(labels) = obj.pointer("/metadata/labels").and_then(Value::as_object) {
        for (k, v) in labels {
            if let Err(e) = check_qualified_name(k) {
                causes.push(Cause::invalid("metadata.labels", &format!("{k:?}"), &e));
            }
            match v.as_str() {
                Some(s) => {
                    if let Err(e) = check_label_value(s) {
                        causes.push(Cause::invalid("metadata.labels", &format!("{s:?}"), &e));
                    }
                }
                None => causes.push(Cause::invalid(
                    "metadata.labels",
                    &go_value(v),
                    "label values must be strings",
                )),
            }
        }
    }
    if let Some(ann) = obj.pointer("/metadata/annotations").and_then(Value::as_object) {
        let mut total = 0;
        for (k, v) in ann {
            total += k.len() + v.as_str().map_or(0, str::len);
            if let Err(e) = check_qualified_name(&k.to_lowercase()) {
                causes.push(Cause::invalid("metadata.annotations", &format!("{k:?}"), &e));
            }
        }
        if total > 256 * 1024 {
            causes.push(Cause {
                reason: "FieldValueTooLong",
                message: "Too long: must have at most 262144 bytes".into(),
                field: "metadata.annotations".into(),
            });
        }
    }
    causes
}

fn validate_pod_spec(spec: Option<&Value>, prefix: &str, causes: &mut Vec<Cause>) {
    let containers = spec.and_then(|s| s.get("containers")).and_then(Value::as_array);
    match containers {
        None => causes.push(Cause::required(format!("{prefix}.containers"), "")),
        Some(list) if list.is_empty() => causes.push(Cause::required(format!("{prefix}.containers"), "")),
        Some(list) => {
            for (i, c) in list.iter().enumerate() {
                let name = c.get("name").and_then(Value::as_str).unwrap_or_default();
                if name.is_empty() {
                    causes.push(Cause::required(format!("{prefix}.containers[{i}].name"), ""));
                } else if let Err(e) = check_dns_label(name) {
                    causes.push(Cause::invalid(
                        format!("{prefix}.containers[{i}].name"),
                        &format!("{name:?}"),
                        &e,
                    ));
                }
                if c.get("image").and_then(Value::as_str).unwrap_or_default().is_empty() {
                    causes.push(Cause::required(format!("{prefix}.containers[{i}].image"), ""));
                }
            }
        }
    }
}

/// Kind-specific validation of a new object; `old` is set for updates.
pub fn validate_object(rt: &ResourceType, obj: &Value, old: Option<&Value>) -> Vec<Cause> {
    let mut causes = validate_metadata(rt, obj);
    let spec = obj.get("spec");
    match (rt.group.as_str(), rt.plural.as_str()) {
        ("apps", "deployments" | "statefulsets" | "daemonsets" | "replicasets") => {
            if let Some(r) = spec.and_then(|s| s.get("replicas")).and_then(Value::as_i64) {
                if r < 0 {
                    causes.push(Cause::invalid(
                        "spec.replicas",
                        &r.to_string(),
                        "must be greater than or equal to 0",
                    ));
                }
            }
            let selector = spec.and_then(|s| s.get("selector"));
            let labels = spec
                .and_then(|s| s.pointer("/template/metadata/labels"))
                .and_then(Value::as_object);
            match selector.and_then(|s| s.get("matchLabels")).and_then(Value::as_object) {
                None if selector.and_then(|s| s.get("matchExpressions")).is_none() => {
                    causes.push(Cause::required("spec.selector", ""));
                }
                sel => {
                    let matching =
                        sel.is_none_or(|sel| sel.iter().all(|(k, v)| labels.and_then(|l| l.get(k)) == Some(v)));
                    if !matching {
                        causes.push(Cause::invalid(
                            "spec.template.metadata.labels",
                            &go_string_map(labels),
                            "`selector` does not match template `labels`",
                        ));
                    }
                }
            }
            validate_pod_spec(
                spec.and_then(|s| s.pointer("/template/spec")),
                "spec.template.spec",
                &mut causes,
            );
            if let Some(old) = old {
                let old_sel = old.pointer("/spec/selector");
                if old_sel.is_some() && old_sel != selector {
                    causes.push(Cause::invalid(
                        "spec.selector",
                        &go_selector(selector),
                        "field is immutable",
                    ));
                }
            }
        }
        ("batch", "jobs") => {
            let tpl = spec.and_then(|s| s.pointer("/template/spec"));
            validate_pod_spec(tpl, "spec.template.spec", &mut causes);
            let policy = tpl.and_then(|t| t.get("restartPolicy")).and_then(Value::as_str);
            match policy {
                Some("Never" | "OnFailure") => {}
                Some(p) => causes.push(Cause {
                    reason: "FieldValueNotSupported",
                    message: format!("Unsupported value: {p:?}: supported values: \"OnFailure\", \"Never\""),
                    field: "spec.template.spec.restartPolicy".into(),
                }),
                None => causes.push(Cause::required(
                    "spec.template.spec.restartPolicy",
                    "valid values: \"OnFailure\", \"Never\"",
                )),
            }
        }
        ("batch", "cronjobs") => {
            if spec
                .and_then(|s| s.get("schedule"))
                .and_then(Value::as_str)
                .unwrap_or_default()
                .is_empty()
            {
                causes.push(Cause::required("spec.schedule", ""));
            }
            validate_pod_spec(
                spec.and_then(|s| s.pointer("/jobTemplate/spec/template/spec")),
                "spec.jobTemplate.spec.template.spec",
                &mut causes,
            );
        }
        ("", "pods") => validate_pod_spec(spec, "spec", &mut causes),
        ("coordination.k8s.io", "leases") => crate::lease::validate(obj, &mut causes),
        ("", "services") => {
            for (i, p) in spec
                .and_then(|s| s.get("ports"))
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .enumerate()
            {
                let port = p.get("port").and_then(Value::as_i64).unwrap_or(0);
                if !(1..=65535).contains(&port) {
                    causes.push(Cause::invalid(
                        format!("spec.ports[{i}].port"),
                        &port.to_string(),
                        "must be between 1 and 65535, inclusive",
                    ));
                }
            }
        }
        ("", "configmaps" | "secrets") => {
            for field in ["data", "binaryData"] {
                for k in obj
                    .get(field)
                    .and_then(Value::as_object)
                    .into_iter()
                    .flat_map(|m| m.keys())
                {
                    let ok = !k.is_empty()
                        && k.len() <= 253
                        && k.chars()
                            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
                    if !ok {
                        causes.push(Cause::invalid(
                            format!("{field}[{k}]"),
                            &format!("{k:?}"),
                            "a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')",
                        ));
                    }
                }
            }
        }
        ("apiextensions.k8s.io", "customresourcedefinitions") => {
            let group = spec
                .and_then(|s| s.get("group"))
                .and_then(Value::as_str)
                .unwrap_or_default();
            let plural = spec
                .and_then(|s| s.pointer("/names/plural"))
                .and_then(Value::as_str)
                .unwrap_or_default();
            let name = obj
                .pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or_default();
            if name != format!("{plural}.{group}") {
                causes.push(Cause::invalid(
                    "metadata.name",
                    &format!("{name:?}"),
                    "must be spec.names.plural+\".\"+spec.group",
                ));
            }
            if spec
                .and_then(|s| s.pointer("/names/kind"))
                .and_then(Value::as_str)
                .unwrap_or_default()
                .is_empty()
            {
                causes.push(Cause::required("spec.names.kind", ""));
            }
            if spec
                .and_then(|s| s.get("versions"))
                .and_then(Value::as_array)
                .is_none_or(|v| v.is_empty())
            {
                causes.push(Cause::required(
                    "spec.versions",
                    "must have exactly one version marked as storage version",
                ));
            }
        }
        _ => {}
    }
    if let Some(schema) = &rt.schema {
        for key in ["spec", "status"] {
            if let (Some(v), Some(s)) = (obj.get(key), schema.pointer(&format!("/properties/{key}"))) {
                validate_schema(v, s, key, &mut causes);
            }
        }
    }
    causes
}

fn go_selector(sel: Option<&Value>) -> String {
    let ml = sel.and_then(|s| s.get("matchLabels")).and_then(Value::as_object);
    format!(
        "v1.LabelSelector{{MatchLabels:{}, MatchExpressions:[]v1.LabelSelectorRequirement(nil)}}",
        go_string_map(ml)
    )
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Validates a value against a structural schema.
pub fn validate_schema(v: &Value, schema: &Value, path: &str, causes: &mut Vec<Cause>) {
    if let Some(want) = schema.get("type").and_then(Value::as_str) {
        let got = json_type(v);
        let ok = got == want
            || (want == "number" && got == "integer")
            || (v.is_null() && schema.get("nullable") == Some(&Value::Bool(true)));
        if !ok {
            causes.push(Cause {
                reason: "FieldValueTypeInvalid",
                message: format!("Invalid value: \"{got}\": {path} in body must be of type {want}: \"{got}\""),
                field: path.to_string(),
            });
            return;
        }
    }
    if let Some(n) = v.as_f64() {
        if let Some(min) = schema.get("minimum").and_then(Value::as_f64) {
            if n < min {
                causes.push(Cause::invalid(
                    path,
                    &v.to_string(),
                    &format!(
                        "{path} in body should be greater than or equal to {}",
                        schema["minimum"]
                    ),
                ));
            }
        }
        if let Some(max) = schema.get("maximum").and_then(Value::as_f64) {
            if n > max {
                causes.push(Cause::invalid(
                    path,
                    &v.to_string(),
                    &format!("{path} in body should be less than or equal to {}", schema["maximum"]),
                ));
            }
        }
    }
    if let Some(options) = schema.get("enum").and_then(Value::as_array) {
        if !options.contains(v) {
            let list: Vec<String> = options.iter().map(go_value).collect();
            causes.push(Cause {
                reason: "FieldValueNotSupported",
                message: format!(
                    "Unsupported value: {}: supported values: {}",
                    go_value(v),
                    list.join(", ")
                ),
                field: path.to_string(),
            });
        }
    }
    if let Some(m) = v.as_object() {
        for req in schema
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
        {
            if !m.contains_key(req) {
                causes.push(Cause::required(format!("{path}.{req}"), ""));
            }
        }
        let props = schema.get("properties").and_then(Value::as_object);
        let extra = schema.get("additionalProperties").filter(|a| a.is_object());
        for (k, child) in m {
            if let Some(s) = props.and_then(|p| p.get(k)).or(extra) {
                validate_schema(child, s, &format!("{path}.{k}"), causes);
            }
        }
    }
    if let (Some(items), Some(s)) = (v.as_array(), schema.get("items")) {
        for (i, item) in items.iter().enumerate() {
            validate_schema(item, s, &format!("{path}[{i}]"), causes);
        }
    }
}

/// Drops fields a structural schema does not know (unless it preserves unknown fields).
pub fn prune(v: &mut Value, schema: &Value) {
    if schema.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true)) {
        return;
    }
    if let Some(m) = v.as_object_mut() {
        let props = schema.get("properties").and_then(Value::as_object);
        let extra = schema.get("additionalProperties");
        match (props, extra) {
            (_, Some(a)) if a.is_object() || a == &Value::Bool(true) => {
                for child in m.values_mut() {
                    prune(child, a);
                }
            }
            (Some(p), _) => {
                m.retain(|k, _| p.contains_key(k));
                for (k, child) in m.iter_mut() {
                    prune(child, &p[k]);
                }
            }
            (None, _) => {
                if schema.get("type").and_then(Value::as_str) == Some("object") {
                    m.clear();
                }
            }
        }
    } else if let (Some(items), Some(s)) = (v.as_array_mut(), schema.get("items")) {
        for item in items {
            prune(item, s);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::Registry;
    use serde_json::json;

    #[test]
    fn names_follow_dns_rules_per_kind() {
        assert!(check_dns_subdomain("my.app-1").is_ok());
        assert!(check_dns_subdomain("My_App").is_err());
        assert!(check_dns_label("a.b").is_err());
        assert!(check_qualified_name("app.kubernetes.io/name").is_ok());
        assert!(check_qualified_name("bad key").is_err());
        assert!(check_label_value("").is_ok());
        assert!(check_label_value("-x").is_err());
    }

    #[test]
    fn deployment_with_three_problems_has_three_causes() {
        let reg = Registry::default();
        let rt = reg.get("apps", "v1", "deployments").unwrap();
        let d = json!({"metadata": {"name": "invalid"}, "spec": {"replicas": -1, "selector": {"matchLabels": {"app": "x"}},
            "template": {"metadata": {"labels": {"app": "other"}}, "spec": {"containers": [{"name": "app", "image": ""}]}}}});
        let fields: Vec<String> = validate_object(&rt, &d, None).into_iter().map(|c| c.field).collect();
        assert_eq!(
            fields,
            [
                "spec.replicas",
                "spec.template.metadata.labels",
                "spec.template.spec.containers[0].image"
            ]
        );
    }

    #[test]
    fn schema_checks_types_and_minimum() {
        let schema = json!({"type": "object", "properties": {"size": {"type": "integer", "minimum": 1}, "color": {"type": "string"}}});
        let mut causes = Vec::new();
        validate_schema(&json!({"size": 0, "color": 5}), &schema, "spec", &mut causes);
        let mut fields: Vec<&str> = causes.iter().map(|c| c.field.as_str()).collect();
        fields.sort();
        assert_eq!(fields, ["spec.color", "spec.size"]);
    }

    #[test]
    fn prune_drops_unknown_fields() {
        let schema = json!({"type": "object", "properties": {"a": {"type": "string"}}});
        let mut v = json!({"a": "x", "b": 1});
        prune(&mut v, &schema);
        assert_eq!(v, json!({"a": "x"}));
    }
}
