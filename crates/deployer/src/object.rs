//! Desired objects: the rendered manifests of an env, with their identity,
//! Slipway's labels, their namespace and their place in the apply order.
//!
//! ```text
//! RenderedUnit (YAML docs) ──to_desired──▶ DesiredObject { key, unit, body (JSON) }
//!                                            body gets: labels, namespace, spec hash
//! ```

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use slipway_core::model::RenderedUnit;
use slipway_core::names::service_label_value;
use slipway_core::Unit;

/// Label every object Slipway applies carries.
pub const MANAGED_BY_LABEL: &str = "app.kubernetes.io/managed-by";
/// Value of [`MANAGED_BY_LABEL`], and the server-side apply field manager.
pub const MANAGER: &str = "slipway";
/// Label naming the env an object belongs to.
pub const ENV_LABEL: &str = "slipway.dev/env";
/// Label on a namespace Slipway created for a preview env (value `"true"`): how
/// a deployer that was not running when the preview was removed still finds it.
pub const PREVIEW_LABEL: &str = "slipway.dev/preview";
/// Label naming the service (with `/` as `.`) of base/version objects.
pub const SERVICE_LABEL: &str = "slipway.dev/service";
/// Annotation holding a hash of the applied manifest: a changed manifest (also one
/// that only dropped fields) is detected without reading back what was applied.
pub const HASH_ANNOTATION: &str = "slipway.dev/manifest-hash";
/// Annotation by which the owner of an existing object allows Slipway to adopt
/// it (value `"true"`), without `adopt: true` for the whole env.
pub const ADOPT_ANNOTATION: &str = "slipway.dev/adopt";

/// Identity of an object in a cluster: group, kind, namespace and name (the API
/// version is not part of it; the same object can be served in several).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ObjectKey {
    /// API group, empty for the core group.
    pub group: String,
    pub kind: String,
    /// `None` for cluster-scoped objects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    pub name: String,
}

impl fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = if self.group.is_empty() {
            self.kind.clone()
        } else {
            format!("{}.{}", self.kind, self.group)
        };
        match &self.namespace {
            Some(ns) => write!(f, "{kind} {ns}/{}", self.name),
            None => write!(f, "{kind} {}", self.name),
        }
    }
}

/// The group of an `apiVersion` (`apps/v1` → `apps`, `v1` → ``).
pub fn group_of(api_version: &str) -> &str {
    api_version.rsplit_once('/').map(|(g, _)| g).unwrap_or("")
}

/// Whether a kind lives in a namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Namespaced,
    Cluster,
}

/// One object the repo wants in the cluster.
#[derive(Debug, Clone, PartialEq)]
pub struct DesiredObject {
    pub key: ObjectKey,
    pub api_version: String,
    pub unit: Unit,
    /// The manifest as applied (with labels, namespace and hash annotation), as
    /// JSON text: a tenth of the memory of the parsed tree, which is only needed
    /// when the object is compared, applied or cut down for a cache.
    body: Box<str>,
    /// The hash the manifest carries in [`HASH_ANNOTATION`].
    hash: String,
}

impl DesiredObject {
    /// A desired object from its finished manifest.
    pub fn new(key: ObjectKey, api_version: String, unit: Unit, body: &Value) -> Self {
        DesiredObject {
            hash: annotation(body, HASH_ANNOTATION).unwrap_or_default().to_string(),
            body: body.to_string().into_boxed_str(),
            key,
            api_version,
            unit,
        }
    }

    /// The hash this manifest carries in [`HASH_ANNOTATION`].
    pub fn hash(&self) -> Option<&str> {
        Some(self.hash.as_str()).filter(|h| !h.is_empty())
    }

    /// The manifest.
    pub fn body(&self) -> Value {
        // Written by `new` from a JSON value, so it always parses.
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }
}

/// An annotation of an object, if present.
pub fn annotation<'a>(obj: &'a Value, name: &str) -> Option<&'a str> {
    obj.pointer("/metadata/annotations")?.get(name)?.as_str()
}

/// A label of an object, if present.
pub fn label<'a>(obj: &'a Value, name: &str) -> Option<&'a str> {
    obj.pointer("/metadata/labels")?.get(name)?.as_str()
}

/// Where an env's objects go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvTarget {
    pub env: String,
    pub namespace: String,
}

