//! One transition run against the resource repo (blocking: call it on a blocking
//! thread): observe the source in the deployer's status, decide on the current
//! head inside `commit_and_push`, and write the promotions and the schedule state
//! as one commit.
//!
//! Nothing is remembered between runs but the repo itself: the decision is made
//! again on every attempt, on the head it will be committed on. A crash between
//! commit and push, a restart, or another writer pushing first therefore never
//! promotes twice and never loses a promotion.

use std::collections::BTreeMap;

use chrono::{DateTime, TimeZone, Utc};
use std::str::FromStr as _;

use slipway_core::approvals::approvals_path;
use slipway_core::lineage::origin_chain;
use slipway_core::model::version_path;
use slipway_core::status::{DeployerStatus, PromotionState, TransitionResult, TransitionRun};
use slipway_core::transitions::{promotion_branch, Mode, Transition, TransitionState, TRANSITION_STATE_FILE};
use slipway_core::RepoSnapshot;
use slipway_repo::CommitId;
use slipway_repo::{Author, Change, CommitError, GitError, ResourceRepo};

use crate::evaluate::{evaluate, summary, Branch, Decision, Input, PlannedPromotion, Trigger};
use crate::message::{self, Changelog};
use crate::source_check::{Position, SourceEnv, SourceObservation};

/// The author of the transitioner's commits.
pub const AUTHOR: &str = "slipway-transitioner";

/// How many versions of a service a changelog walks back per env.
const CHANGELOG_CAP: usize = 200;

/// What the run knows about the deployer.
#[derive(Debug, Clone)]
pub enum DeployerView {
    /// No transition of this run needs it.
    NotAsked,
    /// It could not be asked; the text says why.
    Unavailable(String),
    /// Its `GET /status` answer.
    Status(DeployerStatus),
}

/// The result of one run: the decision that was carried out and the commit, if any.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub decision: Decision,
    pub commit: Option<String>,
    /// `mode: pull_request`, awaiting a merge: the message of the promotion branch's
    /// commit (what it ships, the changelogs), for the pull request on the git host.
    pub branch_message: Option<String>,
}

/// Who asked for a run, and how.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    pub trigger: Trigger,
    /// The commit's author ([`AUTHOR`] on polls, the acting person on request).
    pub author: &'a str,
    /// Break-glass (manual runs only): go ahead through closed windows, for this reason.
    pub override_windows: Option<&'a str>,
}

impl Request<'static> {
    /// A run of the poll loop.
    pub fn poll() -> Self {
        Request {
            trigger: Trigger::Poll,
            author: AUTHOR,
            override_windows: None,
        }
    }
}

/// Whether this replica may write now (leader election): `Err` says why not.
/// Asked before the first fetch for a write and again right before each push.
pub type Fence<'a> = &'a dyn Fn() -> Result<(), String>;

