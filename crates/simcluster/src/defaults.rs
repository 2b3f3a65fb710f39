//! Defaults the real server fills in, and the dropping of unknown fields
//! (Kubernetes v1.24 drops them silently; `fieldValidation` is ignored).

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::{json, Map, Value};

use crate::resources::ResourceType;

const METADATA_FIELDS: &[&str] = &[
    "name",
    "generateName",
    "namespace",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "labels",
    "annotations",
    "ownerReferences",
    "finalizers",
    "managedFields",
];

fn top_level_fields(rt: &ResourceType) -> &'static [&'static str] {
    match (rt.group.as_str(), rt.plural.as_str()) {
        ("", "configmaps") => &["data", "binaryData", "immutable"],
        ("", "secrets") => &["data", "stringData", "type", "immutable"],
        ("", "events") => &[
            "involvedObject",
            "reason",
            "message",
            "source",
            "firstTimestamp",
            "lastTimestamp",
            "count",
            "type",
            "eventTime",
            "series",
            "action",
            "related",
            "reportingComponent",
            "reportingInstance",
        ],
        ("", "serviceaccounts") => &["secrets", "imagePullSecrets", "automountServiceAccountToken"],
        ("rbac.authorization.k8s.io", "roles") => &["rules"],
        ("rbac.authorization.k8s.io", "clusterroles") => &["rules", "aggregationRule"],
        ("rbac.authorization.k8s.io", "rolebindings" | "clusterrolebindings") => &["subjects", "roleRef"],
        ("coordination.k8s.io", "leases") => &["spec"],
        _ => &["spec", "status"],
    }
}

/// Drops fields the kind does not have (top level and metadata).
pub fn drop_unknown_fields(rt: &ResourceType, obj: &mut Value) {
    let Some(m) = obj.as_object_mut() else { return };
    if let Some(schema) = &rt.schema {
        m.retain(|k, _| {
            matches!(k.as_str(), "apiVersion" | "kind" | "metadata")
                || schema.pointer(&format!("/properties/{k}")).is_some()
        });
        for (k, v) in m.iter_mut() {
            if let Some(s) = schema.pointer(&format!("/properties/{k}")) {
                if k != "metadata" {
                    crate::validation::prune(v, s);
                }
            }
        }
    } else {
        let allowed = top_level_fields(rt);
        m.retain(|k, _| matches!(k.as_str(), "apiVersion" | "kind" | "metadata") || allowed.contains(&k.as_str()));
    }
    if let Some(meta) = m.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.retain(|k, _| METADATA_FIELDS.contains(&k.as_str()));
    }
}

fn set_default(m: &mut Map<String, Value>, key: &str, v: Value) {
    if m.get(key).is_none_or(Value::is_null) {
        m.insert(key.to_string(), v);
    }
}

fn obj_at<'a>(v: &'a mut Value, path: &[&str]) -> Option<&'a mut Map<String, Value>> {
    let mut cur = v;
    for p in path {
        let m = cur.as_object_mut()?;
        if !m.contains_key(*p) || m[*p].is_null() {
            m.insert(p.to_string(), json!({}));
        }
        cur = m.get_mut(*p)?;
    }
    cur.as_object_mut()
}

fn default_container(c: &mut Value) {
    let Some(m) = c.as_object_mut() else { return };
    let image = m.get("image").and_then(Value::as_str).unwrap_or_default().to_string();
    let last = image.rsplit('/').next().unwrap_or_default();
    let latest = !last.contains(':') && !last.contains('@') || image.ends_with(":latest");
    set_default(
        m,
        "imagePullPolicy",
        json!(if latest { "Always" } else { "IfNotPresent" }),
    );
    set_default(m, "resources", json!({}));
    set_default(m, "terminationMessagePath", json!("/dev/termination-log"));
    set_default(m, "terminationMessagePolicy", json!("File"));
    if let Some(ports) = m.get_mut("ports").and_then(Value::as_array_mut) {
        for p in ports.iter_mut().filter_map(Value::as_object_mut) {
            set_default(p, "protocol", json!("TCP"));
        }
    }
}

/// Pod spec defaults (`restartPolicy` defaults to `Always` unless given).
fn default_pod_spec(spec: &mut Map<String, Value>) {
    set_default(spec, "restartPolicy", json!("Always"));
    set_default(spec, "terminationGracePeriodSeconds", json!(30));
    set_default(spec, "dnsPolicy", json!("ClusterFirst"));
    set_default(spec, "securityContext", json!({}));
    set_default(spec, "schedulerName", json!("default-scheduler"));
    for key in ["containers", "initContainers"] {
        if let Some(list) = spec.get_mut(key).and_then(Value::as_array_mut) {
            list.iter_mut().for_each(default_container);
        }
    }
}

