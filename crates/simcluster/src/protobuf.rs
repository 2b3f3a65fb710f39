//! Decodes the Kubernetes protobuf bodies that kubectl's generators send
//! (`kubectl create configmap|secret|namespace|deployment|service|job|cronjob|
//! serviceaccount|role|rolebinding|clusterrole|clusterrolebinding`)
//! into the JSON object the same command would send as JSON.
//!
//! ```text
//!  "k8s\0" ─ runtime.Unknown { 1 typeMeta { 1 apiVersion, 2 kind }, 2 raw, 3 contentEncoding, 4 contentType }
//!                                                                    └ the object, e.g. ConfigMap { 1 metadata, 2 data, ... }
//! ```
//!
//! Field numbers and types come from the table in `schema`; fields outside it
//! are skipped. Go's protobuf encoder writes every non-pointer field, zero or
//! not, so zero values of non-pointer fields are left out, as the JSON encoder's
//! `omitempty` does; pointer fields keep their zeros (`replicas: 0`).

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::{json, Map, Value};

use crate::schema::{self, Field, Struct, Ty};

/// The prefix of every Kubernetes protobuf body.
const MAGIC: &[u8] = b"k8s\0";

/// Why a protobuf body could not be decoded.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum DecodeError {
    /// The body does not start with `k8s\0`.
    #[error("the body does not start with the Kubernetes protobuf prefix \"k8s\\x00\"")]
    NoMagic,
    /// The wire data ends early or is malformed.
    #[error("malformed protobuf at byte {offset}: {what}")]
    Malformed {
        /// Offset in the message being read.
        offset: usize,
        /// What was expected there.
        what: &'static str,
    },
    /// A kind the simulator has no protobuf table for.
    #[error("the simulated cluster does not decode protobuf for {api_version} {kind}; send it as JSON")]
    UnknownKind {
        /// `apiVersion` from the body.
        api_version: String,
        /// `kind` from the body.
        kind: String,
    },
    /// A field arrived with a wire type its Go type cannot have.
    #[error("protobuf field {field:?} has wire type {wire}, which its type cannot have")]
    WireType {
        /// JSON name of the field.
        field: &'static str,
        /// The wire type that arrived (0 varint, 1 fixed64, 2 length-delimited, 5 fixed32).
        wire: u8,
    },
    /// The envelope names a content encoding (such as gzip) the simulator does not read.
    #[error("unsupported protobuf content encoding {0:?}")]
    Encoding(String),
}

/// One field as read off the wire.
enum Wire<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
    Fixed(u8),
}

