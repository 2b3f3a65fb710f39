//! Builds an env's status (SPEC section 3) from what a reconcile saw and did. Pure.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use chrono::{DateTime, Utc};
use slipway_core::status::{EnvStatus, ErrorRecord, Phase, ResourceStatus, RolloutStatus, ServiceStatus};
use slipway_core::Unit;

use crate::error::ClusterError;
use crate::live::Live;
use crate::object::{DesiredObject, DesiredSet, ObjectKey};
use crate::outcome::Acted;
use crate::plan::Plan;

/// Since when each object has been rolling out at its current generation.
#[derive(Debug, Clone, Default)]
pub struct Progress {
    since: HashMap<ObjectKey, (i64, DateTime<Utc>)>,
}

impl Progress {
    fn since(&mut self, key: &ObjectKey, generation: i64, now: DateTime<Utc>) -> DateTime<Utc> {
        let entry = self.since.entry(key.clone()).or_insert((generation, now));
        if entry.0 != generation {
            *entry = (generation, now);
        }
        entry.1
    }
    fn done(&mut self, key: &ObjectKey) {
        self.since.remove(key);
    }
}

/// Everything the status of one reconciled env is made from.
pub struct ReportInput<'a> {
    pub env: &'a str,
    pub cluster: &'a str,
    pub namespace: &'a str,
    pub commit: &'a str,
    pub desired: &'a DesiredSet,
    pub live: &'a Live,
    pub plan: &'a Plan,
    pub acted: &'a Acted,
    /// Version label of each service (`version`, else `image`, ...).
    pub versions: &'a BTreeMap<String, String>,
    pub previous: Option<&'a EnvStatus>,
    pub now: DateTime<Utc>,
    pub default_deadline: Duration,
}

fn unit_kind(unit: &Unit) -> &'static str {
    match unit {
        Unit::Service(_) => "service",
        Unit::Deployable(_) => "deployable",
    }
}

