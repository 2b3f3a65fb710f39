//! Simulated controllers: Deployments, StatefulSets, DaemonSets and Jobs
//! progress to ready (or fail) on a timer, namespaces and CRDs finish their
//! deletion, foreground deletions complete.
//!
//! ```text
//!   write to a workload ──▶ Task::Sync due now ──▶ sync: compute status from
//!                                                   (spec, time since rollout start)
//!                                                        │
//!            settled (ready / failed / deadline passed) ◀┴▶ not settled: Task::Sync
//!                       nothing queued                       again at the next due time
//! ```
//!
//! Only objects with a pending task are looked at, so 10,000 settled objects cost nothing.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Map, Value};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::api::Cluster;
use crate::kubelet::PodsOf;
use crate::meta::now_rfc3339;
use crate::tasks::{Task, Track};

/// What the workload controllers read first from every Deployment, StatefulSet or DaemonSet.
struct WorkloadRollout {
    ns: String,
    name: String,
    uid: String,
    template: Value,
    hash: String,
    track: Track,
}

/// Glob match with `*` wildcards.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == text;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !text.starts_with(first) || text.len() < first.len() + last.len() || !text.ends_with(last) {
        return false;
    }
    let mut rest = &text[first.len()..text.len() - last.len()];
    for mid in &parts[1..parts.len() - 1] {
        match rest.find(mid) {
            Some(i) => rest = &rest[i + mid.len()..],
            None => return false,
        }
    }
    true
}

fn images(pod_spec: Option<&Value>) -> Vec<String> {
    ["initContainers", "containers"]
        .iter()
        .filter_map(|k| pod_spec.and_then(|s| s.get(*k)).and_then(Value::as_array))
        .flatten()
        .filter_map(|c| c.get("image").and_then(Value::as_str).map(str::to_string))
        .collect()
}

/// The pod-template-hash style name suffix of a template.
pub fn template_hash(template: &Value) -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut h = DefaultHasher::new();
    template.to_string().hash(&mut h);
    let mut n = h.finish();
    (0..10)
        .map(|_| {
            let c = ALPHABET[(n % ALPHABET.len() as u64) as usize] as char;
            n /= ALPHABET.len() as u64;
            c
        })
        .collect()
}

fn condition(old: Option<&Value>, ty: &str, status: &str, reason: &str, message: &str, now: &str) -> Value {
    let prev = old
        .and_then(|s| s.get("conditions"))
        .and_then(Value::as_array)
        .and_then(|c| c.iter().find(|c| c.get("type") == Some(&json!(ty))));
    let same_status = prev.is_some_and(|p| p.get("status") == Some(&json!(status)));
    let same_all = same_status
        && prev.is_some_and(|p| p.get("reason") == Some(&json!(reason)) && p.get("message") == Some(&json!(message)));
    let transition = if same_status {
        prev.and_then(|p| p.get("lastTransitionTime").cloned())
    } else {
        None
    };
    let update = if same_all {
        prev.and_then(|p| p.get("lastUpdateTime").cloned())
    } else {
        None
    };
    json!({"type": ty, "status": status, "lastUpdateTime": update.unwrap_or(json!(now)),
           "lastTransitionTime": transition.unwrap_or(json!(now)), "reason": reason, "message": message})
}

fn put_counts(status: &mut Map<String, Value>, counts: &[(&str, i64)]) {
    for (k, v) in counts {
        if *v != 0 {
            status.insert(k.to_string(), json!(v));
        }
    }
}

/// How a simulated Job ends.
#[derive(Clone, Copy, Debug)]
enum JobOutcome {
    Complete,
    BackoffLimitExceeded,
    DeadlineExceeded,
}

