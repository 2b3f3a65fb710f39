//! The aggregator's in-memory picture: the last repo snapshot, the last status of
//! each peer, and the state JSON computed from them. Readers get the published
//! `Arc` and never wait on git or on a peer; every change publishes a new one and
//! sends an event to `/api/events` subscribers.

use std::sync::{Arc, Mutex, RwLock};

use axum::body::Bytes;
use chrono::{DateTime, Utc};
use serde::Serialize;
use slipway_common::status::{DeployerStatus, TransitionerStatus};
use slipway_common::RepoSnapshot;
use tokio::sync::broadcast;

use crate::state::{self, Inputs, VersionCache, VersionIndex};

/// What changed, as `/api/events` tells it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StateEvent {
    pub commit: String,
    pub cause: &'static str,
}

/// What readers see.
#[derive(Debug, Clone, Default)]
pub struct Published {
    pub snapshot: Arc<RepoSnapshot>,
    /// The body of `GET /api/state`.
    pub state_json: Bytes,
    /// Why the state may be out of date (empty when it is current).
    pub stale_reasons: Vec<String>,
}

#[derive(Default)]
struct Sources {
    snapshot: Arc<RepoSnapshot>,
    cache: VersionCache,
    versions: VersionIndex,
    deployer: Option<DeployerStatus>,
    transitioner: Option<TransitionerStatus>,
    repo_error: Option<String>,
    deployer_error: Option<String>,
    transitioner_error: Option<String>,
}

/// A peer service whose status feeds the state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Peer {
    Deployer,
    Transitioner,
}

impl Peer {
    pub fn name(self) -> &'static str {
        match self {
            Peer::Deployer => "deployer",
            Peer::Transitioner => "transitioner",
        }
    }
}

/// The shared state of one aggregator.
pub struct Store {
    sources: Mutex<Sources>,
    published: RwLock<Arc<Published>>,
    events: broadcast::Sender<StateEvent>,
    clock: fn() -> DateTime<Utc>,
}