/// Runs one transition. `source` is the snapshot the whole run reads source versions from;
/// nothing is pushed unless `fence` allows it (the decision is then reported,
/// with why it was not committed here).
pub fn run_transition(
    repo: &ResourceRepo,
    transition: &Transition,
    source: &RepoSnapshot,
    deployer: &DeployerView,
    now: DateTime<Utc>,
    request: Request<'_>,
    fence: Fence<'_>,
) -> Result<Outcome, GitError> {
    let span = tracing::info_span!("transition", name = %transition.name, source = %transition.source, target = %transition.target);
    let _enter = span.enter();
    let author = request.author;
    let observation = observe_source(repo, transition, source, deployer)?;
    let branch_name = promotion_branch(&transition.name);
    let branch_snapshot = match transition.mode {
        Mode::Direct => None,
        Mode::PullRequest => Some(match repo.fetch_branch(&branch_name)? {
            Some(at) => Some(repo.snapshot(at)?),
            None => None,
        }),
    };
    let branch = match &branch_snapshot {
        None => Branch::NotAsked,
        Some(None) => Branch::Missing,
        Some(Some(snap)) => Branch::At(snap),
    };
    let decide = |head: &RepoSnapshot| decide_on(transition, source, head, &observation, now, request, branch);

    // A first look at the last fetched head, so that a run with nothing to write
    // costs no second fetch.
    let head = repo.head_snapshot()?;
    let decision = decide(&head);
    // Branch writes are writes too: only the replica allowed to write makes them.
    let may_write = fence().is_ok();
    let mut branch_message = None;
    if may_write && !decision.branch_push.is_empty() {
        branch_message = push_promotion_branch(repo, transition, source, &head, &decision, author)?;
    } else if let (Branch::At(snap), PromotionState::AwaitingMerge) = (branch, decision.state) {
        branch_message = tip_message(repo, &snap.commit);
    }
    // Merged: the branch it pushed has done its work.
    let had_pushed = head
        .transition_state()
        .is_ok_and(|s| s.pushed.contains_key(&transition.name));
    if may_write && had_pushed && decision.pushed.is_none() && matches!(branch, Branch::At(_)) {
        if let Err(e) = repo.delete_branch(&branch_name) {
            tracing::warn!("cannot delete the merged promotion branch {branch_name}: {e}");
        }
    }
    if files_for(transition, &head, &decision).is_empty() {
        return Ok(Outcome {
            decision,
            commit: None,
            branch_message,
        });
    }
    if let Err(why) = fence() {
        return Ok(not_committed_here(decision, &why));
    }

    let mut last = None;
    let mut fenced = None;
    let pushed = repo
        .commit_and_push(&Author::named(author), |head| {
            // Right before the push: a leader that lost its lease meanwhile writes nothing.
            if let Err(why) = fence() {
                fenced = Some(why);
                return Ok(None);
            }
            let decision = decide(head);
            let change = change_for(repo, transition, source, head, &decision, author)?;
            last = Some(decision);
            Ok::<_, GitError>(change)
        })
        .map_err(|e| match e {
            CommitError::Git(e) | CommitError::Change(e) => e,
        })?;
    // The closure ran at least once unless the fetch failed, which returned above.
    let decision = last.unwrap_or(decision);
    if let Some(why) = fenced {
        return Ok(not_committed_here(decision, &why));
    }
    let commit = pushed.map(|c| c.to_string());
    if let Some(commit) = &commit {
        tracing::info!(%commit, "committed: {}", decision.reason);
    }
    Ok(Outcome {
        decision,
        commit,
        branch_message,
    })
}

/// The message of the commit `at` (a promotion branch's tip), `None` if unreadable.
fn tip_message(repo: &ResourceRepo, at: &str) -> Option<String> {
    let at = CommitId::from_str(at).ok()?;
    match repo.log(at, 1) {
        Ok(mut commits) => commits.pop().map(|c| c.message),
        Err(e) => {
            tracing::warn!("cannot read the promotion branch's commit {at}: {e}");
            None
        }
    }
}

/// The decision as a replica that may not write reports it: what it would do,
/// and why it did not (the leader commits it).
fn not_committed_here(mut decision: Decision, why: &str) -> Outcome {
    decision.reason = format!("{}; not committed by this replica: {why}", decision.reason);
    Outcome {
        decision,
        commit: None,
        branch_message: None,
    }
}

/// Decides what a run would do now, without writing anything (`slipway-transitioner check`).
pub fn preview_transition(
    repo: &ResourceRepo,
    transition: &Transition,
    source: &RepoSnapshot,
    deployer: &DeployerView,
    now: DateTime<Utc>,
) -> Result<Decision, GitError> {
    let observation = observe_source(repo, transition, source, deployer)?;
    Ok(decide_on(
        transition,
        source,
        source,
        &observation,
        now,
        Request::poll(),
        Branch::NotAsked,
    ))
}