/// Inputs of a Deployment's simulated status.
#[derive(Clone, Debug)]
pub struct RolloutInput {
    /// spec.replicas.
    pub replicas: i64,
    /// metadata.generation.
    pub generation: i64,
    /// Some image matches the failure pattern.
    pub broken: bool,
    /// Time since the current rollout started.
    pub elapsed: Duration,
    /// Time until pods become ready.
    pub delay: Duration,
    /// spec.progressDeadlineSeconds.
    pub deadline: Duration,
    /// The previous rollout was available (a stuck update keeps serving).
    pub was_available: bool,
    /// Name of the current ReplicaSet.
    pub rs_name: String,
}

/// A Deployment's status as the real controller writes it, whether it is
/// available, and how long after the rollout start to look again (None: settled).
pub fn deployment_status(input: &RolloutInput, old: Option<&Value>, now: &str) -> (Value, bool, Option<Duration>) {
    let r = input.replicas;
    let ready = r == 0 || (!input.broken && input.elapsed >= input.delay);
    let mut s = Map::new();
    s.insert("observedGeneration".into(), json!(input.generation));
    let (available, progressing);
    if ready {
        put_counts(
            &mut s,
            &[
                ("replicas", r),
                ("updatedReplicas", r),
                ("readyReplicas", r),
                ("availableReplicas", r),
            ],
        );
        available = condition(
            old,
            "Available",
            "True",
            "MinimumReplicasAvailable",
            "Deployment has minimum availability.",
            now,
        );
        progressing = condition(
            old,
            "Progressing",
            "True",
            "NewReplicaSetAvailable",
            &format!("ReplicaSet \"{}\" has successfully progressed.", input.rs_name),
            now,
        );
    } else {
        if input.was_available {
            put_counts(
                &mut s,
                &[
                    ("replicas", r + 1),
                    ("updatedReplicas", 1),
                    ("readyReplicas", r),
                    ("availableReplicas", r),
                    ("unavailableReplicas", 1),
                ],
            );
            available = condition(
                old,
                "Available",
                "True",
                "MinimumReplicasAvailable",
                "Deployment has minimum availability.",
                now,
            );
        } else {
            put_counts(
                &mut s,
                &[("replicas", r), ("updatedReplicas", r), ("unavailableReplicas", r)],
            );
            available = condition(
                old,
                "Available",
                "False",
                "MinimumReplicasUnavailable",
                "Deployment does not have minimum availability.",
                now,
            );
        }
        progressing = if input.broken && input.elapsed >= input.deadline {
            condition(
                old,
                "Progressing",
                "False",
                "ProgressDeadlineExceeded",
                &format!("ReplicaSet \"{}\" has timed out progressing.", input.rs_name),
                now,
            )
        } else {
            condition(
                old,
                "Progressing",
                "True",
                "ReplicaSetUpdated",
                &format!("ReplicaSet \"{}\" is progressing.", input.rs_name),
                now,
            )
        };
    }
    s.insert("conditions".into(), json!([available, progressing]));
    let next = if ready {
        None
    } else if input.broken {
        (input.elapsed < input.deadline).then_some(input.deadline)
    } else {
        Some(input.delay)
    };
    (Value::Object(s), ready || (input.was_available && r > 0), next)
}

impl Cluster {
    fn track(&self, uid: &str, hash: &str, now: Instant) -> Track {
        let mut st = self.controller_state.lock().unwrap_or_else(|e| e.into_inner());
        let t = st.tracks.entry(uid.to_string()).or_insert_with(|| Track {
            template_hash: hash.to_string(),
            previous_hash: None,
            revision: 1,
            started: now,
            available: false,
            was_available: false,
            finished: false,
        });
        if t.template_hash != hash {
            t.was_available = t.available;
            t.previous_hash = Some(std::mem::replace(&mut t.template_hash, hash.to_string()));
            t.revision += 1;
            t.started = now;
            t.finished = false;
        }
        t.clone()
    }

    fn set_track(&self, uid: &str, f: impl FnOnce(&mut Track)) {
        let mut st = self.controller_state.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(t) = st.tracks.get_mut(uid) {
            f(t);
        }
    }

