//! Approving or rejecting what a transition would ship now (`approvals: N`):
//! one commit to `<target>/approvals.yaml` per verdict, by the person who gave it.
//! Blocking (git): call it on a blocking thread.
//!
//! ```text
//!   POST /transitions/x/approve ─▶ the pending set on the fetched head ─▶ who may approve?
//!        (approvers, four eyes) ─▶ commit_and_push (the set is decided again on the
//!        head the commit lands on: a set that changed meanwhile is refused)
//! ```

use std::str::FromStr as _;

use chrono::{DateTime, Utc};
use slipway_core::approvals::{approvals_path, Verdict};
use slipway_core::model::version_path;
use slipway_core::transitions::{Transition, TransitionState};
use slipway_core::RepoSnapshot;
use slipway_repo::{Author, Change, CommitError, CommitId, GitError, ResourceRepo};
use thiserror::Error;

use crate::evaluate::{evaluate, read_approvals, Decision, Input, Trigger};
use crate::message::{ACTION_TRAILER, ENV_TRAILER, TRANSITION_TRAILER};
use crate::source_check::{short, SourceObservation};

/// How many commits of one version file are looked at to find who posted a version.
const ORIGIN_WALK: usize = 200;

/// Approve or reject.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Approve,
    Reject,
}

/// Why a verdict was not recorded.
#[derive(Debug, Error)]
pub enum ApprovalError {
    #[error("transition {name} needs no approvals (it has no approvals: N in transitions.yaml)")]
    NotRequired { name: String },
    #[error("nothing of transition {name} waits for approval: {detail}")]
    NothingPending { name: String, detail: String },
    #[error("{who} is not among the approvers of transition {name} ({approvers})")]
    NotAnApprover {
        who: String,
        name: String,
        approvers: String,
    },
    #[error("{who} posted {service} {version} (commit {commit}) and may not approve its promotion: transition {name} needs {needed} approvals by people other than the author (four eyes)")]
    OwnChange {
        who: String,
        service: String,
        version: String,
        commit: String,
        name: String,
        needed: u32,
    },
    #[error("what transition {name} would ship changed while the verdict was recorded; it ships {ships} now: look at it and try again")]
    Changed { name: String, ships: String },
    #[error("{0}")]
    Unreadable(String),
    #[error(transparent)]
    Git(#[from] GitError),
}

/// A recorded verdict: the commit (`None` when it was already recorded) and the set's state.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub commit: Option<String>,
    /// What the transition would ship and the approvals that count, after the verdict.
    pub decision: Decision,
}

/// Records `who`'s verdict on what `t` would ship now.
pub fn record(
    repo: &ResourceRepo,
    t: &Transition,
    all: &[Transition],
    now: DateTime<Utc>,
    who: &str,
    kind: Kind,
    reason: Option<&str>,
) -> Result<Recorded, ApprovalError> {
    let span = tracing::info_span!("verdict", name = %t.name, who = %who, ?kind);
    let _enter = span.enter();
    if t.approvals == 0 {
        return Err(ApprovalError::NotRequired { name: t.name.clone() });
    }
    let head = repo.head_snapshot()?;
    let seen = pending(t, &head, now)?;
    let Some(digest) = seen.pending_set.clone() else {
        return Err(ApprovalError::NothingPending {
            name: t.name.clone(),
            detail: seen.reason,
        });
    };
    if kind == Kind::Approve {
        may_approve(repo, t, all, &head, &seen, who)?;
    }
    let shipping = ships(&seen);
    let verdict = Verdict {
        by: who.to_string(),
        at: now,
        reason: reason.map(str::to_string),
    };
    let mut changed = None;
    let pushed = repo
        .commit_and_push(&Author::named(who), |head| {
            let now_seen = pending(t, head, now)?;
            if now_seen.pending_set.as_deref() != Some(digest.as_str()) {
                changed = Some(ships(&now_seen));
                return Ok(None);
            }
            let mut approvals = read_approvals(head, &t.target).map_err(ApprovalError::Unreadable)?;
            match kind {
                Kind::Approve => {
                    if !approvals.approve(&t.name, &digest, &shipping, verdict.clone()) {
                        return Ok(None);
                    }
                }
                Kind::Reject => approvals.reject(&t.name, &digest, &shipping, verdict.clone()),
            }
            let files = [(approvals_path(&t.target), Some(approvals.to_yaml().into_bytes()))]
                .into_iter()
                .collect();
            Ok(Some(Change {
                message: verdict_message(t, kind, &shipping, reason),
                files,
            }))
        })
        .map_err(|e| match e {
            CommitError::Git(e) => ApprovalError::Git(e),
            CommitError::Change(e) => e,
        })?;
    if let Some(ships) = changed {
        return Err(ApprovalError::Changed {
            name: t.name.clone(),
            ships,
        });
    }
    let commit = pushed.map(|c| c.to_string());
    if let Some(commit) = &commit {
        tracing::info!(%commit, "{kind:?} of {shipping} recorded");
    }
    let decision = pending(t, &*repo.head_snapshot()?, now)?;
    Ok(Recorded { commit, decision })
}

