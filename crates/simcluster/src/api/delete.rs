//! Deletes: delete with preconditions and propagation policies,
//! deletecollection, finalizers, foreground deletion, Terminating namespaces
//! and garbage collection of owned objects.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Map, Value};
use tokio::time::Instant;

use super::cluster::{ApiResult, Cluster, ListOptions, Target};
use crate::meta::{has_finalizers, meta_str, now_rfc3339};
use crate::resources::ResourceType;
use crate::status::ApiError;
use crate::store::Inner;
use crate::tasks::Task;

impl Cluster {
    /// Removes an object without side effects other than watch events and garbage collection.
    pub fn controller_remove(&self, resource: &str, ns: &str, name: &str) {
        let mut inner = self.lock();
        if let Some(obj) = inner.remove(resource, ns, name) {
            collect_dependents(&mut inner, meta_str(&obj, "uid"));
        }
    }

    /// DELETE of one object.
    pub fn delete(&self, t: &Target, options: &Value, dry_run: bool) -> ApiResult<Value> {
        let mut inner = self.lock();
        let old = inner
            .get(&t.rt.key(), t.ns(), t.name())
            .ok_or_else(|| ApiError::not_found(&t.rt, t.name()))?;
        if let Some(want) = options
            .pointer("/preconditions/resourceVersion")
            .and_then(Value::as_str)
        {
            let have = meta_str(&old, "resourceVersion");
            if want != have {
                return Err(ApiError::precondition(&t.rt, t.name(), "ResourceVersion", want, have));
            }
        }
        if let Some(want) = options.pointer("/preconditions/uid").and_then(Value::as_str) {
            let have = meta_str(&old, "uid");
            if want != have {
                return Err(ApiError::precondition(&t.rt, t.name(), "UID", want, have));
            }
        }
        let policy = options
            .get("propagationPolicy")
            .and_then(Value::as_str)
            .unwrap_or("Background");
        self.delete_one(&mut inner, t, &old, policy, dry_run)
    }

