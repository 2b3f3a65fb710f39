//! The transitioner service: runs every transition on each poll (or when asked),
//! one at a time, and keeps the status the API serves.
//!
//! ```text
//!  poll / POST /refresh ──▶ run(Poll)   ─┐
//!  POST /transitions/x/run ─▶ run(Manual)┤ fetch once ─▶ ask deployer ─▶ per transition, on a
//!                                        ┘  blocking thread: run::run_transition ─▶ record status
//! ```

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use slipway_core::status::{ErrorRecord, TransitionResult, TransitionRun, TransitionStatus, TransitionerStatus};
use slipway_core::transitions::Transition;
use slipway_core::{FileError, RepoSnapshot};
use slipway_repo::GitError;
use slipway_repo::{RepoSettings, SharedRepo};
use thiserror::Error;

use crate::evaluate::{Decision, Trigger};
use crate::metrics::Metrics;
use crate::run::{self, DeployerView, Outcome};
use slipway_kit::clock::Clock;
use slipway_kit::drain::Drain;
use slipway_kit::peer::PeerClient as DeployerClient;

/// How many successful runs the status keeps per transition.
pub const RECENT_RUNS: usize = 100;

/// Why a run could not happen at all.
#[derive(Debug, Error)]
pub enum Error {
    #[error(transparent)]
    Git(#[from] GitError),
    #[error("cannot read the promotion rules: {0}")]
    Rules(#[from] FileError),
    #[error("no transition named {name:?} in transitions.yaml (known: {known})")]
    UnknownTransition { name: String, known: String },
}

/// The transitioner: the repo, the deployer, the clock and the status.
pub struct Transitioner {
    repo: SharedRepo,
    deployer: Option<DeployerClient>,
    clock: Arc<dyn Clock>,
    board: Mutex<TransitionerStatus>,
    run_lock: tokio::sync::Mutex<()>,
    metrics: Metrics,
    /// Every run's commit and push holds a guard of it, so shutdown waits for them.
    drain: Drain,
}

impl Transitioner {
    /// Opens (creating if needed) the local copy of the repo. Does not fetch: the
    /// first run does, so a repo host that is down at start only delays promotions.
    pub async fn new(
        repo: &RepoSettings,
        deployer: Option<DeployerClient>,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, Error> {
        Ok(Transitioner {
            repo: SharedRepo::open(repo).await?,
            deployer,
            clock,
            board: Mutex::new(TransitionerStatus::default()),
            run_lock: tokio::sync::Mutex::new(()),
            metrics: Metrics::new(),
            drain: Drain::new(),
        })
    }

    /// The same transitioner, its pushes held in flight by `drain` at shutdown.
    pub fn with_drain(mut self, drain: Drain) -> Self {
        self.drain = drain;
        self
    }

    /// The status for `GET /status`.
    pub fn status(&self) -> TransitionerStatus {
        self.board().clone()
    }

    /// The last fetched head of the repo (cheap, unlike [`Transitioner::status`]).
    pub fn repo_commit(&self) -> Option<String> {
        self.board().repo_commit.clone()
    }

    /// The metrics for `GET /metrics`.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    fn board(&self) -> std::sync::MutexGuard<'_, TransitionerStatus> {
        // The board is plain data, valid after any panic of a writer.
        self.board.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Evaluates every transition in file order, as the poll loop does.
    pub async fn run_all(&self) -> Result<Vec<(String, Outcome)>, Error> {
        self.run(Trigger::Poll, None, run::AUTHOR).await
    }

    /// Runs one transition now: also a manual one, ignoring its schedule; locks
    /// and other preconditions still apply. Its commit is by [`run::AUTHOR`].
    pub async fn run_now(&self, name: &str) -> Result<Outcome, Error> {
        self.run_now_as(name, run::AUTHOR).await
    }

    /// Like [`Transitioner::run_now`], with `author` as the commit's author
    /// (`POST /transitions/{name}/run`: the person who asked).
    pub async fn run_now_as(&self, name: &str, author: &str) -> Result<Outcome, Error> {
        let mut outcomes = self.run(Trigger::Manual, Some(name), author).await?;
        match outcomes.pop() {
            Some((_, outcome)) => Ok(outcome),
            // run() returns exactly the one named transition, or UnknownTransition.
            None => Err(Error::UnknownTransition {
                name: name.to_string(),
                known: String::new(),
            }),
        }
    }

    async fn run(&self, trigger: Trigger, only: Option<&str>, author: &str) -> Result<Vec<(String, Outcome)>, Error> {
        let _one_at_a_time = self.run_lock.lock().await;
        let now = self.clock.now();
        let result = self.run_locked(trigger, only, now, author).await;
        match &result {
            Err(Error::UnknownTransition { .. }) => {}
            Err(e) => {
                self.metrics.error();
                self.board().last_error = Some(ErrorRecord {
                    message: e.to_string(),
                    at: now,
                });
            }
            Ok(_) => self.board().last_error = None,
        }
        result
    }

    async fn run_locked(
        &self,
        trigger: Trigger,
        only: Option<&str>,
        now: DateTime<Utc>,
        author: &str,
    ) -> Result<Vec<(String, Outcome)>, Error> {
        let snapshot: Arc<RepoSnapshot> = self
            .repo
            .with(|r| {
                r.fetch()?;
                r.head_snapshot()
            })
            .await?;
        self.board().repo_commit = Some(snapshot.commit.clone()).filter(|c| !c.is_empty());
        let all = snapshot.transitions()?;
        self.sync_board(&all).await?;
        let selected: Vec<Transition> = match only {
            None => all,
            Some(name) => match all.iter().find(|t| t.name == name) {
                Some(t) => vec![t.clone()],
                None => {
                    return Err(Error::UnknownTransition {
                        name: name.to_string(),
                        known: all.iter().map(|t| t.name.as_str()).collect::<Vec<_>>().join(", "),
                    })
                }
            },
        };
        let view = Arc::new(self.deployer_view(&selected).await);
        let mut outcomes = Vec::new();
        let mut failure = None;
        for t in selected {
            let (snapshot, view, name, author) = (snapshot.clone(), view.clone(), t.name.clone(), author.to_string());
            // Held by the git work itself: a caller that goes away does not cut a push short.
            let in_flight = self.drain.guard();
            let outcome = self
                .repo
                .with(move |r| {
                    let _in_flight = in_flight;
                    run::run_transition(r, &t, &snapshot, &view, now, trigger, &author)
                })
                .await;
            match outcome {
                Ok(outcome) => {
                    self.record(&name, &outcome, now);
                    if outcome.commit.is_some() {
                        if let Some(deployer) = self.deployer.clone() {
                            tokio::spawn(async move { deployer.refresh().await });
                        }
                    }
                    outcomes.push((name, outcome));
                }
                // One transition failing on the repo (a push rejected too often) does not
                // keep the others from running; the run still reports the failure.
                Err(e) => {
                    self.record_failure(&name, &e, now);
                    failure.get_or_insert(e);
                }
            }
        }
        let head = self.repo.with(|r| r.head().map(|h| h.to_string())).await;
        self.board().repo_commit = head;
        match failure {
            Some(e) => Err(e.into()),
            None => Ok(outcomes),
        }
    }

    fn record_failure(&self, name: &str, error: &GitError, now: DateTime<Utc>) {
        self.metrics.record(name, TransitionResult::CheckFailed, 0, 0);
        let mut board = self.board();
        if let Some(status) = board.transitions.iter_mut().find(|s| s.name == name) {
            status.last_run = Some(now);
            status.result = Some(TransitionResult::CheckFailed);
            status.reason = format!("cannot write the promotion to the repo: {error}");
        }
    }

    /// What a poll would do now, per transition in file order, without writing anything.
    pub async fn preview(&self) -> Result<Vec<(String, Decision)>, Error> {
        let now = self.clock.now();
        let snapshot: Arc<RepoSnapshot> = self
            .repo
            .with(|r| {
                r.fetch()?;
                r.head_snapshot()
            })
            .await?;
        let transitions = snapshot.transitions()?;
        let view = Arc::new(self.deployer_view(&transitions).await);
        let mut out = Vec::new();
        for t in transitions {
            let (snapshot, view, name) = (snapshot.clone(), view.clone(), t.name.clone());
            let decision = self
                .repo
                .with(move |r| run::preview_transition(r, &t, &snapshot, &view, now))
                .await?;
            out.push((name, decision));
        }
        Ok(out)
    }

    async fn deployer_view(&self, transitions: &[Transition]) -> DeployerView {
        if !transitions.iter().any(Transition::requires_source_clean) {
            return DeployerView::NotAsked;
        }
        match &self.deployer {
            None => DeployerView::NotAsked,
            Some(d) => match d.status().await {
                Ok(status) => DeployerView::Status(status),
                Err(why) => DeployerView::Unavailable(why.to_string()),
            },
        }
    }

    /// Makes the board list the transitions of the file, in its order; a transition
    /// seen for the first time gets its recent runs from the repo's history.
    async fn sync_board(&self, transitions: &[Transition]) -> Result<(), Error> {
        let known: Vec<String> = self.board().transitions.iter().map(|s| s.name.clone()).collect();
        let mut history = std::collections::BTreeMap::new();
        for t in transitions.iter().filter(|t| !known.contains(&t.name)) {
            let t2 = t.clone();
            let runs: Vec<TransitionRun> = self.repo.with(move |r| run::recent_runs(r, &t2, RECENT_RUNS)).await?;
            history.insert(t.name.clone(), runs);
        }
        let mut board = self.board();
        let mut old: Vec<TransitionStatus> = std::mem::take(&mut board.transitions);
        for t in transitions {
            let mut status = match old.iter().position(|s| s.name == t.name) {
                Some(i) => old.swap_remove(i),
                None => TransitionStatus {
                    name: t.name.clone(),
                    source: String::new(),
                    target: String::new(),
                    manual: false,
                    schedule: None,
                    last_run: None,
                    result: None,
                    reason: String::new(),
                    recent_runs: history.remove(&t.name).unwrap_or_default(),
                    next_scheduled: None,
                    pending: Vec::new(),
                    skipped: Vec::new(),
                },
            };
            status.source = t.source.clone();
            status.target = t.target.clone();
            status.manual = t.manual;
            status.schedule = t.schedule_text.clone();
            board.transitions.push(status);
        }
        Ok(())
    }

    fn record(&self, name: &str, outcome: &Outcome, now: DateTime<Utc>) {
        let d = &outcome.decision;
        self.metrics.record(name, d.result, d.promotions.len(), d.pending.len());
        let mut board = self.board();
        let Some(status) = board.transitions.iter_mut().find(|s| s.name == name) else {
            return;
        };
        // Say what changed, once: the same Blocked reason every poll would drown the log.
        if status.result != Some(d.result) || status.reason != d.reason {
            match d.result {
                TransitionResult::CheckFailed => {
                    tracing::warn!(transition = %name, "{:?}: {}", d.result, d.reason)
                }
                _ => tracing::info!(transition = %name, "{:?}: {}", d.result, d.reason),
            }
        }
        status.last_run = Some(now);
        status.result = Some(d.result);
        status.reason = d.reason.clone();
        status.next_scheduled = d.next_scheduled();
        status.pending = d.pending.clone();
        status.skipped = d.skipped.clone();
        if let Some(commit) = &outcome.commit {
            if !d.promotions.is_empty() {
                status.recent_runs.insert(
                    0,
                    TransitionRun {
                        at: now,
                        commit: commit.clone(),
                        promotions: d
                            .promotions
                            .iter()
                            .map(|p| slipway_core::status::Promotion {
                                service: p.service.clone(),
                                old: p.old.clone(),
                                new: p.new.clone(),
                            })
                            .collect(),
                    },
                );
                status.recent_runs.truncate(RECENT_RUNS);
            }
        }
    }
}