    fn is_broken(&self, pod_spec: Option<&Value>) -> bool {
        images(pod_spec)
            .iter()
            .any(|i| glob_match(&self.behaviour.fail_image_pattern, i))
    }

    /// One controller pass over a workload; returns when to look again.
    fn sync(&self, resource: &str, ns: &str, name: &str, now: Instant) -> Option<Instant> {
        let obj = self.lookup(resource, ns, name)?;
        if obj.pointer("/metadata/deletionTimestamp").is_some() {
            return None;
        }
        match resource {
            "apps/deployments" => self.sync_deployment(&obj, now),
            "apps/statefulsets" | "apps/daemonsets" => self.sync_set(resource, &obj, now),
            "batch/jobs" => self.sync_job(&obj, now),
            _ => None,
        }
    }

    /// A workload's identity, pod template and the tracked rollout of that template.
    fn workload_rollout(&self, obj: &Value, now: Instant) -> WorkloadRollout {
        let (ns, name) = crate::store::object_key(obj);
        let uid = obj
            .pointer("/metadata/uid")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let template = obj.pointer("/spec/template").cloned().unwrap_or(Value::Null);
        let hash = template_hash(&template);
        let track = self.track(&uid, &hash, now);
        WorkloadRollout {
            ns,
            name,
            uid,
            template,
            hash,
            track,
        }
    }

    fn sync_deployment(&self, obj: &Arc<Value>, now: Instant) -> Option<Instant> {
        let WorkloadRollout {
            ns,
            name,
            uid,
            template,
            hash,
            track,
        } = self.workload_rollout(obj, now);
        let input = RolloutInput {
            replicas: obj.pointer("/spec/replicas").and_then(Value::as_i64).unwrap_or(1),
            generation: obj.pointer("/metadata/generation").and_then(Value::as_i64).unwrap_or(1),
            broken: self.is_broken(template.get("spec")),
            elapsed: now.saturating_duration_since(track.started),
            delay: self.behaviour.rollout_delay,
            deadline: Duration::from_secs(
                obj.pointer("/spec/progressDeadlineSeconds")
                    .and_then(Value::as_u64)
                    .unwrap_or(600),
            ),
            was_available: track.was_available,
            rs_name: format!("{name}-{hash}"),
        };
        let (status, available, mut next) = deployment_status(&input, obj.get("status"), &now_rfc3339());
        self.set_track(&uid, |t| t.available = available);
        let replicaset = self.ensure_replicaset(obj, &input, &track, available);
        if self.kubelet_running() {
            let is_broken = |image: &str| glob_match(&self.behaviour.fail_image_pattern, image);
            self.sync_pods(&PodsOf {
                deployment: obj,
                replicaset: &replicaset,
                template: &template,
                replicas: input.replicas,
                broken: input.broken,
                elapsed: input.elapsed,
                delay: input.delay,
                is_broken: &is_broken,
            });
            // Pods of a failing image go from ErrImagePull to ImagePullBackOff after the delay.
            if input.broken && input.elapsed < input.delay {
                next = Some(next.map_or(input.delay, |n| n.min(input.delay)));
            }
        }
        let revision = track.revision.to_string();
        self.controller_write("apps/deployments", &ns, &name, |d| {
            d["metadata"]["annotations"]["deployment.kubernetes.io/revision"] = json!(revision);
            d["status"] = status;
        });
        next.map(|n| track.started + n)
    }

