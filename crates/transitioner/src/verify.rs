//! Automatic rollback (`on_failure: rollback`): when a service a transition
//! promoted fails to deploy in the target within `verify_for` of the promotion,
//! its previous version file is committed back together with a hold (a service
//! lock whose reason says what happened), so the next run does not promote the
//! broken version again. Releasing the hold is an unlock.
//!
//! ```text
//!   promotions of t within verify_for ─▶ per service, the newest one
//!        └─ still what the target has, and the deployer says DeployFailed for that version
//!              ─▶ one commit: previous version file + hold in <target>/locks.yaml
//! ```
//!
//! Windows never block a rollback.

use std::collections::BTreeMap;
use std::str::FromStr as _;

use chrono::{DateTime, TimeZone as _, Utc};
use slipway_core::locks::LockTarget;
use slipway_core::model::{locks_path, version_path};
use slipway_core::status::{EnvStatus, Phase, RolloutStatus};
use slipway_core::transitions::{OnFailure, Transition};
use slipway_core::RepoSnapshot;
use slipway_repo::{Author, Change, CommitError, CommitId, GitError, ResourceRepo};

use crate::message::{self, ACTION_TRAILER, ENV_TRAILER, TRANSITION_TRAILER};
use crate::run::{DeployerView, AUTHOR};

/// How many commits of the target's versions are looked at for recent promotions.
const PROMOTION_WALK: usize = 50;

/// A service moved by a recent promotion of the transition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Promoted {
    pub service: String,
    pub at: DateTime<Utc>,
    pub commit: String,
    pub old: Option<String>,
    pub new: String,
    /// The target's version file before the promotion (`None`: the service was new there).
    pub old_content: Option<Vec<u8>>,
    /// What the promotion wrote.
    pub new_content: Vec<u8>,
}

/// A service to roll back, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rollback {
    pub promoted: Promoted,
    /// The deployer's reason for the failure.
    pub failure: String,
}

impl Rollback {
    /// The hold's reason: what happened and why.
    pub fn hold_reason(&self) -> String {
        format!(
            "rolled back from {} to {} by {AUTHOR}: {} failed in {} ({})",
            self.promoted.new,
            self.promoted.old.as_deref().unwrap_or("(none)"),
            self.promoted.new,
            short_commit(&self.promoted.commit),
            self.failure
        )
    }
}

/// The services to roll back now. Pure: `promoted` holds the newest promotion of each
/// service, `target` the deployer's view of the target env.
pub fn failures(
    t: &Transition,
    promoted: &[Promoted],
    target: Option<&EnvStatus>,
    head: &RepoSnapshot,
    now: DateTime<Utc>,
) -> Vec<Rollback> {
    if t.on_failure != OnFailure::Rollback {
        return Vec::new();
    }
    let Some(target) = target else { return Vec::new() };
    let window = chrono::Duration::from_std(t.verify_for).unwrap_or(chrono::Duration::MAX);
    let mut out = Vec::new();
    for p in promoted {
        if now - p.at > window || p.old_content.is_none() {
            continue;
        }
        // Someone changed it since: it is theirs now.
        if head.files.get(&version_path(&t.target, &p.service)).map(|c| &c[..]) != Some(&p.new_content[..]) {
            continue;
        }
        let Some(status) = target.services.get(&p.service) else {
            continue;
        };
        if status.phase != Phase::DeployFailed || status.version.as_deref() != Some(p.new.as_str()) {
            continue;
        }
        let failure = status
            .resources
            .iter()
            .find(|r| r.status == RolloutStatus::Failed && !r.reason.is_empty())
            .map(|r| format!("{} {}: {}", r.kind, r.name, r.reason))
            .or_else(|| (!status.reason.is_empty()).then(|| status.reason.clone()))
            .or_else(|| status.error.clone())
            .unwrap_or_else(|| "DeployFailed".to_string());
        out.push(Rollback {
            promoted: p.clone(),
            failure,
        });
    }
    out
}

