//! Label selectors (`=`, `==`, `!=`, `in`, `notin`, exists, `!key`) and the
//! `metadata.name` / `metadata.namespace` field selectors.

use serde_json::Value;

use crate::validation::{check_label_value, check_qualified_name};

/// One requirement of a label selector.
#[derive(Clone, Debug, PartialEq)]
enum Req {
    Eq(String, String),
    NotEq(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    NotExists(String),
}

/// A parsed label selector; empty matches everything.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LabelSelector(Vec<Req>);

/// Splits on commas outside parentheses.
fn split_top(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let (mut depth, mut cur) = (0i32, String::new());
    for c in s.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                out.push(std::mem::take(&mut cur));
                continue;
            }
            _ => {}
        }
        cur.push(c);
    }
    out.push(cur);
    out
}

fn key(k: &str) -> Result<String, String> {
    let k = k.trim();
    if k.is_empty() {
        return Err("unable to parse requirement: found '', expected: identifier".into());
    }
    if let Some(c) = k.chars().find(|c| matches!(c, '=' | '!' | '(' | ')' | ',' | ' ')) {
        return Err(format!(
            "unable to parse requirement: found '{c}', expected: identifier"
        ));
    }
    check_qualified_name(k).map_err(|e| format!("invalid label key \"{k}\": {e}"))?;
    Ok(k.to_string())
}

fn value(v: &str) -> Result<String, String> {
    let v = v.trim();
    if let Some(c) = v.chars().find(|c| matches!(c, '=' | '!' | '(' | ')' | ' ')) {
        return Err(format!(
            "unable to parse requirement: found '{c}', expected: identifier"
        ));
    }
    check_label_value(v).map_err(|e| format!("invalid label value: \"{v}\": {e}"))?;
    Ok(v.to_string())
}

fn values(list: &str) -> Result<Vec<String>, String> {
    let inner = list
        .trim()
        .strip_prefix('(')
        .and_then(|r| r.strip_suffix(')'))
        .ok_or_else(|| "found ',', expected: '('".to_string())?;
    inner.split(',').map(value).collect()
}

impl LabelSelector {
    /// Parses the `labelSelector` query parameter; the error is the message of a 400.
    pub fn parse(s: &str) -> Result<LabelSelector, String> {
        let mut reqs = Vec::new();
        if s.trim().is_empty() {
            return Ok(LabelSelector(reqs));
        }
        for part in split_top(s) {
            let part = part.trim();
            let req = if let Some(k) = part.strip_prefix('!') {
                Req::NotExists(key(k)?)
            } else if let Some((k, v)) = part.split_once("!=") {
                Req::NotEq(key(k)?, value(v)?)
            } else if let Some((k, v)) = part.split_once("==") {
                Req::Eq(key(k)?, value(v)?)
            } else if let Some((k, v)) = part.split_once('=') {
                Req::Eq(key(k)?, value(v)?)
            } else if let Some((k, v)) = part.split_once(" notin ") {
                Req::NotIn(key(k)?, values(v)?)
            } else if let Some((k, v)) = part.split_once(" in ") {
                Req::In(key(k)?, values(v)?)
            } else {
                Req::Exists(key(part)?)
            };
            reqs.push(req);
        }
        Ok(LabelSelector(reqs))
    }

    /// A selector from a `matchLabels` map.
    pub fn from_match_labels(labels: &serde_json::Map<String, Value>) -> LabelSelector {
        LabelSelector(
            labels
                .iter()
                .map(|(k, v)| Req::Eq(k.clone(), v.as_str().unwrap_or_default().to_string()))
                .collect(),
        )
    }

    /// Whether an object's labels satisfy every requirement.
    pub fn matches(&self, obj: &Value) -> bool {
        self.matches_labels(obj.pointer("/metadata/labels").and_then(Value::as_object))
    }

    /// Whether a label map satisfies every requirement.
    pub fn matches_labels(&self, labels: Option<&serde_json::Map<String, Value>>) -> bool {
        let get = |k: &str| labels.and_then(|l| l.get(k)).and_then(Value::as_str);
        self.0.iter().all(|r| match r {
            Req::Eq(k, v) => get(k) == Some(v.as_str()),
            Req::NotEq(k, v) => get(k) != Some(v.as_str()),
            Req::In(k, vs) => get(k).is_some_and(|x| vs.iter().any(|v| v == x)),
            Req::NotIn(k, vs) => !get(k).is_some_and(|x| vs.iter().any(|v| v == x)),
            Req::Exists(k) => get(k).is_some(),
            Req::NotExists(k) => get(k).is_none(),
        })
    }
}

