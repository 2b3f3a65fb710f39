//! Live objects as the deployer keeps them: per object only what the plan, the
//! prune rules and the rollout judgement read, worked out once when the copy
//! arrives (a list, a watch event or an apply answer).
//!
//! ```text
//! object from the API server ──▶ LiveObject { manifest fields (JSON text),
//!                                             version, hash, env label,
//!                                             owned by slipway, rollout assessment }
//! ```
//!
//! The fields of the object at the places its desired manifest names are kept
//! as JSON text, parsed only when the plan compares the object with its
//! manifest: a plan compares only copies it has not verified before, and a
//! tree of small JSON maps takes ten times the memory of its text.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::Value;

use crate::diff::{applied_by_slipway, shape};
use crate::object::{
    annotation, label, ObjectKey, ADOPT_ANNOTATION, ENV_LABEL, HASH_ANNOTATION, MANAGED_BY_LABEL, MANAGER,
};
use crate::rollout::{assess, Assessment};

/// One live object, cut down to what Slipway reads of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveObject {
    /// The object's fields at the places of its desired manifest, as JSON text.
    manifest_fields: Box<str>,
    /// `metadata.resourceVersion` as a number, where it is one (etcd's are).
    version: Option<u64>,
    /// The annotation [`HASH_ANNOTATION`].
    hash: Option<Box<str>>,
    /// The label [`ENV_LABEL`].
    env: Option<Box<str>>,
    /// Slipway's field manager applied it.
    owned: bool,
    /// It carries [`MANAGED_BY_LABEL`]` = slipway`.
    managed: bool,
    /// Its owner allows adoption: [`ADOPT_ANNOTATION`]` = "true"`.
    adoptable: bool,
    rollout: Assessment,
}

/// A live object, shared between the caches and the reconciles reading them.
pub type SharedLive = Arc<LiveObject>;

/// An env's live objects by key.
pub type Live = BTreeMap<ObjectKey, SharedLive>;

impl LiveObject {
    /// What Slipway keeps of `obj`, whose desired manifest is `manifest`
    /// (`None` for an object the repo does not define).
    pub fn new(obj: &Value, manifest: Option<&Value>) -> Self {
        let manifest_fields = match manifest {
            Some(m) => shape(obj, m).to_string(),
            None => String::new(),
        };
        LiveObject {
            manifest_fields: manifest_fields.into_boxed_str(),
            version: obj
                .pointer("/metadata/resourceVersion")
                .and_then(Value::as_str)
                .and_then(|v| v.parse().ok()),
            hash: annotation(obj, HASH_ANNOTATION).map(Into::into),
            env: label(obj, ENV_LABEL).map(Into::into),
            owned: applied_by_slipway(obj),
            managed: label(obj, MANAGED_BY_LABEL) == Some(MANAGER),
            adoptable: annotation(obj, ADOPT_ANNOTATION) == Some("true"),
            rollout: assess(obj),
        }
    }

    /// The object's fields at the places of its desired manifest (`null` when
    /// it was kept without one): for [`crate::diff::contains`] and
    /// [`crate::diff::changes`] against that manifest, it answers like the
    /// whole object.
    pub fn manifest_fields(&self) -> Value {
        if self.manifest_fields.is_empty() {
            return Value::Null;
        }
        // Written by `new` from a JSON value, so it always parses.
        serde_json::from_str(&self.manifest_fields).unwrap_or(Value::Null)
    }

    /// The manifest hash the object carries.
    pub fn hash(&self) -> Option<&str> {
        self.hash.as_deref()
    }

    /// The env the object is labelled for.
    pub fn env(&self) -> Option<&str> {
        self.env.as_deref()
    }

    /// Whether the object carries Slipway's labels for `env` (managed-by and env):
    /// only such objects are Slipway's to change or delete.
    pub fn belongs_to(&self, env: &str) -> bool {
        self.managed && self.env() == Some(env)
    }

    /// Whether it carries `app.kubernetes.io/managed-by: slipway`.
    pub fn managed_by_slipway(&self) -> bool {
        self.managed
    }

    /// Whether its owner allows Slipway to adopt it (annotation [`ADOPT_ANNOTATION`]).
    pub fn adoptable(&self) -> bool {
        self.adoptable
    }

    /// Whether Slipway's field manager applied the object.
    pub fn applied_by_slipway(&self) -> bool {
        self.owned
    }

    /// What the object's fields say of its rollout.
    pub fn rollout(&self) -> &Assessment {
        &self.rollout
    }

