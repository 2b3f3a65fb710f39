//! Updates: replace (PUT), merge, strategic merge and JSON patch, and the
//! shared update pipeline every write goes through (server-owned metadata,
//! status subresource, generation, managedFields, no-op detection), including
//! the simulated controllers' writes.

use std::sync::Arc;

use serde_json::{json, Value};

use super::body::parse_body;
use super::cluster::{ApiResult, Cluster, PatchType, Target, WriteOptions, CONTROLLER_MANAGER};
use crate::defaults::{apply_defaults, drop_unknown_fields};
use crate::fields::{read_managed, value_at, write_managed, FieldSet, ManagedEntry};
use crate::merge::{json_merge, strategic_merge};
use crate::meta::{has_finalizers, meta_str, now_rfc3339, reorder};
use crate::resources::{Generation, ResourceType};
use crate::status::ApiError;
use crate::store::Inner;
use crate::typecheck;
use crate::validation::validate_object;

/// Which part of an object a write may change.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Scope {
    Main,
    Status,
    Controller,
}

/// The part of an object whose change bumps generation.
fn generation_view(rt: &ResourceType, obj: &Value) -> Value {
    let mut v = obj.clone();
    if let Some(m) = v.as_object_mut() {
        let ann = m.get("metadata").and_then(|md| md.get("annotations")).cloned();
        m.remove("metadata");
        m.remove("apiVersion");
        m.remove("kind");
        if rt.status_subresource || !rt.is_custom() {
            m.remove("status");
        }
        if rt.generation == Generation::SpecAndAnnotations {
            if let Some(mut a) = ann {
                if let Some(am) = a.as_object_mut() {
                    am.remove("deployment.kubernetes.io/revision");
                }
                if a.as_object().is_some_and(|am| !am.is_empty()) {
                    m.insert("__annotations".into(), a);
                }
            }
        }
    }
    v
}

/// The object with resourceVersion and managedFields times blanked, for no-op detection.
fn comparable(obj: &Value) -> Value {
    let mut v = obj.clone();
    if let Some(m) = v.get_mut("metadata").and_then(Value::as_object_mut) {
        m.remove("resourceVersion");
        if let Some(Value::Array(mf)) = m.get_mut("managedFields") {
            for e in mf.iter_mut().filter_map(Value::as_object_mut) {
                e.remove("time");
            }
        }
    }
    v
}