    pub(super) fn delete_one(
        &self,
        inner: &mut Inner,
        t: &Target,
        old: &Arc<Value>,
        policy: &str,
        dry_run: bool,
    ) -> ApiResult<Value> {
        let rt = &t.rt;
        let ns = meta_str(old, "namespace").to_string();
        let name = meta_str(old, "name").to_string();
        let pending = matches!(
            (rt.group.as_str(), rt.plural.as_str()),
            ("", "namespaces") | ("apiextensions.k8s.io", "customresourcedefinitions")
        ) || has_finalizers(old)
            || policy == "Foreground";
        if pending {
            if old.pointer("/metadata/deletionTimestamp").is_some() {
                return Ok((**old).clone());
            }
            let mut obj = (**old).clone();
            obj["metadata"]["deletionTimestamp"] = json!(now_rfc3339());
            obj["metadata"]["deletionGracePeriodSeconds"] = json!(0);
            let task = match (rt.group.as_str(), rt.plural.as_str()) {
                ("", "namespaces") => {
                    obj["status"]["phase"] = json!("Terminating");
                    Some(Task::FinalizeNamespace(name.clone()))
                }
                ("apiextensions.k8s.io", "customresourcedefinitions") => Some(Task::RemoveCrd(name.clone())),
                _ if policy == "Foreground" => {
                    let fins = obj["metadata"]["finalizers"].as_array().cloned().unwrap_or_default();
                    let mut fins: Vec<Value> = fins;
                    if !fins.contains(&json!("foregroundDeletion")) {
                        fins.push(json!("foregroundDeletion"));
                    }
                    obj["metadata"]["finalizers"] = Value::Array(fins);
                    Some(Task::ForegroundDelete(rt.key(), ns.clone(), name.clone()))
                }
                _ => None,
            };
            if dry_run {
                return Ok(obj);
            }
            let stored = inner.put(&rt.key(), obj, Some(old.clone()));
            if let Some(task) = task {
                self.schedule(Instant::now() + Duration::from_millis(20), task);
            }
            return Ok((*stored).clone());
        }
        if !dry_run {
            inner.remove(&rt.key(), &ns, &name);
            self.after_remove(inner, t, old);
        }
        let mut details = Map::new();
        details.insert("name".into(), json!(name));
        if !rt.group.is_empty() {
            details.insert("group".into(), json!(rt.group));
        }
        details.insert("kind".into(), json!(rt.plural));
        details.insert("uid".into(), json!(meta_str(old, "uid")));
        Ok(json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "details": details}))
    }

    pub(super) fn after_remove(&self, inner: &mut Inner, t: &Target, obj: &Value) {
        collect_dependents(inner, meta_str(obj, "uid"));
        if t.rt.is_workload() {
            self.controller_state
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .forget(meta_str(obj, "uid"));
        }
    }

    /// DELETE of a collection: the deleted objects as a `<Kind>List`.
    pub fn delete_collection(
        &self,
        t: &Target,
        opts: &ListOptions,
        options: &Value,
        dry_run: bool,
    ) -> ApiResult<Value> {
        let mut inner = self.lock();
        let policy = options
            .get("propagationPolicy")
            .and_then(Value::as_str)
            .unwrap_or("Background")
            .to_string();
        let victims = inner.list_where(&t.rt.key(), t.namespace.as_deref(), |(ns, name), labels| {
            opts.labels.matches_labels(labels) && opts.fields.matches_key(ns, name)
        });
        let mut items = Vec::new();
        for old in victims {
            let mut item = match self.delete_one(&mut inner, t, &old, &policy, dry_run)? {
                v if v.get("kind") == Some(&json!("Status")) => (*old).clone(),
                v => v,
            };
            if !t.rt.is_custom() {
                if let Some(m) = item.as_object_mut() {
                    m.remove("apiVersion");
                    m.remove("kind");
                }
            }
            items.push(item);
        }
        Ok(
            json!({"kind": format!("{}List", t.rt.kind), "apiVersion": t.rt.api_version(),
                  "metadata": {"resourceVersion": inner.rv.to_string()}, "items": items}),
        )
    }

    /// Deletes what a Terminating namespace still holds; true once it is gone.
    pub fn finalize_namespace(&self, ns: &str) -> bool {
        let mut inner = self.lock();
        let types: Vec<Arc<ResourceType>> = inner.registry.all().filter(|t| t.namespaced).cloned().collect();
        let mut remaining = 0;
        for rt in types {
            for obj in inner.list(&rt.key(), Some(ns)) {
                if has_finalizers(&obj) {
                    remaining += 1;
                    if obj.pointer("/metadata/deletionTimestamp").is_none() {
                        let mut o = (*obj).clone();
                        o["metadata"]["deletionTimestamp"] = json!(now_rfc3339());
                        inner.put(&rt.key(), o, Some(obj.clone()));
                    }
                } else {
                    inner.remove(&rt.key(), ns, meta_str(&obj, "name"));
                    if rt.is_workload() {
                        self.controller_state
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .forget(meta_str(&obj, "uid"));
                    }
                }
            }
        }
        if remaining == 0 {
            inner.remove("/namespaces", "", ns);
            return true;
        }
        false
    }

    /// Finishes a foreground deletion: dependents first, then the owner.
    pub fn finish_foreground(&self, resource: &str, ns: &str, name: &str) {
        let mut inner = self.lock();
        let Some(obj) = inner.get(resource, ns, name) else {
            return;
        };
        collect_dependents(&mut inner, meta_str(&obj, "uid"));
        let mut o = (*obj).clone();
        if let Some(f) = o["metadata"]["finalizers"].as_array_mut() {
            f.retain(|x| x != "foregroundDeletion");
        }
        if has_finalizers(&o) {
            inner.put(resource, o, Some(obj));
        } else {
            inner.remove(resource, ns, name);
            self.controller_state
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .forget(meta_str(&obj, "uid"));
        }
    }
}

/// Deletes (in the background) every object owned by `uid`, recursively.
fn collect_dependents(inner: &mut Inner, uid: &str) {
    let mut owners = vec![uid.to_string()];
    while let Some(owner) = owners.pop() {
        for (resource, ns, name) in inner.dependents(&owner) {
            if let Some(gone) = inner.remove(&resource, &ns, &name) {
                owners.push(meta_str(&gone, "uid").to_string());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::api::testing::*;
    use crate::api::PatchType;

    #[test]
    fn object_with_finalizer_is_deleted_once_the_finalizer_is_removed() {
        let c = cluster();
        let t = configmaps(&c, "held");
        let body = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "held", "finalizers": ["example.com/hold"]}});
        c.create(
            &c.target("", "configmaps", Some("default"), None),
            body,
            &opts("test", false),
        )
        .unwrap();
        let pending = c.delete(&t, &json!({}), false).unwrap();
        assert!(pending.pointer("/metadata/deletionTimestamp").is_some());
        assert!(c.get(&t).is_ok());
        c.patch(
            &t,
            PatchType::Merge,
            br#"{"metadata":{"finalizers":null}}"#,
            &opts("test", false),
        )
        .unwrap();
        assert_eq!(c.get(&t).unwrap_err().code, 404);
    }
}