fn default_template(obj: &mut Value, path: &[&str]) {
    if let Some(spec) = obj_at(obj, path) {
        default_pod_spec(spec);
    }
    // Go serializes the template's zero creationTimestamp as null; clients see it that way.
    if let Some((_, parent)) = path.split_last().filter(|(_, parent)| !parent.is_empty()) {
        if let Some(meta) = obj_at(obj, &[parent, &["metadata"]].concat()) {
            meta.entry("creationTimestamp").or_insert(Value::Null);
        }
    }
}

/// Fills in the defaults the real server sets on write. `ip` allocates a
/// Service cluster IP when one is needed.
pub fn apply_defaults(rt: &ResourceType, obj: &mut Value, ip: &mut dyn FnMut() -> String) {
    match (rt.group.as_str(), rt.plural.as_str()) {
        ("coordination.k8s.io", "leases") => crate::lease::normalize(obj),
        ("apps", "deployments") => {
            if let Some(spec) = obj_at(obj, &["spec"]) {
                set_default(spec, "replicas", json!(1));
                set_default(spec, "revisionHistoryLimit", json!(10));
                set_default(spec, "progressDeadlineSeconds", json!(600));
                set_default(spec, "strategy", json!({}));
                let strategy = spec
                    .get_mut("strategy")
                    .and_then(Value::as_object_mut)
                    .expect("strategy was just defaulted");
                set_default(strategy, "type", json!("RollingUpdate"));
                if strategy.get("type") == Some(&json!("RollingUpdate")) {
                    set_default(strategy, "rollingUpdate", json!({}));
                    if let Some(ru) = strategy.get_mut("rollingUpdate").and_then(Value::as_object_mut) {
                        set_default(ru, "maxUnavailable", json!("25%"));
                        set_default(ru, "maxSurge", json!("25%"));
                    }
                }
            }
            default_template(obj, &["spec", "template", "spec"]);
        }
        ("apps", "statefulsets") => {
            if let Some(spec) = obj_at(obj, &["spec"]) {
                set_default(spec, "replicas", json!(1));
                set_default(spec, "podManagementPolicy", json!("OrderedReady"));
                set_default(spec, "revisionHistoryLimit", json!(10));
                set_default(
                    spec,
                    "updateStrategy",
                    json!({"type": "RollingUpdate", "rollingUpdate": {"partition": 0}}),
                );
            }
            default_template(obj, &["spec", "template", "spec"]);
        }
        ("apps", "daemonsets") => {
            if let Some(spec) = obj_at(obj, &["spec"]) {
                set_default(spec, "revisionHistoryLimit", json!(10));
                set_default(
                    spec,
                    "updateStrategy",
                    json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}}),
                );
            }
            default_template(obj, &["spec", "template", "spec"]);
        }
        ("apps", "replicasets") => default_template(obj, &["spec", "template", "spec"]),
        ("batch", "jobs") => {
            if let Some(spec) = obj_at(obj, &["spec"]) {
                set_default(spec, "backoffLimit", json!(6));
                set_default(spec, "completions", json!(1));
                set_default(spec, "parallelism", json!(1));
                set_default(spec, "completionMode", json!("NonIndexed"));
                set_default(spec, "suspend", json!(false));
            }
            default_template(obj, &["spec", "template", "spec"]);
        }
        ("batch", "cronjobs") => {
            if let Some(spec) = obj_at(obj, &["spec"]) {
                set_default(spec, "concurrencyPolicy", json!("Allow"));
                set_default(spec, "suspend", json!(false));
                set_default(spec, "successfulJobsHistoryLimit", json!(3));
                set_default(spec, "failedJobsHistoryLimit", json!(1));
            }
            default_template(obj, &["spec", "jobTemplate", "spec", "template", "spec"]);
        }
        ("", "pods") => default_template(obj, &["spec"]),
        ("", "services") => {
            if let Some(spec) = obj_at(obj, &["spec"]) {
                set_default(spec, "type", json!("ClusterIP"));
                set_default(spec, "sessionAffinity", json!("None"));
                let ty = spec.get("type").and_then(Value::as_str).unwrap_or_default().to_string();
                if ty != "ExternalName" {
                    if spec.get("clusterIP").and_then(Value::as_str).is_none_or(str::is_empty) {
                        let addr = ip();
                        spec.insert("clusterIP".into(), json!(addr));
                    }
                    let cip = spec["clusterIP"].clone();
                    set_default(spec, "clusterIPs", json!([cip]));
                    set_default(spec, "ipFamilies", json!(["IPv4"]));
                    set_default(spec, "ipFamilyPolicy", json!("SingleStack"));
                    set_default(spec, "internalTrafficPolicy", json!("Cluster"));
                }
                if matches!(ty.as_str(), "NodePort" | "LoadBalancer") {
                    set_default(spec, "externalTrafficPolicy", json!("Cluster"));
                }
                if let Some(ports) = spec.get_mut("ports").and_then(Value::as_array_mut) {
                    for p in ports.iter_mut().filter_map(Value::as_object_mut) {
                        set_default(p, "protocol", json!("TCP"));
                        if let Some(port) = p.get("port").cloned() {
                            set_default(p, "targetPort", port);
                        }
                    }
                }
            }
            if let Some(status) = obj_at(obj, &["status"]) {
                set_default(status, "loadBalancer", json!({}));
            }
        }
        ("", "secrets") => {
            if let Some(m) = obj.as_object_mut() {
                set_default(m, "type", json!("Opaque"));
                if let Some(Value::Object(sd)) = m.remove("stringData") {
                    let data = m.entry("data").or_insert_with(|| json!({}));
                    if let Some(d) = data.as_object_mut() {
                        for (k, v) in sd {
                            d.insert(k, json!(STANDARD.encode(v.as_str().unwrap_or_default())));
                        }
                    }
                }
            }
        }
        ("", "namespaces") => {
            let name = obj
                .pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            if let Some(labels) = obj_at(obj, &["metadata", "labels"]) {
                labels.insert("kubernetes.io/metadata.name".into(), json!(name));
            }
            if let Some(spec) = obj_at(obj, &["spec"]) {
                set_default(spec, "finalizers", json!(["kubernetes"]));
            }
            if let Some(status) = obj_at(obj, &["status"]) {
                set_default(status, "phase", json!("Active"));
            }
        }
        ("", "persistentvolumeclaims") => {
            if let Some(spec) = obj_at(obj, &["spec"]) {
                set_default(spec, "volumeMode", json!("Filesystem"));
            }
            if let Some(status) = obj_at(obj, &["status"]) {
                set_default(status, "phase", json!("Pending"));
            }
        }
        ("networking.k8s.io", "ingresses") => {
            if let Some(status) = obj_at(obj, &["status"]) {
                set_default(status, "loadBalancer", json!({}));
            }
        }
        ("apiextensions.k8s.io", "customresourcedefinitions") => {
            if let Some(names) = obj_at(obj, &["spec", "names"]) {
                let kind = names
                    .get("kind")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_lowercase();
                set_default(names, "singular", json!(kind));
                let list_kind = format!("{}List", names.get("kind").and_then(Value::as_str).unwrap_or_default());
                set_default(names, "listKind", json!(list_kind));
            }
            if let Some(spec) = obj_at(obj, &["spec"]) {
                set_default(spec, "conversion", json!({"strategy": "None"}));
            }
            let stored: Vec<Value> = obj
                .pointer("/spec/versions")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter(|v| v.get("storage") == Some(&json!(true)))
                .filter_map(|v| v.get("name").cloned())
                .collect();
            if let Some(m) = obj.as_object_mut() {
                set_default(
                    m,
                    "status",
                    json!({"acceptedNames": {"kind": "", "plural": ""}, "conditions": null, "storedVersions": stored}),
                );
            }
        }
        _ => {}
    }
    if rt.is_workload() || matches!(rt.plural.as_str(), "cronjobs" | "replicasets") {
        if let Some(m) = obj.as_object_mut() {
            set_default(m, "status", json!({}));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::Registry;

    #[test]
    fn deployment_gets_the_real_defaults() {
        let reg = Registry::default();
        let rt = reg.get("apps", "v1", "deployments").unwrap();
        let mut d = json!({"spec": {"template": {"spec": {"containers": [{"name": "a", "image": "nginx:1.25", "ports": [{"containerPort": 80}]}]}}}});
        apply_defaults(&rt, &mut d, &mut || "10.96.0.1".into());
        assert_eq!(d["spec"]["replicas"], 1);
        assert_eq!(d["spec"]["progressDeadlineSeconds"], 600);
        assert_eq!(d["spec"]["strategy"]["rollingUpdate"]["maxSurge"], "25%");
        assert_eq!(
            d["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"],
            "IfNotPresent"
        );
        assert_eq!(
            d["spec"]["template"]["spec"]["containers"][0]["ports"][0]["protocol"],
            "TCP"
        );
        assert_eq!(d["status"], json!({}));
    }

    #[test]
    fn secret_string_data_is_folded_into_data() {
        let reg = Registry::default();
        let rt = reg.get("", "v1", "secrets").unwrap();
        let mut s = json!({"stringData": {"password": "s3cret"}, "data": {"user": "YWRtaW4="}});
        apply_defaults(&rt, &mut s, &mut || unreachable!());
        assert_eq!(
            s,
            json!({"type": "Opaque", "data": {"user": "YWRtaW4=", "password": "czNjcmV0"}})
        );
    }
}
