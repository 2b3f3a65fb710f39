//! The transitioner service: runs every transition on each poll (or when asked),
//! one at a time, and keeps the status the API serves.
//!
//! ```text
//!  poll / POST /refresh ──▶ run(Poll)   ─┐
//!  POST /transitions/x/run ─▶ run(Manual)┤ fetch once ─▶ ask deployer ─▶ per transition, on a
//!                                        ┘  blocking thread: run::run_transition ─▶ record status
//! ```

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use slipway_core::deploy_outcome::{
    add_to_note, outcomes_in, parse_note, DeployOutcome, OutcomeStatus, DEPLOY_NOTES_REF,
};
use slipway_core::preview::PromotionPreview;
use slipway_core::status::PromotionState;
use slipway_core::status::{
    DeployerStatus, ErrorRecord, TransitionResult, TransitionRun, TransitionStatus, TransitionerStatus,
};
use slipway_core::transitions::{Mode, OnFailure, Transition};
use slipway_core::{FileError, RepoSnapshot};
use slipway_repo::GitError;
use slipway_repo::{Author, RepoSettings, SharedRepo};
use thiserror::Error;

use crate::approve::{self, ApprovalError, Kind, Recorded};
use crate::evaluate::{Decision, Trigger};
use crate::git_host::HostClient;
use crate::metrics::Metrics;
use crate::pull_requests::{PullRequests, Wanted};
use crate::run::{self, DeployerView, Outcome, Request};
use crate::verify;
use slipway_kit::clock::Clock;
use slipway_kit::drain::Drain;
use slipway_kit::lease::Leadership;
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
    #[error(transparent)]
    Approval(#[from] ApprovalError),
}

/// The transitioner: the repo, the deployer, the clock and the status.
pub struct Transitioner {
    repo: SharedRepo,
    deployer: Option<DeployerClient>,
    clock: Arc<dyn Clock>,
    board: Mutex<TransitionerStatus>,
    run_lock: tokio::sync::Mutex<()>,
    metrics: Metrics,
    /// Asked before every push: only the lease holder commits.
    leadership: Leadership,
    notifications: crate::notifications::Notifications,
    /// Deploy outcomes already in the notes (read from them once, then kept up to date).
    recorded: tokio::sync::Mutex<Option<HashSet<OutcomeKey>>>,
    /// Every run's commit and push holds a guard of it, so shutdown waits for them.
    drain: Drain,
    /// `git_host`: the pull requests of `mode: pull_request` transitions.
    pull_requests: Option<PullRequests>,
    /// The main branch (the pull requests' base).
    branch: String,
}

