//! The kinds the simulated cluster serves: built-in types plus the ones that
//! CustomResourceDefinitions add at runtime.

use std::cmp::Reverse;
use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::Value;

/// Which changes bump `metadata.generation`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Generation {
    /// The kind has no `metadata.generation` (ConfigMap, Secret, Namespace, ...).
    None,
    /// Bumped when anything outside metadata and status changes.
    Spec,
    /// Like `Spec`, and also on annotation changes (apps/v1 Deployment).
    SpecAndAnnotations,
}

/// One REST resource (a plural under a group-version).
#[derive(Clone, Debug)]
pub struct ResourceType {
    /// API group, empty for the core group.
    pub group: String,
    /// API version within the group.
    pub version: String,
    /// Plural resource name as used in URLs.
    pub plural: String,
    /// Singular name (discovery shows it only for custom resources).
    pub singular: String,
    /// Kind of the objects.
    pub kind: String,
    /// Whether objects live in namespaces.
    pub namespaced: bool,
    /// kubectl short names.
    pub short_names: Vec<String>,
    /// Categories such as `all`.
    pub categories: Vec<String>,
    /// Whether `/status` is a separate subresource (main-resource writes ignore status).
    pub status_subresource: bool,
    /// Generation rule.
    pub generation: Generation,
    /// Storage version hash shown in discovery (built-ins only).
    pub storage_hash: Option<String>,
    /// Schema of a custom resource (`openAPIV3Schema`), for pruning and validation.
    pub schema: Option<Value>,
    /// Set for custom resources: the CRD's name.
    pub crd: Option<String>,
}

impl ResourceType {
    /// `apps/v1`, or `v1` for the core group.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// `deployments.apps`, or `configmaps` for the core group (used in error messages).
    pub fn qualified_plural(&self) -> String {
        if self.group.is_empty() {
            self.plural.clone()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }

    /// `Deployment.apps`, or `ConfigMap` for the core group.
    pub fn qualified_kind(&self) -> String {
        if self.group.is_empty() {
            self.kind.clone()
        } else {
            format!("{}.{}", self.kind, self.group)
        }
    }

    /// Key of this resource in the store: `group/plural`.
    pub fn key(&self) -> String {
        format!("{}/{}", self.group, self.plural)
    }

    /// Whether this is a custom resource defined by a CRD.
    pub fn is_custom(&self) -> bool {
        self.crd.is_some()
    }

    /// Whether the kind has a simulated workload controller.
    pub fn is_workload(&self) -> bool {
        matches!(
            (self.group.as_str(), self.plural.as_str()),
            ("apps", "deployments") | ("apps", "statefulsets") | ("apps", "daemonsets") | ("batch", "jobs")
        )
    }
}

struct Builtin {
    group: &'static str,
    plural: &'static str,
    kind: &'static str,
    namespaced: bool,
    short: &'static [&'static str],
    all: bool,
    status: bool,
    generation: Generation,
    hash: &'static str,
}

#[allow(clippy::too_many_arguments)]
const fn b(
    group: &'static str,
    plural: &'static str,
    kind: &'static str,
    namespaced: bool,
    short: &'static [&'static str],
    all: bool,
    status: bool,
    generation: Generation,
    hash: &'static str,
) -> Builtin {
    Builtin {
        group,
        plural,
        kind,
        namespaced,
        short,
        all,
        status,
        generation,
        hash,
    }
}

use Generation::{None as NoGen, Spec, SpecAndAnnotations};

