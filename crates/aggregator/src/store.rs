//! The aggregator's in-memory picture: the last repo snapshot, the last status of
//! each peer, and the state JSON computed from them. Readers never wait on git or
//! on a peer. Every change sends an event to `/api/events` subscribers and marks
//! the state JSON out of date; the [`Store::publisher`] task computes it again at
//! once, off the write path, and a reader that comes first computes it itself (once
//! per change, however many readers).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use axum::body::Bytes;
use chrono::{DateTime, Utc};
use serde::Serialize;
use slipway_core::status::{DeployerStatus, TransitionerStatus};
use slipway_core::RepoSnapshot;
use tokio::sync::broadcast;

use slipway_kit::clock::SharedClock;

use crate::state::StateEncoder;

/// What changed, as `/api/events` tells it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StateEvent {
    pub commit: String,
    pub cause: &'static str,
}

struct Sources {
    snapshot: Arc<RepoSnapshot>,
    deployer: Option<Arc<DeployerStatus>>,
    transitioner: Option<Arc<TransitionerStatus>>,
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
    /// Held while the state is computed; keeps what can be reused between computations.
    compute: Mutex<StateEncoder>,
    /// The state JSON and the generation of the sources it was computed from.
    state_json: RwLock<(u64, Bytes)>,
    /// Wakes the publisher after a change.
    recompute: tokio::sync::Notify,
    /// Counts changes of the sources (raised under their lock).
    generation: AtomicU64,
    events: broadcast::Sender<StateEvent>,
    clock: SharedClock,
    /// When this store was made (part of every entity tag).
    boot: i64,
}

impl Store {
    /// The clock that stamps `updated_at`.
    pub fn clock(&self) -> SharedClock {
        self.clock.clone()
    }

    /// An empty store; `clock` stamps `updated_at`.
    pub fn new(clock: SharedClock) -> Self {
        let (events, _) = broadcast::channel(256);
        Store {
            sources: Mutex::new(Sources {
                snapshot: Arc::default(),
                deployer: None,
                transitioner: None,
                repo_error: None,
                deployer_error: None,
                transitioner_error: None,
                updated_at: clock.now(),
            }),
            compute: Mutex::new(StateEncoder::default()),
            state_json: RwLock::new((0, Bytes::new())),
            recompute: tokio::sync::Notify::new(),
            generation: AtomicU64::new(1),
            events,
            boot: clock.now().timestamp_micros(),
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
        self.current_state().map(|(_, json)| json)
    }

    /// The current state JSON with a tag for HTTP caching, if no change happened since it was computed.
    pub fn current_state(&self) -> Option<(String, Bytes)> {
        let published = self.state_json.read().unwrap_or_else(|p| p.into_inner());
        (published.0 == self.generation.load(Ordering::Acquire)).then(|| (self.tag(published.0), published.1.clone()))
    }

    /// An entity tag for one generation of the state, unique across restarts.
    fn tag(&self, generation: u64) -> String {
        format!("\"{}-{generation}\"", self.boot)
    }

    /// The body of `GET /api/state`, computed again only after a change.
    pub fn state_json(&self) -> Bytes {
        self.state().1
    }

    /// The state JSON and its tag, computed again only after a change.
    pub fn state(&self) -> (String, Bytes) {
        if let Some(current) = self.current_state() {
            return current;
        }
        let mut encoder = self.compute.lock().unwrap_or_else(|p| p.into_inner());
        // Whoever held the lock before may have computed it already.
        if let Some(current) = self.current_state() {
            return current;
        }
        // Copy the inputs (all `Arc`s) so that writers are not held up while computing;
        // a change after this point raises the generation, and the next read computes again.
        let (generation, snapshot, deployer, transitioner, stale_reasons, now) = {
            let s = self.lock();
            (
                self.generation.load(Ordering::Acquire),
                s.snapshot.clone(),
                s.deployer.clone(),
                s.transitioner.clone(),
                s.stale_reasons(),
                s.updated_at,
            )
        };
        let encoded = encoder.encode(
            &snapshot,
            deployer.as_ref(),
            transitioner.as_deref(),
            &stale_reasons,
            now,
        );
        let json = Bytes::from(encoded.unwrap_or_else(|e| {
            serde_json::to_vec(&serde_json::json!({"error": format!("cannot encode state: {e}")})).unwrap_or_default()
        }));
        *self.state_json.write().unwrap_or_else(|p| p.into_inner()) = (generation, json.clone());
        (self.tag(generation), json)
    }

    /// Computes the state after every change, so that readers find it ready.
    pub async fn publisher(self: Arc<Self>, drain: slipway_kit::Drain) {
        loop {
            tokio::select! {
                _ = drain.draining() => return,
                _ = self.recompute.notified() => {}
            }
            let store = self.clone();
            let _ = tokio::task::spawn_blocking(move || store.state()).await;
        }
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
        s.updated_at = self.clock.now();
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.recompute.notify_one();
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

    /// The deployer's latest `/status`, if one was read.
    pub fn deployer(&self) -> Option<Arc<DeployerStatus>> {
        self.lock().deployer.clone()
    }

    /// The deployer's latest `/status`, or why it could not be read.
    pub fn set_deployer(&self, status: Result<DeployerStatus, String>) {
        let mut s = self.lock();
        let changed = match status {
            Ok(st) => {
                let changed = s.deployer.as_deref() != Some(&st) || s.deployer_error.is_some();
                s.deployer = Some(Arc::new(st));
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
                let changed = s.transitioner.as_deref() != Some(&st) || s.transitioner_error.is_some();
                s.transitioner = Some(Arc::new(st));
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
    use slipway_kit::clock::ManualClock;

    use super::*;

    fn snap(commit: &str, version: &str) -> Arc<RepoSnapshot> {
        Arc::new(RepoSnapshot::from_files(
            commit,
            [("latest/version/s1.yaml", format!("version: '{version}'\n"))],
        ))
    }

    #[test]
    fn new_commits_publish_state_and_send_one_event() {
        let store = Store::new(Arc::new(ManualClock::new(DateTime::<Utc>::UNIX_EPOCH)));
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
    fn state_is_computed_once_per_change_and_never_served_out_of_date() {
        let store = Store::new(Arc::new(ManualClock::new(DateTime::<Utc>::UNIX_EPOCH)));
        assert!(store.current_state_json().is_none(), "nothing computed yet");
        store.set_snapshot(snap("c1", "1"));
        let first = store.state_json();
        assert_eq!(
            store.state_json().as_ptr(),
            first.as_ptr(),
            "reused while nothing changed"
        );
        store.set_snapshot(snap("c2", "2"));
        assert!(
            store.current_state_json().is_none(),
            "a change makes the old JSON unusable"
        );
        let state: serde_json::Value = serde_json::from_slice(&store.state_json()).unwrap();
        assert_eq!(state["commit"], "c2");
    }

    #[test]
    fn errors_keep_the_last_state_and_mark_it_stale() {
        let store = Store::new(Arc::new(ManualClock::new(DateTime::<Utc>::UNIX_EPOCH)));
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
