//! What the deployer keeps of one env between its reconciles.

use std::sync::Arc;

use slipway_core::deployers::DeployTarget;
use slipway_core::RepoSnapshot;

use super::{lock, Deployer};
use crate::cluster::Cluster;
use crate::plan::Verified;
use crate::reconcile::{DesiredCache, Rendering};
use crate::report::Progress;
use crate::watch::EnvWatches;

/// An env's rendering and the snapshot it was rendered from.
pub(super) type RenderedAt = (Arc<RepoSnapshot>, Arc<Rendering>);

/// One env's state: its rendering, desired set, verified objects, caches,
/// rollout progress and whether a reconcile of it runs.
#[derive(Default)]
pub(super) struct EnvState {
    /// The snapshot and its rendering: rendering 500 services is the costliest
    /// pure step, most polls see the same commit, and most commits touch one env.
    pub rendered: Option<RenderedAt>,
    /// The desired set, kept while the commit stays the same.
    pub desired: Arc<DesiredCache>,
    /// What the last plan found unchanged.
    pub verified: Verified,
    /// The watch-fed caches of the env's objects.
    pub watches: Option<Arc<EnvWatches>>,
    /// Since when each object has been rolling out.
    pub progress: Progress,
    /// A reconcile of the env runs.
    pub running: bool,
    /// Another reconcile was asked for while one ran.
    pub again: bool,
    /// Held by each reconcile of the env for its whole length, so that a
    /// redeploy on request and the regular reconciles take turns.
    pub turn: Arc<tokio::sync::Mutex<()>>,
}

impl Deployer {
    /// Runs `f` on the env's state (made on first use) under the lock of all envs:
    /// `f` must not block.
    pub(super) fn with_env<T>(&self, env: &str, f: impl FnOnce(&mut EnvState) -> T) -> T {
        let mut envs = lock(&self.envs);
        f(envs.entry(env.to_string()).or_default())
    }

    /// The env rendered from the snapshot: the same rendering while the env's
    /// folder is unchanged, else rendered again.
    pub(super) fn rendered(&self, env: &str, snapshot: &Arc<RepoSnapshot>) -> Arc<Rendering> {
        let earlier = self.with_env(env, |e| e.rendered.clone());
        let rendering = match earlier {
            Some((before, rendering)) if snapshot.same_folder(&before, env) => rendering,
            _ => {
                let units = snapshot.render_env(env);
                let generation = self.generations.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let (again, name) = (snapshot.clone(), env.to_string());
                Arc::new(Rendering::new(generation, units, move || again.render_env(&name)))
            }
        };
        self.with_env(env, |e| e.rendered = Some((snapshot.clone(), rendering.clone())));
        rendering
    }

    /// The env's caches, started anew when its cluster or namespace changed.
    pub(super) fn watches(&self, env: &str, cluster: &Arc<Cluster>, target: &DeployTarget) -> Arc<EnvWatches> {
        self.with_env(env, |e| match &e.watches {
            Some(w) if w.is_for(cluster, &target.namespace) => w.clone(),
            _ => {
                let w = Arc::new(EnvWatches::new(
                    cluster.clone(),
                    &target.namespace,
                    &format!("{}={env}", crate::object::ENV_LABEL),
                    self.changed.clone(),
                ));
                e.watches = Some(w.clone());
                w
            }
        })
    }
}
