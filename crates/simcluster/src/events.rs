//! Events as the real components record them: one object per occurrence, kept
//! in both APIs a real server serves them from (`v1` Event and
//! `events.k8s.io/v1` Event are two views of one storage; the simulator stores
//! both shapes so that `kubectl get events`, `kubectl describe` and clients of
//! either API see them).

use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::{json, Value};

use crate::api::Cluster;
use crate::meta::now_rfc3339;

/// The object an Event is about.
#[derive(Clone, Debug)]
pub struct Regarding {
    pub api_version: String,
    pub kind: String,
    pub namespace: String,
    pub name: String,
    pub uid: String,
}

impl Regarding {
    /// The object an Event about `obj` (a stored object with apiVersion and kind) refers to.
    pub fn of(obj: &Value) -> Regarding {
        let s = |p: &str| obj.pointer(p).and_then(Value::as_str).unwrap_or_default().to_string();
        Regarding {
            api_version: s("/apiVersion"),
            kind: s("/kind"),
            namespace: s("/metadata/namespace"),
            name: s("/metadata/name"),
            uid: s("/metadata/uid"),
        }
    }

    fn reference(&self) -> Value {
        json!({"kind": self.kind, "namespace": self.namespace, "name": self.name,
               "uid": self.uid, "apiVersion": self.api_version})
    }
}

/// What happened, as the component that saw it words it.
#[derive(Clone, Debug)]
pub struct Occurrence<'a> {
    /// `Normal` or `Warning`.
    pub type_: &'a str,
    /// CamelCase reason (`ScalingReplicaSet`, `Failed`, `BackOff`, ...).
    pub reason: &'a str,
    pub message: String,
    /// The component that reports it (`deployment-controller`, `kubelet`, ...).
    pub component: &'a str,
    /// The verb of `events.k8s.io/v1` (`ScalingReplicaSet`, `Pulling`, ...).
    pub action: &'a str,
}

/// The node every simulated pod runs on.
pub const NODE: &str = "simcluster-node";

static SEQ: AtomicU64 = AtomicU64::new(1);

/// The name suffix a real recorder uses: the time in nanoseconds as hex; a
/// counter keeps names unique when two events come in the same nanosecond.
fn event_name(object: &str) -> String {
    let nanos = chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default() as u64;
    format!("{object}.{:x}", nanos.wrapping_add(SEQ.fetch_add(1, Ordering::Relaxed)))
}

impl Cluster {
    /// Records an Event about `regarding` in both event APIs.
    pub fn record_event(&self, regarding: &Regarding, what: &Occurrence<'_>) {
        let name = event_name(&regarding.name);
        let now = now_rfc3339();
        let micro = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string();
        let host = (what.component == "kubelet").then_some(NODE);
        let uid = uuid::Uuid::new_v4().to_string();
        let mut source = json!({"component": what.component});
        if let Some(h) = host {
            source["host"] = json!(h);
        }
        let core = json!({
            "apiVersion": "v1", "kind": "Event",
            "metadata": {"name": name, "namespace": regarding.namespace, "uid": uid, "creationTimestamp": now},
            "involvedObject": regarding.reference(),
            "reason": what.reason, "message": what.message, "source": source,
            "firstTimestamp": now, "lastTimestamp": now, "count": 1, "type": what.type_,
            "eventTime": null, "reportingComponent": "", "reportingInstance": "",
        });
        let mut modern = json!({
            "apiVersion": "events.k8s.io/v1", "kind": "Event",
            "metadata": {"name": name, "namespace": regarding.namespace, "uid": uid, "creationTimestamp": now},
            "eventTime": micro, "reportingController": what.component,
            "reportingInstance": format!("{}-{}", what.component, NODE),
            "action": what.action, "reason": what.reason, "regarding": regarding.reference(),
            "note": what.message, "type": what.type_,
            "deprecatedSource": source, "deprecatedFirstTimestamp": now,
            "deprecatedLastTimestamp": now, "deprecatedCount": 1,
        });
        if host.is_none() {
            modern["deprecatedSource"] = json!({"component": what.component});
        }
        self.controller_put("/events", core);
        self.controller_put("events.k8s.io/events", modern);
    }
}
