//! Preview envs that left `deployers.yaml`: the one case where an env leaving
//! the file deletes objects. Everything the deployer applied there is pruned
//! (by an ordinary reconcile of the env with nothing desired), then its
//! inventory, and the namespace only when Slipway created it for that env (it
//! carries `app.kubernetes.io/managed-by: slipway` and `slipway.dev/env:
//! <env>`). Any other env that leaves the file is just no longer managed:
//! nothing of it is deleted.
//!
//! ```text
//!  targets before ─┐
//!  targets now ────┴─▶ previews gone ─▶ pending ─▶ prune all ─▶ inventory, namespace if ours ─▶ done
//!                                        (retried on the next round while the cluster fails)
//! ```
//!
//! What was removed is learned by comparing the targets of successive fetches,
//! so a preview removed while the deployer was not running is not torn down
//! by it; delete such a namespace by hand (`kubectl delete namespace preview-…`).

use std::collections::BTreeMap;
use std::sync::Arc;

use slipway_core::deployers::DeployTarget;
use slipway_core::RepoSnapshot;

use super::{lock, Deployer};
use crate::cluster::Cluster;
use crate::inventory::inventory_name;
use crate::object::{ENV_LABEL, MANAGED_BY_LABEL, MANAGER};

/// What tearing down one removed preview env did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Teardown {
    /// Objects deleted.
    pub pruned: usize,
    /// Whether its namespace was deleted (Slipway created it for the env).
    pub namespace_deleted: bool,
}

/// Whether a namespace is the one Slipway created for `env`.
pub fn created_for(namespace: &serde_json::Value, env: &str) -> bool {
    let labels = &namespace["metadata"]["labels"];
    labels[MANAGED_BY_LABEL].as_str() == Some(MANAGER) && labels[ENV_LABEL].as_str() == Some(env)
}

impl Deployer {
    /// Notes the preview envs of the last targets that `targets` no longer has;
    /// an env back in `targets` is not torn down.
    pub(super) fn note_removed_previews(&self, targets: &BTreeMap<String, DeployTarget>) {
        let mut last = lock(&self.last_targets);
        let mut pending = lock(&self.teardowns);
        for (env, target) in last.iter() {
            if target.preview.is_some() && !targets.contains_key(env) {
                tracing::info!(env, namespace = %target.namespace, "preview env removed from deployers.yaml: tearing it down");
                pending.insert(env.clone(), target.clone());
            }
        }
        pending.retain(|env, _| !targets.contains_key(env));
        *last = targets.clone();
    }

    /// Whether removed preview envs wait to be torn down.
    pub(super) fn teardowns_pending(&self) -> bool {
        !lock(&self.teardowns).is_empty()
    }

    /// Tears down every removed preview env noted so far; one that fails stays
    /// pending for the next round.
    pub async fn tear_down_removed_previews(
        &self,
        snapshot: &Arc<RepoSnapshot>,
    ) -> BTreeMap<String, Result<Teardown, String>> {
        let pending: Vec<(String, DeployTarget)> = lock(&self.teardowns).clone().into_iter().collect();
        let mut out = BTreeMap::new();
        for (env, target) in pending {
            let result = self.tear_down(&env, &target, snapshot).await;
            match &result {
                Ok(t) => {
                    tracing::info!(
                        env,
                        pruned = t.pruned,
                        namespace_deleted = t.namespace_deleted,
                        "preview env torn down"
                    );
                    lock(&self.teardowns).remove(&env);
                }
                Err(e) => tracing::warn!(
                    env,
                    "tearing down the removed preview env failed (retried on the next round): {e}"
                ),
            }
            // Whatever happened, the env is not reported as one of the deployed ones.
            self.set_status(|s| {
                s.envs.remove(&env);
            });
            lock(&self.envs).remove(&env);
            out.insert(env, result);
        }
        out
    }

    async fn tear_down(
        &self,
        env: &str,
        target: &DeployTarget,
        snapshot: &Arc<RepoSnapshot>,
    ) -> Result<Teardown, String> {
        let cluster = self.cluster(env, &target.cluster).await.map_err(|e| e.to_string())?;
        let ns = target.namespace.as_str();
        let namespace = cluster
            .get(&Cluster::namespace_kind(), None, ns)
            .await
            .map_err(|e| format!("reading namespace {ns}: {e}"))?;
        // No namespace: its objects and the inventory went with it.
        let Some(namespace) = namespace else {
            return Ok(Teardown {
                pruned: 0,
                namespace_deleted: false,
            });
        };
        // The snapshot has no files of the env any more: nothing is desired, everything inventoried goes.
        let mut everything = target.clone();
        everything.prune = true;
        everything.allow_empty = true;
        let run = self.reconcile_env(env, &everything, snapshot).await;
        if run.failed > 0 {
            return Err(format!(
                "{} of its objects could not be deleted: {}",
                run.failed, run.status.reason
            ));
        }
        let namespace_deleted = created_for(&namespace, env);
        let deleted = if namespace_deleted {
            cluster.delete(&Cluster::namespace_kind(), None, ns).await
        } else {
            // The namespace is someone else's: only Slipway's bookkeeping in it goes.
            cluster
                .delete(&Cluster::config_map_kind(), Some(ns), &inventory_name(env))
                .await
        };
        deleted.map_err(|e| {
            format!(
                "deleting {}: {e}",
                if namespace_deleted {
                    "the namespace"
                } else {
                    "the inventory"
                }
            )
        })?;
        Ok(Teardown {
            pruned: run.pruned,
            namespace_deleted,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_a_namespace_labelled_for_the_env_by_slipway_is_its_own() {
        let ours =
            json!({"metadata": {"name": "preview-a", "labels": {MANAGED_BY_LABEL: MANAGER, ENV_LABEL: "preview-a"}}});
        assert!(created_for(&ours, "preview-a"));
        assert!(!created_for(&ours, "preview-b"), "made for another env");
        let older = json!({"metadata": {"name": "preview-a", "labels": {MANAGED_BY_LABEL: MANAGER}}});
        assert!(!created_for(&older, "preview-a"));
        let theirs = json!({"metadata": {"name": "preview-a"}});
        assert!(!created_for(&theirs, "preview-a"));
    }
}