/// The status of an env after a reconcile.
pub fn env_status(input: ReportInput<'_>, progress: &mut Progress) -> EnvStatus {
    let ReportInput {
        env,
        cluster,
        namespace,
        commit,
        desired,
        live,
        plan,
        acted,
        versions,
        previous,
        now,
        default_deadline,
    } = input;
    let mut services = BTreeMap::new();
    let mut errors: Vec<String> = acted.errors.clone();
    let mut objects_of: HashMap<&Unit, Vec<&DesiredObject>> = HashMap::new();
    for obj in &desired.objects {
        objects_of.entry(&obj.unit).or_default().push(obj);
    }
    let blocked: HashMap<&ObjectKey, &str> = plan
        .blocked
        .iter()
        .map(|(i, why)| (&desired.objects[*i].key, why.as_str()))
        .collect();
    for unit in &desired.units {
        let name = unit.display_name();
        let version = match unit {
            Unit::Service(s) => versions.get(s).cloned(),
            Unit::Deployable(_) => None,
        };
        if let Some(message) = desired.failed.get(unit) {
            services.insert(
                name,
                ServiceStatus {
                    kind: unit_kind(unit).into(),
                    phase: Phase::DeployFailed,
                    status: RolloutStatus::Failed,
                    reason: "invalid manifests".into(),
                    version,
                    resources: Vec::new(),
                    error: Some(message.clone()),
                },
            );
            continue;
        }
        let mut resources = Vec::new();
        let mut apply_errors = Vec::new();
        for obj in objects_of.get(unit).into_iter().flatten() {
            let (status, reason) = match acted.applied.get(&obj.key) {
                // Someone else's object, or a kind Slipway may not use: not applied.
                _ if blocked.contains_key(&obj.key) => {
                    let why = blocked[&obj.key];
                    apply_errors.push(format!("{}: {why}", obj.key));
                    (RolloutStatus::Failed, why.to_string())
                }
                Some(Err(e)) => {
                    apply_errors.push(format!("{}: {e}", obj.key));
                    let status = if e.is_transient() {
                        RolloutStatus::Outdated
                    } else {
                        RolloutStatus::Failed
                    };
                    (status, format!("apply failed: {e}"))
                }
                applied => {
                    let current = match applied {
                        Some(Ok(v)) => Some(&**v),
                        _ => live.get(&obj.key).map(|v| &**v),
                    };
                    match current {
                        // Planned but not carried out (refused env, or the namespace could not be created).
                        None => (RolloutStatus::Outdated, "not applied yet".to_string()),
                        Some(current) => {
                            let rollout = current.rollout();
                            let since = progress.since(&obj.key, rollout.generation, now);
                            let j = rollout.at(since, now, default_deadline);
                            if j.status == RolloutStatus::Clean {
                                progress.done(&obj.key);
                            }
                            (j.status, j.reason)
                        }
                    }
                }
            };
            resources.push(ResourceStatus {
                api_version: obj.api_version.clone(),
                kind: obj.key.kind.clone(),
                name: obj.key.name.clone(),
                namespace: obj.key.namespace.clone(),
                status,
                reason,
            });
        }
        let status = RolloutStatus::worst(resources.iter().map(|r| r.status));
        let reason = resources
            .iter()
            .find(|r| r.status == status && status != RolloutStatus::Clean)
            .map(|r| format!("{} {}: {}", r.kind, r.name, r.reason))
            .unwrap_or_default();
        errors.extend(apply_errors.iter().cloned());
        services.insert(
            name,
            ServiceStatus {
                kind: unit_kind(unit).into(),
                phase: Phase::from_status(status),
                status,
                reason,
                version,
                resources,
                error: (!apply_errors.is_empty()).then(|| apply_errors.join("; ")),
            },
        );
    }
    for (entry, result) in &acted.pruned {
        if let Err(e) = result {
            errors.push(format!("pruning {}: {e}", entry.key));
        }
    }
    for (entry, result) in &acted.released {
        if let Err(e) = result {
            errors.push(format!("releasing the adopted {}: {e}", entry.key));
        }
    }

    let mut status = RolloutStatus::worst(services.values().map(|s| s.status));
    let mut reason = summarize(&services);
    if let Some(refused) = &plan.refused {
        status = RolloutStatus::Failed;
        reason = refused.clone();
        errors.push(refused.clone());
    } else if !acted.errors.is_empty() {
        status = RolloutStatus::worst([status, RolloutStatus::Failed]);
        reason = acted.errors.join("; ");
    }
    if let Some(e) = acted.applied.values().find_map(|r| match r {
        Err(e @ ClusterError::Transport(_)) => Some(e),
        _ => None,
    }) {
        status = RolloutStatus::Failed;
        reason = format!("cluster {cluster}: {e}");
    }
    // The env reached the commit once everything was applied (or rejected for good).
    let reached = plan.refused.is_none()
        && acted.errors.is_empty()
        && !acted.applied.values().any(|r| matches!(r, Err(e) if e.is_transient()));
    let wrote = acted.writes > 0;
    let was_clean_here = previous.is_some_and(|p| p.status == RolloutStatus::Clean && p.clean_since.is_some());
    let clean_since = match status {
        RolloutStatus::Clean if was_clean_here && !wrote => previous.and_then(|p| p.clean_since),
        RolloutStatus::Clean => Some(now),
        _ => None,
    };
    let last_error = match errors.first() {
        Some(_) => Some(ErrorRecord {
            message: errors.join("; "),
            at: now,
        }),
        None => previous.and_then(|p| p.last_error.clone()),
    };
    let success = errors.is_empty();
    EnvStatus {
        env: env.to_string(),
        cluster: cluster.to_string(),
        namespace: namespace.to_string(),
        commit: if reached {
            Some(commit.to_string())
        } else {
            previous.and_then(|p| p.commit.clone())
        },
        status,
        reason,
        services,
        last_error,
        last_reconcile: Some(now),
        last_success: if success {
            Some(now)
        } else {
            previous.and_then(|p| p.last_success)
        },
        clean_since,
    }
}

