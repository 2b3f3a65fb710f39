//! Updates: replace (PUT), merge, strategic merge and JSON patch, and the
//! shared update pipeline every write goes through (server-owned metadata,
//! status subresource, generation, managedFields, no-op detection), including
//! the simulated controllers' writes.

use std::sync::Arc;

use serde_json::{json, Map, Value};

use super::body::parse_body;
use super::cluster::{ApiResult, Cluster, PatchType, Target, WriteOptions, CONTROLLER_MANAGER};
use crate::defaults::{apply_defaults, drop_unknown_fields};
use crate::fields::{managed_entries, read_managed, value_at, write_managed, FieldSet, ManagedEntry};
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

/// The managedFields a non-apply write asks for, read as the real server
/// reads them: `[{}]` clears the tracking, a list of well-formed entries
/// replaces it, and anything else (absent, `null`, `[]`, entries it cannot
/// decode) keeps the server's tracking, so that clients unaware of the field
/// cannot wipe it by accident.
fn requested_managed(sent: Option<&Value>) -> Option<Vec<ManagedEntry>> {
    let list = sent?.as_array()?;
    if let [only] = list.as_slice() {
        if only.as_object().is_some_and(Map::is_empty) {
            return Some(Vec::new());
        }
    }
    let well_formed = |e: &Value| {
        e.get("manager").and_then(Value::as_str).is_some_and(|m| !m.is_empty())
            && matches!(e.get("operation").and_then(Value::as_str), Some("Apply" | "Update"))
            && e.get("fieldsType").and_then(Value::as_str) == Some("FieldsV1")
            && e.get("fieldsV1").is_some_and(Value::is_object)
    };
    if list.is_empty() || !list.iter().all(well_formed) {
        return None;
    }
    Some(managed_entries(list))
}