const BUILTINS: &[Builtin] = &[
    b(
        "",
        "configmaps",
        "ConfigMap",
        true,
        &["cm"],
        false,
        false,
        NoGen,
        "qFsyl6wFWjQ=",
    ),
    b(
        "",
        "events",
        "Event",
        true,
        &["ev"],
        false,
        false,
        NoGen,
        "r2yiGXH7wu8=",
    ),
    b(
        "",
        "namespaces",
        "Namespace",
        false,
        &["ns"],
        false,
        true,
        NoGen,
        "Q3oi5N2YM8M=",
    ),
    b(
        "",
        "persistentvolumeclaims",
        "PersistentVolumeClaim",
        true,
        &["pvc"],
        false,
        true,
        NoGen,
        "QWTyNDq0dC4=",
    ),
    b("", "pods", "Pod", true, &["po"], true, true, NoGen, "xPOwRZ+Yhw8="),
    b("", "secrets", "Secret", true, &[], false, false, NoGen, "S6u1pOWzb84="),
    b(
        "",
        "serviceaccounts",
        "ServiceAccount",
        true,
        &["sa"],
        false,
        false,
        NoGen,
        "pbx9ZvyFpBE=",
    ),
    b(
        "",
        "services",
        "Service",
        true,
        &["svc"],
        true,
        true,
        NoGen,
        "0/CO1lhkEBI=",
    ),
    b(
        "apps",
        "daemonsets",
        "DaemonSet",
        true,
        &["ds"],
        true,
        true,
        Spec,
        "dd7pWHUlMKQ=",
    ),
    b(
        "apps",
        "deployments",
        "Deployment",
        true,
        &["deploy"],
        true,
        true,
        SpecAndAnnotations,
        "8aSe+NMegvE=",
    ),
    b(
        "apps",
        "replicasets",
        "ReplicaSet",
        true,
        &["rs"],
        true,
        true,
        Spec,
        "P1RzHs8/mWQ=",
    ),
    b(
        "apps",
        "statefulsets",
        "StatefulSet",
        true,
        &["sts"],
        true,
        true,
        Spec,
        "H+vl74LkKdo=",
    ),
    b(
        "batch",
        "cronjobs",
        "CronJob",
        true,
        &["cj"],
        true,
        true,
        Spec,
        "sd5LIXh4Fjs=",
    ),
    b("batch", "jobs", "Job", true, &[], true, true, Spec, "mudhfqk/qZY="),
    b(
        "events.k8s.io",
        "events",
        "Event",
        true,
        &["ev"],
        false,
        false,
        NoGen,
        "r2yiGXH7wu8=",
    ),
    b(
        "networking.k8s.io",
        "ingresses",
        "Ingress",
        true,
        &["ing"],
        false,
        true,
        Spec,
        "39NQlfNR+bo=",
    ),
    b(
        "networking.k8s.io",
        "networkpolicies",
        "NetworkPolicy",
        true,
        &["netpol"],
        false,
        true,
        Spec,
        "YpfwF18m1G8=",
    ),
    b(
        "policy",
        "poddisruptionbudgets",
        "PodDisruptionBudget",
        true,
        &["pdb"],
        false,
        true,
        Spec,
        "EVWiDmWqyJw=",
    ),
    b(
        "rbac.authorization.k8s.io",
        "clusterrolebindings",
        "ClusterRoleBinding",
        false,
        &[],
        false,
        false,
        NoGen,
        "48tpQ8gZHFc=",
    ),
    b(
        "rbac.authorization.k8s.io",
        "clusterroles",
        "ClusterRole",
        false,
        &[],
        false,
        false,
        NoGen,
        "bYE5ZWDrJ44=",
    ),
    b(
        "rbac.authorization.k8s.io",
        "rolebindings",
        "RoleBinding",
        true,
        &[],
        false,
        false,
        NoGen,
        "eGsCzGH6b1g=",
    ),
    b(
        "rbac.authorization.k8s.io",
        "roles",
        "Role",
        true,
        &[],
        false,
        false,
        NoGen,
        "7FuwZcIIItM=",
    ),
    b(
        "coordination.k8s.io",
        "leases",
        "Lease",
        true,
        &[],
        false,
        false,
        NoGen,
        "gqkMMb/YqFM=",
    ),
    b(
        "apiextensions.k8s.io",
        "customresourcedefinitions",
        "CustomResourceDefinition",
        false,
        &["crd", "crds"],
        false,
        true,
        Spec,
        "jfWCUB31mvA=",
    ),
];

fn builtin_types() -> Vec<ResourceType> {
    BUILTINS
        .iter()
        .map(|b| ResourceType {
            group: b.group.to_string(),
            version: "v1".to_string(),
            plural: b.plural.to_string(),
            singular: b.kind.to_lowercase(),
            kind: b.kind.to_string(),
            namespaced: b.namespaced,
            short_names: b.short.iter().map(|s| s.to_string()).collect(),
            categories: if b.all {
                vec!["all".to_string()]
            } else if b.plural == "customresourcedefinitions" {
                vec!["api-extensions".to_string()]
            } else {
                Vec::new()
            },
            status_subresource: b.status,
            generation: b.generation,
            storage_hash: Some(b.hash.to_string()),
            schema: None,
            crd: None,
        })
        .collect()
}

/// All served resource types, keyed by (group, version, plural).
#[derive(Clone, Debug)]
pub struct Registry {
    types: BTreeMap<(String, String, String), Arc<ResourceType>>,
}

impl Default for Registry {
    fn default() -> Self {
        let mut types = BTreeMap::new();
        for t in builtin_types() {
            types.insert((t.group.clone(), t.version.clone(), t.plural.clone()), Arc::new(t));
        }
        Registry { types }
    }
}

impl Registry {
    /// The resource at `/apis/<group>/<version>/<plural>`.
    pub fn get(&self, group: &str, version: &str, plural: &str) -> Option<Arc<ResourceType>> {
        self.types
            .get(&(group.to_string(), version.to_string(), plural.to_string()))
            .cloned()
    }

    /// Whether any resource is served under this group-version.
    pub fn serves(&self, group: &str, version: &str) -> bool {
        self.types.keys().any(|(g, v, _)| g == group && v == version)
    }

