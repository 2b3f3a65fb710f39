//! Create (POST): server-set metadata, defaults, validation, the creator's
//! managedFields entry.

use serde_json::{json, Value};

use super::cluster::{ApiResult, Cluster, Target, WriteOptions};
use crate::defaults::{apply_defaults, drop_unknown_fields};
use crate::fields::{write_managed, FieldSet, ManagedEntry};
use crate::merge::json_merge;
use crate::meta::{meta_str, now_rfc3339, reorder};
use crate::resources::{Generation, ResourceType};
use crate::status::ApiError;
use crate::store::Inner;
use crate::typecheck;
use crate::validation::validate_object;

impl Cluster {
    /// POST.
    pub fn create(&self, t: &Target, mut body: Value, opts: &WriteOptions) -> ApiResult<Value> {
        if !body.is_object() {
            return Err(ApiError::bad_request("the object provided is not a JSON object"));
        }
        self.check_kind(t, &body)?;
        typecheck::check_object(&t.rt, &body)?;
        crate::lease::check_times(&t.rt, &body)?;
        if let Some(ns) = body.pointer("/metadata/namespace").and_then(Value::as_str) {
            if t.rt.namespaced && !ns.is_empty() && ns != t.ns() {
                return Err(ApiError::bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request",
                ));
            }
        }
        if body.get("metadata").is_none_or(|m| !m.is_object()) {
            body["metadata"] = json!({});
        }
        let mut name = meta_str(&body, "name").to_string();
        if name.is_empty() {
            let gen = meta_str(&body, "generateName").to_string();
            if !gen.is_empty() {
                name = format!("{gen}{}", random_suffix());
                body["metadata"]["name"] = json!(name);
            }
        }
        let mut inner = self.lock();
        if name.is_empty() {
            let mut causes = validate_object(&t.rt, &body, None);
            causes.retain(|c| c.field == "metadata.name" || !c.field.starts_with("metadata"));
            return Err(ApiError::invalid(&t.rt, "", causes));
        }
        self.check_namespace(&inner, t, &name)?;
        if inner.contains(&t.rt.key(), t.ns(), &name) {
            return Err(ApiError::already_exists(&t.rt, &name));
        }
        let obj = self.prepare_create(&mut inner, t, body, &name)?;
        // The status a create starts with is the server's, not the creator's.
        let mut owned_view = obj.clone();
        if t.rt.status_subresource {
            if let Some(m) = owned_view.as_object_mut() {
                m.remove("status");
            }
        }
        let fields = FieldSet::of_changes(None, &owned_view, t.rt.is_custom());
        let entry = ManagedEntry {
            manager: opts.manager.clone(),
            operation: "Update".into(),
            api_version: t.rt.api_version(),
            time: now_rfc3339(),
            subresource: None,
            fields,
        };
        self.finish_create(&mut inner, t, obj, vec![entry], opts.dry_run)
    }

    pub(super) fn check_kind(&self, t: &Target, body: &Value) -> ApiResult<()> {
        let kind = body.get("kind").and_then(Value::as_str).unwrap_or_default();
        let av = body.get("apiVersion").and_then(Value::as_str).unwrap_or_default();
        if (!kind.is_empty() && kind != t.rt.kind) || (!av.is_empty() && av != t.rt.api_version()) {
            return Err(ApiError::bad_request(format!(
                "the API version in the data ({av}) does not match the expected API version ({})",
                t.rt.api_version()
            )));
        }
        Ok(())
    }

    /// Builds a new object: server metadata, unknown fields dropped, defaults, validation.
    pub(super) fn prepare_create(&self, inner: &mut Inner, t: &Target, mut obj: Value, name: &str) -> ApiResult<Value> {
        obj["apiVersion"] = json!(t.rt.api_version());
        obj["kind"] = json!(t.rt.kind);
        drop_unknown_fields(&t.rt, &mut obj);
        {
            let m = obj["metadata"].as_object_mut().expect("metadata is an object");
            m.insert("name".into(), json!(name));
            if t.rt.namespaced {
                m.insert("namespace".into(), json!(t.ns()));
            } else {
                m.remove("namespace");
            }
            for k in [
                "resourceVersion",
                "deletionTimestamp",
                "deletionGracePeriodSeconds",
                "managedFields",
                "generation",
            ] {
                m.remove(k);
            }
            m.insert("uid".into(), json!(uuid::Uuid::new_v4().to_string()));
            m.insert("creationTimestamp".into(), json!(now_rfc3339()));
            if t.rt.generation != Generation::None {
                m.insert("generation".into(), json!(1));
            }
        }
        if t.rt.status_subresource {
            if let Some(m) = obj.as_object_mut() {
                m.remove("status");
            }
        }
        server_set_on_create(&t.rt, &mut obj);
        apply_defaults(&t.rt, &mut obj, &mut || inner.allocate_ip());
        let causes = validate_object(&t.rt, &obj, None);
        if !causes.is_empty() {
            return Err(ApiError::invalid(&t.rt, name, causes));
        }
        Ok(reorder(obj))
    }

    pub(super) fn finish_create(
        &self,
        inner: &mut Inner,
        t: &Target,
        mut obj: Value,
        managed: Vec<ManagedEntry>,
        dry_run: bool,
    ) -> ApiResult<Value> {
        write_managed(&mut obj, &managed);
        if dry_run {
            return Ok(obj);
        }
        let stored = inner.put(&t.rt.key(), obj, None);
        self.after_write(inner, t, &stored, true, false);
        Ok((*stored).clone())
    }
}

/// What the real server's create strategies add: a Job's generated selector and
/// labels, a DaemonSet's template-generation annotation.
fn server_set_on_create(rt: &ResourceType, obj: &mut Value) {
    match (rt.group.as_str(), rt.plural.as_str()) {
        ("batch", "jobs") => {
            let manual = obj.pointer("/spec/manualSelector") == Some(&json!(true));
            if manual || obj.pointer("/spec/selector").is_some() {
                return;
            }
            let uid = meta_str(obj, "uid").to_string();
            let name = meta_str(obj, "name").to_string();
            let generated = json!({"controller-uid": uid, "job-name": name});
            obj["spec"]["selector"] = json!({"matchLabels": {"controller-uid": uid}});
            let labels = &mut obj["spec"]["template"]["metadata"]["labels"];
            if !labels.is_object() {
                *labels = json!({});
            }
            json_merge(labels, &generated);
            if obj
                .pointer("/metadata/labels")
                .and_then(Value::as_object)
                .is_none_or(|l| l.is_empty())
            {
                obj["metadata"]["labels"] = generated;
            }
        }
        ("apps", "daemonsets") => {
            obj["metadata"]["annotations"]["deprecated.daemonset.template.generation"] = json!("1");
        }
        _ => {}
    }
}

fn random_suffix() -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut rng = rand::thread_rng();
    (0..5)
        .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
        .collect()
}