impl Cluster {
    /// PUT (main resource or status).
    pub fn replace(&self, t: &Target, body: Value, opts: &WriteOptions) -> ApiResult<Value> {
        if !body.is_object() {
            return Err(ApiError::bad_request("the object provided is not a JSON object"));
        }
        self.check_kind(t, &body)?;
        typecheck::check_object(&t.rt, &body)?;
        crate::lease::check_times(&t.rt, &body)?;
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
        crate::lease::check_times(&t.rt, &new)?;
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
        // A main-resource update may set the object's managedFields; status
        // writes and apply never do (apply decides ownership itself).
        let requested = match (scope, &entries) {
            (Scope::Main, None) => requested_managed(obj.pointer("/metadata/managedFields")),
            _ => None,
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
        if !rt.is_custom() {
            // Built-in kinds are Go structs whose label and annotation maps are
            // `omitempty`: a write that removes the last entry removes the map.
            if let Some(m) = obj["metadata"].as_object_mut() {
                m.retain(|k, v| {
                    !(matches!(k.as_str(), "labels" | "annotations") && v.as_object().is_some_and(Map::is_empty))
                });
            }
        }
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
                let mut e = requested.unwrap_or_else(|| read_managed(old));
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

    /// A ConfigMap `cfg` whose `data.x` slipway applied and whose `data.y` editor added with a merge patch.
    fn shared_config_map(c: &Cluster) -> (Target, Value) {
        let t = configmaps(c, "cfg");
        let body = br#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"cfg","labels":{"app":"web"}},"data":{"x":"1"}}"#;
        c.patch(&t, PatchType::Apply, body, &opts("slipway", true)).unwrap();
        let (_, obj) = c
            .patch(&t, PatchType::Merge, br#"{"data":{"y":"2"}}"#, &opts("editor", false))
            .unwrap();
        assert_eq!(managers(&obj), ["slipway/Apply", "editor/Update"]);
        (t, obj)
    }

    fn entries_of(obj: &Value, manager: &str) -> Vec<Value> {
        obj["metadata"]["managedFields"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|e| e["manager"] == manager)
            .cloned()
            .collect()
    }

    #[test]
    fn merge_patch_setting_managed_fields_replaces_the_servers_tracking() {
        let c = cluster();
        let (t, obj) = shared_config_map(&c);
        let patch = json!({"metadata": {
            "labels": {"app": null},
            "managedFields": entries_of(&obj, "editor"),
        }});
        let (_, released) = c
            .patch(
                &t,
                PatchType::Merge,
                patch.to_string().as_bytes(),
                &opts("releaser", false),
            )
            .unwrap();
        assert_eq!(managers(&released), ["editor/Update"], "{released}");
        assert_eq!(released["data"], json!({"x": "1", "y": "2"}));
        assert!(
            released.pointer("/metadata/labels").is_none(),
            "the last label went, and the map with it"
        );
        assert_ne!(
            released["metadata"]["resourceVersion"],
            obj["metadata"]["resourceVersion"]
        );
        assert_eq!(
            c.get(&t).unwrap()["metadata"]["managedFields"],
            released["metadata"]["managedFields"]
        );
    }

    #[test]
    fn a_single_empty_entry_clears_managed_fields() {
        let c = cluster();
        let (t, obj) = shared_config_map(&c);
        let (_, cleared) = c
            .patch(
                &t,
                PatchType::Merge,
                br#"{"metadata":{"managedFields":[{}]}}"#,
                &opts("releaser", false),
            )
            .unwrap();
        assert!(cleared.pointer("/metadata/managedFields").is_none(), "{cleared}");
        assert_eq!(cleared["data"], obj["data"]);
        assert_ne!(
            cleared["metadata"]["resourceVersion"],
            obj["metadata"]["resourceVersion"]
        );
    }

    #[test]
    fn put_without_managed_fields_keeps_the_servers_tracking_and_adds_the_writer() {
        let c = cluster();
        let (t, obj) = shared_config_map(&c);
        let mut body = obj.clone();
        body["metadata"].as_object_mut().unwrap().remove("managedFields");
        body["data"]["z"] = json!("3");
        let replaced = c.replace(&t, body, &opts("putter", false)).unwrap();
        assert_eq!(managers(&replaced), ["slipway/Apply", "editor/Update", "putter/Update"]);
    }

    #[test]
    fn empty_or_malformed_managed_fields_in_a_patch_keep_the_servers_tracking() {
        let c = cluster();
        let (t, obj) = shared_config_map(&c);
        for sent in [
            json!([]),
            json!(null),
            json!([{"manager": "x"}]),
            json!([{"manager": "x", "operation": "Delete", "fieldsType": "FieldsV1", "fieldsV1": {}}]),
        ] {
            let patch = json!({"metadata": {"managedFields": sent}});
            let (_, kept) = c
                .patch(
                    &t,
                    PatchType::Merge,
                    patch.to_string().as_bytes(),
                    &opts("releaser", false),
                )
                .unwrap();
            assert_eq!(
                kept["metadata"]["managedFields"], obj["metadata"]["managedFields"],
                "{sent}"
            );
            assert_eq!(
                kept["metadata"]["resourceVersion"], obj["metadata"]["resourceVersion"],
                "{sent}"
            );
        }
    }

    #[test]
    fn status_writes_ignore_managed_fields_in_the_request() {
        let c = cluster();
        let mut t = c.target("apps", "deployments", Some("default"), None);
        let d = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
            "spec": {"selector": {"matchLabels": {"app": "web"}},
                     "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "a", "image": "x:1"}]}}}});
        let created = c.create(&t, d, &opts("test", false)).unwrap();
        t.name = Some("web".into());
        t.subresource = Some("status".into());
        let patch = json!({"metadata": {"managedFields": [{}]}, "status": {"replicas": 1}});
        let (_, obj) = c
            .patch(
                &t,
                PatchType::Merge,
                patch.to_string().as_bytes(),
                &opts("writer", false),
            )
            .unwrap();
        assert_eq!(obj["status"]["replicas"], 1);
        assert_eq!(managers(&obj), ["test/Update", "writer/Update"]);
        assert_eq!(entries_of(&obj, "test"), entries_of(&created, "test"));
    }
}
