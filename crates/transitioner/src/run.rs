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

use slipway_core::lineage::origin_chain;
use slipway_core::model::version_path;
use slipway_core::status::{DeployerStatus, TransitionResult, TransitionRun};
use slipway_core::transitions::{Transition, TransitionState, TRANSITION_STATE_FILE};
use slipway_core::RepoSnapshot;
use slipway_repo::CommitId;
use slipway_repo::{Author, Change, CommitError, GitError, ResourceRepo};

use crate::evaluate::{evaluate, Decision, Input, PlannedPromotion, Trigger};
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
}

/// Runs one transition. `source` is the snapshot the whole run reads source versions from;
/// `author` writes the commit ([`AUTHOR`] on polls, the acting person on request).
pub fn run_transition(
    repo: &ResourceRepo,
    transition: &Transition,
    source: &RepoSnapshot,
    deployer: &DeployerView,
    now: DateTime<Utc>,
    trigger: Trigger,
    author: &str,
) -> Result<Outcome, GitError> {
    let span = tracing::info_span!("transition", name = %transition.name, source = %transition.source, target = %transition.target);
    let _enter = span.enter();
    let observation = observe_source(repo, transition, source, deployer)?;
    let decide = |head: &RepoSnapshot| decide_on(transition, source, head, &observation, now, trigger);

    // A first look at the last fetched head, so that a run with nothing to write
    // costs no second fetch.
    let head = repo.head_snapshot()?;
    let decision = decide(&head);
    if files_for(transition, &head, &decision).is_empty() {
        return Ok(Outcome { decision, commit: None });
    }

    let mut last = None;
    let pushed = repo
        .commit_and_push(&Author::named(author), |head| {
            let decision = decide(head);
            let change = change_for(repo, transition, source, head, &decision)?;
            last = Some(decision);
            Ok::<_, GitError>(change)
        })
        .map_err(|e| match e {
            CommitError::Git(e) | CommitError::Change(e) => e,
        })?;
    // The closure ran at least once unless the fetch failed, which returned above.
    let decision = last.unwrap_or(decision);
    let commit = pushed.map(|c| c.to_string());
    if let Some(commit) = &commit {
        tracing::info!(%commit, "committed: {}", decision.reason);
    }
    Ok(Outcome { decision, commit })
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
    Ok(decide_on(transition, source, source, &observation, now, Trigger::Poll))
}

/// Decides on `head`, with the state file read from there.
fn decide_on(
    transition: &Transition,
    source: &RepoSnapshot,
    head: &RepoSnapshot,
    observation: &SourceObservation,
    now: DateTime<Utc>,
    trigger: Trigger,
) -> Decision {
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
    })
}

/// The commit that carries out `decision` on `head`, or `None` when nothing changes.
fn change_for(
    repo: &ResourceRepo,
    t: &Transition,
    source: &RepoSnapshot,
    head: &RepoSnapshot,
    decision: &Decision,
) -> Result<Option<Change>, GitError> {
    let files = files_for(t, head, decision);
    if files.is_empty() {
        return Ok(None);
    }
    let message = if decision.promotions.is_empty() {
        message::schedule_message(t, decision.next_scheduled(), &decision.reason)
    } else {
        let changelogs: Vec<Changelog> = decision
            .promotions
            .iter()
            .map(|p| changelog(repo, t, source, p))
            .collect();
        message::promotion_message(t, &decision.promotions, &changelogs)
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
    // An unreadable state file is left as it is (the decision reports it).
    if let Ok(mut state) = head.transition_state() {
        let current = state.transitions.get(&t.name).cloned();
        if current != decision.schedule {
            match &decision.schedule {
                Some(entry) => state.transitions.insert(t.name.clone(), entry.clone()),
                None => state.transitions.remove(&t.name),
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