/// The desired objects of an env, and the units that could not be turned into objects.
#[derive(Debug, Clone, Default)]
pub struct DesiredSet {
    /// In apply order.
    pub objects: Vec<DesiredObject>,
    /// Units whose files are broken, with the message (path and line where known).
    pub failed: BTreeMap<Unit, String>,
    /// Every unit of the env, failed or not, in render order.
    pub units: Vec<Unit>,
}

impl DesiredSet {
    /// Keys of all desired objects.
    pub fn keys(&self) -> std::collections::HashSet<&ObjectKey> {
        self.objects.iter().map(|o| &o.key).collect()
    }
}

/// Turns the rendered units of an env into desired objects.
///
/// `scope` tells whether a kind (`apiVersion`, `kind`) is namespaced; `None` means the
/// cluster does not know it, which fails the unit. Objects of namespaced kinds go to
/// the env's namespace; one that names another namespace fails its unit, because
/// the env's inventory, labels and prune are scoped to its namespace. Cluster-scoped
/// objects lose any `metadata.namespace` they carry.
pub fn desired_set(
    target: &EnvTarget,
    units: &[RenderedUnit],
    scope: &dyn Fn(&str, &str) -> Option<Scope>,
) -> DesiredSet {
    let mut set = DesiredSet::default();
    let mut owner: BTreeMap<ObjectKey, Unit> = BTreeMap::new();
    for rendered in units {
        set.units.push(rendered.unit.clone());
        let docs = match &rendered.result {
            Ok(docs) => docs,
            Err(e) => {
                set.failed.insert(rendered.unit.clone(), e.to_string());
                continue;
            }
        };
        let source = rendered.sources.first().cloned().unwrap_or_default();
        let mut objects = Vec::new();
        let mut failure = None;
        for (i, doc) in docs.iter().enumerate() {
            match to_desired(target, &rendered.unit, doc, scope) {
                Ok(obj) => {
                    if let Some(other) = owner.get(&obj.key) {
                        failure = Some(format!(
                            "{source}: document {}: {} is already defined by {}",
                            i + 1,
                            obj.key,
                            other.display_name()
                        ));
                        break;
                    }
                    if objects.iter().any(|o: &DesiredObject| o.key == obj.key) {
                        failure = Some(format!("{source}: document {}: {} is defined twice", i + 1, obj.key));
                        break;
                    }
                    objects.push(obj);
                }
                Err(message) => {
                    failure = Some(format!("{source}: document {}: {message}", i + 1));
                    break;
                }
            }
        }
        match failure {
            Some(message) => {
                set.failed.insert(rendered.unit.clone(), message);
            }
            None => {
                for obj in objects {
                    owner.insert(obj.key.clone(), rendered.unit.clone());
                    set.objects.push(obj);
                }
            }
        }
    }
    sort_for_apply(&mut set.objects);
    set
}

/// One manifest → a desired object (labels, namespace, hash).
fn to_desired(
    target: &EnvTarget,
    unit: &Unit,
    doc: &serde_yaml::Value,
    scope: &dyn Fn(&str, &str) -> Option<Scope>,
) -> Result<DesiredObject, String> {
    let mut body: Value = serde_json::to_value(doc)
        .map_err(|e| format!("cannot be expressed as JSON (mapping keys must be strings): {e}"))?;
    let api_version = body
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let kind = body.get("kind").and_then(Value::as_str).unwrap_or_default().to_string();
    let Some(meta) = body.get_mut("metadata").and_then(Value::as_object_mut) else {
        return Err("metadata must be a mapping".to_string());
    };
    let name = meta.get("name").and_then(Value::as_str).unwrap_or_default().to_string();
    let namespace = match scope(&api_version, &kind) {
        None => {
            return Err(format!(
                "the cluster does not serve kind {kind} in {api_version} (install its CustomResourceDefinition, or fix apiVersion/kind)"
            ))
        }
        Some(Scope::Cluster) => {
            meta.remove("namespace");
            None
        }
        Some(Scope::Namespaced) => {
            match meta.get("namespace") {
                None | Some(Value::Null) => {}
                Some(Value::String(ns)) if *ns == target.namespace => {}
                Some(other) => {
                    return Err(format!(
                        "{kind} {name} names namespace {other}, but env {} deploys to namespace {}; remove metadata.namespace",
                        target.env, target.namespace
                    ))
                }
            }
            meta.insert("namespace".into(), Value::String(target.namespace.clone()));
            Some(target.namespace.clone())
        }
    };
    let labels = meta.entry("labels").or_insert_with(|| json!({}));
    if labels.is_null() {
        *labels = json!({});
    }
    let Some(labels) = labels.as_object_mut() else {
        return Err("metadata.labels must be a mapping".to_string());
    };
    for (k, v) in slipway_labels(&target.env, unit) {
        labels.insert(k.to_string(), Value::String(v));
    }
    // The hash covers the manifest with Slipway's labels but without the annotation itself.
    let hash = manifest_hash(&body);
    let meta = body
        .get_mut("metadata")
        .and_then(Value::as_object_mut)
        .ok_or("metadata must be a mapping")?;
    let annotations = meta.entry("annotations").or_insert_with(|| json!({}));
    if annotations.is_null() {
        *annotations = json!({});
    }
    let Some(annotations) = annotations.as_object_mut() else {
        return Err("metadata.annotations must be a mapping".to_string());
    };
    annotations.insert(HASH_ANNOTATION.into(), Value::String(hash));
    let key = ObjectKey {
        group: group_of(&api_version).to_string(),
        kind,
        namespace,
        name,
    };
    Ok(DesiredObject::new(key, api_version, unit.clone(), &body))
}

