//! Rollout status of one live object, judged from its status fields (SPEC section 3).
//!
//! Workloads are judged only once the controller has seen the current spec
//! (`status.observedGeneration == metadata.generation`); before that every
//! counter describes the previous generation.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::Value;
use slipway_core::status::RolloutStatus;

/// A status with the reason in words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Judgement {
    pub status: RolloutStatus,
    pub reason: String,
}

impl Judgement {
    fn new(status: RolloutStatus, reason: impl Into<String>) -> Self {
        Judgement {
            status,
            reason: reason.into(),
        }
    }
    fn clean() -> Self {
        Judgement::new(RolloutStatus::Clean, "")
    }
}

fn int(obj: &Value, pointer: &str) -> Option<i64> {
    obj.pointer(pointer).and_then(Value::as_i64)
}

fn condition<'a>(obj: &'a Value, kind: &str) -> Option<&'a Value> {
    obj.pointer("/status/conditions")?
        .as_array()?
        .iter()
        .find(|c| c.get("type").and_then(Value::as_str) == Some(kind))
}

fn cond_str<'a>(c: &'a Value, field: &str) -> &'a str {
    c.get(field).and_then(Value::as_str).unwrap_or_default()
}

/// The generation a rollout is tracked by (0 for kinds without one).
pub fn generation_of(obj: &Value) -> i64 {
    int(obj, "/metadata/generation").unwrap_or(0)
}

/// What an object's fields say of its rollout, before its deadline is taken
/// into account: worked out once for each copy of an object the deployer
/// keeps, and turned into a [`Judgement`] at every reconcile by [`Assessment::at`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assessment {
    /// The judgement from the fields alone.
    pub judgement: Judgement,
    /// The generation the rollout is tracked by.
    pub generation: i64,
    /// `spec.progressDeadlineSeconds`, where set.
    pub deadline: Option<Duration>,
    /// Whether a rollout still in progress past its deadline fails (not for
    /// Jobs: their own `activeDeadlineSeconds` ends them).
    pub timed: bool,
}

/// Assesses an object from its fields.
pub fn assess(obj: &Value) -> Assessment {
    let kind = obj.get("kind").and_then(Value::as_str).unwrap_or_default();
    let group = obj
        .get("apiVersion")
        .and_then(Value::as_str)
        .map(crate::object::group_of)
        .unwrap_or_default();
    let (judgement, timed) = match (group, kind) {
        ("apps", "Deployment") => (deployment(obj), true),
        ("apps", "StatefulSet") => (statefulset(obj), true),
        ("apps", "DaemonSet") => (daemonset(obj), true),
        ("batch", "Job") => (job(obj), false),
        _ => (ready_condition(obj), true),
    };
    Assessment {
        judgement,
        generation: generation_of(obj),
        deadline: int(obj, "/spec/progressDeadlineSeconds")
            .and_then(|s| u64::try_from(s).ok())
            .map(Duration::from_secs),
        timed,
    }
}

impl Assessment {
    /// The judgement at `now`. `in_progress_since` is when this generation was
    /// first seen in progress; a rollout still in progress past its deadline
    /// (its own, else `default_deadline`) is `Failed`.
    pub fn at(&self, in_progress_since: DateTime<Utc>, now: DateTime<Utc>, default_deadline: Duration) -> Judgement {
        let judgement = &self.judgement;
        if self.timed && judgement.status == RolloutStatus::InProgress {
            let deadline = self.deadline.unwrap_or(default_deadline);
            let elapsed = (now - in_progress_since).to_std().unwrap_or_default();
            if elapsed > deadline {
                return Judgement::new(
                    RolloutStatus::Failed,
                    format!(
                        "ProgressDeadlineExceeded: not rolled out within {}s ({})",
                        deadline.as_secs(),
                        judgement.reason
                    ),
                );
            }
        }
        judgement.clone()
    }
}