type OutcomeKey = (String, String, OutcomeStatus);

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
            notifications: Default::default(),
            leadership: Leadership::alone(),
            recorded: tokio::sync::Mutex::new(None),
            drain: Drain::new(),
            pull_requests: None,
            branch: repo.versions_branch.clone(),
        })
    }

    /// Sends notifications (`promoted`, `promotion_blocked`) to `targets`;
    /// their delivery metrics join this transitioner's.
    pub fn with_notifications(mut self, targets: &[slipway_kit::notify::TargetConfig]) -> Result<Self, String> {
        let metrics = slipway_kit::notify::NotifyMetrics::default();
        metrics.register(&mut self.metrics.registry);
        let notifier = slipway_kit::notify::Notifier::start("slipway-transitioner", targets, metrics)?;
        self.notifications = crate::notifications::Notifications::new(notifier);
        Ok(self)
    }

    /// Commits only while `leadership` says this replica leads (leader election);
    /// without it the transitioner runs alone and always commits.
    pub fn with_leadership(mut self, leadership: Leadership) -> Self {
        self.leadership = leadership;
        self
    }

    /// Whether, and who, leads.
    pub fn leadership(&self) -> &Leadership {
        &self.leadership
    }

    /// Opens, updates and closes a pull request on the git host for every
    /// `mode: pull_request` transition (call after [`Transitioner::with_drain`]: the
    /// worker stops with the drain).
    pub fn with_git_host(mut self, host: HostClient) -> Self {
        self.pull_requests = Some(PullRequests::start(host, &self.branch, self.drain.clone()));
        self
    }

    /// Waits until the pull requests are in step with the last runs (tests, tools).
    pub async fn pull_requests_settled(&self) {
        if let Some(prs) = &self.pull_requests {
            prs.settled().await;
        }
    }

    /// The same transitioner, its pushes held in flight by `drain` at shutdown.
    pub fn with_drain(mut self, drain: Drain) -> Self {
        self.drain = drain;
        self
    }

    /// Fetches the repo and reads the head it brought.
    async fn fetched_head(&self) -> Result<Arc<RepoSnapshot>, Error> {
        Ok(self
            .repo
            .with(|r| {
                r.fetch()?;
                r.head_snapshot()
            })
            .await?)
    }

    /// The status for `GET /status`.
    pub fn status(&self) -> TransitionerStatus {
        let mut status = self.board().clone();
        if let Some(prs) = &self.pull_requests {
            for t in &mut status.transitions {
                t.pull_request = prs.status(&t.name);
            }
        }
        status
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
        self.run(Trigger::Poll, None, run::AUTHOR, None).await
    }

    /// Runs one transition now: also a manual one, ignoring its schedule; locks
    /// and other preconditions still apply. Its commit is by [`run::AUTHOR`].
    pub async fn run_now(&self, name: &str) -> Result<Outcome, Error> {
        self.run_now_as(name, run::AUTHOR).await
    }

    /// Like [`Transitioner::run_now`], with `author` as the commit's author
    /// (`POST /transitions/{name}/run`: the person who asked).
    pub async fn run_now_as(&self, name: &str, author: &str) -> Result<Outcome, Error> {
        self.run_now_with(name, author, None).await
    }

    /// Like [`Transitioner::run_now_as`]; with `override_windows`, the run goes ahead
    /// while the transition's windows are closed (break-glass), and the commit records
    /// the reason.
    pub async fn run_now_with(
        &self,
        name: &str,
        author: &str,
        override_windows: Option<&str>,
    ) -> Result<Outcome, Error> {
        let mut outcomes = self.run(Trigger::Manual, Some(name), author, override_windows).await?;
        match outcomes.pop() {
            Some((_, outcome)) => Ok(outcome),
            // run() returns exactly the one named transition, or UnknownTransition.
            None => Err(Error::UnknownTransition {
                name: name.to_string(),
                known: String::new(),
            }),
        }
    }

    /// Records `who`'s approval or rejection of what transition `name` would ship now,
    /// as a commit by `who`; an approval that completes the count promotes right away
    /// (as a poll would: schedule and windows still apply).
    pub async fn verdict(&self, name: &str, who: &str, kind: Kind, reason: Option<&str>) -> Result<Recorded, Error> {
        let recorded = {
            let _one_at_a_time = self.run_lock.lock().await;
            let now = self.clock.now();
            let snapshot = self.fetched_head().await?;
            let all = snapshot.transitions()?;
            let Some(t) = all.iter().find(|t| t.name == name).cloned() else {
                return Err(Error::UnknownTransition {
                    name: name.to_string(),
                    known: all.iter().map(|t| t.name.as_str()).collect::<Vec<_>>().join(", "),
                });
            };
            let (who, reason) = (who.to_string(), reason.map(str::to_string));
            self.repo
                .with(move |r| approve::record(r, &t, &all, now, &who, kind, reason.as_deref()))
                .await?
        };
        if recorded.commit.is_some() {
            // Show the verdict in the status now, and promote if it was the last one needed.
            // The verdict is committed whatever this run does: its failure is the run's.
            if let Err(e) = self.run(Trigger::Poll, Some(name), run::AUTHOR, None).await {
                tracing::warn!(transition = %name, "the run after a verdict failed: {e}");
            }
        }
        Ok(recorded)
    }

    async fn run(
        &self,
        trigger: Trigger,
        only: Option<&str>,
        author: &str,
        override_windows: Option<&str>,
    ) -> Result<Vec<(String, Outcome)>, Error> {
        let _one_at_a_time = self.run_lock.lock().await;
        let now = self.clock.now();
        let result = self.run_locked(trigger, only, now, author, override_windows).await;
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
        override_windows: Option<&str>,
    ) -> Result<Vec<(String, Outcome)>, Error> {
        let snapshot = self.fetched_head().await?;
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
            let override_windows = override_windows.map(str::to_string);
            let leadership = self.leadership.clone();
            let fence = move || leadership.check().map_err(|e| e.to_string());
            let (source, target) = (t.source.clone(), t.target.clone());
            let (approvers, run_author) = (t.approvers.clone(), author.clone());
            let pull_request_mode = t.mode == Mode::PullRequest;
            let transition = t.clone();
            // Held by the git work itself: a caller that goes away does not cut a push short.
            let in_flight = self.drain.guard();
            let outcome = self
                .repo
                .with(move |r| {
                    let _in_flight = in_flight;
                    // A failed promotion is rolled back (and held) before anything
                    // else moves, by the replica allowed to write.
                    let rolled_back = match fence() {
                        Ok(()) => verify::roll_back_failures(r, &t, &view, now)?.is_some(),
                        Err(_) => false,
                    };
                    let request = Request {
                        trigger,
                        author: &author,
                        override_windows: override_windows.as_deref(),
                    };
                    run::run_transition(r, &t, &snapshot, &view, now, request, &fence).map(|o| (rolled_back, o))
                })
                .await;
            match outcome {
                Ok((rolled_back, outcome)) => {
                    self.record(&name, &outcome, now);
                    // Followers decide too, but only the replica that commits tells anyone.
                    if self.leadership.check().is_ok() {
                        let run = crate::notifications::Run {
                            name: &name,
                            source: &source,
                            target: &target,
                            approvers: &approvers,
                            author: &run_author,
                        };
                        self.notifications.after_run(&run, &outcome);
                        if pull_request_mode {
                            self.want_pull_request(&transition, &outcome);
                        }
                    }
                    if outcome.commit.is_some() || rolled_back {
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

    /// Hands the pull-request worker what `outcome` of a `mode: pull_request`
    /// transition wants on the host.
    fn want_pull_request(&self, t: &Transition, outcome: &Outcome) {
        let Some(prs) = &self.pull_requests else { return };
        let d = &outcome.decision;
        let wanted = match (d.state, &outcome.branch_message, &d.pending_set) {
            (PromotionState::AwaitingMerge, Some(message), Some(set)) => {
                let (title, body) = crate::message::pull_request_text(t, message);
                Wanted::Open {
                    title,
                    body,
                    set: set.clone(),
                }
            }
            // Awaiting a merge, but the branch's commit could not be read: leave it as it is.
            (PromotionState::AwaitingMerge, _, _) => return,
            _ => Wanted::Closed,
        };
        prs.want(&t.name, wanted);
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
        let snapshot = self.fetched_head().await?;
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

    /// What the next promotion of transition `name` ships, on a freshly fetched
    /// head (`slipway-transitioner preview`); `None` for an unknown name.
    pub async fn promotion_preview(&self, name: &str) -> Result<Option<PromotionPreview>, Error> {
        let name = name.to_string();
        let snapshot = self.fetched_head().await?;
        let transitions = snapshot.transitions()?;
        let Some(t) = transitions.iter().find(|t| t.name == name).cloned() else {
            return Ok(None);
        };
        let preview = self
            .repo
            .with(move |r| Ok::<_, GitError>(r.promotion_preview(&snapshot, &t, &transitions)))
            .await?;
        Ok(Some(preview))
    }

    /// Observes the deployer's status of every env, after each poll: notifies
    /// `deploy_failed` / `deploy_recovered` for each env whose rollout turned
    /// `Failed` / back to `Clean` (whether or not a transition reads it), and
    /// records the outcomes as [`Transitioner::record_deploy_outcomes`] does.
    /// Only the leader does either; returns how many outcomes were added.
    pub async fn observe_deploys(&self) -> Result<usize, Error> {
        let Some(status) = self.leader_deployer_status().await else {
            return Ok(0);
        };
        self.notifications.after_deployer_status(&status);
        self.record_outcomes(&status).await
    }

    /// Records, as git notes under [`DEPLOY_NOTES_REF`], every env the deployer
    /// reports at a commit with rollout `Clean` or `Failed` that is not recorded
    /// yet (see [`slipway_core::deploy_outcome`]). The transitioner does it because
    /// it already reads the deployer's status and writes the repo; the deployer
    /// stays read-only on the repo. Returns how many outcomes were added; without
    /// a deployer, or while it is unreachable, none.
    pub async fn record_deploy_outcomes(&self) -> Result<usize, Error> {
        match self.leader_deployer_status().await {
            Some(status) => self.record_outcomes(&status).await,
            None => Ok(0),
        }
    }

    /// The deployer's status, if there is a deployer, it answers, and this replica
    /// is the one that commits and tells (leader election).
    async fn leader_deployer_status(&self) -> Option<DeployerStatus> {
        let deployer = self.deployer.as_ref()?;
        self.leadership.check().ok()?;
        match deployer.status().await {
            Ok(status) => Some(status),
            Err(e) => {
                tracing::debug!("no deploy outcomes to observe: {e}");
                None
            }
        }
    }

    async fn record_outcomes(&self, status: &DeployerStatus) -> Result<usize, Error> {
        let now = self.clock.now();
        let mut recorded = self.recorded.lock().await;
        if recorded.is_none() {
            let notes = self
                .repo
                .with(|r| {
                    r.fetch_notes(DEPLOY_NOTES_REF)?;
                    r.notes(DEPLOY_NOTES_REF)
                })
                .await?;
            let keys = notes.iter().flat_map(|(_, text)| parse_note(text)).map(|o| o.key());
            *recorded = Some(keys.collect());
        }
        let known = recorded.get_or_insert_with(HashSet::new);
        let new: Vec<DeployOutcome> = outcomes_in(status, now)
            .into_iter()
            .filter(|o| !known.contains(&o.key()))
            .collect();
        if new.is_empty() {
            return Ok(0);
        }
        let written = self
            .repo
            .with(move |r| -> Result<Vec<DeployOutcome>, GitError> {
                // Only commits this checkout has can carry a note: fetch once if one is
                // missing (the deployer may be ahead); the others wait for a later poll.
                let mut missing = false;
                for o in &new {
                    missing |= r.resolve_commit(&o.commit)?.is_none();
                }
                if missing {
                    r.fetch()?;
                }
                let mut additions = Vec::new();
                let mut kept = Vec::new();
                for o in new {
                    if let Some(id) = r.resolve_commit(&o.commit)? {
                        additions.push((id, o.to_line()));
                        kept.push(o);
                    }
                }
                r.add_notes(
                    &Author::named(run::AUTHOR),
                    DEPLOY_NOTES_REF,
                    &additions,
                    |existing, line| {
                        let outcome = parse_note(line).pop()?;
                        add_to_note(existing, &outcome)
                    },
                )?;
                Ok(kept)
            })
            .await?;
        for o in &written {
            tracing::info!(env = %o.env, commit = %o.commit, status = ?o.status, "recorded the deploy outcome in git notes");
            known.insert(o.key());
        }
        Ok(written.len())
    }

    async fn deployer_view(&self, transitions: &[Transition]) -> DeployerView {
        let needs_deployer = |t: &Transition| t.requires_source_clean() || t.on_failure == OnFailure::Rollback;
        if !transitions.iter().any(needs_deployer) {
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
                    recent_runs: history.remove(&t.name).unwrap_or_default(),
                    ..TransitionStatus::default()
                },
            };
            status.source = t.source.clone();
            status.target = t.target.clone();
            status.manual = t.manual;
            status.schedule = t.schedule_text.clone();
            status.approvals_needed = t.approvals;
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
        status.state = Some(d.state);
        status.frozen_until = d.frozen_until;
        status.would_ship = d.would_ship.clone();
        status.holds = d.holds.clone();
        status.approved_by = d.approved_by.clone();
        status.rejected = d.rejected.clone();
        if let Some(commit) = &outcome.commit {
            if !d.promotions.is_empty() {
                status.recent_runs.insert(
                    0,
                    TransitionRun {
                        at: now,
                        commit: commit.clone(),
                        promotions: d.promotions.iter().map(|p| p.promotion()).collect(),
                    },
                );
                status.recent_runs.truncate(RECENT_RUNS);
            }
        }
    }
}