/// The labels Slipway adds to every object of a unit (SPEC section 3).
pub fn slipway_labels(env: &str, unit: &Unit) -> Vec<(&'static str, String)> {
    let mut labels = vec![(MANAGED_BY_LABEL, MANAGER.to_string()), (ENV_LABEL, env.to_string())];
    if let Unit::Service(service) = unit {
        labels.push((SERVICE_LABEL, service_label_value(service)));
    }
    labels
}

/// A stable 64-bit FNV-1a hash of the manifest's JSON text, in hex.
pub fn manifest_hash(body: &Value) -> String {
    let text = canonical_json(body);
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.as_bytes() {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("{h:016x}")
}

/// JSON text with object keys sorted, whatever order the map keeps them in.
fn canonical_json(v: &Value) -> String {
    match v {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            let inner: Vec<String> = keys
                .into_iter()
                .map(|k| format!("{}:{}", Value::String(k.clone()), canonical_json(&map[k])))
                .collect();
            format!("{{{}}}", inner.join(","))
        }
        Value::Array(items) => format!("[{}]", items.iter().map(canonical_json).collect::<Vec<_>>().join(",")),
        other => other.to_string(),
    }
}

/// Apply order of a kind: namespaces and CRDs first, then configuration, RBAC and
/// services (what workloads refer to), then workloads and custom resources.
pub fn apply_rank(group: &str, kind: &str) -> u8 {
    match (group, kind) {
        ("", "Namespace") | ("apiextensions.k8s.io", "CustomResourceDefinition") => 0,
        ("", "ServiceAccount" | "ConfigMap" | "Secret" | "Service" | "PersistentVolumeClaim" | "LimitRange")
        | ("", "ResourceQuota" | "PersistentVolume" | "Endpoints")
        | ("rbac.authorization.k8s.io", _)
        | ("networking.k8s.io", _)
        | ("policy", _)
        | ("scheduling.k8s.io", _)
        | ("storage.k8s.io", _) => 1,
        _ => 2,
    }
}

/// Sorts objects into apply order, keeping the repo order within a rank.
pub fn sort_for_apply(objects: &mut [DesiredObject]) {
    objects.sort_by_key(|o| apply_rank(&o.key.group, &o.key.kind));
}