    /// Keeps one ReplicaSet per Deployment (the current template's) for garbage-collection
    /// semantics; returns it as written.
    fn ensure_replicaset(&self, d: &Value, input: &RolloutInput, track: &Track, ready: bool) -> Value {
        let (ns, name) = crate::store::object_key(d);
        let hash = &track.template_hash;
        let key = "apps/replicasets";
        let mut labels = d
            .pointer("/spec/template/metadata/labels")
            .cloned()
            .unwrap_or(json!({}));
        labels["pod-template-hash"] = json!(hash);
        let existing = self.lookup(key, &ns, &input.rs_name);
        let (uid, created, generation) = match &existing {
            Some(rs) => (
                rs.pointer("/metadata/uid").cloned().unwrap_or(Value::Null),
                rs.pointer("/metadata/creationTimestamp")
                    .cloned()
                    .unwrap_or(Value::Null),
                rs.pointer("/metadata/generation").cloned().unwrap_or(json!(1)),
            ),
            None => (json!(uuid::Uuid::new_v4().to_string()), json!(now_rfc3339()), json!(1)),
        };
        let r = input.replicas;
        let mut status = Map::new();
        status.insert("observedGeneration".into(), generation.clone());
        status.insert("replicas".into(), json!(r));
        if ready {
            put_counts(
                &mut status,
                &[
                    ("fullyLabeledReplicas", r),
                    ("readyReplicas", r),
                    ("availableReplicas", r),
                ],
            );
        }
        let mut rs = json!({
            "apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": {"name": input.rs_name, "namespace": ns, "uid": uid, "creationTimestamp": created,
                         "generation": generation, "labels": labels,
                         "annotations": {"deployment.kubernetes.io/revision": track.revision.to_string(),
                                         "deployment.kubernetes.io/desired-replicas": r.to_string()},
                         "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": name,
                                              "uid": d.pointer("/metadata/uid").cloned().unwrap_or(Value::Null),
                                              "controller": true, "blockOwnerDeletion": true}]},
            "spec": {"replicas": r, "selector": {"matchLabels": labels.clone()},
                     "template": {"metadata": {"labels": labels}}},
            "status": status,
        });
        if let Some(old) = &existing {
            rs["metadata"]["resourceVersion"] =
                old.pointer("/metadata/resourceVersion").cloned().unwrap_or(Value::Null);
        }
        self.controller_put(key, rs.clone());
        // The previous template's ReplicaSet is dropped (the simulator keeps no history).
        if let Some(prev) = &track.previous_hash {
            self.controller_remove(key, &ns, &format!("{name}-{prev}"));
        }
        rs
    }

    fn sync_set(&self, resource: &str, obj: &Arc<Value>, now: Instant) -> Option<Instant> {
        let WorkloadRollout {
            ns,
            name,
            uid,
            template,
            hash,
            track,
        } = self.workload_rollout(obj, now);
        let broken = self.is_broken(template.get("spec"));
        let generation = obj.pointer("/metadata/generation").and_then(Value::as_i64).unwrap_or(1);
        let ready = !broken && now.saturating_duration_since(track.started) >= self.behaviour.rollout_delay;
        let mut s = Map::new();
        if resource == "apps/statefulsets" {
            let r = obj.pointer("/spec/replicas").and_then(Value::as_i64).unwrap_or(1);
            let rev = json!(format!("{name}-{}", &hash[..9]));
            s.insert("observedGeneration".into(), json!(generation));
            s.insert("replicas".into(), json!(r));
            let n = if ready { r } else { 0 };
            put_counts(&mut s, &[("readyReplicas", n)]);
            s.insert("currentReplicas".into(), json!(r));
            s.insert("updatedReplicas".into(), json!(r));
            s.insert("currentRevision".into(), rev.clone());
            s.insert("updateRevision".into(), rev);
            s.insert("collisionCount".into(), json!(0));
            s.insert("availableReplicas".into(), json!(n));
        } else {
            let n = i64::from(ready);
            s.insert("currentNumberScheduled".into(), json!(1));
            s.insert("numberMisscheduled".into(), json!(0));
            s.insert("desiredNumberScheduled".into(), json!(1));
            s.insert("numberReady".into(), json!(n));
            s.insert("observedGeneration".into(), json!(generation));
            s.insert("updatedNumberScheduled".into(), json!(1));
            put_counts(&mut s, &[("numberAvailable", n), ("numberUnavailable", 1 - n)]);
        }
        self.set_track(&uid, |t| t.available = ready);
        self.controller_write(resource, &ns, &name, |o| o["status"] = Value::Object(s));
        (!ready && !broken).then(|| track.started + self.behaviour.rollout_delay)
    }

    fn sync_job(&self, obj: &Arc<Value>, now: Instant) -> Option<Instant> {
        let (ns, name) = crate::store::object_key(obj);
        let uid = obj
            .pointer("/metadata/uid")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let template = obj.pointer("/spec/template").cloned().unwrap_or(Value::Null);
        // A Job's template is immutable: its hash never changes, so its rollout start is its creation.
        let track = self.track(&uid, &template_hash(&template), now);
        if track.finished {
            return None;
        }
        let broken = self.is_broken(template.get("spec"));
        let deadline = obj
            .pointer("/spec/activeDeadlineSeconds")
            .and_then(Value::as_u64)
            .map(Duration::from_secs);
        // A failing image fails at activeDeadlineSeconds if set (else after the delay); a good one
        // completes after the delay unless the deadline comes first.
        let (finish_after, outcome) = match (broken, deadline) {
            (_, Some(d)) if broken || d < self.behaviour.rollout_delay => (d, JobOutcome::DeadlineExceeded),
            (true, None) => (self.behaviour.rollout_delay, JobOutcome::BackoffLimitExceeded),
            _ => (self.behaviour.rollout_delay, JobOutcome::Complete),
        };
        let done = now.saturating_duration_since(track.started) >= finish_after;
        let start = obj
            .pointer("/status/startTime")
            .cloned()
            .unwrap_or(json!(now_rfc3339()));
        let stamp = now_rfc3339();
        let failed = |reason: &str, message: &str| {
            json!({"conditions": [{"type": "Failed", "status": "True", "lastProbeTime": stamp, "lastTransitionTime": stamp,
                                   "reason": reason, "message": message}],
                   "startTime": start, "failed": 1, "ready": 0})
        };
        let status = match (done, outcome) {
            (false, _) => json!({"startTime": start, "active": 1, "ready": 0}),
            (true, JobOutcome::DeadlineExceeded) => {
                failed("DeadlineExceeded", "Job was active longer than specified deadline")
            }
            (true, JobOutcome::BackoffLimitExceeded) => {
                failed("BackoffLimitExceeded", "Job has reached the specified backoff limit")
            }
            (true, JobOutcome::Complete) => {
                json!({"conditions": [{"type": "Complete", "status": "True", "lastProbeTime": stamp, "lastTransitionTime": stamp}],
                       "startTime": start, "completionTime": stamp, "succeeded": 1, "ready": 0})
            }
        };
        self.set_track(&uid, |t| t.finished = done);
        self.controller_write("batch/jobs", &ns, &name, |o| o["status"] = status);
        (!done).then(|| track.started + finish_after)
    }

    /// Starts the kubelet if it does not run yet (see `kubelet.rs`): every
    /// Deployment gets its pods now, so the request that asked sees them.
    pub fn start_kubelet(&self) {
        {
            let mut st = self.controller_state.lock().unwrap_or_else(|e| e.into_inner());
            if st.kubelet {
                return;
            }
            st.kubelet = true;
        }
        let now = Instant::now();
        let deployments = self.lock().keys("apps/deployments");
        for (ns, name) in deployments {
            if let Some(at) = self.sync("apps/deployments", &ns, &name, now) {
                self.schedule(
                    at.max(now + Duration::from_millis(5)),
                    Task::Sync("apps/deployments".into(), ns, name),
                );
            }
        }
    }

    fn run_task(&self, task: Task, now: Instant) {
        match &task {
            Task::Sync(resource, ns, name) => {
                if let Some(at) = self.sync(resource, ns, name, now) {
                    self.schedule(at.max(now + Duration::from_millis(5)), task);
                }
            }
            Task::FinalizeNamespace(ns) => {
                if !self.finalize_namespace(ns) {
                    self.schedule(now + Duration::from_millis(200), task);
                }
            }
            Task::RemoveCrd(name) => self.remove_crd(name),
            Task::EstablishCrd(name) => self.establish_crd(name),
            Task::ForegroundDelete(resource, ns, name) => self.finish_foreground(resource, ns, name),
        }
    }
}

