//! Server-side apply: field ownership per manager, conflicts, removal of
//! fields a manager stops applying.

use serde_json::Value;

use super::body::parse_body;
use super::cluster::{ApiResult, Cluster, Target, WriteOptions};
use super::update::Scope;
use crate::defaults::drop_unknown_fields;
use crate::fields::{read_managed, remove_at, value_at, FieldSet, ManagedEntry};
use crate::merge::apply_merge;
use crate::meta::{meta_str, now_rfc3339};
use crate::status::{ApiError, Cause};
use crate::typecheck;

impl Cluster {
    /// Server-side apply.
    pub(super) fn apply(&self, t: &Target, body: &[u8], opts: &WriteOptions) -> ApiResult<(u16, Value)> {
        let Some(manager) = opts.field_manager_param.clone().filter(|m| !m.is_empty()) else {
            return Err(ApiError::invalid_kind(
                "PatchOptions",
                "meta.k8s.io",
                "",
                vec![Cause::required("fieldManager", "is required for apply patch")],
            ));
        };
        let mut applied = parse_body(body, true)?;
        if !applied.is_object() {
            return Err(ApiError::bad_request("the apply patch is not an object"));
        }
        let av = applied
            .get("apiVersion")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let kind = applied
            .get("kind")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        if av != t.rt.api_version() {
            return Err(ApiError::bad_request(format!(
                "Incorrect version specified in apply patch. Specified patch version: {av}, expected: {}",
                t.rt.api_version()
            )));
        }
        if kind != t.rt.kind {
            return Err(ApiError::bad_request(format!(
                "Incorrect kind specified in apply patch. Specified patch kind: {kind}, expected: {}",
                t.rt.kind
            )));
        }
        let body_name = meta_str(&applied, "name").to_string();
        if body_name != t.name() {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({body_name}) does not match the name on the URL ({})",
                t.name()
            )));
        }
        if let Some(ns) = applied.pointer("/metadata/namespace").and_then(Value::as_str) {
            if t.rt.namespaced && !ns.is_empty() && ns != t.ns() {
                return Err(ApiError::bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request",
                ));
            }
        }
        typecheck::check_apply(&t.rt, &applied, t.ns(), t.name())?;
        crate::lease::check_times(&t.rt, &applied)?;
        drop_unknown_fields(&t.rt, &mut applied);
        if t.rt.status_subresource {
            let status_only = t.is_status();
            if let Some(m) = applied.as_object_mut() {
                if status_only {
                    m.retain(|k, _| matches!(k.as_str(), "apiVersion" | "kind" | "metadata" | "status"));
                } else {
                    m.remove("status");
                }
            }
        }
        let custom = t.rt.is_custom();
        let new_fields = FieldSet::of_applied(&applied, custom);
        let subresource = if t.is_status() {
            Some("status".to_string())
        } else {
            None
        };
        let mut inner = self.lock();
        let Some(live) = inner.get(&t.rt.key(), t.ns(), t.name()) else {
            if t.is_status() {
                return Err(ApiError::not_found(&t.rt, t.name()));
            }
            self.check_namespace(&inner, t, t.name())?;
            let obj = self.prepare_create(&mut inner, t, applied, t.name())?;
            let entry = ManagedEntry {
                manager,
                operation: "Apply".into(),
                api_version: t.rt.api_version(),
                time: now_rfc3339(),
                subresource,
                fields: new_fields,
            };
            let obj = self.finish_create(&mut inner, t, obj, vec![entry], opts.dry_run)?;
            return Ok((201, obj));
        };
        let mut entries = read_managed(&live);
        let me = |e: &ManagedEntry| e.is(&manager, "Apply", subresource.as_deref());
        // Conflicts: another manager owns a leaf we set, with a different value.
        let mut conflicts: Vec<(String, String)> = Vec::new();
        let mut to_release: Vec<(usize, Vec<String>)> = Vec::new();
        for path in &new_fields.0 {
            let is_leaf = !new_fields
                .0
                .range(path.clone()..)
                .nth(1)
                .is_some_and(|p| p.starts_with(path));
            if !is_leaf {
                continue;
            }
            if value_at(&live, path) == value_at(&applied, path) {
                continue;
            }
            for (i, e) in entries.iter().enumerate() {
                if e.manager != manager && e.fields.contains(path) {
                    // Update managers are named with the apiVersion they wrote with, as the real server does.
                    let who = if e.operation == "Update" {
                        format!("{}\" using {}", e.manager, e.api_version)
                    } else {
                        e.manager.clone()
                    };
                    conflicts.push((who, crate::fields::display_path(path)));
                    to_release.push((i, path.clone()));
                }
            }
        }
        if !conflicts.is_empty() && !opts.force {
            return Err(ApiError::apply_conflicts(&conflicts));
        }
        for (i, path) in to_release {
            entries[i].fields.0.remove(&path);
        }
        let mut merged = apply_merge(&live, &applied, &mut Vec::new(), custom);
        let previous = entries
            .iter()
            .find(|e| me(e))
            .map(|e| e.fields.clone())
            .unwrap_or_default();
        let mut removed: Vec<&Vec<String>> = previous.0.iter().filter(|p| !new_fields.contains(p)).collect();
        // Parents first: a keyed item must be found by its key fields before they are removed.
        removed.sort_by_key(|p| p.len());
        for path in removed {
            if new_fields.owns_within(path) {
                continue;
            }
            let owned_by_other = entries.iter().any(|e| !me(e) && e.fields.owns_within(path));
            if !owned_by_other {
                remove_at(&mut merged, path);
            }
        }
        match entries.iter_mut().find(|e| me(e)) {
            Some(e) => e.fields = new_fields,
            None => entries.push(ManagedEntry {
                manager: manager.clone(),
                operation: "Apply".into(),
                api_version: t.rt.api_version(),
                time: now_rfc3339(),
                subresource: subresource.clone(),
                fields: new_fields,
            }),
        }
        let scope = if t.is_status() { Scope::Status } else { Scope::Main };
        let acting = (manager, "Apply".to_string(), subresource);
        let obj = self.update_with(&mut inner, t, &live, merged, scope, entries, &acting, opts.dry_run)?;
        Ok((200, obj))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::testing::*;
    use crate::api::PatchType;
    use serde_json::json;

    #[test]
    fn identical_apply_keeps_resource_version_and_field_removal_works() {
        let c = cluster();
        let t = configmaps(&c, "cfg");
        let body = br#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"cfg","labels":{"a":"1"}},"data":{"x":"1","y":"2"}}"#;
        let (code, first) = c.patch(&t, PatchType::Apply, body, &opts("slipway", true)).unwrap();
        assert_eq!(code, 201);
        let (code, again) = c.patch(&t, PatchType::Apply, body, &opts("slipway", true)).unwrap();
        assert_eq!(
            (code, meta_str(&again, "resourceVersion")),
            (200, meta_str(&first, "resourceVersion"))
        );
        let smaller = br#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"cfg"},"data":{"x":"1"}}"#;
        let (_, after) = c.patch(&t, PatchType::Apply, smaller, &opts("slipway", true)).unwrap();
        assert_eq!(after["data"], json!({"x": "1"}));
        assert!(after.pointer("/metadata/labels/a").is_none());
    }
}