/// Kinds defined by the CustomResourceDefinitions among the rendered units:
/// `(apiVersion, kind) → scope`, for every served version.
pub fn crd_kinds(units: &[RenderedUnit]) -> BTreeMap<(String, String), Scope> {
    let mut out = BTreeMap::new();
    for unit in units {
        let Ok(docs) = &unit.result else { continue };
        for doc in docs {
            let is_crd = doc.get("kind").and_then(|k| k.as_str()) == Some("CustomResourceDefinition")
                && doc
                    .get("apiVersion")
                    .and_then(|a| a.as_str())
                    .is_some_and(|a| a.starts_with("apiextensions.k8s.io/"));
            if !is_crd {
                continue;
            }
            let Some(spec) = doc.get("spec") else { continue };
            let group = spec.get("group").and_then(|g| g.as_str()).unwrap_or_default();
            let Some(kind) = spec.get("names").and_then(|n| n.get("kind")).and_then(|k| k.as_str()) else {
                continue;
            };
            let scope = match spec.get("scope").and_then(|s| s.as_str()) {
                Some("Cluster") => Scope::Cluster,
                _ => Scope::Namespaced,
            };
            let versions = spec
                .get("versions")
                .and_then(|v| v.as_sequence())
                .cloned()
                .unwrap_or_default();
            for v in versions {
                if let Some(name) = v.get("name").and_then(|n| n.as_str()) {
                    out.insert((format!("{group}/{name}"), kind.to_string()), scope);
                }
            }
        }
    }
    out
}

/// The plural resource name a CRD declares for a kind, if it is among the units.
pub fn crd_plural(units: &[RenderedUnit], group: &str, kind: &str) -> Option<String> {
    units
        .iter()
        .filter_map(|u| u.result.as_ref().ok())
        .flatten()
        .find_map(|doc| {
            let spec = doc.get("spec")?;
            let names = spec.get("names")?;
            (doc.get("kind")?.as_str()? == "CustomResourceDefinition"
                && spec.get("group")?.as_str()? == group
                && names.get("kind")?.as_str()? == kind)
                .then(|| names.get("plural").and_then(|p| p.as_str()).map(str::to_string))
                .flatten()
        })
}