impl Wire<'_> {
    fn number(&self) -> u8 {
        match self {
            Wire::Varint(_) => 0,
            Wire::Bytes(_) => 2,
            Wire::Fixed(n) => *n,
        }
    }
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn malformed(&self, what: &'static str) -> DecodeError {
        DecodeError::Malformed { offset: self.pos, what }
    }

    fn varint(&mut self) -> Result<u64, DecodeError> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = *self.buf.get(self.pos).ok_or_else(|| self.malformed("a varint"))?;
            self.pos += 1;
            v |= u64::from(b & 0x7f) << shift;
            if b < 0x80 {
                return Ok(v);
            }
        }
        Err(self.malformed("a varint of at most 10 bytes"))
    }

    fn skip(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], DecodeError> {
        let end = self.pos.checked_add(n).filter(|e| *e <= self.buf.len());
        let end = end.ok_or_else(|| self.malformed(what))?;
        let s = &self.buf[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    /// The next (field number, value), or None at the end.
    fn next(&mut self) -> Result<Option<(u32, Wire<'a>)>, DecodeError> {
        if self.pos >= self.buf.len() {
            return Ok(None);
        }
        let key = self.varint()?;
        let number = u32::try_from(key >> 3).map_err(|_| self.malformed("a field number"))?;
        let wire = match key & 7 {
            0 => Wire::Varint(self.varint()?),
            1 => {
                self.skip(8, "8 bytes of a fixed64")?;
                Wire::Fixed(1)
            }
            2 => {
                let len = usize::try_from(self.varint()?).map_err(|_| self.malformed("a length"))?;
                Wire::Bytes(self.skip(len, "as many bytes as the length says")?)
            }
            5 => {
                self.skip(4, "4 bytes of a fixed32")?;
                Wire::Fixed(5)
            }
            _ => return Err(self.malformed("a supported wire type")),
        };
        Ok(Some((number, wire)))
    }
}

fn fields(buf: &[u8]) -> Result<Vec<(u32, Wire<'_>)>, DecodeError> {
    let mut r = Reader { buf, pos: 0 };
    let mut out = Vec::new();
    while let Some(f) = r.next()? {
        out.push(f);
    }
    Ok(out)
}

fn text(b: &[u8]) -> Result<String, DecodeError> {
    String::from_utf8(b.to_vec()).map_err(|e| DecodeError::Malformed {
        offset: e.utf8_error().valid_up_to(),
        what: "UTF-8 text",
    })
}

fn wrong_wire(field: &Field, w: &Wire<'_>) -> DecodeError {
    DecodeError::WireType {
        field: field.json,
        wire: w.number(),
    }
}

/// One value of `field` whose type is `ty` (the element or value type for lists and maps).
fn scalar(field: &Field, ty: &Ty, w: &Wire<'_>) -> Result<Value, DecodeError> {
    Ok(match (ty, w) {
        (Ty::Str | Ty::Named(_), Wire::Bytes(b)) => json!(text(b)?),
        // Two's complement: negative int32/int64 values arrive as 10-byte varints.
        (Ty::Int32 | Ty::Int64, Wire::Varint(v)) => json!(*v as i64),
        (Ty::Bool, Wire::Varint(v)) => json!(*v != 0),
        (Ty::Bytes, Wire::Bytes(b)) => json!(STANDARD.encode(b)),
        (Ty::Quantity, Wire::Bytes(b)) => {
            let mut s = String::new();
            for (n, w) in fields(b)? {
                if let (1, Wire::Bytes(t)) = (n, w) {
                    s = text(t)?;
                }
            }
            json!(s)
        }
        (Ty::IntOrString, Wire::Bytes(b)) => {
            let (mut is_string, mut int, mut string) = (false, 0i64, String::new());
            for (n, w) in fields(b)? {
                match (n, w) {
                    (1, Wire::Varint(t)) => is_string = t == 1,
                    (2, Wire::Varint(i)) => int = i as i64,
                    (3, Wire::Bytes(s)) => string = text(s)?,
                    _ => {}
                }
            }
            if is_string {
                json!(string)
            } else {
                json!(int)
            }
        }
        (Ty::Time, Wire::Bytes(b)) => {
            let mut seconds = 0i64;
            for (n, w) in fields(b)? {
                if let (1, Wire::Varint(s)) = (n, w) {
                    seconds = s as i64;
                }
            }
            match chrono::DateTime::from_timestamp(seconds, 0) {
                Some(t) if seconds != 0 => json!(t.format("%Y-%m-%dT%H:%M:%SZ").to_string()),
                _ => Value::Null,
            }
        }
        (Ty::Struct(s), Wire::Bytes(b)) => Value::Object(message(s, b)?),
        _ => return Err(wrong_wire(field, w)),
    })
}

/// Whether the JSON encoder would leave the value out (`omitempty`).
fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_i64() == Some(0),
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
    }
}