/// Rolls back what [`failures`] finds, as one commit by [`AUTHOR`]. Blocking.
pub fn roll_back_failures(
    repo: &ResourceRepo,
    t: &Transition,
    deployer: &DeployerView,
    now: DateTime<Utc>,
) -> Result<Option<(String, Vec<Rollback>)>, GitError> {
    if t.on_failure != OnFailure::Rollback {
        return Ok(None);
    }
    let DeployerView::Status(status) = deployer else {
        return Ok(None);
    };
    let target = status.envs.get(&t.target);
    let promoted = recent_promotions(repo, t, now)?;
    let head = repo.head_snapshot()?;
    if failures(t, &promoted, target, &head, now).is_empty() {
        return Ok(None);
    }
    let mut done = Vec::new();
    let pushed = repo
        .commit_and_push(&Author::named(AUTHOR), |head| {
            let rollbacks = failures(t, &promoted, target, head, now);
            if rollbacks.is_empty() {
                return Ok(None);
            }
            let path = locks_path(&t.target);
            let mut locks = head.locks(&t.target).unwrap_or_default();
            let mut files = BTreeMap::new();
            for r in &rollbacks {
                files.insert(
                    version_path(&t.target, &r.promoted.service),
                    r.promoted.old_content.clone(),
                );
                locks.add_reason(&LockTarget::Service(r.promoted.service.clone()), &r.hold_reason());
            }
            files.insert(path, Some(locks.to_yaml().into_bytes()));
            let message = rollback_message(t, &rollbacks);
            done = rollbacks;
            Ok::<_, GitError>(Some(Change { message, files }))
        })
        .map_err(|e| match e {
            CommitError::Git(e) | CommitError::Change(e) => e,
        })?;
    Ok(pushed.map(|c| {
        let commit = c.to_string();
        for r in &done {
            tracing::warn!(%commit, service = %r.promoted.service, "rolled back: {}", r.hold_reason());
        }
        (commit, done)
    }))
}

/// The newest promotion by `t` of each service within `verify_for` of `now`.
fn recent_promotions(repo: &ResourceRepo, t: &Transition, now: DateTime<Utc>) -> Result<Vec<Promoted>, GitError> {
    let Some(head) = repo.head() else { return Ok(Vec::new()) };
    let window = chrono::Duration::from_std(t.verify_for).unwrap_or(chrono::Duration::MAX);
    let mut out: Vec<Promoted> = Vec::new();
    for commit in repo.history(head, &format!("{}/version", t.target), PROMOTION_WALK)? {
        let at = Utc.timestamp_opt(commit.time, 0).single().unwrap_or_default();
        if now - at > window {
            break;
        }
        let Some(promotions) = message::parse_promotion(&commit.message, &t.name) else {
            continue;
        };
        let Ok(id) = CommitId::from_str(&commit.id) else {
            continue;
        };
        let parent = commit.parents.first().and_then(|p| CommitId::from_str(p).ok());
        for p in promotions {
            if out.iter().any(|o| o.service == p.service) {
                continue;
            }
            let path = version_path(&t.target, &p.service);
            let Some(new_content) = repo.read_file(id, &path)? else {
                continue;
            };
            let old_content = match parent {
                Some(parent) => repo.read_file(parent, &path)?,
                None => None,
            };
            out.push(Promoted {
                service: p.service,
                at,
                commit: commit.id.clone(),
                old: p.old,
                new: p.new,
                old_content,
                new_content,
            });
        }
    }
    Ok(out)
}

fn short_commit(id: &str) -> &str {
    id.get(..10).unwrap_or(id)
}

/// `Roll back prod: s1 2 → 1` with the failures and trailers.
fn rollback_message(t: &Transition, rollbacks: &[Rollback]) -> String {
    let list = rollbacks
        .iter()
        .map(|r| {
            format!(
                "{} {} → {}",
                r.promoted.service,
                r.promoted.new,
                r.promoted.old.as_deref().unwrap_or("(none)")
            )
        })
        .collect::<Vec<_>>()
        .join(", ");
    let mut msg = format!("Roll back {}: {list}\n\n", t.target);
    for r in rollbacks {
        msg.push_str(&format!(
            "{} failed to deploy within {} of its promotion by {}: {}\nHeld: {}\n",
            r.promoted.service,
            slipway_core::duration::format_duration(t.verify_for),
            t.name,
            r.failure,
            r.hold_reason()
        ));
    }
    msg.push_str(&format!(
        "\n{ACTION_TRAILER}: rollback\n{TRANSITION_TRAILER}: {}\n{ENV_TRAILER}: {}\n",
        t.name, t.target
    ));
    msg
}

