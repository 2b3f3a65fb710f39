//! Discovery documents (`/version`, `/api`, `/apis`, group-versions) and the
//! minimal OpenAPI documents kubectl needs.
//!
//! Aggregated discovery is not offered: `/api` and `/apis` always answer the
//! plain `APIVersions` / `APIGroupList` with `Content-Type: application/json`,
//! which is what a v1.24 server does and what kubectl 1.32 falls back to.

use serde_json::{json, Map, Value};

use crate::resources::{Registry, ResourceType};

const FULL_VERBS: &[&str] = &[
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];
const NAMESPACE_VERBS: &[&str] = &["create", "delete", "get", "list", "patch", "update", "watch"];
const STATUS_VERBS: &[&str] = &["get", "patch", "update"];

/// `/version`.
pub fn version() -> Value {
    json!({
        "major": "1", "minor": "24", "gitVersion": "v1.24.0-simcluster",
        "gitCommit": "0000000000000000000000000000000000000000", "gitTreeState": "clean",
        "buildDate": "2026-01-01T00:00:00Z", "goVersion": "go1.21.13", "compiler": "gc", "platform": "linux/amd64",
    })
}

/// `/api`.
pub fn core_versions(server: &str) -> Value {
    json!({"kind": "APIVersions", "versions": ["v1"],
           "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server}]})
}

fn group_json(reg: &Registry, group: &str) -> Value {
    let versions: Vec<Value> = reg
        .versions(group)
        .iter()
        .map(|v| json!({"groupVersion": format!("{group}/{v}"), "version": v}))
        .collect();
    let preferred = versions.first().cloned().unwrap_or(Value::Null);
    json!({"name": group, "versions": versions, "preferredVersion": preferred})
}

/// `/apis`.
pub fn groups(reg: &Registry) -> Value {
    let groups: Vec<Value> = reg
        .groups()
        .iter()
        .filter(|g| !reg.versions(g).is_empty())
        .map(|g| group_json(reg, g))
        .collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

/// `/apis/<group>`, if served.
pub fn group(reg: &Registry, group: &str) -> Option<Value> {
    if reg.versions(group).is_empty() {
        return None;
    }
    let mut g = group_json(reg, group);
    let m = g.as_object_mut().expect("group_json returns an object");
    let mut out = Map::new();
    out.insert("kind".into(), json!("APIGroup"));
    out.insert("apiVersion".into(), json!("v1"));
    out.append(m);
    Some(Value::Object(out))
}

fn resource_json(rt: &ResourceType) -> Value {
    let verbs: &[&str] = if rt.plural == "namespaces" {
        NAMESPACE_VERBS
    } else {
        FULL_VERBS
    };
    let mut r = json!({
        "name": rt.plural,
        "singularName": if rt.is_custom() { rt.singular.as_str() } else { "" },
        "namespaced": rt.namespaced, "kind": rt.kind, "verbs": verbs,
    });
    if !rt.short_names.is_empty() {
        r["shortNames"] = json!(rt.short_names);
    }
    if !rt.categories.is_empty() {
        r["categories"] = json!(rt.categories);
    }
    if let Some(h) = &rt.storage_hash {
        r["storageVersionHash"] = json!(h);
    }
    r
}

/// `/api/v1` or `/apis/<group>/<version>`, if served.
pub fn resource_list(reg: &Registry, group: &str, version: &str) -> Option<Value> {
    let types = reg.resources(group, version);
    if types.is_empty() {
        return None;
    }
    let mut resources = Vec::new();
    for rt in &types {
        resources.push(resource_json(rt));
        if crate::api::has_scale(rt) {
            resources.push(
                json!({"name": format!("{}/scale", rt.plural), "singularName": "", "namespaced": rt.namespaced,
                                  "group": "autoscaling", "version": "v1", "kind": "Scale", "verbs": STATUS_VERBS}),
            );
        }
        if rt.status_subresource {
            resources.push(json!({"name": format!("{}/status", rt.plural), "singularName": "",
                                  "namespaced": rt.namespaced, "kind": rt.kind, "verbs": STATUS_VERBS}));
        }
    }
    let gv = if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    };
    Some(json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": resources}))
}

/// All served group-versions as OpenAPI v3 path keys (`api/v1`, `apis/apps/v1`).
fn openapi_paths(reg: &Registry) -> Vec<(String, String, String)> {
    let mut out = vec![("api/v1".to_string(), String::new(), "v1".to_string())];
    for g in reg.groups() {
        for v in reg.versions(&g) {
            out.push((format!("apis/{g}/{v}"), g.clone(), v));
        }
    }
    out
}

/// `/openapi/v3`: the index of per-group-version documents.
pub fn openapi_v3_root(reg: &Registry) -> Value {
    let mut paths = Map::new();
    for (key, _, _) in openapi_paths(reg) {
        paths.insert(
            key.clone(),
            json!({"serverRelativeURL": format!("/openapi/v3/{key}?hash=SIMCLUSTER")}),
        );
    }
    json!({ "paths": paths })
}

fn definition_name(rt: &ResourceType) -> String {
    if rt.is_custom() {
        let mut parts: Vec<&str> = rt.group.split('.').collect();
        parts.reverse();
        format!("{}.{}.{}", parts.join("."), rt.version, rt.kind)
    } else {
        let pkg = match rt.group.as_str() {
            "" => "core",
            "apiextensions.k8s.io" => {
                return format!(
                    "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.{}.{}",
                    rt.version, rt.kind
                )
            }
            "networking.k8s.io" => "networking",
            "rbac.authorization.k8s.io" => "rbac",
            g => g,
        };
        format!("io.k8s.api.{pkg}.{}.{}", rt.version, rt.kind)
    }
}

fn schema_for(rt: &ResourceType) -> Value {
    let mut s = rt
        .schema
        .clone()
        .unwrap_or_else(|| json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true}));
    s["x-kubernetes-group-version-kind"] = json!([{"group": rt.group, "version": rt.version, "kind": rt.kind}]);
    s
}

/// `/openapi/v3/<path>`: a document with a schema and a PATCH operation (with
/// the `fieldValidation` parameter) per kind, which is what kubectl checks.
pub fn openapi_v3_doc(reg: &Registry, path: &str) -> Option<Value> {
    let (_, group, version) = openapi_paths(reg).into_iter().find(|(k, _, _)| k == path)?;
    let mut paths = Map::new();
    let mut schemas = Map::new();
    for rt in reg.resources(&group, &version) {
        let prefix = if group.is_empty() {
            "/api/v1".to_string()
        } else {
            format!("/apis/{group}/{version}")
        };
        let ns = if rt.namespaced { "/namespaces/{namespace}" } else { "" };
        let gvk = json!({"group": rt.group, "version": rt.version, "kind": rt.kind});
        let params = json!([
            {"name": "fieldManager", "in": "query", "schema": {"type": "string"}},
            {"name": "fieldValidation", "in": "query", "schema": {"type": "string"}},
            {"name": "force", "in": "query", "schema": {"type": "boolean"}},
            {"name": "dryRun", "in": "query", "schema": {"type": "string"}},
        ]);
        let op = |action: &str| {
            json!({"x-kubernetes-action": action, "x-kubernetes-group-version-kind": gvk, "parameters": params,
                                       "responses": {"200": {"description": "OK"}}})
        };
        paths.insert(
            format!("{prefix}{ns}/{}/{{name}}", rt.plural),
            json!({"get": op("get"), "put": op("put"), "patch": op("patch"), "delete": op("delete")}),
        );
        paths.insert(
            format!("{prefix}{ns}/{}", rt.plural),
            json!({"get": op("list"), "post": op("post")}),
        );
        schemas.insert(definition_name(&rt), schema_for(&rt));
    }
    Some(
        json!({"openapi": "3.0.0", "info": {"title": "Kubernetes", "version": "v1.24.0"}, "paths": paths,
                "components": {"schemas": schemas}}),
    )
}

/// `/openapi/v2` as JSON (definitions only, no paths).
pub fn openapi_v2(reg: &Registry) -> Value {
    let mut defs = Map::new();
    for rt in reg.all() {
        defs.insert(definition_name(rt), schema_for(rt));
    }
    json!({"swagger": "2.0", "info": {"title": "Kubernetes", "version": "v1.24.0"}, "paths": {}, "definitions": defs})
}

/// `/openapi/v2` in the protobuf form kubectl asks for: a `Document` with only
/// `swagger: "2.0"` (field 1). An empty document makes kubectl skip its
/// client-side schema checks; the server validates.
pub fn openapi_v2_protobuf() -> Vec<u8> {
    vec![0x0a, 0x03, b'2', b'.', b'0']
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apps_group_prefers_v1() {
        let reg = Registry::default();
        let g = group(&reg, "apps").unwrap();
        assert_eq!(
            g["preferredVersion"],
            json!({"groupVersion": "apps/v1", "version": "v1"})
        );
        assert!(group(&reg, "nosuch.example.com").is_none());
    }

    #[test]
    fn deployments_list_their_status_subresource() {
        let reg = Registry::default();
        let l = resource_list(&reg, "apps", "v1").unwrap();
        let names: Vec<&str> = l["resources"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["name"].as_str().unwrap())
            .collect();
        assert!(names.contains(&"deployments") && names.contains(&"deployments/status"));
    }

    #[test]
    fn openapi_v2_names_deployment() {
        let v = openapi_v2(&Registry::default());
        assert!(v["definitions"].get("io.k8s.api.apps.v1.Deployment").is_some());
    }
}