    /// Whether this copy may replace `older`: unless both versions are numbers
    /// and this one's is lower (the order is only used to keep the newer of
    /// two copies; opaque versions cannot be ordered, so the latest seen wins).
    pub fn replaces(&self, older: &LiveObject) -> bool {
        match (self.version, older.version) {
            (Some(new), Some(old)) => new >= old,
            _ => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diff::{changes, contains};
    use serde_json::json;
    use slipway_core::status::RolloutStatus;

    #[test]
    fn keeps_what_the_plan_and_rollouts_read_and_compares_like_the_whole_object() {
        let manifest = json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "labels": {"app": "web"}, "annotations": {"team": "a"}},
            "spec": {"replicas": 2, "template": {"spec": {"containers": [{"name": "app", "image": "a:1"}]}}}});
        let obj = json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "dev", "uid": "u1", "generation": 3,
                         "resourceVersion": "42", "creationTimestamp": "2026-01-01T00:00:00Z",
                         "labels": {"app": "web", "slipway.dev/env": "dev"},
                         "annotations": {"team": "a", "slipway.dev/manifest-hash": "h", "other": "x"},
                         "managedFields": [{"manager": "slipway", "operation": "Apply"}]},
            "spec": {"replicas": 2, "progressDeadlineSeconds": 600, "revisionHistoryLimit": 10,
                     "template": {"spec": {"dnsPolicy": "ClusterFirst",
                         "containers": [{"name": "app", "image": "a:2", "imagePullPolicy": "IfNotPresent"}]}}},
            "status": {"observedGeneration": 3, "replicas": 2, "updatedReplicas": 1, "availableReplicas": 1}});
        let live = LiveObject::new(&obj, Some(&manifest));
        let fields = live.manifest_fields();
        assert_eq!(contains(&fields, &manifest), contains(&obj, &manifest));
        assert_eq!(changes(&fields, &manifest, 10), changes(&obj, &manifest, 10));
        assert_eq!(changes(&fields, &manifest, 10).len(), 1);
        for dropped in [
            "/metadata/uid",
            "/metadata/annotations/other",
            "/spec/revisionHistoryLimit",
            "/spec/template/spec/containers/0/imagePullPolicy",
            "/status",
        ] {
            assert_eq!(fields.pointer(dropped), None, "{dropped}");
        }
        assert_eq!(live.hash(), Some("h"));
        assert_eq!(live.env(), Some("dev"));
        assert!(live.applied_by_slipway());
        assert!(!live.belongs_to("dev"), "no managed-by label");
        assert!(!live.adoptable());
        assert_eq!(live.rollout().generation, 3);
        assert_eq!(live.rollout().deadline, Some(std::time::Duration::from_secs(600)));
        assert_eq!(live.rollout().judgement.status, RolloutStatus::InProgress);
        assert_eq!(live.rollout().judgement.reason, "1 of 2 replicas updated");

        // Without a manifest nothing of the fields is kept.
        let bare = LiveObject::new(&obj, None);
        assert_eq!(bare.manifest_fields(), Value::Null);
        assert_eq!(bare.env(), Some("dev"));
    }

    #[test]
    fn an_object_belongs_to_an_env_only_with_both_labels_and_says_whether_it_may_be_adopted() {
        let of = |labels: Value, annotations: Value| {
            LiveObject::new(
                &json!({"metadata": {"labels": labels, "annotations": annotations}}),
                None,
            )
        };
        let both = json!({"app.kubernetes.io/managed-by": "slipway", "slipway.dev/env": "dev"});
        assert!(of(both.clone(), json!({})).belongs_to("dev"));
        assert!(!of(both, json!({})).belongs_to("prod"));
        assert!(!of(json!({"slipway.dev/env": "dev"}), json!({})).belongs_to("dev"));
        assert!(of(json!({}), json!({"slipway.dev/adopt": "true"})).adoptable());
        assert!(!of(json!({}), json!({"slipway.dev/adopt": "yes"})).adoptable());
    }

    #[test]
    fn the_newer_of_two_copies_wins_when_versions_are_numbers() {
        let v = |rv: &str| LiveObject::new(&json!({"metadata": {"resourceVersion": rv}}), None);
        assert!(v("11").replaces(&v("10")));
        assert!(v("10").replaces(&v("10")));
        assert!(!v("9").replaces(&v("10")));
        // Opaque versions cannot be ordered: the latest copy seen wins.
        assert!(v("abc").replaces(&v("10")));
        assert!(LiveObject::new(&json!({}), None).replaces(&v("10")));
    }
}