    /// Served versions of a group, preferred (first-registered storage) version first.
    pub fn versions(&self, group: &str) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for (g, v, _) in self.types.keys() {
            if g == group && !out.contains(v) {
                out.push(v.clone());
            }
        }
        out.sort_by_key(|v| Reverse(version_priority(v)));
        out
    }

    /// Non-core groups in a stable order (built-in groups first, then custom ones).
    pub fn groups(&self) -> Vec<String> {
        let order = [
            "apps",
            "batch",
            "networking.k8s.io",
            "policy",
            "rbac.authorization.k8s.io",
            "apiextensions.k8s.io",
            "coordination.k8s.io",
        ];
        let mut out: Vec<String> = order.iter().map(|s| s.to_string()).collect();
        for (g, _, _) in self.types.keys() {
            if !g.is_empty() && !out.contains(g) {
                out.push(g.clone());
            }
        }
        out
    }

    /// Resources of one group-version.
    pub fn resources(&self, group: &str, version: &str) -> Vec<Arc<ResourceType>> {
        self.types
            .iter()
            .filter(|((g, v, _), _)| g == group && v == version)
            .map(|(_, t)| t.clone())
            .collect()
    }

    /// All resource types.
    pub fn all(&self) -> impl Iterator<Item = &Arc<ResourceType>> {
        self.types.values()
    }

    /// The resource type serving `kind` in `apiVersion`.
    pub fn by_kind(&self, api_version: &str, kind: &str) -> Option<Arc<ResourceType>> {
        self.types
            .values()
            .find(|t| t.api_version() == api_version && t.kind == kind)
            .cloned()
    }

    /// Adds (or replaces) a custom resource type.
    pub fn add(&mut self, t: ResourceType) {
        self.types
            .insert((t.group.clone(), t.version.clone(), t.plural.clone()), Arc::new(t));
    }

    /// Removes every type defined by the named CRD.
    pub fn remove_crd(&mut self, crd: &str) -> Vec<Arc<ResourceType>> {
        let keys: Vec<_> = self
            .types
            .iter()
            .filter(|(_, t)| t.crd.as_deref() == Some(crd))
            .map(|(k, _)| k.clone())
            .collect();
        keys.iter().filter_map(|k| self.types.remove(k)).collect()
    }
}

/// Kubernetes version ordering: GA > beta > alpha, higher numbers first.
fn version_priority(v: &str) -> (u8, u32, u32) {
    let rest = v.strip_prefix('v').unwrap_or(v);
    let digits: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
    let major = digits.parse().unwrap_or(0);
    let tail = &rest[digits.len()..];
    let (stage, n) = if tail.is_empty() {
        (3, 0)
    } else if let Some(n) = tail.strip_prefix("beta") {
        (2, n.parse().unwrap_or(0))
    } else if let Some(n) = tail.strip_prefix("alpha") {
        (1, n.parse().unwrap_or(0))
    } else {
        (0, 0)
    };
    (stage, major, n)
}

/// Resource types for a CRD object (one per served version).
pub fn types_from_crd(crd: &Value) -> Vec<ResourceType> {
    let Some(spec) = crd.get("spec") else { return Vec::new() };
    let name = crd
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let group = spec
        .get("group")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let names = spec.get("names").cloned().unwrap_or(Value::Null);
    let s = |k: &str| names.get(k).and_then(Value::as_str).unwrap_or_default().to_string();
    let list = |k: &str| -> Vec<String> {
        names
            .get(k)
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(|x| x.as_str().map(str::to_string)).collect())
            .unwrap_or_default()
    };
    let namespaced = spec.get("scope").and_then(Value::as_str) != Some("Cluster");
    let mut out = Vec::new();
    for v in spec.get("versions").and_then(Value::as_array).into_iter().flatten() {
        if v.get("served").and_then(Value::as_bool) == Some(false) {
            continue;
        }
        let version = v.get("name").and_then(Value::as_str).unwrap_or_default().to_string();
        let kind = s("kind");
        out.push(ResourceType {
            group: group.clone(),
            version,
            plural: s("plural"),
            singular: if s("singular").is_empty() {
                kind.to_lowercase()
            } else {
                s("singular")
            },
            kind,
            namespaced,
            short_names: list("shortNames"),
            categories: list("categories"),
            status_subresource: v.pointer("/subresources/status").is_some(),
            generation: Generation::Spec,
            storage_hash: None,
            schema: v.pointer("/schema/openAPIV3Schema").cloned(),
            crd: Some(name.clone()),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ga_versions_are_preferred_over_beta() {
        let mut v = vec!["v1beta1", "v2", "v1", "v2alpha1"];
        v.sort_by_key(|x| Reverse(version_priority(x)));
        assert_eq!(v, ["v2", "v1", "v1beta1", "v2alpha1"]);
    }

    #[test]
    fn crd_defines_one_type_per_served_version() {
        let crd = serde_json::json!({"metadata": {"name": "widgets.example.com"}, "spec": {
            "group": "example.com", "scope": "Namespaced",
            "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
            "versions": [{"name": "v1", "served": true, "storage": true, "subresources": {"status": {}}},
                         {"name": "v0", "served": false, "storage": false}]}});
        let types = types_from_crd(&crd);
        assert_eq!(types.len(), 1);
        assert_eq!(types[0].api_version(), "example.com/v1");
        assert!(types[0].status_subresource && types[0].namespaced);
    }
}