/// What `t` would ship on `head`, with the approvals that count.
fn pending(t: &Transition, head: &RepoSnapshot, now: DateTime<Utc>) -> Result<Decision, ApprovalError> {
    let state = head.transition_state().unwrap_or_else(|_| TransitionState::default());
    let decision = evaluate(Input {
        transition: t,
        source: head,
        head,
        state: &state,
        // The pending set does not depend on the source's rollout.
        observation: &SourceObservation::NotRequired,
        now,
        trigger: Trigger::Manual,
        override_windows: None,
        branch: crate::evaluate::Branch::NotAsked,
    });
    if decision.pending_set.is_some() {
        if let Err(e) = read_approvals(head, &t.target) {
            return Err(ApprovalError::Unreadable(e));
        }
    }
    Ok(decision)
}

/// `s1 1 → 2, s2 (new) → 1`, or `nothing`.
fn ships(d: &Decision) -> String {
    if d.would_ship.is_empty() {
        return "nothing".to_string();
    }
    d.would_ship
        .iter()
        .map(|p| format!("{} {} → {}", p.service, p.old.as_deref().unwrap_or("(new)"), p.new))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The approvers list, and four eyes: with `approvals ≥ 2` the person who posted a
/// version may not approve its promotion.
fn may_approve(
    repo: &ResourceRepo,
    t: &Transition,
    all: &[Transition],
    head: &RepoSnapshot,
    seen: &Decision,
    who: &str,
) -> Result<(), ApprovalError> {
    if !t.approvers.is_empty() && !t.approvers.iter().any(|a| a == who) {
        return Err(ApprovalError::NotAnApprover {
            who: who.to_string(),
            name: t.name.clone(),
            approvers: t.approvers.join(", "),
        });
    }
    if t.approvals < 2 {
        return Ok(());
    }
    for p in &seen.would_ship {
        let Some(content) = head.files.get(&version_path(&t.source, &p.service)) else {
            continue;
        };
        if let Some((author, commit)) = origin(repo, all, &t.source, &p.service, content)? {
            if author == who {
                return Err(ApprovalError::OwnChange {
                    who: who.to_string(),
                    service: p.service.clone(),
                    version: p.new.clone(),
                    commit: short(&commit).to_string(),
                    name: t.name.clone(),
                    needed: t.approvals,
                });
            }
        }
    }
    Ok(())
}

/// Who posted this version of `service`: the author of the commit that first gave
/// `env`'s version file this content, followed upstream through promotions (whose
/// author is the transitioner or whoever ran it, not who posted the version).
fn origin(
    repo: &ResourceRepo,
    all: &[Transition],
    env: &str,
    service: &str,
    content: &[u8],
) -> Result<Option<(String, String)>, GitError> {
    let Some(head) = repo.head() else { return Ok(None) };
    let mut env = env.to_string();
    // Each step goes one transition upstream; more steps than transitions would be a loop.
    for _ in 0..=all.len() {
        let path = version_path(&env, service);
        let mut first = None;
        for commit in repo.history(head, &path, ORIGIN_WALK)? {
            let at = CommitId::from_str(&commit.id).ok();
            let there = at.map(|c| repo.read_file(c, &path)).transpose()?.flatten();
            if there.as_deref() != Some(content) {
                break;
            }
            first = Some(commit);
        }
        let Some(commit) = first else { return Ok(None) };
        // A promotion (by the transitioner, or run by a person) only moved the version.
        let promoted = crate::message::trailer(&commit.message, ACTION_TRAILER) == Some("promotion");
        let by_transition = promoted
            .then(|| crate::message::trailer(&commit.message, TRANSITION_TRAILER))
            .flatten()
            .and_then(|name| all.iter().find(|t| t.name == name));
        match by_transition {
            Some(upstream) => env = upstream.source.clone(),
            None => return Ok(Some((commit.author, commit.id))),
        }
    }
    Ok(None)
}

/// `Approve prod: s1 1 → 2` with the reason and trailers.
fn verdict_message(t: &Transition, kind: Kind, ships: &str, reason: Option<&str>) -> String {
    let (verb, action) = match kind {
        Kind::Approve => ("Approve", "approval"),
        Kind::Reject => ("Reject", "rejection"),
    };
    let mut msg = format!("{verb} promotion {}: {ships}\n\n", t.name);
    if let Some(reason) = reason {
        msg.push_str(&format!("{reason}\n\n"));
    }
    msg.push_str(&format!(
        "{ACTION_TRAILER}: {action}\n{TRANSITION_TRAILER}: {}\n{ENV_TRAILER}: {}\n",
        t.name, t.target
    ));
    msg
}
