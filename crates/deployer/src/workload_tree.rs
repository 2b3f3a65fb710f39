//! The live view of one unit (a service or a `deployable/` file), built from
//! what was read from the cluster. Pure: the shell ([`crate::inspect`]) reads
//! the objects, ReplicaSets, Pods and Events; this joins them by owner.
//!
//! ```text
//!   applied object ──uid──▶ ReplicaSet.ownerReferences ──uid──▶ Pod.ownerReferences
//!   (Deployment)            (children)                           (pods)
//!   StatefulSet, DaemonSet, Job ──uid──▶ Pod.ownerReferences      (pods)
//!   Event.involvedObject.uid ∈ every uid above                    (events, newest first)
//! ```

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use serde_json::Value;
use slipway_core::live::{Condition, ContainerView, EventView, LiveObject, LiveView, PodView};
use slipway_core::status::ResourceStatus;

/// How many Events a view keeps.
pub const MAX_EVENTS: usize = 50;

/// What was read from the cluster for one unit.
#[derive(Debug, Default)]
pub struct Observed {
    /// Each applied object with the deployer's status of it, and the live object (`None`: not found).
    pub objects: Vec<(ResourceStatus, Option<Value>)>,
    /// ReplicaSets of the namespace that may belong to the unit's Deployments.
    pub replicasets: Vec<Value>,
    /// Pods that may belong to the unit's workloads.
    pub pods: Vec<Value>,
    /// `v1` Events of the namespace.
    pub events: Vec<Value>,
}

/// Where the view is from.
pub struct ViewOf<'a> {
    pub env: &'a str,
    pub unit: &'a str,
    pub cluster: &'a str,
    pub namespace: &'a str,
    pub now: DateTime<Utc>,
}

fn text(v: &Value, ptr: &str) -> String {
    v.pointer(ptr).and_then(Value::as_str).unwrap_or_default().to_string()
}

fn int(v: &Value, ptr: &str) -> i64 {
    v.pointer(ptr).and_then(Value::as_i64).unwrap_or(0)
}

fn uid(v: &Value) -> String {
    text(v, "/metadata/uid")
}

fn owned_by(v: &Value, owner: &str) -> bool {
    !owner.is_empty()
        && v.pointer("/metadata/ownerReferences")
            .and_then(Value::as_array)
            .is_some_and(|refs| refs.iter().any(|r| r.get("uid").and_then(Value::as_str) == Some(owner)))
}

fn conditions(v: &Value) -> Vec<Condition> {
    v.pointer("/status/conditions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|c| Condition {
            type_: text(c, "/type"),
            status: text(c, "/status"),
            reason: text(c, "/reason"),
            message: text(c, "/message"),
            last_transition_time: c.get("lastTransitionTime").and_then(Value::as_str).map(str::to_string),
        })
        .collect()
}

/// `ready/desired` of a workload, `None` for kinds without replicas.
fn replicas(kind: &str, v: &Value) -> Option<String> {
    match kind {
        "Deployment" | "StatefulSet" | "ReplicaSet" => Some(format!(
            "{}/{}",
            int(v, "/status/readyReplicas"),
            v.pointer("/spec/replicas").and_then(Value::as_i64).unwrap_or(1)
        )),
        "DaemonSet" => Some(format!(
            "{}/{}",
            int(v, "/status/numberReady"),
            int(v, "/status/desiredNumberScheduled")
        )),
        _ => None,
    }
}