fn observed(obj: &Value) -> Option<Judgement> {
    let generation = generation_of(obj);
    let observed = int(obj, "/status/observedGeneration").unwrap_or(0);
    (observed < generation).then(|| {
        Judgement::new(
            RolloutStatus::InProgress,
            format!("waiting for the controller to observe generation {generation}"),
        )
    })
}

fn deployment(obj: &Value) -> Judgement {
    if let Some(waiting) = observed(obj) {
        return waiting;
    }
    if let Some(c) = condition(obj, "Progressing") {
        if cond_str(c, "reason") == "ProgressDeadlineExceeded" {
            return Judgement::new(
                RolloutStatus::Failed,
                format!("ProgressDeadlineExceeded: {}", cond_str(c, "message")),
            );
        }
    }
    let wanted = int(obj, "/spec/replicas").unwrap_or(1);
    let updated = int(obj, "/status/updatedReplicas").unwrap_or(0);
    let total = int(obj, "/status/replicas").unwrap_or(0);
    let available = int(obj, "/status/availableReplicas").unwrap_or(0);
    if updated < wanted {
        return Judgement::new(
            RolloutStatus::InProgress,
            format!("{updated} of {wanted} replicas updated"),
        );
    }
    if total > updated {
        return Judgement::new(
            RolloutStatus::InProgress,
            format!("{} old replicas pending termination", total - updated),
        );
    }
    if available < updated {
        return Judgement::new(
            RolloutStatus::InProgress,
            format!("{available} of {updated} updated replicas available"),
        );
    }
    Judgement::clean()
}

fn statefulset(obj: &Value) -> Judgement {
    if let Some(waiting) = observed(obj) {
        return waiting;
    }
    let wanted = int(obj, "/spec/replicas").unwrap_or(1);
    let ready = int(obj, "/status/readyReplicas").unwrap_or(0);
    let rolling = obj.pointer("/spec/updateStrategy/type").and_then(Value::as_str) != Some("OnDelete");
    if rolling {
        let partition = int(obj, "/spec/updateStrategy/rollingUpdate/partition").unwrap_or(0);
        let updated = int(obj, "/status/updatedReplicas").unwrap_or(0);
        if updated < wanted - partition {
            return Judgement::new(
                RolloutStatus::InProgress,
                format!("{updated} of {} replicas updated", wanted - partition),
            );
        }
        let current = obj.pointer("/status/currentRevision");
        if partition == 0 && current.is_some() && current != obj.pointer("/status/updateRevision") {
            return Judgement::new(
                RolloutStatus::InProgress,
                "waiting for the update revision to become current",
            );
        }
    }
    if ready < wanted {
        return Judgement::new(RolloutStatus::InProgress, format!("{ready} of {wanted} replicas ready"));
    }
    Judgement::clean()
}

fn daemonset(obj: &Value) -> Judgement {
    if let Some(waiting) = observed(obj) {
        return waiting;
    }
    let wanted = int(obj, "/status/desiredNumberScheduled").unwrap_or(0);
    let updated = int(obj, "/status/updatedNumberScheduled").unwrap_or(0);
    let available = int(obj, "/status/numberAvailable").unwrap_or(0);
    if updated < wanted {
        return Judgement::new(
            RolloutStatus::InProgress,
            format!("{updated} of {wanted} scheduled pods updated"),
        );
    }
    if available < wanted {
        return Judgement::new(
            RolloutStatus::InProgress,
            format!("{available} of {wanted} scheduled pods available"),
        );
    }
    Judgement::clean()
}

fn job(obj: &Value) -> Judgement {
    let is_true = |c: &Value| cond_str(c, "status") == "True";
    if condition(obj, "Complete").is_some_and(is_true) {
        return Judgement::clean();
    }
    if let Some(c) = condition(obj, "Failed").filter(|c| is_true(c)) {
        return Judgement::new(
            RolloutStatus::Failed,
            format!("{}: {}", cond_str(c, "reason"), cond_str(c, "message")),
        );
    }
    let succeeded = int(obj, "/status/succeeded").unwrap_or(0);
    let completions = int(obj, "/spec/completions").unwrap_or(1);
    Judgement::new(
        RolloutStatus::InProgress,
        format!("{succeeded} of {completions} completions"),
    )
}