#[cfg(test)]
mod tests {
    use super::*;
    use slipway_core::status::{ResourceStatus, ServiceStatus};
    use slipway_core::transitions::parse_transitions;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn rule(on_failure: &str) -> Transition {
        parse_transitions(&format!(
            "transitions:\n  pp: {{source: dev, target: pp, on_failure: {on_failure}, verify_for: 10m}}\n"
        ))
        .unwrap()
        .remove(0)
    }

    fn promoted() -> Promoted {
        Promoted {
            service: "s1".into(),
            at: at("2026-11-30T10:00:00Z"),
            commit: "0123456789abcdef".into(),
            old: Some("1".into()),
            new: "2".into(),
            old_content: Some(b"version: '1'\n".to_vec()),
            new_content: b"version: '2'\nimage: r/s1:broken\n".to_vec(),
        }
    }

    fn env(phase: Phase, version: &str) -> EnvStatus {
        let mut services = BTreeMap::new();
        services.insert(
            "s1".to_string(),
            ServiceStatus {
                kind: "service".into(),
                phase,
                status: RolloutStatus::Failed,
                reason: String::new(),
                version: Some(version.into()),
                resources: vec![ResourceStatus {
                    api_version: "apps/v1".into(),
                    kind: "Deployment".into(),
                    name: "s1".into(),
                    namespace: Some("pp".into()),
                    status: RolloutStatus::Failed,
                    reason: "ProgressDeadlineExceeded: ReplicaSet has timed out progressing".into(),
                }],
                error: None,
            },
        );
        EnvStatus {
            env: "pp".into(),
            cluster: "main".into(),
            namespace: "pp".into(),
            commit: None,
            status: RolloutStatus::Failed,
            reason: String::new(),
            services,
            last_error: None,
            last_reconcile: None,
            last_success: None,
            clean_since: None,
        }
    }

    fn head() -> RepoSnapshot {
        RepoSnapshot::from_files(
            "c2",
            [(
                "pp/version/s1.yaml".to_string(),
                b"version: '2'\nimage: r/s1:broken\n".to_vec(),
            )],
        )
    }

    #[test]
    fn a_promoted_version_failing_within_verify_for_is_rolled_back_with_the_reason() {
        let failed = env(Phase::DeployFailed, "2");
        let r = failures(
            &rule("rollback"),
            &[promoted()],
            Some(&failed),
            &head(),
            at("2026-11-30T10:05:00Z"),
        );
        assert_eq!(r.len(), 1);
        assert!(r[0].failure.contains("ProgressDeadlineExceeded"), "{}", r[0].failure);
        let hold = r[0].hold_reason();
        assert!(
            hold.starts_with("rolled back from 2 to 1 by slipway-transitioner"),
            "{hold}"
        );
        assert!(hold.contains("ProgressDeadlineExceeded"), "{hold}");
    }

    #[test]
    fn nothing_is_rolled_back_outside_the_rule_the_window_or_the_promoted_version() {
        let failed = env(Phase::DeployFailed, "2");
        let soon = at("2026-11-30T10:05:00Z");
        assert!(failures(&rule("report"), &[promoted()], Some(&failed), &head(), soon).is_empty());
        assert!(failures(
            &rule("rollback"),
            &[promoted()],
            Some(&failed),
            &head(),
            at("2026-11-30T10:10:01Z")
        )
        .is_empty());
        let other_version = env(Phase::DeployFailed, "1");
        assert!(failures(&rule("rollback"), &[promoted()], Some(&other_version), &head(), soon).is_empty());
        let deploying = env(Phase::Deploying, "2");
        assert!(failures(&rule("rollback"), &[promoted()], Some(&deploying), &head(), soon).is_empty());
        let changed = RepoSnapshot::from_files("c3", [("pp/version/s1.yaml".to_string(), b"version: '3'\n".to_vec())]);
        assert!(failures(&rule("rollback"), &[promoted()], Some(&failed), &changed, soon).is_empty());
        let new_service = Promoted {
            old_content: None,
            ..promoted()
        };
        assert!(failures(&rule("rollback"), &[new_service], Some(&failed), &head(), soon).is_empty());
    }
}