fn message(s: &Struct, buf: &[u8]) -> Result<Map<String, Value>, DecodeError> {
    let mut values: Vec<Option<Value>> = s.fields.iter().map(|_| None).collect();
    for (number, w) in fields(buf)? {
        let Some(i) = s.fields.iter().position(|f| f.pb == number) else {
            continue;
        };
        let field: &Field = &s.fields[i];
        match &field.ty {
            Ty::List(t) => {
                let item = scalar(field, t, &w)?;
                if let Value::Array(a) = values[i].get_or_insert_with(|| json!([])) {
                    a.push(item);
                }
            }
            Ty::Map(t) => {
                // A map entry is a message { 1 key, 2 value }.
                let Wire::Bytes(entry) = w else {
                    return Err(wrong_wire(field, &w));
                };
                let (mut key, mut value) = (String::new(), None);
                for (n, ew) in fields(entry)? {
                    match (n, &ew) {
                        (1, Wire::Bytes(k)) => key = text(k)?,
                        (2, _) => value = Some(scalar(field, t, &ew)?),
                        _ => {}
                    }
                }
                // An entry without a value holds the zero value of the value type.
                let value = value.unwrap_or_else(|| match t {
                    Ty::Int32 | Ty::Int64 => json!(0),
                    Ty::Bool => json!(false),
                    _ => json!(""),
                });
                if let Value::Object(m) = values[i].get_or_insert_with(|| json!({})) {
                    m.insert(key, value);
                }
            }
            ty => values[i] = Some(scalar(field, ty, &w)?),
        }
    }
    let mut out = Map::new();
    for (field, v) in s.fields.iter().zip(values) {
        match v {
            // Map and list entries are kept as sent, even empty strings.
            Some(v) if matches!(field.ty, Ty::Map(_) | Ty::List(_)) && !is_empty(&v) => {
                out.insert(field.json.into(), v);
            }
            Some(v) if field.pointer && !v.is_null() => {
                out.insert(field.json.into(), v);
            }
            Some(v) if !is_empty(&v) => {
                out.insert(field.json.into(), v);
            }
            _ => {}
        }
    }
    Ok(out)
}

/// Decodes a `application/vnd.kubernetes.protobuf` body into the object as JSON,
/// `apiVersion` and `kind` first.
pub fn decode(body: &[u8]) -> Result<Value, DecodeError> {
    let envelope = body.strip_prefix(MAGIC).ok_or(DecodeError::NoMagic)?;
    let (mut api_version, mut kind, mut raw, mut encoding) = (String::new(), String::new(), &[][..], String::new());
    for (n, w) in fields(envelope)? {
        match (n, w) {
            (1, Wire::Bytes(tm)) => {
                for (tn, tw) in fields(tm)? {
                    match (tn, tw) {
                        (1, Wire::Bytes(v)) => api_version = text(v)?,
                        (2, Wire::Bytes(k)) => kind = text(k)?,
                        _ => {}
                    }
                }
            }
            (2, Wire::Bytes(r)) => raw = r,
            (3, Wire::Bytes(e)) => encoding = text(e)?,
            _ => {}
        }
    }
    if !encoding.is_empty() {
        return Err(DecodeError::Encoding(encoding));
    }
    let group = api_version.rsplit_once('/').map_or("", |(g, _)| g);
    let Some(table) = schema::of(group, &kind) else {
        return Err(DecodeError::UnknownKind { api_version, kind });
    };
    let fields = message(table, raw)?;
    let mut obj = Map::new();
    obj.insert("apiVersion".into(), json!(api_version));
    obj.insert("kind".into(), json!(kind));
    obj.extend(fields);
    Ok(Value::Object(obj))
}

#[cfg(test)]
mod tests {
    use super::*;

    // Bodies captured from kubectl v1.32 (`kubectl create ... -v=8` shows them).
    const CONFIGMAP: &[u8] = include_bytes!("../testdata/kubectl-create-configmap.pb");
    const SECRET: &[u8] = include_bytes!("../testdata/kubectl-create-secret-generic.pb");
    const NAMESPACE: &[u8] = include_bytes!("../testdata/kubectl-create-namespace.pb");
    const DEPLOYMENT: &[u8] = include_bytes!("../testdata/kubectl-create-deployment.pb");
    const SERVICE: &[u8] = include_bytes!("../testdata/kubectl-create-service-clusterip.pb");
    const ROLE: &[u8] = include_bytes!("../testdata/kubectl-create-role.pb");
    const ROLE_BINDING: &[u8] = include_bytes!("../testdata/kubectl-create-rolebinding.pb");

    #[test]
    fn kubectl_create_configmap_decodes_to_its_json() {
        assert_eq!(
            decode(CONFIGMAP).unwrap(),
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c1"}, "data": {"k": "v"}})
        );
    }

