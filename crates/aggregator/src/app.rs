//! The running aggregator: the repo, the store, the peers, and the loops that
//! keep the store current.
//!
//! ```text
//!  repo poll (poll_interval, or when a peer reports a newer head) ─┐
//!  own writes (commit_and_push, then the pushed head at once) ─────┼─▶ Store ─▶ /api/state, /api/events
//!  peer poll (peer_poll_interval: deployer and transitioner /status)┘
//! ```

use std::sync::Arc;
use std::time::Duration;

use std::str::FromStr as _;

use slipway_core::status::{DeployerStatus, TransitionerStatus};
use slipway_core::RepoSnapshot;
use slipway_kit::drain::Drain;
use slipway_kit::fetch::{fetch_loop, FetchRecord, Wakeups};
use slipway_kit::peer::PeerClient;
use slipway_kit::refresh::RefreshGate;
use slipway_repo::CommitId;
use slipway_repo::SharedRepo;
use slipway_repo::{Author, Change, CommitError, GitError, ResourceRepo};
use tokio::sync::Notify;

use crate::config::AggregatorConfig;
use crate::metrics::Metrics;
use crate::refusal::Refusal;
use crate::store::{Peer, Store};
use slipway_core::tokens::Tokens;

/// Everything the handlers share.
pub struct App {
    pub config: AggregatorConfig,
    pub tokens: Tokens,
    /// Rate limit of `POST /refresh`, which asks for `fetch_now`.
    pub refresh: RefreshGate,
    pub repo: SharedRepo,
    /// Posted versions, committed in batches (group commit).
    pub versions: crate::batch::VersionQueue,
    /// Where `lock_changed` and `rolled_back` go (`notifications:`).
    pub notifier: slipway_kit::notify::Notifier,
    /// Whether any notification target is configured.
    pub notifies: bool,
    /// The secrets of the configured push webhooks.
    pub webhook_secrets: crate::webhooks::Secrets,
    /// Rate limit of `POST /api/webhooks/{host}`.
    pub webhook_limit: crate::webhooks::RateLimit,
    pub store: Arc<Store>,
    pub metrics: Metrics,
    /// The deployer's API (`deployer_url`), if configured.
    pub deployer: Option<PeerClient>,
    /// The transitioner's API (`transitioner_url`), with the peer token, if configured.
    pub transitioner: Option<PeerClient>,
    /// Whether a fetch of the repo has succeeded yet (`GET /ready`) and its last error.
    pub fetches: FetchRecord,
    /// Asks the repo loop to fetch now.
    pub fetch_now: Arc<Notify>,
    /// The last head a peer reported that we did not have (to ask for one fetch per new head only).
    pub last_hint: std::sync::Mutex<Option<String>>,
    /// Shutdown: the loops stop when it begins, and waits for the writes in flight.
    pub drain: Drain,
}

/// The outcome of a write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    /// The new commit, or the head that already had the change.
    pub commit: String,
    /// Whether a commit was made.
    pub created: bool,
}

