//! Status types shared by the deployer, transitioner and aggregator, so that
//! their JSON APIs agree (SPEC sections 3, 4 and 6).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Rollout status of a resource, a service or an env. Ordered from best to worst,
/// so the status of a group is the maximum of its members.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub enum RolloutStatus {
    /// Applied and ready.
    Clean,
    /// Applied, rollout under way.
    InProgress,
    /// The desired state is not applied yet.
    Outdated,
    /// Could not be applied, or the rollout failed.
    Failed,
}

impl RolloutStatus {
    /// The worst of several statuses; `Clean` for none.
    pub fn worst<I: IntoIterator<Item = RolloutStatus>>(items: I) -> RolloutStatus {
        items.into_iter().max().unwrap_or(RolloutStatus::Clean)
    }
}

/// Where a service version is on its way into an env (like a revision's phase).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub enum Phase {
    /// In the repo, not applied yet.
    Received,
    /// Applied, rollout under way.
    Deploying,
    /// Applied and rolled out cleanly.
    Deployed,
    /// Could not be applied, or its rollout failed.
    DeployFailed,
}

impl Phase {
    /// The phase that goes with a rollout status.
    pub fn from_status(status: RolloutStatus) -> Phase {
        match status {
            RolloutStatus::Clean => Phase::Deployed,
            RolloutStatus::InProgress => Phase::Deploying,
            RolloutStatus::Outdated => Phase::Received,
            RolloutStatus::Failed => Phase::DeployFailed,
        }
    }
}

/// An error with the time it was seen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct ErrorRecord {
    pub message: String,
    pub at: DateTime<Utc>,
}

/// Status of one Kubernetes object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct ResourceStatus {
    pub api_version: String,
    pub kind: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub namespace: Option<String>,
    pub status: RolloutStatus,
    /// Why, in words: "2 of 3 updated replicas available", "ProgressDeadlineExceeded: ...".
    #[serde(default)]
    pub reason: String,
}

/// Status of one service (or one `deployable/` file) in one env.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceStatus {
    /// `service` for a base/version pair, `deployable` for a file under `deployable/`.
    pub kind: String,
    pub phase: Phase,
    pub status: RolloutStatus,
    #[serde(default)]
    pub reason: String,
    /// The version label of what is applied (services only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(default)]
    pub resources: Vec<ResourceStatus>,
    /// A problem in the repo files (with path and line) or in applying them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Status of one env as the deployer sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnvStatus {
    pub env: String,
    pub cluster: String,
    pub namespace: String,
    /// The commit whose desired state this env has been reconciled to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    /// Worst of the env's services.
    pub status: RolloutStatus,
    #[serde(default)]
    pub reason: String,
    /// Keyed by service name; `deployable/<path>` for deployable files.
    #[serde(default)]
    pub services: BTreeMap<String, ServiceStatus>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<ErrorRecord>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_reconcile: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_success: Option<DateTime<Utc>>,
    /// Since when the env has been `Clean` at `commit` (for soak times).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clean_since: Option<DateTime<Utc>>,
}

/// `GET /status` of the deployer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeployerStatus {
    /// The last fetched head of the resource repo.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repo_commit: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_fetch_error: Option<ErrorRecord>,
    #[serde(default)]
    pub envs: BTreeMap<String, EnvStatus>,
    /// The replica that answered, when the envs are sharded over several.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replica: Option<String>,
    /// Who applies to each env, read from the env Leases, when the envs are
    /// sharded over several replicas (empty otherwise).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub owners: BTreeMap<String, EnvOwner>,
}

/// The deployer replica that holds an env's Lease.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct EnvOwner {
    /// The holder's identity; `null` while nobody holds the env (or its Lease expired).
    #[serde(default)]
    pub identity: Option<String>,
    /// Until when the holder's claim holds unless renewed.
    #[serde(default)]
    pub until: Option<DateTime<Utc>>,
    /// Whether the replica that answered holds it.
    #[serde(default)]
    pub me: bool,
    /// Where the holder's API answers, when it says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
}

/// Who leads a service whose replicas elect a leader (the transitioner's `leader`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct LeaderStatus {
    /// The holder's identity; `null` while nobody holds the Lease.
    #[serde(default)]
    pub identity: Option<String>,
    /// When the holder took the Lease.
    #[serde(default)]
    pub since: Option<DateTime<Utc>>,
    /// The holder's last renewal.
    #[serde(default)]
    pub renew_time: Option<DateTime<Utc>>,
    /// Whether the replica that answered is the holder.
    #[serde(default)]
    pub me: bool,
}

/// Outcome of one transition run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub enum TransitionResult {
    /// Promoted at least one service (one commit).
    Success,
    /// Nothing to do, not due yet, or every change locked.
    Skipped,
    /// A precondition is not met yet (source rolling out, soak time, schedule pending).
    Blocked,
    /// A precondition failed (source `Failed`, deployer unreachable, bad repo files).
    CheckFailed,
}