/// A pod as the view shows it.
pub fn pod_view(p: &Value) -> PodView {
    let statuses: Vec<&Value> = p
        .pointer("/status/containerStatuses")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .collect();
    let spec_containers: Vec<&Value> = p
        .pointer("/spec/containers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .collect();
    let containers = spec_containers
        .iter()
        .map(|c| {
            let name = text(c, "/name");
            let status = statuses
                .iter()
                .find(|s| s.get("name").and_then(Value::as_str) == Some(&name));
            let (state, reason, message) = match status.and_then(|s| s.get("state")).and_then(Value::as_object) {
                Some(st) => match st.iter().next() {
                    Some((which, detail)) => (which.clone(), text(detail, "/reason"), text(detail, "/message")),
                    None => ("unknown".to_string(), String::new(), String::new()),
                },
                None => ("unknown".to_string(), String::new(), String::new()),
            };
            ContainerView {
                image: text(c, "/image"),
                ready: status
                    .and_then(|s| s.get("ready"))
                    .and_then(Value::as_bool)
                    .unwrap_or(false),
                restart_count: status.map_or(0, |s| int(s, "/restartCount")),
                name,
                state,
                reason,
                message,
            }
        })
        .collect::<Vec<_>>();
    let conds = conditions(p);
    PodView {
        name: text(p, "/metadata/name"),
        phase: p
            .pointer("/status/phase")
            .and_then(Value::as_str)
            .unwrap_or("Unknown")
            .to_string(),
        ready: conds.iter().any(|c| c.type_ == "Ready" && c.status == "True"),
        restarts: containers.iter().map(|c| c.restart_count).sum(),
        node: p.pointer("/spec/nodeName").and_then(Value::as_str).map(str::to_string),
        created: p
            .pointer("/metadata/creationTimestamp")
            .and_then(Value::as_str)
            .map(str::to_string),
        containers,
        conditions: conds,
    }
}

fn pods_of(owner: &str, pods: &[Value]) -> Vec<PodView> {
    let mut out: Vec<PodView> = pods.iter().filter(|p| owned_by(p, owner)).map(pod_view).collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

fn object(kind: &str, api_version: &str, v: &Value) -> LiveObject {
    LiveObject {
        api_version: api_version.to_string(),
        kind: kind.to_string(),
        name: text(v, "/metadata/name"),
        namespace: v
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .map(str::to_string),
        status: None,
        reason: String::new(),
        missing: false,
        replicas: replicas(kind, v),
        conditions: conditions(v),
        children: Vec::new(),
        pods: Vec::new(),
    }
}

fn event_time(e: &Value) -> Option<String> {
    [
        "/lastTimestamp",
        "/eventTime",
        "/firstTimestamp",
        "/metadata/creationTimestamp",
    ]
    .iter()
    .find_map(|p| e.pointer(p).and_then(Value::as_str).filter(|s| !s.is_empty()))
    .map(str::to_string)
}

/// The live view of a unit from what was read.
pub fn live_view(of: &ViewOf<'_>, observed: &Observed) -> LiveView {
    let mut uids: HashSet<String> = HashSet::new();
    let mut objects = Vec::new();
    for (status, live) in &observed.objects {
        let mut obj = match live {
            Some(v) => object(&status.kind, &status.api_version, v),
            None => LiveObject {
                api_version: status.api_version.clone(),
                kind: status.kind.clone(),
                name: status.name.clone(),
                namespace: status.namespace.clone(),
                status: None,
                reason: String::new(),
                missing: true,
                replicas: None,
                conditions: Vec::new(),
                children: Vec::new(),
                pods: Vec::new(),
            },
        };
        obj.status = Some(status.status);
        obj.reason = status.reason.clone();
        if let Some(v) = live {
            let owner = uid(v);
            uids.insert(owner.clone());
            match status.kind.as_str() {
                "Deployment" => {
                    let mut sets: Vec<&Value> = observed.replicasets.iter().filter(|r| owned_by(r, &owner)).collect();
                    // Newest first: the current rollout's ReplicaSet leads.
                    sets.sort_by_key(|r| std::cmp::Reverse(text(r, "/metadata/creationTimestamp")));
                    for rs in sets {
                        let rs_uid = uid(rs);
                        uids.insert(rs_uid.clone());
                        let mut child = object("ReplicaSet", "apps/v1", rs);
                        child.pods = pods_of(&rs_uid, &observed.pods);
                        obj.children.push(child);
                    }
                }
                "StatefulSet" | "DaemonSet" | "Job" => obj.pods = pods_of(&owner, &observed.pods),
                _ => {}
            }
        }
        objects.push(obj);
    }
    for o in &objects {
        for p in o.pods.iter().chain(o.children.iter().flat_map(|c| c.pods.iter())) {
            if let Some(v) = observed.pods.iter().find(|v| text(v, "/metadata/name") == p.name) {
                uids.insert(uid(v));
            }
        }
    }
    let mut events: Vec<(Option<String>, EventView)> = observed
        .events
        .iter()
        .filter(|e| uids.contains(&text(e, "/involvedObject/uid")))
        .map(|e| {
            let time = event_time(e);
            (
                time.clone(),
                EventView {
                    type_: text(e, "/type"),
                    reason: text(e, "/reason"),
                    message: text(e, "/message"),
                    object: format!(
                        "{}/{}",
                        text(e, "/involvedObject/kind"),
                        text(e, "/involvedObject/name")
                    ),
                    time,
                    count: e.get("count").and_then(Value::as_i64).unwrap_or(1),
                },
            )
        })
        .collect();
    // Newest first; RFC 3339 times in UTC sort as text.
    events.sort_by(|a, b| b.0.cmp(&a.0));
    events.truncate(MAX_EVENTS);
    LiveView {
        env: of.env.to_string(),
        unit: of.unit.to_string(),
        cluster: of.cluster.to_string(),
        namespace: of.namespace.to_string(),
        observed_at: of.now,
        objects,
        events: events.into_iter().map(|(_, e)| e).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use slipway_core::status::RolloutStatus;

    fn status(kind: &str, name: &str, s: RolloutStatus, reason: &str) -> ResourceStatus {
        ResourceStatus {
            api_version: if kind == "Service" { "v1" } else { "apps/v1" }.into(),
            kind: kind.into(),
            name: name.into(),
            namespace: Some("dev".into()),
            status: s,
            reason: reason.into(),
        }
    }

    fn owned(name: &str, uid: &str, owner: &str) -> serde_json::Map<String, Value> {
        json!({"name": name, "namespace": "dev", "uid": uid, "creationTimestamp": "2026-01-01T00:00:00Z",
               "ownerReferences": [{"uid": owner, "kind": "x", "name": "x", "apiVersion": "v1"}]})
        .as_object()
        .unwrap()
        .clone()
    }

    fn pod(name: &str, uid: &str, owner: &str, waiting: Option<&str>) -> Value {
        let (state, ready, phase) = match waiting {
            Some(r) => (
                json!({"waiting": {"reason": r, "message": "Back-off pulling image \"x:broken\""}}),
                false,
                "Pending",
            ),
            None => (json!({"running": {"startedAt": "t"}}), true, "Running"),
        };
        json!({"metadata": owned(name, uid, owner), "spec": {"nodeName": "n1", "containers": [{"name": "app", "image": "x:1"}]},
               "status": {"phase": phase, "conditions": [{"type": "Ready", "status": if ready {"True"} else {"False"}}],
                          "containerStatuses": [{"name": "app", "ready": ready, "restartCount": 2, "state": state}]}})
    }

    fn view(observed: &Observed) -> LiveView {
        live_view(
            &ViewOf {
                env: "dev",
                unit: "web",
                cluster: "main",
                namespace: "dev",
                now: DateTime::<Utc>::UNIX_EPOCH,
            },
            observed,
        )
    }

    #[test]
    fn a_deployment_leads_to_its_replicasets_and_their_pods() {
        let d = json!({"metadata": {"name": "web", "namespace": "dev", "uid": "d1"},
                       "spec": {"replicas": 2}, "status": {"readyReplicas": 2,
                       "conditions": [{"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable"}]}});
        let rs =
            json!({"metadata": owned("web-abc", "rs1", "d1"), "spec": {"replicas": 2}, "status": {"readyReplicas": 2}});
        let stranger = json!({"metadata": owned("other-abc", "rs2", "d2"), "spec": {"replicas": 1}});
        let observed = Observed {
            objects: vec![
                (status("Deployment", "web", RolloutStatus::Clean, ""), Some(d)),
                (status("Service", "web", RolloutStatus::Clean, ""), None),
            ],
            replicasets: vec![rs, stranger],
            pods: vec![
                pod("web-abc-2", "p2", "rs1", None),
                pod("web-abc-1", "p1", "rs1", None),
                pod("other-abc-1", "p3", "rs2", None),
            ],
            events: vec![
                json!({"involvedObject": {"uid": "d1", "kind": "Deployment", "name": "web"}, "type": "Normal",
                       "reason": "ScalingReplicaSet", "message": "Scaled up", "lastTimestamp": "2026-01-01T00:00:01Z"}),
                json!({"involvedObject": {"uid": "p1", "kind": "Pod", "name": "web-abc-1"}, "type": "Normal",
                       "reason": "Started", "message": "Started container app", "lastTimestamp": "2026-01-01T00:00:05Z", "count": 3}),
                json!({"involvedObject": {"uid": "p3", "kind": "Pod", "name": "other-abc-1"}, "type": "Normal",
                       "reason": "Started", "message": "not ours", "lastTimestamp": "2026-01-01T00:00:09Z"}),
            ],
        };
        let v = view(&observed);
        let d = &v.objects[0];
        assert_eq!(d.replicas.as_deref(), Some("2/2"));
        assert_eq!(d.conditions[0].reason, "MinimumReplicasAvailable");
        assert_eq!(d.children.len(), 1, "only its own ReplicaSet");
        let rs = &d.children[0];
        assert_eq!(rs.kind, "ReplicaSet");
        let names: Vec<&str> = rs.pods.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["web-abc-1", "web-abc-2"]);
        assert!(rs
            .pods
            .iter()
            .all(|p| p.ready && p.phase == "Running" && p.restarts == 2));
        assert!(v.objects[1].missing, "the Service is not in the cluster");
        let reasons: Vec<&str> = v.events.iter().map(|e| e.reason.as_str()).collect();
        assert_eq!(
            reasons,
            ["Started", "ScalingReplicaSet"],
            "its own events, newest first"
        );
        assert_eq!(v.events[0].object, "Pod/web-abc-1");
        assert_eq!(v.events[0].count, 3);
    }

    #[test]
    fn a_waiting_container_shows_its_reason_and_message() {
        let p = pod_view(&pod("bad-abc-1", "p1", "rs1", Some("ImagePullBackOff")));
        assert!(!p.ready);
        assert_eq!(p.phase, "Pending");
        assert_eq!(p.containers[0].state, "waiting");
        assert_eq!(p.containers[0].reason, "ImagePullBackOff");
        assert_eq!(p.containers[0].message, "Back-off pulling image \"x:broken\"");
        assert_eq!(p.node.as_deref(), Some("n1"));
    }
}