/// A JSON object with only the given fields of `obj` (for compact logs and tests).
pub fn pick(obj: &Value, fields: &[&str]) -> Value {
    let mut out = Map::new();
    for f in fields {
        if let Some(v) = obj.pointer(f) {
            out.insert((*f).to_string(), v.clone());
        }
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use slipway_core::RepoSnapshot;

    fn builtin_scope(api_version: &str, kind: &str) -> Option<Scope> {
        match (api_version, kind) {
            ("v1", "Namespace") | ("apiextensions.k8s.io/v1", "CustomResourceDefinition") => Some(Scope::Cluster),
            ("rbac.authorization.k8s.io/v1", "ClusterRole") => Some(Scope::Cluster),
            ("v1", _) | ("apps/v1", _) | ("batch/v1", _) => Some(Scope::Namespaced),
            _ => None,
        }
    }

    fn target() -> EnvTarget {
        EnvTarget {
            env: "dev".into(),
            namespace: "dev-ns".into(),
        }
    }

    fn render(files: &[(&str, &str)]) -> Vec<RenderedUnit> {
        RepoSnapshot::from_files("c1", files.iter().map(|(k, v)| (k.to_string(), v.as_bytes().to_vec())))
            .render_env("dev")
    }

    const BASE: &str = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: api\n  labels: {app: api}\nspec:\n  replicas: ${replicas}\n---\napiVersion: v1\nkind: Service\nmetadata:\n  name: api\nspec:\n  ports: [{port: 80}]\n";

    #[test]
    fn service_objects_get_env_service_and_managed_by_labels_and_the_env_namespace() {
        let units = render(&[
            ("dev/base/team-a/api.yaml", BASE),
            ("dev/version/team-a/api.yaml", "replicas: 2\n"),
        ]);
        let set = desired_set(&target(), &units, &builtin_scope);
        assert!(set.failed.is_empty(), "{:?}", set.failed);
        assert_eq!(set.objects.len(), 2);
        let deploy = set.objects.iter().find(|o| o.key.kind == "Deployment").unwrap();
        assert_eq!(label(&deploy.body(), "app"), Some("api"));
        assert_eq!(label(&deploy.body(), MANAGED_BY_LABEL), Some("slipway"));
        assert_eq!(label(&deploy.body(), ENV_LABEL), Some("dev"));
        assert_eq!(label(&deploy.body(), SERVICE_LABEL), Some("team-a.api"));
        assert_eq!(deploy.body()["metadata"]["namespace"], "dev-ns");
        assert_eq!(deploy.body()["spec"]["replicas"], 2);
        assert_eq!(deploy.key.namespace.as_deref(), Some("dev-ns"));
        assert_eq!(deploy.key.group, "apps");
        assert!(deploy.hash().is_some());
    }

    #[test]
    fn deployables_get_no_service_label_and_cluster_scoped_objects_no_namespace() {
        let units = render(&[(
            "dev/deployable/rbac/roles.yaml",
            "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: reader, namespace: x}\nrules: []\n",
        )]);
        let set = desired_set(&target(), &units, &builtin_scope);
        let role = &set.objects[0];
        assert_eq!(role.unit, Unit::Deployable("rbac/roles.yaml".into()));
        assert_eq!(label(&role.body(), SERVICE_LABEL), None);
        assert_eq!(label(&role.body(), ENV_LABEL), Some("dev"));
        assert_eq!(role.key.namespace, None);
        assert!(role.body()["metadata"].get("namespace").is_none());
    }

    #[test]
    fn an_object_naming_another_namespace_fails_its_unit_only() {
        let units = render(&[
            (
                "dev/deployable/a.yaml",
                "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, namespace: kube-system}\n",
            ),
            (
                "dev/deployable/b.yaml",
                "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: b}\n",
            ),
        ]);
        let set = desired_set(&target(), &units, &builtin_scope);
        assert_eq!(set.objects.len(), 1);
        let msg = &set.failed[&Unit::Deployable("a.yaml".into())];
        assert!(
            msg.contains("kube-system") && msg.contains("dev/deployable/a.yaml"),
            "{msg}"
        );
    }

    #[test]
    fn unknown_kinds_and_duplicate_objects_fail_their_unit() {
        let units = render(&[
            (
                "dev/deployable/a.yaml",
                "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: same}\n",
            ),
            (
                "dev/deployable/b.yaml",
                "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: same}\n",
            ),
            (
                "dev/deployable/c.yaml",
                "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\n",
            ),
        ]);
        let set = desired_set(&target(), &units, &builtin_scope);
        assert_eq!(set.objects.len(), 1);
        assert!(set.failed[&Unit::Deployable("b.yaml".into())].contains("already defined by deployable/a.yaml"));
        assert!(set.failed[&Unit::Deployable("c.yaml".into())].contains("does not serve kind Widget"));
    }

    #[test]
    fn broken_yaml_fails_its_unit_with_path_and_line() {
        let units = render(&[
            (
                "dev/base/s1.yaml",
                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: [oops\n",
            ),
            ("dev/version/s1.yaml", "v: 1\n"),
            (
                "dev/deployable/ok.yaml",
                "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: ok}\n",
            ),
        ]);
        let set = desired_set(&target(), &units, &builtin_scope);
        assert_eq!(set.objects.len(), 1);
        let msg = &set.failed[&Unit::Service("s1".into())];
        assert!(msg.starts_with("dev/base/s1.yaml:"), "{msg}");
    }

    #[test]
    fn objects_are_ordered_namespaces_and_crds_then_config_then_workloads() {
        let units = render(&[(
            "dev/deployable/all.yaml",
            "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n---\napiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata: {name: widgets.example.com}\nspec: {group: example.com, scope: Namespaced, names: {kind: Widget, plural: widgets}, versions: [{name: v1}]}\n---\napiVersion: v1\nkind: Namespace\nmetadata: {name: extra}\n",
        )]);
        let kinds = crd_kinds(&units);
        let scope = |a: &str, k: &str| builtin_scope(a, k).or_else(|| kinds.get(&(a.into(), k.into())).copied());
        let set = desired_set(&target(), &units, &scope);
        let order: Vec<&str> = set.objects.iter().map(|o| o.key.kind.as_str()).collect();
        assert_eq!(
            order,
            ["CustomResourceDefinition", "Namespace", "ConfigMap", "Deployment"]
        );
        assert_eq!(
            kinds.get(&("example.com/v1".into(), "Widget".into())),
            Some(&Scope::Namespaced)
        );
        assert_eq!(crd_plural(&units, "example.com", "Widget").as_deref(), Some("widgets"));
    }

    #[test]
    fn hash_changes_with_the_manifest_and_ignores_key_order() {
        let a = json!({"a": 1, "b": {"c": [1, 2]}});
        let b = json!({"b": {"c": [1, 2]}, "a": 1});
        let c = json!({"a": 1, "b": {"c": [2, 1]}});
        assert_eq!(manifest_hash(&a), manifest_hash(&b));
        assert_ne!(manifest_hash(&a), manifest_hash(&c));
    }
}