/// The controller loop: runs due tasks until `cancel` fires.
pub async fn run(cluster: Arc<Cluster>, cancel: CancellationToken) {
    loop {
        let now = Instant::now();
        let (tasks, next) = cluster.due_tasks(now);
        let worked = !tasks.is_empty();
        for t in tasks {
            cluster.run_task(t, now);
        }
        if worked {
            continue;
        }
        let sleep = async {
            match next {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = cluster.wake.notified() => {}
            _ = sleep => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(broken: bool, elapsed_ms: u64, was_available: bool) -> RolloutInput {
        RolloutInput {
            replicas: 2,
            generation: 1,
            broken,
            elapsed: Duration::from_millis(elapsed_ms),
            delay: Duration::from_secs(1),
            deadline: Duration::from_secs(2),
            was_available,
            rs_name: "web-abc".into(),
        }
    }

    fn reasons(s: &Value) -> Vec<String> {
        s["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| format!("{}={}/{}", c["type"], c["status"], c["reason"]))
            .collect()
    }

    #[test]
    fn glob_patterns_match_like_shell_globs() {
        assert!(glob_match("*:broken", "nginx:broken"));
        assert!(glob_match("*:broken", "x/y:broken"));
        assert!(!glob_match("*:broken", "nginx:1.25"));
        assert!(glob_match("a*b*c", "aXbYc"));
        assert!(glob_match("exact", "exact"));
    }

    #[test]
    fn good_rollout_becomes_available_after_the_delay() {
        let (s, avail, next) = deployment_status(&input(false, 0, false), None, "t");
        assert!(!avail);
        assert_eq!(next, Some(Duration::from_secs(1)));
        assert_eq!(s["unavailableReplicas"], 2);
        assert!(s.get("readyReplicas").is_none());
        let (s, avail, next) = deployment_status(&input(false, 1000, false), Some(&s), "t2");
        assert!(avail && next.is_none());
        assert_eq!(s["availableReplicas"], 2);
        assert!(s.get("unavailableReplicas").is_none());
        assert_eq!(
            reasons(&s),
            [
                "\"Available\"=\"True\"/\"MinimumReplicasAvailable\"",
                "\"Progressing\"=\"True\"/\"NewReplicaSetAvailable\""
            ]
        );
    }

    #[test]
    fn broken_rollout_exceeds_its_deadline() {
        let (s, _, next) = deployment_status(&input(true, 500, false), None, "t");
        assert_eq!(next, Some(Duration::from_secs(2)));
        assert_eq!(s["conditions"][1]["reason"], "ReplicaSetUpdated");
        let (s, _, next) = deployment_status(&input(true, 2000, false), Some(&s), "t");
        assert!(next.is_none());
        assert_eq!(s["conditions"][1]["reason"], "ProgressDeadlineExceeded");
        assert_eq!(s["conditions"][1]["status"], "False");
        assert_eq!(s["conditions"][0]["reason"], "MinimumReplicasUnavailable");
    }

    #[test]
    fn stuck_update_of_an_available_deployment_stays_available() {
        let (s, _, _) = deployment_status(&input(true, 2500, true), None, "t");
        assert_eq!(s["conditions"][0]["status"], "True");
        assert_eq!(s["updatedReplicas"], 1);
        assert_eq!(s["replicas"], 3);
    }

    #[test]
    fn unchanged_condition_keeps_its_transition_time() {
        let old = json!({"conditions": [{"type": "Available", "status": "True", "reason": "R", "message": "m",
                                         "lastTransitionTime": "old", "lastUpdateTime": "old"}]});
        let c = condition(Some(&old), "Available", "True", "R", "m", "new");
        assert_eq!(c["lastTransitionTime"], "old");
        assert_eq!(c["lastUpdateTime"], "old");
    }
}