impl Store {
    /// An empty store; `clock` stamps `updated_at`.
    pub fn new(clock: fn() -> DateTime<Utc>) -> Self {
        let (events, _) = broadcast::channel(256);
        let store = Store {
            sources: Mutex::new(Sources::default()),
            published: RwLock::new(Arc::default()),
            events,
            clock,
        };
        let mut sources = store.lock();
        store.publish(&mut sources);
        drop(sources);
        store
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Sources> {
        // Every update replaces whole values, so a panic mid-update leaves them consistent.
        self.sources.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The current picture (cheap: one `Arc` clone).
    pub fn published(&self) -> Arc<Published> {
        self.published.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// A receiver of every later change.
    pub fn subscribe(&self) -> broadcast::Receiver<StateEvent> {
        self.events.subscribe()
    }

    /// How many `/api/events` streams are open.
    pub fn subscribers(&self) -> usize {
        self.events.receiver_count()
    }

    fn publish(&self, s: &mut Sources) {
        let mut stale = Vec::new();
        if let Some(e) = &s.repo_error {
            stale.push(format!("resource repo unreachable: {e}"));
        }
        if let Some(e) = &s.deployer_error {
            stale.push(format!("deployer unreachable: {e}"));
        }
        if let Some(e) = &s.transitioner_error {
            stale.push(format!("transitioner unreachable: {e}"));
        }
        let view = state::build(&Inputs {
            snapshot: &s.snapshot,
            versions: &s.versions,
            deployer: s.deployer.as_ref(),
            transitioner: s.transitioner.as_ref(),
            stale_reasons: stale.clone(),
            now: (self.clock)(),
        });
        let json = serde_json::to_vec(&view).unwrap_or_else(|e| {
            serde_json::to_vec(&serde_json::json!({"error": format!("cannot encode state: {e}")})).unwrap_or_default()
        });
        let published = Arc::new(Published {
            snapshot: s.snapshot.clone(),
            state_json: Bytes::from(json),
            stale_reasons: stale,
        });
        *self.published.write().unwrap_or_else(|p| p.into_inner()) = published;
    }

    fn changed(&self, s: &mut Sources, cause: &'static str) {
        self.publish(s);
        let _ = self.events.send(StateEvent {
            commit: s.snapshot.commit.clone(),
            cause,
        });
    }

    /// A freshly read repo head; clears a repo error.
    pub fn set_snapshot(&self, snapshot: Arc<RepoSnapshot>) {
        let mut s = self.lock();
        let same = s.snapshot.commit == snapshot.commit && !s.snapshot.commit.is_empty();
        if same && s.repo_error.is_none() {
            return;
        }
        if !same {
            s.versions = s.cache.index(&snapshot);
            s.snapshot = snapshot;
        }
        s.repo_error = None;
        self.changed(&mut s, "repo");
    }

    /// The repo could not be fetched: keep the last snapshot, say it is stale.
    pub fn set_repo_error(&self, error: String) {
        let mut s = self.lock();
        if s.repo_error.as_ref() == Some(&error) {
            return;
        }
        s.repo_error = Some(error);
        self.changed(&mut s, "repo");
    }

    /// The deployer's latest `/status`, or why it could not be read.
    pub fn set_deployer(&self, status: Result<DeployerStatus, String>) {
        let mut s = self.lock();
        let changed = match status {
            Ok(st) => {
                let changed = s.deployer.as_ref() != Some(&st) || s.deployer_error.is_some();
                s.deployer = Some(st);
                s.deployer_error = None;
                changed
            }
            Err(e) => {
                let changed = s.deployer_error.as_ref() != Some(&e);
                s.deployer_error = Some(e);
                changed
            }
        };
        if changed {
            self.changed(&mut s, "deployer");
        }
    }

    /// The transitioner's latest `/status`, or why it could not be read.
    pub fn set_transitioner(&self, status: Result<TransitionerStatus, String>) {
        let mut s = self.lock();
        let changed = match status {
            Ok(st) => {
                let changed = s.transitioner.as_ref() != Some(&st) || s.transitioner_error.is_some();
                s.transitioner = Some(st);
                s.transitioner_error = None;
                changed
            }
            Err(e) => {
                let changed = s.transitioner_error.as_ref() != Some(&e);
                s.transitioner_error = Some(e);
                changed
            }
        };
        if changed {
            self.changed(&mut s, "transitioner");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snap(commit: &str, version: &str) -> Arc<RepoSnapshot> {
        Arc::new(RepoSnapshot::from_files(
            commit,
            [("latest/version/s1.yaml", format!("version: '{version}'\n"))],
        ))
    }

    #[test]
    fn new_commits_publish_state_and_send_one_event() {
        let store = Store::new(|| DateTime::<Utc>::UNIX_EPOCH);
        let mut rx = store.subscribe();
        store.set_snapshot(snap("c1", "1"));
        store.set_snapshot(snap("c1", "1"));
        assert_eq!(
            rx.try_recv().unwrap(),
            StateEvent {
                commit: "c1".into(),
                cause: "repo"
            }
        );
        assert!(rx.try_recv().is_err(), "an unchanged head sends no event");
        let state: serde_json::Value = serde_json::from_slice(&store.published().state_json).unwrap();
        assert_eq!(state["commit"], "c1");
        assert_eq!(state["services"][0]["envs"]["latest"]["version"], "1");
    }

    #[test]
    fn errors_keep_the_last_state_and_mark_it_stale() {
        let store = Store::new(|| DateTime::<Utc>::UNIX_EPOCH);
        store.set_snapshot(snap("c1", "1"));
        store.set_repo_error("connection refused".into());
        store.set_deployer(Err("timed out".into()));
        let state: serde_json::Value = serde_json::from_slice(&store.published().state_json).unwrap();
        assert_eq!(state["stale"], true);
        assert_eq!(state["commit"], "c1");
        assert_eq!(state["stale_reasons"].as_array().unwrap().len(), 2);
        store.set_snapshot(snap("c1", "1"));
        store.set_deployer(Ok(DeployerStatus::default()));
        let state: serde_json::Value = serde_json::from_slice(&store.published().state_json).unwrap();
        assert_eq!(state["stale"], false);
    }
}