    #[test]
    fn secret_bytes_become_base64_and_namespaces_keep_no_empty_fields() {
        assert_eq!(
            decode(SECRET).unwrap(),
            json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s1"}, "data": {"pw": "aHVudGVyMg=="}})
        );
        assert_eq!(
            decode(NAMESPACE).unwrap(),
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team-a"}})
        );
    }

    #[test]
    fn a_deployment_keeps_an_explicit_zero_replicas_its_command_and_ports() {
        // kubectl create deployment web2 --image=nginx:1.25 --port=8080 --replicas=0 -- sh -c 'echo hi'
        let d = decode(DEPLOYMENT).unwrap();
        assert_eq!(d["apiVersion"], "apps/v1");
        assert_eq!(d["metadata"], json!({"name": "web2", "labels": {"app": "web2"}}));
        assert_eq!(d["spec"]["replicas"], 0);
        assert_eq!(d["spec"]["selector"], json!({"matchLabels": {"app": "web2"}}));
        assert_eq!(
            d["spec"]["template"]["spec"]["containers"],
            json!([{"name": "nginx", "image": "nginx:1.25", "command": ["sh", "-c", "echo hi"], "ports": [{"containerPort": 8080}]}])
        );
        assert!(d.get("status").is_none(), "status is not decoded: {d}");
    }

    #[test]
    fn int_or_string_ports_decode_as_integers() {
        let s = decode(SERVICE).unwrap();
        assert_eq!(
            s["spec"],
            json!({"ports": [{"name": "80-8080", "protocol": "TCP", "port": 80, "targetPort": 8080}],
                   "selector": {"app": "svc1"}, "type": "ClusterIP"})
        );
    }

    #[test]
    fn rbac_rules_keep_the_empty_core_group_and_bindings_their_subjects() {
        // kubectl create role r1 --verb=get,list --resource=pods,deployments.apps --resource-name=x
        assert_eq!(
            decode(ROLE).unwrap()["rules"],
            json!([{"verbs": ["get", "list"], "apiGroups": [""], "resources": ["pods"], "resourceNames": ["x"]},
                   {"verbs": ["get", "list"], "apiGroups": ["apps"], "resources": ["deployments"], "resourceNames": ["x"]}])
        );
        // kubectl create rolebinding rb1 --role=r1 --serviceaccount=default:sa1 --user=alice
        let rb = decode(ROLE_BINDING).unwrap();
        assert_eq!(
            rb["subjects"],
            json!([{"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": "alice"},
                   {"kind": "ServiceAccount", "name": "sa1", "namespace": "default"}])
        );
        assert_eq!(
            rb["roleRef"],
            json!({"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "r1"})
        );
    }

    #[test]
    fn truncated_bodies_unknown_kinds_and_json_are_errors() {
        assert!(matches!(
            decode(&CONFIGMAP[..CONFIGMAP.len() - 10]),
            Err(DecodeError::Malformed { .. })
        ));
        assert_eq!(decode(b"{\"kind\":\"ConfigMap\"}"), Err(DecodeError::NoMagic));
        // ConfigMap { metadata = varint 1 }: metadata is a message, not a number.
        let mut wrong = b"k8s\0\x0a\x0f\x0a\x02v1\x12\x09ConfigMap\x12\x02".to_vec();
        wrong.extend_from_slice(b"\x08\x01");
        assert_eq!(
            decode(&wrong),
            Err(DecodeError::WireType {
                field: "metadata",
                wire: 0
            })
        );
        // runtime.Unknown { typeMeta { apiVersion "v1", kind "Endpoints" } }
        let mut ep = b"k8s\0\x0a\x0f\x0a\x02v1\x12\x09Endpoints".to_vec();
        ep.extend_from_slice(b"\x12\x00");
        assert_eq!(
            decode(&ep),
            Err(DecodeError::UnknownKind {
                api_version: "v1".into(),
                kind: "Endpoints".into()
            })
        );
    }
}