/// Where a transition stands, in the words the UI shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub enum PromotionState {
    /// The target has every version of the source that can move.
    UpToDate,
    /// Something waits to move: not due yet, a manual transition, or held back by locks.
    Pending,
    /// Ready, waiting for approvals (`approvals: N`).
    AwaitingApproval,
    /// Pushed to its promotion branch, waiting for a person to merge it (`mode: pull_request`).
    AwaitingMerge,
    /// A window keeps it back (`windows:`); `frozen_until` says until when.
    Frozen,
    /// A precondition is not met or failed; the reason says which.
    Blocked,
}

/// One service moved by a transition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Promotion {
    pub service: String,
    /// Version label before (`None` for a new service in the target).
    #[serde(default)]
    pub old: Option<String>,
    pub new: String,
}

/// A successful run: the commit it made and what it promoted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct TransitionRun {
    pub at: DateTime<Utc>,
    pub commit: String,
    pub promotions: Vec<Promotion>,
}

/// A service a run left alone, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct SkippedService {
    pub service: String,
    pub reason: String,
}

/// Status of one transition.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct TransitionStatus {
    pub name: String,
    pub source: String,
    pub target: String,
    #[serde(default)]
    pub manual: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub schedule: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub last_run: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub result: Option<TransitionResult>,
    #[serde(default)]
    pub reason: String,
    /// Newest first, at most 100.
    #[serde(default)]
    pub recent_runs: Vec<TransitionRun>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub next_scheduled: Option<DateTime<Utc>>,
    /// Services whose source version differs from the target and that wait to move.
    #[serde(default)]
    pub pending: Vec<String>,
    /// Services held back by locks, with the lock reasons.
    #[serde(default)]
    pub skipped: Vec<SkippedService>,
    /// Where the transition stands (`None` before its first evaluation).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub state: Option<PromotionState>,
    /// While `Frozen`: when its windows open next (`None`: not in the foreseeable future).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub frozen_until: Option<DateTime<Utc>>,
    /// What a run would promote now if nothing kept it back (empty when up to date).
    #[serde(default)]
    pub would_ship: Vec<Promotion>,
    /// Every service lock in the target env (holds included), whether or not a change waits for it.
    #[serde(default)]
    pub holds: Vec<SkippedService>,
    /// `approvals: N` of the transition (0: none needed).
    #[serde(default)]
    pub approvals_needed: u32,
    /// Who approved the set it would ship now (only approvals that count).
    #[serde(default)]
    pub approved_by: Vec<String>,
    /// The last rejection of that set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub rejected: Option<crate::approvals::Verdict>,
    /// `mode: pull_request` with a `git_host`: the pull/merge request on the host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub pull_request: Option<PullRequestStatus>,
}

/// The pull (GitHub, Gitea) or merge (GitLab) request of a `mode: pull_request`
/// transition, as the transitioner last saw it on the git host.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct PullRequestStatus {
    /// `github`, `gitlab` or `gitea`.
    pub host: String,
    /// Its number (GitLab: the project-scoped `iid`); `None` before one was opened.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub number: Option<u64>,
    /// Its page on the host, for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub state: Option<PullRequestState>,
    /// The last call to the host that failed, and why (cleared by the next success).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub error: Option<String>,
}

/// Where a pull/merge request stands on the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum PullRequestState {
    Open,
    Closed,
    Merged,
}

/// The answer of `POST /transitions/{name}/run` (passed on by the aggregator).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct RunAnswer {
    pub result: TransitionResult,
    pub state: PromotionState,
    #[serde(default)]
    pub reason: String,
    /// The promotion commit, `None` when nothing was committed.
    #[serde(default)]
    pub commit: Option<String>,
}

/// The answer of `POST /transitions/{name}/approve|reject` (passed on by the
/// aggregator): where the transition stands after the run that followed the verdict.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct VerdictAnswer {
    /// The commit recording the verdict, `None` when nothing new was recorded.
    #[serde(default)]
    pub commit: Option<String>,
    #[serde(default)]
    pub state: Option<PromotionState>,
    #[serde(default)]
    pub reason: String,
    #[serde(default)]
    pub would_ship: Vec<Promotion>,
    #[serde(default)]
    pub approved_by: Vec<String>,
    #[serde(default)]
    pub rejected: Option<crate::approvals::Verdict>,
}

/// `GET /status` of the transitioner.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransitionerStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repo_commit: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<ErrorRecord>,
    #[serde(default)]
    pub transitions: Vec<TransitionStatus>,
    /// Who leads, when the replicas elect a leader.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leader: Option<LeaderStatus>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worst_status_orders_failed_over_everything() {
        use RolloutStatus::*;
        assert_eq!(RolloutStatus::worst([Clean, InProgress]), InProgress);
        assert_eq!(RolloutStatus::worst([Outdated, Failed, Clean]), Failed);
        assert_eq!(RolloutStatus::worst([InProgress, Outdated]), Outdated);
        assert_eq!(RolloutStatus::worst([]), Clean);
    }

    #[test]
    fn statuses_serialize_as_their_spec_names() {
        assert_eq!(
            serde_json::to_string(&RolloutStatus::InProgress).unwrap(),
            "\"InProgress\""
        );
        assert_eq!(serde_json::to_string(&Phase::DeployFailed).unwrap(), "\"DeployFailed\"");
        assert_eq!(
            serde_json::to_string(&TransitionResult::CheckFailed).unwrap(),
            "\"CheckFailed\""
        );
    }
}
