//! Work queued for the simulated controllers and what they remember between
//! runs. The API verbs queue tasks and forget deleted objects; the controllers
//! run the tasks. Both import this module, so neither imports the other.

use std::collections::HashMap;

use tokio::time::Instant;

/// Work for the controller loop.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Task {
    /// Recompute a workload's status: (resource key, namespace, name).
    Sync(String, String, String),
    /// Delete a Terminating namespace's contents, then the namespace.
    FinalizeNamespace(String),
    /// Remove a deleted CRD and its custom resources.
    RemoveCrd(String),
    /// Set a CRD's conditions.
    EstablishCrd(String),
    /// Finish a foreground deletion: (resource key, namespace, name).
    ForegroundDelete(String, String, String),
}

/// What the controllers remember about a workload's current rollout.
#[derive(Clone, Debug)]
pub struct Track {
    pub template_hash: String,
    pub previous_hash: Option<String>,
    pub revision: u64,
    pub started: Instant,
    pub available: bool,
    pub was_available: bool,
    pub finished: bool,
}

/// Controller memory by object uid.
#[derive(Debug, Default)]
pub struct ControllerState {
    pub tracks: HashMap<String, Track>,
    /// The kubelet runs: Deployments have pods (see `kubelet.rs`).
    pub kubelet: bool,
}

impl ControllerState {
    /// Drops what is known about a deleted object.
    pub fn forget(&mut self, uid: &str) {
        self.tracks.remove(uid);
    }
}