/// "s1: ProgressDeadlineExceeded ...", or "2 of 5 services in progress", or "".
fn summarize(services: &BTreeMap<String, ServiceStatus>) -> String {
    let failed: Vec<String> = services
        .iter()
        .filter(|(_, s)| s.status == RolloutStatus::Failed)
        .map(|(n, s)| format!("{n}: {}", s.error.as_deref().unwrap_or(&s.reason)))
        .collect();
    if !failed.is_empty() {
        return format!("{} of {} failed: {}", failed.len(), services.len(), failed.join("; "));
    }
    for (status, words) in [
        (RolloutStatus::Outdated, "not applied yet"),
        (RolloutStatus::InProgress, "in progress"),
    ] {
        let n = services.values().filter(|s| s.status == status).count();
        if n > 0 {
            return format!("{n} of {} services {words}", services.len());
        }
    }
    String::new()
}

/// The status of an env whose reconcile could not run (cluster unreachable, bad inventory):
/// the previous picture, marked `Failed`, with the error.
pub fn env_error_status(
    env: &str,
    cluster: &str,
    namespace: &str,
    message: &str,
    previous: Option<&EnvStatus>,
    now: DateTime<Utc>,
) -> EnvStatus {
    let mut status = previous.cloned().unwrap_or_else(|| EnvStatus {
        env: env.to_string(),
        cluster: cluster.to_string(),
        namespace: namespace.to_string(),
        commit: None,
        status: RolloutStatus::Failed,
        reason: String::new(),
        services: BTreeMap::new(),
        last_error: None,
        last_reconcile: None,
        last_success: None,
        clean_since: None,
    });
    status.cluster = cluster.to_string();
    status.namespace = namespace.to_string();
    status.status = RolloutStatus::Failed;
    status.reason = message.to_string();
    status.last_error = Some(ErrorRecord {
        message: message.to_string(),
        at: now,
    });
    status.last_reconcile = Some(now);
    status.clean_since = None;
    status
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::live::LiveObject;
    use crate::object::{desired_set, EnvTarget, Scope};
    use serde_json::{json, Value};
    use slipway_core::RepoSnapshot;

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + secs, 0).unwrap()
    }

    fn desired() -> DesiredSet {
        let snap = RepoSnapshot::from_files(
            "c",
            [
                (
                    "dev/base/s1.yaml",
                    "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: s1}\nspec: {replicas: 1}\n",
                ),
                ("dev/version/s1.yaml", "version: '1'\n"),
                (
                    "dev/base/s2.yaml",
                    "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: s2}\ndata: {v: '${nope}'}\n",
                ),
                ("dev/version/s2.yaml", "version: '1'\n"),
                (
                    "dev/deployable/c.yaml",
                    "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n",
                ),
            ]
            .map(|(k, v)| (k.to_string(), v.as_bytes().to_vec())),
        );
        let target = EnvTarget {
            env: "dev".into(),
            namespace: "dev".into(),
        };
        desired_set(&target, &snap.render_env("dev"), &|_: &str, _: &str| {
            Some(Scope::Namespaced)
        })
    }

    fn live_with(set: &DesiredSet, deployment_status: Value) -> Live {
        set.objects
            .iter()
            .map(|o| {
                let mut v = o.body();
                v["metadata"]["generation"] = json!(1);
                if o.key.kind == "Deployment" {
                    v["status"] = deployment_status.clone();
                }
                (o.key.clone(), std::sync::Arc::new(LiveObject::new(&v, Some(&o.body()))))
            })
            .collect()
    }

    fn report(
        set: &DesiredSet,
        live: &Live,
        acted: &Acted,
        previous: Option<&EnvStatus>,
        now: DateTime<Utc>,
        progress: &mut Progress,
    ) -> EnvStatus {
        let versions = BTreeMap::from([("s1".to_string(), "1".to_string())]);
        env_status(
            ReportInput {
                env: "dev",
                cluster: "main",
                namespace: "dev",
                commit: "abc",
                desired: set,
                live,
                plan: &Plan::default(),
                acted,
                versions: &versions,
                previous,
                now,
                default_deadline: Duration::from_secs(60),
            },
            progress,
        )
    }

    #[test]
    fn broken_service_fails_alone_and_env_is_failed_with_its_file() {
        let set = desired();
        let live = live_with(
            &set,
            json!({"observedGeneration": 1, "replicas": 1, "updatedReplicas": 1, "availableReplicas": 1}),
        );
        let s = report(&set, &live, &Acted::default(), None, at(0), &mut Progress::default());
        assert_eq!(s.services["s1"].phase, Phase::Deployed);
        assert_eq!(s.services["s1"].version.as_deref(), Some("1"));
        assert_eq!(s.services["deployable/c.yaml"].status, RolloutStatus::Clean);
        let s2 = &s.services["s2"];
        assert_eq!(s2.phase, Phase::DeployFailed);
        assert!(s2.error.as_deref().unwrap().contains("dev/base/s2.yaml"));
        assert_eq!(s.status, RolloutStatus::Failed);
        assert!(s.reason.contains("s2"), "{}", s.reason);
        assert_eq!(s.commit.as_deref(), Some("abc"));
    }

    #[test]
    fn clean_since_is_kept_while_nothing_is_written_and_reset_by_writes() {
        let mut set = desired();
        set.failed.clear();
        set.units.retain(|u| u != &Unit::Service("s2".into()));
        let live = live_with(
            &set,
            json!({"observedGeneration": 1, "replicas": 1, "updatedReplicas": 1, "availableReplicas": 1}),
        );
        let mut progress = Progress::default();
        let first = report(&set, &live, &Acted::default(), None, at(0), &mut progress);
        assert_eq!(first.status, RolloutStatus::Clean);
        assert_eq!(first.clean_since, Some(at(0)));
        let second = report(&set, &live, &Acted::default(), Some(&first), at(30), &mut progress);
        assert_eq!(second.clean_since, Some(at(0)));
        let wrote = Acted {
            writes: 1,
            ..Acted::default()
        };
        let third = report(&set, &live, &wrote, Some(&second), at(60), &mut progress);
        assert_eq!(third.clean_since, Some(at(60)));
    }

    #[test]
    fn rollout_past_the_default_deadline_fails_the_service() {
        let mut set = desired();
        set.failed.clear();
        let live = live_with(&set, json!({"observedGeneration": 1}));
        let mut progress = Progress::default();
        let early = report(&set, &live, &Acted::default(), None, at(0), &mut progress);
        assert_eq!(early.services["s1"].phase, Phase::Deploying);
        assert_eq!(early.services["s1"].reason, "Deployment s1: 0 of 1 replicas updated");
        let late = report(&set, &live, &Acted::default(), Some(&early), at(61), &mut progress);
        assert_eq!(late.services["s1"].status, RolloutStatus::Failed);
        assert!(late.services["s1"].reason.contains("ProgressDeadlineExceeded"));
    }

    #[test]
    fn transient_apply_failures_are_outdated_and_recorded_as_last_error() {
        let mut set = desired();
        set.failed.clear();
        let key = set
            .objects
            .iter()
            .find(|o| o.key.kind == "Deployment")
            .unwrap()
            .key
            .clone();
        let acted = Acted {
            applied: BTreeMap::from([(
                key,
                Err(ClusterError::Api {
                    code: 503,
                    reason: "ServiceUnavailable".into(),
                    message: "try later".into(),
                }),
            )]),
            writes: 1,
            ..Acted::default()
        };
        let s = report(&set, &BTreeMap::new(), &acted, None, at(5), &mut Progress::default());
        assert_eq!(s.services["s1"].status, RolloutStatus::Outdated);
        assert_eq!(s.services["s1"].phase, Phase::Received);
        let err = s.last_error.unwrap();
        assert!(err.message.contains("503"), "{}", err.message);
        assert_eq!(err.at, at(5));
        assert_eq!(s.last_success, None);
        assert_eq!(
            s.commit, None,
            "a commit is not reached while its objects wait to be applied"
        );
    }

    #[test]
    fn an_unreachable_cluster_keeps_the_last_picture_and_marks_the_env_failed() {
        let prev = env_error_status("dev", "main", "dev", "first", None, at(0));
        let s = env_error_status("dev", "main", "dev", "cluster unreachable: refused", Some(&prev), at(9));
        assert_eq!(s.status, RolloutStatus::Failed);
        assert_eq!(s.last_error.unwrap().at, at(9));
    }
}