impl Cluster {
    /// PUT (main resource or status).
    pub fn replace(&self, t: &Target, body: Value, opts: &WriteOptions) -> ApiResult<Value> {
        if !body.is_object() {
            return Err(ApiError::bad_request("the object provided is not a JSON object"));
        }
        self.check_kind(t, &body)?;
        typecheck::check_object(&t.rt, &body)?;
        let body_name = meta_str(&body, "name");
        if !body_name.is_empty() && body_name != t.name() {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({body_name}) does not match the name on the URL ({})",
                t.name()
            )));
        }
        let mut inner = self.lock();
        let old = inner
            .get(&t.rt.key(), t.ns(), t.name())
            .ok_or_else(|| ApiError::not_found(&t.rt, t.name()))?;
        let rv = meta_str(&body, "resourceVersion");
        if !rv.is_empty() && rv != meta_str(&old, "resourceVersion") {
            return Err(ApiError::stale(&t.rt, t.name()));
        }
        let scope = if t.is_status() { Scope::Status } else { Scope::Main };
        self.update(&mut inner, t, &old, body, &opts.manager, scope, opts.dry_run)
    }

    /// PATCH of any type.
    pub fn patch(&self, t: &Target, ty: PatchType, body: &[u8], opts: &WriteOptions) -> ApiResult<(u16, Value)> {
        if ty == PatchType::Apply {
            return self.apply(t, body, opts);
        }
        let patch = parse_body(body, false)?;
        let mut inner = self.lock();
        let old = inner
            .get(&t.rt.key(), t.ns(), t.name())
            .ok_or_else(|| ApiError::not_found(&t.rt, t.name()))?;
        let mut new = (*old).clone();
        match ty {
            PatchType::Merge => json_merge(&mut new, &patch),
            PatchType::Strategic => strategic_merge(&mut new, &patch, &mut Vec::new(), t.rt.is_custom()),
            PatchType::Json => {
                let ops: json_patch::Patch = serde_json::from_value(patch)
                    .map_err(|e| ApiError::bad_request(format!("json patch is invalid: {e}")))?;
                json_patch::patch(&mut new, &ops).map_err(|_| ApiError::invalid_request())?;
            }
            PatchType::Apply => unreachable!("apply is handled above"),
        }
        typecheck::check_patched(&t.rt, &new)?;
        if meta_str(&new, "name") != t.name() {
            return Err(ApiError::bad_request(
                "metadata.name: the name may not be changed by a patch",
            ));
        }
        let rv = meta_str(&new, "resourceVersion");
        if !rv.is_empty() && rv != meta_str(&old, "resourceVersion") {
            return Err(ApiError::stale(&t.rt, t.name()));
        }
        let scope = if t.is_status() { Scope::Status } else { Scope::Main };
        let obj = self.update(&mut inner, t, &old, new, &opts.manager, scope, opts.dry_run)?;
        Ok((200, obj))
    }

    /// A non-apply update by `manager`: it takes over the fields it changed.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn update(
        &self,
        inner: &mut Inner,
        t: &Target,
        old: &Arc<Value>,
        new: Value,
        manager: &str,
        scope: Scope,
        dry_run: bool,
    ) -> ApiResult<Value> {
        let subresource = if scope == Scope::Main {
            None
        } else {
            Some("status".to_string())
        };
        let acting = (manager.to_string(), "Update".to_string(), subresource);
        self.update_inner(inner, t, old, new, scope, None, &acting, dry_run)
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn update_with(
        &self,
        inner: &mut Inner,
        t: &Target,
        old: &Arc<Value>,
        new: Value,
        scope: Scope,
        entries: Vec<ManagedEntry>,
        acting: &(String, String, Option<String>),
        dry_run: bool,
    ) -> ApiResult<Value> {
        self.update_inner(inner, t, old, new, scope, Some(entries), acting, dry_run)
    }

    /// The shared update pipeline. With `entries` (apply) ownership is already
    /// decided; without, the acting Update manager takes the changed fields.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn update_inner(
        &self,
        inner: &mut Inner,
        t: &Target,
        old: &Arc<Value>,
        new: Value,
        scope: Scope,
        entries: Option<Vec<ManagedEntry>>,
        acting: &(String, String, Option<String>),
        dry_run: bool,
    ) -> ApiResult<Value> {
        let rt = &t.rt;
        let mut obj = match scope {
            Scope::Status => {
                let mut o = (**old).clone();
                match new.get("status") {
                    Some(s) => o["status"] = s.clone(),
                    None => {
                        if let Some(m) = o.as_object_mut() {
                            m.remove("status");
                        }
                    }
                }
                o
            }
            Scope::Main | Scope::Controller => new,
        };
        // Server-owned metadata always comes from the stored object.
        if !obj.get("metadata").is_some_and(Value::is_object) {
            obj["metadata"] = json!({});
        }
        for k in [
            "name",
            "namespace",
            "uid",
            "creationTimestamp",
            "generation",
            "deletionTimestamp",
            "resourceVersion",
            "managedFields",
        ] {
            match old.pointer(&format!("/metadata/{k}")) {
                Some(v) => obj["metadata"][k] = v.clone(),
                None => {
                    if let Some(m) = obj["metadata"].as_object_mut() {
                        m.remove(k);
                    }
                }
            }
        }
        obj["apiVersion"] = json!(rt.api_version());
        obj["kind"] = json!(rt.kind);
        if scope == Scope::Main && rt.status_subresource {
            match old.get("status") {
                Some(s) => obj["status"] = s.clone(),
                None => {
                    if let Some(m) = obj.as_object_mut() {
                        m.remove("status");
                    }
                }
            }
        }
        if scope != Scope::Controller {
            drop_unknown_fields(rt, &mut obj);
            apply_defaults(rt, &mut obj, &mut || inner.allocate_ip());
            let causes = validate_object(rt, &obj, Some(old));
            if !causes.is_empty() {
                return Err(ApiError::invalid(rt, t.name(), causes));
            }
        }
        let custom = rt.is_custom();
        let mut entries = match entries {
            Some(e) => e,
            None => {
                let mut e = read_managed(old);
                let changes = FieldSet::of_changes(Some(old), &obj, custom);
                if !changes.is_empty() {
                    for other in e.iter_mut() {
                        other.fields.remove_all(&changes);
                    }
                    let (m, op, sub) = acting;
                    match e.iter_mut().find(|x| x.is(m, op, sub.as_deref())) {
                        Some(x) => x.fields.0.extend(changes.0),
                        None => e.push(ManagedEntry {
                            manager: m.clone(),
                            operation: op.clone(),
                            api_version: rt.api_version(),
                            time: now_rfc3339(),
                            subresource: sub.clone(),
                            fields: changes,
                        }),
                    }
                }
                e
            }
        };
        for e in entries.iter_mut() {
            e.fields
                .0
                .retain(|p| p.first().map(String::as_str) == Some("f:stringData") || value_at(&obj, p).is_some());
        }
        if rt.generation != Generation::None && generation_view(rt, old) != generation_view(rt, &obj) {
            let g = old.pointer("/metadata/generation").and_then(Value::as_i64).unwrap_or(0);
            obj["metadata"]["generation"] = json!(g + 1);
        }
        write_managed(&mut obj, &entries);
        let obj = reorder(obj);
        if comparable(&obj) == comparable(old) {
            return Ok((**old).clone());
        }
        // Something changed: the acting manager's entry gets the current time.
        let (m, op, sub) = acting;
        let now = now_rfc3339();
        for e in entries.iter_mut() {
            if e.is(m, op, sub.as_deref()) {
                e.time = now.clone();
            }
        }
        let mut obj = obj;
        write_managed(&mut obj, &entries);
        if dry_run {
            return Ok(obj);
        }
        if obj.pointer("/metadata/deletionTimestamp").is_some() && !has_finalizers(&obj) {
            let gone = inner.remove(&rt.key(), t.ns(), t.name());
            self.after_remove(inner, t, &obj);
            return Ok(gone.map(|g| (*g).clone()).unwrap_or(obj));
        }
        let stored = inner.put(&rt.key(), obj, Some(old.clone()));
        self.after_write(inner, t, &stored, false, scope == Scope::Controller);
        Ok((*stored).clone())
    }

    /// Writes done by the simulated controllers: `change` edits a copy of the
    /// object; ownership goes to `kube-controller-manager` (status subresource).
    pub fn controller_write(&self, resource: &str, ns: &str, name: &str, change: impl FnOnce(&mut Value)) {
        self.controller_write_as(CONTROLLER_MANAGER, resource, ns, name, change)
    }

    /// [`Cluster::controller_write`] with another manager name (the CRD controller runs in the API server).
    pub fn controller_write_as(
        &self,
        manager: &str,
        resource: &str,
        ns: &str,
        name: &str,
        change: impl FnOnce(&mut Value),
    ) {
        let mut inner = self.lock();
        let Some(old) = inner.get(resource, ns, name) else {
            return;
        };
        let Some(rt) = inner.registry.all().find(|r| r.key() == resource).cloned() else {
            return;
        };
        let mut new = (*old).clone();
        change(&mut new);
        if new == *old {
            return;
        }
        let t = Target {
            rt,
            namespace: Some(ns.to_string()).filter(|s| !s.is_empty()),
            name: Some(name.to_string()),
            subresource: Some("status".into()),
        };
        let acting = (manager.to_string(), "Update".to_string(), Some("status".to_string()));
        // Controller writes are well-formed by construction; a failure would only mean the object vanished.
        let _ = self.update_inner(&mut inner, &t, &old, new, Scope::Controller, None, &acting, false);
    }

    /// Creates or replaces an object owned by a controller (ReplicaSets).
    pub fn controller_put(&self, resource: &str, obj: Value) {
        let mut inner = self.lock();
        let (ns, name) = crate::store::object_key(&obj);
        let old = inner.get(resource, &ns, &name);
        if old.as_deref() == Some(&obj) {
            return;
        }
        inner.put(resource, obj, old);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::testing::*;

    #[test]
    fn merge_patch_takes_ownership_and_a_later_apply_conflicts() {
        let c = cluster();
        let t = configmaps(&c, "cfg");
        let body = br#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"cfg"},"data":{"x":"1"}}"#;
        c.patch(&t, PatchType::Apply, body, &opts("slipway", true)).unwrap();
        let (_, patched) = c
            .patch(&t, PatchType::Merge, br#"{"data":{"x":"2"}}"#, &opts("editor", false))
            .unwrap();
        assert_eq!(managers(&patched), ["editor/Update"]);
        let err = c.patch(&t, PatchType::Apply, body, &opts("slipway", true)).unwrap_err();
        assert_eq!(err.code, 409);
        assert!(
            err.message.contains("conflict with \"editor\" using v1: .data.x"),
            "{}",
            err.message
        );
        let mut forced = opts("slipway", true);
        forced.force = true;
        let (_, back) = c.patch(&t, PatchType::Apply, body, &forced).unwrap();
        assert_eq!(
            (back["data"]["x"].as_str(), managers(&back)),
            (Some("1"), vec!["slipway/Apply".to_string()])
        );
    }

    #[test]
    fn deployment_generation_follows_spec_and_annotations_only() {
        let c = cluster();
        let mut t = c.target("apps", "deployments", Some("default"), None);
        let d = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
            "spec": {"selector": {"matchLabels": {"app": "web"}},
                     "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "a", "image": "x:1"}]}}}});
        c.create(&t, d, &opts("test", false)).unwrap();
        t.name = Some("web".into());
        let gen = |v: &Value| v.pointer("/metadata/generation").and_then(Value::as_i64);
        let (_, v) = c
            .patch(
                &t,
                PatchType::Merge,
                br#"{"metadata":{"labels":{"l":"1"}}}"#,
                &opts("test", false),
            )
            .unwrap();
        assert_eq!(gen(&v), Some(1));
        let (_, v) = c
            .patch(
                &t,
                PatchType::Merge,
                br#"{"metadata":{"annotations":{"n":"1"}}}"#,
                &opts("test", false),
            )
            .unwrap();
        assert_eq!(gen(&v), Some(2));
        let (_, v) = c
            .patch(
                &t,
                PatchType::Merge,
                br#"{"spec":{"replicas":3}}"#,
                &opts("test", false),
            )
            .unwrap();
        assert_eq!(gen(&v), Some(3));
        let (_, v) = c
            .patch(
                &t,
                PatchType::Merge,
                br#"{"status":{"replicas":9}}"#,
                &opts("test", false),
            )
            .unwrap();
        assert_eq!((gen(&v), v.pointer("/status/replicas")), (Some(3), None));
    }
}