fn ready_condition(obj: &Value) -> Judgement {
    match condition(obj, "Ready") {
        None => Judgement::clean(),
        Some(c) if cond_str(c, "status") == "True" => Judgement::clean(),
        Some(c) => {
            let why = [cond_str(c, "reason"), cond_str(c, "message")]
                .into_iter()
                .filter(|s| !s.is_empty())
                .collect::<Vec<_>>()
                .join(": ");
            Judgement::new(
                RolloutStatus::InProgress,
                if why.is_empty() {
                    "not Ready yet".to_string()
                } else {
                    format!("not Ready: {why}")
                },
            )
        }
    }
}

#[cfg(test)]
mod tests {
    //! Status snippets copied from real v1.24 controller output (k8s-reference 04c, 04g, 05a-05d).
    use super::*;
    use serde_json::json;

    const DEFAULT: Duration = Duration::from_secs(600);

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + secs, 0).unwrap()
    }

    fn judge(obj: &Value, in_progress_since: DateTime<Utc>, now: DateTime<Utc>, default: Duration) -> Judgement {
        assess(obj).at(in_progress_since, now, default)
    }

    fn judge_now(obj: &Value) -> Judgement {
        judge(obj, at(0), at(1), DEFAULT)
    }

    fn deployment(spec: Value, status: Value, generation: i64) -> Value {
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"generation": generation},
               "spec": spec, "status": status})
    }

    #[test]
    fn completed_deployment_is_clean() {
        let obj = deployment(
            json!({"replicas": 3, "progressDeadlineSeconds": 600}),
            json!({"observedGeneration": 1, "replicas": 3, "updatedReplicas": 3, "readyReplicas": 3, "availableReplicas": 3,
                   "conditions": [{"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable"},
                                  {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable",
                                   "message": "ReplicaSet \"progress-74fdfb5798\" has successfully progressed."}]}),
            1,
        );
        assert_eq!(judge_now(&obj), Judgement::clean());
    }

    #[test]
    fn deployment_past_its_progress_deadline_is_failed_with_the_controller_message() {
        let obj = deployment(
            json!({"replicas": 2, "progressDeadlineSeconds": 15}),
            json!({"observedGeneration": 1, "replicas": 2, "updatedReplicas": 2, "unavailableReplicas": 2,
                   "conditions": [{"type": "Available", "status": "False", "reason": "MinimumReplicasUnavailable",
                                   "message": "Deployment does not have minimum availability."},
                                  {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded",
                                   "message": "ReplicaSet \"broken-58d8f59bf9\" has timed out progressing."}]}),
            1,
        );
        let j = judge_now(&obj);
        assert_eq!(j.status, RolloutStatus::Failed);
        assert_eq!(
            j.reason,
            "ProgressDeadlineExceeded: ReplicaSet \"broken-58d8f59bf9\" has timed out progressing."
        );
    }

    #[test]
    fn a_new_generation_not_yet_observed_is_in_progress_even_if_counters_look_done() {
        let obj = deployment(
            json!({"replicas": 1}),
            json!({"observedGeneration": 1, "replicas": 1, "updatedReplicas": 1, "availableReplicas": 1}),
            2,
        );
        let j = judge_now(&obj);
        assert_eq!(j.status, RolloutStatus::InProgress);
        assert!(j.reason.contains("generation 2"));
    }

    #[test]
    fn fresh_deployment_with_empty_status_is_in_progress_and_fails_after_its_own_deadline() {
        let obj = deployment(json!({"replicas": 3, "progressDeadlineSeconds": 5}), json!({}), 1);
        assert_eq!(judge(&obj, at(0), at(3), DEFAULT).status, RolloutStatus::InProgress);
        let late = judge(&obj, at(0), at(6), DEFAULT);
        assert_eq!(late.status, RolloutStatus::Failed);
        assert!(late.reason.starts_with("ProgressDeadlineExceeded"), "{}", late.reason);
    }

    #[test]
    fn partially_available_deployment_says_how_far_it_is() {
        let obj = deployment(
            json!({"replicas": 3}),
            json!({"observedGeneration": 1, "replicas": 3, "updatedReplicas": 3, "availableReplicas": 2}),
            1,
        );
        assert_eq!(
            judge_now(&obj),
            Judgement::new(RolloutStatus::InProgress, "2 of 3 updated replicas available")
        );
    }

    #[test]
    fn jobs_are_clean_when_complete_failed_when_failed_and_never_time_out_otherwise() {
        let complete = json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"generation": 1},
            "spec": {"backoffLimit": 2, "completions": 1},
            "status": {"conditions": [{"type": "Complete", "status": "True"}], "succeeded": 1, "ready": 0}});
        assert_eq!(judge_now(&complete).status, RolloutStatus::Clean);
        let failed = json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"generation": 1},
            "spec": {"backoffLimit": 0, "completions": 1},
            "status": {"conditions": [{"type": "Failed", "status": "True", "reason": "DeadlineExceeded",
                                       "message": "Job was active longer than specified deadline"}], "failed": 1}});
        let j = judge_now(&failed);
        assert_eq!(j.status, RolloutStatus::Failed);
        assert_eq!(
            j.reason,
            "DeadlineExceeded: Job was active longer than specified deadline"
        );
        let running = json!({"apiVersion": "batch/v1", "kind": "Job", "spec": {}, "status": {"active": 1}});
        assert_eq!(
            judge(&running, at(0), at(100_000), DEFAULT).status,
            RolloutStatus::InProgress
        );
    }

    #[test]
    fn statefulset_and_daemonset_are_judged_by_counters() {
        let sts = json!({"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"generation": 1},
            "spec": {"replicas": 2, "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}}},
            "status": {"observedGeneration": 1, "replicas": 2, "readyReplicas": 2, "currentReplicas": 2, "updatedReplicas": 2,
                       "currentRevision": "db-7f89fcd89", "updateRevision": "db-7f89fcd89", "availableReplicas": 2}});
        assert_eq!(judge_now(&sts).status, RolloutStatus::Clean);
        let mut rolling = sts.clone();
        rolling["status"]["readyReplicas"] = json!(1);
        assert_eq!(judge_now(&rolling).reason, "1 of 2 replicas ready");

        let ds = json!({"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"generation": 1}, "spec": {},
            "status": {"currentNumberScheduled": 1, "numberMisscheduled": 0, "desiredNumberScheduled": 1, "numberReady": 1,
                       "observedGeneration": 1, "updatedNumberScheduled": 1, "numberAvailable": 1}});
        assert_eq!(judge_now(&ds).status, RolloutStatus::Clean);
        let mut stuck = ds.clone();
        stuck["status"]["numberAvailable"] = json!(0);
        assert_eq!(judge_now(&stuck).status, RolloutStatus::InProgress);
        assert_eq!(judge(&stuck, at(0), at(601), DEFAULT).status, RolloutStatus::Failed);
    }

    #[test]
    fn other_kinds_follow_a_ready_condition_or_are_clean_once_applied() {
        let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "data": {}});
        assert_eq!(judge_now(&cm).status, RolloutStatus::Clean);
        let cr = json!({"apiVersion": "example.com/v1", "kind": "Widget",
            "status": {"conditions": [{"type": "Ready", "status": "False", "reason": "Pending", "message": "waiting"}]}});
        let j = judge_now(&cr);
        assert_eq!(
            j,
            Judgement::new(RolloutStatus::InProgress, "not Ready: Pending: waiting")
        );
    }
}