/// `mode: pull_request`: the promotion commit, built on the main branch's head,
/// force-pushed to the transition's promotion branch.
fn push_promotion_branch(
    repo: &ResourceRepo,
    t: &Transition,
    source: &RepoSnapshot,
    head: &RepoSnapshot,
    decision: &Decision,
    author: &str,
) -> Result<Option<String>, GitError> {
    let Some(base) = CommitId::from_str(&head.commit).ok() else {
        return Ok(None);
    };
    let changelogs: Vec<Changelog> = decision
        .branch_push
        .iter()
        .map(|p| changelog(repo, t, source, p))
        .collect();
    let message = message::promotion_message(t, &decision.branch_push, &changelogs);
    let message = message::with_approvals(message, &decision.approved_by);
    let files = decision
        .branch_push
        .iter()
        .map(|p| (version_path(&t.target, &p.service), Some(p.content.clone())))
        .collect();
    let branch = promotion_branch(&t.name);
    let change = Change { message, files };
    let pushed = repo.push_branch(&branch, base, &Author::named(author), &change)?;
    tracing::info!(commit = %pushed, "pushed {branch}: {}", summary(&decision.branch_push));
    Ok(Some(change.message))
}

/// Decides on `head`, with the state file read from there.
fn decide_on(
    transition: &Transition,
    source: &RepoSnapshot,
    head: &RepoSnapshot,
    observation: &SourceObservation,
    now: DateTime<Utc>,
    request: Request<'_>,
    branch: Branch<'_>,
) -> Decision {
    let (trigger, override_windows) = (request.trigger, request.override_windows);
    let state = match head.transition_state() {
        Ok(state) => state,
        Err(e) => {
            let mut decision = evaluate(Input {
                transition,
                source,
                head,
                state: &TransitionState::default(),
                observation,
                now,
                trigger,
                override_windows,
                branch,
            });
            if transition.schedule.is_some() && !transition.manual {
                // Without the state the next due time is unknown: guessing could skip or repeat a run.
                decision.result = TransitionResult::CheckFailed;
                decision.reason = format!("cannot read the schedule state: {e}; fix or delete the file");
                decision.promotions.clear();
            }
            // Never write over a file we cannot read.
            decision.schedule = None;
            return decision;
        }
    };
    evaluate(Input {
        transition,
        source,
        head,
        state: &state,
        observation,
        now,
        trigger,
        override_windows,
        branch,
    })
}

/// The commit that carries out `decision` on `head`, or `None` when nothing changes.
fn change_for(
    repo: &ResourceRepo,
    t: &Transition,
    source: &RepoSnapshot,
    head: &RepoSnapshot,
    decision: &Decision,
    author: &str,
) -> Result<Option<Change>, GitError> {
    let files = files_for(t, head, decision);
    if files.is_empty() {
        return Ok(None);
    }
    let message = if !decision.branch_push.is_empty() {
        message::branch_message(t, &summary(&decision.branch_push))
    } else if decision.promotions.is_empty() && t.mode == Mode::PullRequest && decision.schedule.is_none() {
        message::branch_done_message(t, &decision.reason)
    } else if decision.promotions.is_empty() {
        message::schedule_message(t, decision.schedule.as_ref(), &decision.reason)
    } else {
        let changelogs: Vec<Changelog> = decision
            .promotions
            .iter()
            .map(|p| changelog(repo, t, source, p))
            .collect();
        let message = message::promotion_message(t, &decision.promotions, &changelogs);
        let message = message::with_approvals(message, &decision.approved_by);
        match &decision.overridden {
            Some(o) => message::with_window_override(message, o, author),
            None => message,
        }
    };
    Ok(Some(Change { message, files }))
}

/// The files `decision` writes on `head`: the promoted version files, and the state
/// file when this transition's entry changes.
fn files_for(t: &Transition, head: &RepoSnapshot, decision: &Decision) -> BTreeMap<String, Option<Vec<u8>>> {
    let mut files = BTreeMap::new();
    for p in &decision.promotions {
        files.insert(version_path(&t.target, &p.service), Some(p.content.clone()));
    }
    // The approvals were for the set this commit ships: they are done.
    if !decision.promotions.is_empty() {
        if let Ok(mut approvals) = crate::evaluate::read_approvals(head, &t.target) {
            if approvals.transitions.remove(&t.name).is_some() {
                let text = approvals.to_yaml().into_bytes();
                files.insert(approvals_path(&t.target), Some(text));
            }
        }
    }
    // An unreadable state file is left as it is (the decision reports it).
    if let Ok(mut state) = head.transition_state() {
        let current = state.transitions.get(&t.name).cloned();
        let current_pushed = state.pushed.get(&t.name).cloned();
        if current != decision.schedule || current_pushed != decision.pushed {
            match &decision.schedule {
                Some(entry) => state.transitions.insert(t.name.clone(), entry.clone()),
                None => state.transitions.remove(&t.name),
            };
            match &decision.pushed {
                Some(digest) => state.pushed.insert(t.name.clone(), digest.clone()),
                None => state.pushed.remove(&t.name),
            };
            files.insert(TRANSITION_STATE_FILE.to_string(), Some(state.to_yaml().into_bytes()));
        }
    }
    files
}

