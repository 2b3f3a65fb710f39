//! CustomResourceDefinitions: establishing a new CRD and removing a deleted
//! one with its custom resources (the types themselves come from
//! `resources::types_from_crd` when a CRD is written).

use serde_json::{json, Value};

use super::cluster::Cluster;
use crate::meta::now_rfc3339;

impl Cluster {
    /// Removes a deleted CRD, its custom resources and its discovery entries.
    pub fn remove_crd(&self, name: &str) {
        let mut inner = self.lock();
        let removed = inner.registry.remove_crd(name);
        for rt in removed {
            inner.drop_resource(&rt.key());
        }
        inner.remove("apiextensions.k8s.io/customresourcedefinitions", "", name);
    }

    /// Sets a CRD's NamesAccepted/Established status.
    pub fn establish_crd(&self, name: &str) {
        self.controller_write_as(
            "kube-apiserver","apiextensions.k8s.io/customresourcedefinitions", "", name, |crd| {
            let names = crd.pointer("/spec/names").cloned().unwrap_or(json!({}));
            let stored: Vec<Value> = crd
                .pointer("/spec/versions")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter(|v| v.get("storage") == Some(&json!(true)))
                .filter_map(|v| v.get("name").cloned())
                .collect();
            let now = now_rfc3339();
            let keep = |ty: &str| {
                crd.pointer("/status/conditions")
                    .and_then(Value::as_array)
                    .and_then(|c| c.iter().find(|c| c.get("type") == Some(&json!(ty))))
                    .and_then(|c| c.get("lastTransitionTime").cloned())
                    .unwrap_or(json!(now))
            };
            crd["status"] = json!({
                "conditions": [
                    {"type": "NamesAccepted", "status": "True", "lastTransitionTime": keep("NamesAccepted"), "reason": "NoConflicts", "message": "no conflicts found"},
                    {"type": "Established", "status": "True", "lastTransitionTime": keep("Established"), "reason": "InitialNamesAccepted", "message": "the initial names have been accepted"},
                ],
                "acceptedNames": names,
                "storedVersions": stored,
            });
        });
    }
}
