//! The aggregator's in-memory picture: the last repo snapshot, the last status of
//! each peer, and the state JSON computed from them. Readers never wait on git or
//! on a peer. Every change sends an event to `/api/events` subscribers and marks
//! the state JSON out of date; it is computed again on the next read (once per
//! change, however many readers), so writes do not pay for a state nobody reads.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use axum::body::Bytes;
use chrono::{DateTime, Utc};
use serde::Serialize;
use slipway_common::status::{DeployerStatus, TransitionerStatus};
use slipway_common::RepoSnapshot;
use tokio::sync::broadcast;

use crate::state::{self, Inputs, VersionCache};

/// What changed, as `/api/events` tells it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StateEvent {
    pub commit: String,
    pub cause: &'static str,
}

struct Sources {
    snapshot: Arc<RepoSnapshot>,
    cache: VersionCache,
    deployer: Option<DeployerStatus>,
    transitioner: Option<TransitionerStatus>,
    repo_error: Option<String>,
    deployer_error: Option<String>,
    transitioner_error: Option<String>,
    /// When any of the above last changed.
    updated_at: DateTime<Utc>,
}

impl Sources {
    fn stale_reasons(&self) -> Vec<String> {
        let mut stale = Vec::new();
        if let Some(e) = &self.repo_error {
            stale.push(format!("resource repo unreachable: {e}"));
        }
        if let Some(e) = &self.deployer_error {
            stale.push(format!("deployer unreachable: {e}"));
        }
        if let Some(e) = &self.transitioner_error {
            stale.push(format!("transitioner unreachable: {e}"));
        }
        stale
    }
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
    state_json: RwLock<Bytes>,
    /// Set under the `sources` lock whenever they change; cleared when the JSON is recomputed.
    dirty: AtomicBool,
    events: broadcast::Sender<StateEvent>,
    clock: fn() -> DateTime<Utc>,
}

impl Store {
    /// An empty store; `clock` stamps `updated_at`.
    pub fn new(clock: fn() -> DateTime<Utc>) -> Self {
        let (events, _) = broadcast::channel(256);
        Store {
            sources: Mutex::new(Sources {
                snapshot: Arc::default(),
                cache: VersionCache::default(),
                deployer: None,
                transitioner: None,
                repo_error: None,
                deployer_error: None,
                transitioner_error: None,
                updated_at: clock(),
            }),
            state_json: RwLock::new(Bytes::new()),
            dirty: AtomicBool::new(true),
            events,
            clock,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Sources> {
        // Every update replaces whole values, so a panic mid-update leaves them consistent.
        self.sources.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The last repo snapshot (cheap: one `Arc` clone).
    pub fn snapshot(&self) -> Arc<RepoSnapshot> {
        self.lock().snapshot.clone()
    }

    /// Why the state may be out of date (empty when it is current).
    pub fn stale_reasons(&self) -> Vec<String> {
        self.lock().stale_reasons()
    }

    /// The body of `GET /api/state` if no change happened since it was computed.
    pub fn current_state_json(&self) -> Option<Bytes> {
        if self.dirty.load(Ordering::Acquire) {
            return None;
        }
        Some(self.state_json.read().unwrap_or_else(|p| p.into_inner()).clone())
    }

    /// The body of `GET /api/state`, computed again only after a change.
    pub fn state_json(&self) -> Bytes {
        if !self.dirty.load(Ordering::Acquire) {
            return self.state_json.read().unwrap_or_else(|p| p.into_inner()).clone();
        }
        let mut s = self.lock();
        if self.dirty.swap(false, Ordering::AcqRel) {
            let json = Self::compute(&mut s);
            *self.state_json.write().unwrap_or_else(|p| p.into_inner()) = json.clone();
            return json;
        }
        drop(s);
        self.state_json.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn compute(s: &mut Sources) -> Bytes {
        let snapshot = s.snapshot.clone();
        let versions = s.cache.index(&snapshot);
        let view = state::build(&Inputs {
            snapshot: &snapshot,
            versions: &versions,
            deployer: s.deployer.as_ref(),
            transitioner: s.transitioner.as_ref(),
            stale_reasons: s.stale_reasons(),
            now: s.updated_at,
        });
        let json = serde_json::to_vec(&view).unwrap_or_else(|e| {
            serde_json::to_vec(&serde_json::json!({"error": format!("cannot encode state: {e}")})).unwrap_or_default()
        });
        Bytes::from(json)
    }

    /// A receiver of every later change.
    pub fn subscribe(&self) -> broadcast::Receiver<StateEvent> {
        self.events.subscribe()
    }

    /// How many `/api/events` streams are open.
    pub fn subscribers(&self) -> usize {
        self.events.receiver_count()
    }

    fn changed(&self, s: &mut Sources, cause: &'static str) {
        s.updated_at = (self.clock)();
        self.dirty.store(true, Ordering::Release);
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
        let state: serde_json::Value = serde_json::from_slice(&store.state_json()).unwrap();
        assert_eq!(state["commit"], "c1");
        assert_eq!(state["services"][0]["envs"]["latest"]["version"], "1");
    }

    #[test]
    fn errors_keep_the_last_state_and_mark_it_stale() {
        let store = Store::new(|| DateTime::<Utc>::UNIX_EPOCH);
        store.set_snapshot(snap("c1", "1"));
        store.set_repo_error("connection refused".into());
        store.set_deployer(Err("timed out".into()));
        let state: serde_json::Value = serde_json::from_slice(&store.state_json()).unwrap();
        assert_eq!(state["stale"], true);
        assert_eq!(state["commit"], "c1");
        assert_eq!(state["stale_reasons"].as_array().unwrap().len(), 2);
        store.set_snapshot(snap("c1", "1"));
        store.set_deployer(Ok(DeployerStatus::default()));
        let state: serde_json::Value = serde_json::from_slice(&store.state_json()).unwrap();
        assert_eq!(state["stale"], false);
    }
}
