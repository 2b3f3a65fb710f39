//! What runs in the cluster for one service or `deployable/` file, as the
//! deployer's live view answers it (`GET /envs/{env}/services/{service}/live`):
//! each object with its status and conditions, workloads with their
//! ReplicaSets and Pods, and the recent Events of all of them.
//!
//! ```text
//!   LiveView ─┬─ objects: LiveObject (Deployment web) ─ children: LiveObject (ReplicaSet web-5d4f8c7b9x)
//!             │                                            └─ pods: PodView (web-5d4f8c7b9x-abcde) ─ containers
//!             └─ events: EventView (newest first)
//! ```

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::status::RolloutStatus;

/// One condition of an object's status, as the cluster reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Condition {
    #[serde(rename = "type")]
    pub type_: String,
    /// `True`, `False` or `Unknown`.
    pub status: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    #[cfg_attr(feature = "ts", ts(as = "Option<String>", optional))]
    pub reason: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    #[cfg_attr(feature = "ts", ts(as = "Option<String>", optional))]
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub last_transition_time: Option<String>,
}

/// One container of a pod.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct ContainerView {
    pub name: String,
    pub image: String,
    pub ready: bool,
    pub restart_count: i64,
    /// `running`, `waiting` or `terminated` (`unknown` before the kubelet reports it).
    pub state: String,
    /// Why it waits or ended: `ContainerCreating`, `ImagePullBackOff`, `CrashLoopBackOff`, `Completed`, ...
    #[serde(default, skip_serializing_if = "String::is_empty")]
    #[cfg_attr(feature = "ts", ts(as = "Option<String>", optional))]
    pub reason: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    #[cfg_attr(feature = "ts", ts(as = "Option<String>", optional))]
    pub message: String,
}

/// One pod of a workload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct PodView {
    pub name: String,
    /// `Pending`, `Running`, `Succeeded`, `Failed` or `Unknown`.
    pub phase: String,
    /// The pod's `Ready` condition is `True`.
    pub ready: bool,
    /// Restarts of all its containers.
    pub restarts: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub node: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub created: Option<String>,
    pub containers: Vec<ContainerView>,
    pub conditions: Vec<Condition>,
}

/// One object in the cluster, with what it owns (a Deployment's ReplicaSets).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct LiveObject {
    pub api_version: String,
    pub kind: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub namespace: Option<String>,
    /// The deployer's rollout status of it (objects Slipway applied), else `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub status: Option<RolloutStatus>,
    #[serde(default)]
    pub reason: String,
    /// The object is not in the cluster (deleted by hand, or not applied yet).
    #[serde(default)]
    pub missing: bool,
    /// `ready/desired` replicas of a workload or ReplicaSet (`2/2`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub replicas: Option<String>,
    #[serde(default)]
    pub conditions: Vec<Condition>,
    /// Objects it owns: a Deployment's ReplicaSets.
    #[serde(default)]
    pub children: Vec<LiveObject>,
    /// Pods it owns directly: a ReplicaSet's, StatefulSet's, DaemonSet's or Job's.
    #[serde(default)]
    pub pods: Vec<PodView>,
}

/// One Event about an object of the view.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct EventView {
    /// `Normal` or `Warning`.
    #[serde(rename = "type")]
    pub type_: String,
    pub reason: String,
    pub message: String,
    /// `Kind/name` of the object it is about.
    pub object: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub time: Option<String>,
    pub count: i64,
}

/// The body of the deployer's live view of one unit in one env.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct LiveView {
    pub env: String,
    /// The service, or `deployable/<file>`.
    pub unit: String,
    pub cluster: String,
    pub namespace: String,
    pub observed_at: DateTime<Utc>,
    pub objects: Vec<LiveObject>,
    /// Events of the objects, their ReplicaSets and Pods, newest first (at most 50).
    pub events: Vec<EventView>,
}

/// One field Slipway manages whose live value differs from the desired one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct FieldDiff {
    /// `spec.replicas`, `spec.template.spec.containers[0].image`.
    pub path: String,
    /// The value in the cluster (JSON text), `None` when the field is absent there.
    pub live: Option<String>,
    /// The value in the repo (JSON text).
    pub desired: String,
}

/// How an object in the cluster compares with the repo.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum DiffState {
    /// Every field Slipway manages has the desired value.
    InSync,
    /// Not in the cluster: the next reconcile creates it.
    Missing,
    /// The repo changed: the next reconcile applies the new fields.
    Changed,
    /// Someone changed fields Slipway manages in the cluster: the next reconcile restores them.
    Drifted,
    /// In sync, but the next reconcile takes ownership or adopts it.
    Unowned,
    /// Not applied (someone else's object, or a kind that cannot be read).
    Blocked,
    /// No longer in the repo: the next reconcile deletes (or releases) it.
    Extra,
}

/// One object: what the repo wants against what runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct ObjectDiff {
    /// The service, or `deployable/<file>`.
    pub unit: String,
    pub api_version: String,
    pub kind: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub namespace: Option<String>,
    pub state: DiffState,
    /// The fields that differ (`changed`, `drifted`).
    #[serde(default)]
    pub fields: Vec<FieldDiff>,
    /// Why, for `blocked`, `unowned` and `extra`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    #[cfg_attr(feature = "ts", ts(as = "Option<String>", optional))]
    pub reason: String,
}

/// The body of the deployer's `GET /envs/{env}/diff`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct EnvDiff {
    pub env: String,
    pub cluster: String,
    pub namespace: String,
    /// The commit whose desired state is compared.
    pub commit: String,
    pub observed_at: DateTime<Utc>,
    /// Why the whole env would be refused (then nothing is applied).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub refused: Option<String>,
    pub objects: Vec<ObjectDiff>,
    /// Units whose files are broken, with the message.
    #[serde(default)]
    pub failed: Vec<(String, String)>,
}