/// A parsed field selector over `metadata.name` and `metadata.namespace`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FieldSelector(Vec<(String, bool, String)>);

/// Fields of objects a real server lets Events and Pods be selected by (besides
/// `metadata.name` and `metadata.namespace`, which every kind has).
const OBJECT_FIELDS: &[&str] = &[
    "involvedObject.kind",
    "involvedObject.namespace",
    "involvedObject.name",
    "involvedObject.uid",
    "involvedObject.apiVersion",
    "involvedObject.resourceVersion",
    "involvedObject.fieldPath",
    "regarding.kind",
    "regarding.namespace",
    "regarding.name",
    "regarding.uid",
    "regarding.apiVersion",
    "reason",
    "type",
    "reportingComponent",
    "reportingController",
    "spec.nodeName",
    "spec.restartPolicy",
    "spec.schedulerName",
    "spec.serviceAccountName",
    "status.phase",
    "status.podIP",
];

impl FieldSelector {
    /// Parses the `fieldSelector` query parameter.
    pub fn parse(s: &str) -> Result<FieldSelector, String> {
        let mut out = Vec::new();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (field, eq, v) = if let Some((f, v)) = part.split_once("!=") {
                (f, false, v)
            } else if let Some((f, v)) = part.split_once("==") {
                (f, true, v)
            } else if let Some((f, v)) = part.split_once('=') {
                (f, true, v)
            } else {
                return Err(format!("invalid selector: '{part}'; can't understand '{part}'"));
            };
            let field = field.trim();
            if field != "metadata.name" && field != "metadata.namespace" && !OBJECT_FIELDS.contains(&field) {
                return Err(format!(
                    "\"{field}\" is not a known field selector: only \"metadata.name\", \"metadata.namespace\""
                ));
            }
            out.push((field.to_string(), eq, v.trim().to_string()));
        }
        Ok(FieldSelector(out))
    }

    /// Whether an object at (namespace, name) satisfies the metadata part of the
    /// selector (fields of the object itself are checked by [`FieldSelector::matches`]).
    pub fn matches_key(&self, ns: &str, name: &str) -> bool {
        self.0.iter().all(|(field, eq, want)| match field.as_str() {
            "metadata.name" => (name == want) == *eq,
            "metadata.namespace" => (ns == want) == *eq,
            _ => true,
        })
    }

    /// Whether the selector names fields beyond the object's key.
    pub fn needs_object(&self) -> bool {
        self.0
            .iter()
            .any(|(f, _, _)| f != "metadata.name" && f != "metadata.namespace")
    }

    /// Whether an object satisfies the selector.
    pub fn matches(&self, obj: &Value) -> bool {
        self.0.iter().all(|(field, eq, want)| {
            let ptr = format!("/{}", field.replace('.', "/"));
            let got = match obj.pointer(&ptr) {
                Some(Value::String(s)) => s.clone(),
                Some(Value::Null) | None => String::new(),
                Some(other) => other.to_string(),
            };
            (got == *want) == *eq
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(labels: Value) -> Value {
        json!({"metadata": {"name": "x", "labels": labels}})
    }

    #[test]
    fn every_operator_matches_like_kubernetes() {
        let a = obj(json!({"tier": "web", "env": "prod"}));
        let c = obj(json!({"tier": "cache"}));
        let cases = [
            ("tier=web", true, false),
            ("tier==web", true, false),
            ("tier!=web", false, true),
            ("tier in (web,db)", true, false),
            ("tier notin (web,db)", false, true),
            ("env", true, false),
            ("!env", false, true),
            ("env=prod,tier!=db", true, false),
        ];
        for (sel, want_a, want_c) in cases {
            let s = LabelSelector::parse(sel).unwrap();
            assert_eq!((s.matches(&a), s.matches(&c)), (want_a, want_c), "{sel}");
        }
    }

    #[test]
    fn malformed_selectors_are_rejected() {
        assert!(LabelSelector::parse("team===blue,!").is_err());
        assert!(LabelSelector::parse("a in b").is_err());
    }

    #[test]
    fn field_selector_on_name() {
        let f = FieldSelector::parse("metadata.name=x").unwrap();
        assert!(f.matches(&obj(json!({}))));
        assert!(FieldSelector::parse("spec.x=1").is_err());
    }
}