/// The origins of the versions a promotion carries (see [`slipway_core::lineage`]).
fn changelog(repo: &ResourceRepo, t: &Transition, source: &RepoSnapshot, p: &PlannedPromotion) -> Changelog {
    let mut log = Changelog {
        service: p.service.clone(),
        ..Changelog::default()
    };
    let Ok(from) = CommitId::from_str(&source.commit) else {
        return log;
    };
    let transitions = source.transitions().unwrap_or_default();
    let chain = origin_chain(&transitions, &t.source);
    match repo.lineage(
        from,
        &chain,
        &p.service,
        p.old_content.as_deref(),
        &p.content,
        CHANGELOG_CAP,
    ) {
        Ok(lineage) => log.lineage = lineage,
        Err(e) => {
            tracing::warn!(service = %p.service, "cannot read the history of {} for the changelog: {e}", p.service)
        }
    }
    log
}

/// What the deployer says about the source env, related to the commit being promoted.
fn observe_source(
    repo: &ResourceRepo,
    t: &Transition,
    source: &RepoSnapshot,
    deployer: &DeployerView,
) -> Result<SourceObservation, GitError> {
    if !t.requires_source_clean() {
        return Ok(SourceObservation::NotRequired);
    }
    let status = match deployer {
        DeployerView::NotAsked => {
            return Ok(SourceObservation::Unavailable(
                "no deployer_url is configured".to_string(),
            ))
        }
        DeployerView::Unavailable(why) => return Ok(SourceObservation::Unavailable(why.clone())),
        DeployerView::Status(status) => status,
    };
    let Some(env) = status.envs.get(&t.source) else {
        let deployed = source.deployers().is_ok_and(|d| d.deployers.contains_key(&t.source));
        return Ok(if deployed {
            SourceObservation::NotReported
        } else {
            SourceObservation::NotDeployed
        });
    };
    let Ok(source_commit) = CommitId::from_str(&source.commit) else {
        return Ok(SourceObservation::Unavailable(
            "the repo has no commits yet".to_string(),
        ));
    };
    // The commit being promoted is the last one that changed the source's versions:
    // the deployer must have reconciled the source to it (or past it).
    let promoted = repo
        .history(source_commit, &format!("{}/version", t.source), 1)?
        .into_iter()
        .next()
        .and_then(|c| CommitId::from_str(&c.id).ok())
        .unwrap_or(source_commit);
    let position = match env.commit.as_deref() {
        None => Position::Behind,
        Some(at) => match repo.resolve_commit(at)? {
            None => Position::Unknown,
            Some(at) if repo.is_ancestor(promoted, at)? => Position::AtOrPast,
            Some(_) => Position::Behind,
        },
    };
    Ok(SourceObservation::Env(SourceEnv::new(
        env,
        promoted.to_string(),
        position,
    )))
}

/// The last `limit` promotions by `t`, newest first, rebuilt from the commits that
/// changed its target (so a restart keeps them).
pub fn recent_runs(repo: &ResourceRepo, t: &Transition, limit: usize) -> Result<Vec<TransitionRun>, GitError> {
    let Some(head) = repo.head() else {
        return Ok(Vec::new());
    };
    let mut runs = Vec::new();
    for commit in repo.history(head, &format!("{}/version", t.target), limit * 5)? {
        if let Some(promotions) = message::parse_promotion(&commit.message, &t.name) {
            runs.push(TransitionRun {
                at: Utc.timestamp_opt(commit.time, 0).single().unwrap_or_default(),
                commit: commit.id,
                promotions,
            });
            if runs.len() == limit {
                break;
            }
        }
    }
    Ok(runs)
}