/// Why a write did not happen: the planner refused it, or the repo failed.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error(transparent)]
    Refused(#[from] Refusal),
    #[error(transparent)]
    Repo(#[from] GitError),
}

/// Commits the planned change and pushes it (blocking: runs git). On success the
/// store sees the pushed head before this returns.
pub fn write<F>(repo: &ResourceRepo, store: &Store, author: &str, mut plan: F) -> Result<Written, WriteError>
where
    F: FnMut(&RepoSnapshot) -> Result<Option<Change>, Refusal>,
{
    let author = Author::named(author);
    let mut head_seen = String::new();
    let result = repo.commit_and_push(&author, |snapshot| {
        head_seen = snapshot.commit.clone();
        plan(snapshot)
    });
    let refresh = |store: &Store| match repo.head_snapshot() {
        Ok(s) => store.set_snapshot(s),
        Err(e) => store.set_repo_error(e.to_string()),
    };
    match result {
        Ok(Some(commit)) => {
            refresh(store);
            Ok(Written {
                commit: commit.to_string(),
                created: true,
            })
        }
        Ok(None) => {
            refresh(store);
            Ok(Written {
                commit: head_seen,
                created: false,
            })
        }
        Err(CommitError::Change(e)) => {
            refresh(store);
            Err(WriteError::Refused(e))
        }
        Err(CommitError::Git(e)) => {
            if is_repo_health(&e) {
                store.set_repo_error(e.to_string());
            }
            Err(WriteError::Repo(e))
        }
    }
}

/// Whether a failed write says something about the repo's health, so that the
/// state is marked stale: a fetch or push that failed, a checkout that cannot be
/// used. Building the commit locally fails only on what the request brought, and
/// writers overtaking each other is no failure of the repo; neither may let a
/// client make the UI say the repo is down.
pub fn is_repo_health(err: &GitError) -> bool {
    match err {
        GitError::Git { action, .. } => matches!(*action, "fetch" | "push"),
        // Contention and a lock on the remote say nothing about the state being current.
        GitError::TooManyRetries { .. } | GitError::RemoteLocked { .. } | GitError::Change(_) => false,
        // The checkout, and whatever else git may report: the repo's.
        _ => true,
    }
}

/// Resolves `spec` to a commit on the branch (blocking).
pub fn commit_on_branch(repo: &ResourceRepo, spec: &str) -> Result<CommitId, WriteError> {
    repo.fetch()?;
    let head = repo.head().ok_or(Refusal::NoCommits)?;
    let not_found = || Refusal::CommitNotOnBranch {
        commit: spec.to_string(),
    };
    let oid = repo.resolve_commit(spec)?.ok_or_else(not_found)?;
    if !repo.is_ancestor(oid, head)? {
        return Err(not_found().into());
    }
    Ok(oid)
}

impl App {
    /// True when no notification target is configured (nothing to read back).
    pub fn notifier_is_idle(&self) -> bool {
        !self.notifies
    }

    /// Asks the deployer and transitioner to look at the repo now (fire and forget).
    pub fn nudge_peers(self: &Arc<Self>) {
        for peer in [&self.deployer, &self.transitioner].into_iter().flatten() {
            let peer = peer.clone();
            tokio::spawn(async move { peer.refresh().await });
        }
    }

    /// Fetches the repo and publishes its head; on failure, marks the state stale.
    pub async fn fetch(&self) -> Result<(), String> {
        self.metrics.fetches.inc();
        let result = self.repo.with(|r| r.fetch().and_then(|_| r.head_snapshot())).await;
        let outcome = match result {
            Ok(snapshot) => {
                self.store.set_snapshot(snapshot);
                Ok(())
            }
            Err(e) => {
                self.metrics.fetch_errors.inc();
                self.store.set_repo_error(e.to_string());
                Err(e.to_string())
            }
        };
        self.update_stale_gauge();
        outcome
    }

    fn update_stale_gauge(&self) {
        let stale = !self.store.stale_reasons().is_empty();
        self.metrics.stale.set(i64::from(stale));
    }

    /// Fetches now, then every `poll_interval` or at once when asked, each
    /// outcome recorded in `fetches`.
    pub async fn repo_loop(self: Arc<Self>) {
        let wakeups = Wakeups {
            every: self.config.poll_interval,
            now: self.fetch_now.clone(),
            drain: self.drain.clone(),
        };
        let what = "fetching the resource repo (the last known state is served meanwhile)";
        fetch_loop(what, wakeups, self.fetches.clone(), self.store.clock(), || self.fetch()).await;
    }

    /// Reads one peer's status into the store; asks for a fetch when the peer has seen a newer head.
    async fn poll_peer(&self, peer: Peer) {
        let client = match peer {
            Peer::Deployer => &self.deployer,
            Peer::Transitioner => &self.transitioner,
        };
        let Some(client) = client else { return };
        let head: Result<Option<String>, String> = match peer {
            Peer::Deployer => {
                let status = client.status::<DeployerStatus>().await.map_err(|e| e.to_string());
                let head = status.as_ref().map(|s| s.repo_commit.clone()).map_err(Clone::clone);
                self.store.set_deployer(status);
                head
            }
            Peer::Transitioner => {
                let status = client.status::<TransitionerStatus>().await.map_err(|e| e.to_string());
                let head = status.as_ref().map(|s| s.repo_commit.clone()).map_err(Clone::clone);
                self.store.set_transitioner(status);
                head
            }
        };
        match head {
            Ok(Some(commit)) => {
                if self.store.snapshot().commit != commit && self.new_hint(&commit) && !self.knows(&commit).await {
                    tracing::debug!(peer = peer.name(), %commit, "a peer has a newer head, fetching");
                    self.fetch_now.notify_one();
                }
            }
            Ok(None) => {}
            Err(e) => {
                tracing::debug!(peer = peer.name(), "cannot read status: {e}");
                self.metrics
                    .peer_errors
                    .get_or_create(&Metrics::label("peer", peer.name()))
                    .inc();
            }
        }
        self.update_stale_gauge();
    }

    /// Whether `commit` was not reported before: a head that a fetch does not bring
    /// (another branch, a broken remote) must not cause a fetch on every poll.
    fn new_hint(&self, commit: &str) -> bool {
        let mut last = self.last_hint.lock().unwrap_or_else(|p| p.into_inner());
        if last.as_deref() == Some(commit) {
            return false;
        }
        *last = Some(commit.to_string());
        true
    }

    /// Whether `commit` is already in our copy (an older head needs no fetch).
    async fn knows(&self, commit: &str) -> bool {
        let Ok(oid) = CommitId::from_str(commit) else {
            return true;
        };
        let head = self.store.snapshot().commit.clone();
        self.repo
            .read(move |r| {
                let Ok(head) = CommitId::from_str(&head) else {
                    return false;
                };
                r.is_ancestor(oid, head).unwrap_or(false)
            })
            .await
    }

    /// Reads the peers' status every `peer_poll_interval`.
    pub async fn peer_loop(self: Arc<Self>) {
        if self.config.deployer_url.is_none() && self.config.transitioner_url.is_none() {
            return;
        }
        loop {
            tokio::join!(self.poll_peer(Peer::Deployer), self.poll_peer(Peer::Transitioner));
            tokio::select! {
                _ = self.drain.draining() => return,
                _ = tokio::time::sleep(self.config.peer_poll_interval.max(Duration::from_millis(50))) => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn git(action: &'static str) -> GitError {
        GitError::failed(action, "/srv/repo.git", "boom")
    }

    #[test]
    fn only_failed_fetches_and_pushes_say_the_repo_is_unhealthy() {
        assert!(is_repo_health(&git("fetch")));
        assert!(is_repo_health(&git("push")));
        for local in ["commit", "sign commit", "write blob", "write tree"] {
            assert!(
                !is_repo_health(&git(local)),
                "{local} fails on what the request brought"
            );
        }
        assert!(!is_repo_health(&GitError::TooManyRetries {
            url: "x".into(),
            attempts: 45
        }));
    }
}
