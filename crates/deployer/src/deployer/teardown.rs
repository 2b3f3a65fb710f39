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
//!  targets now ────┴─▶ previews gone ──┐
//!  namespaces labelled slipway.dev/preview ├─▶ pending ─▶ prune all ─▶ inventory, namespace if ours ─▶ done
//!   whose env is not in deployers.yaml ──┘   (retried on the next round while the cluster fails)
//! ```
//!
//! Two ways to learn what was removed: comparing the targets of successive
//! fetches (also finds a preview whose namespace someone else made), and, at
//! start and whenever `deployers.yaml` changes, listing on every cluster of the
//! config the namespaces Slipway created for preview envs (labelled
//! `slipway.dev/preview: "true"`) whose env is gone: so a preview removed while
//! no deployer ran is torn down too. A namespace without that label (one an
//! ordinary env's deploy created, or someone else's) is never found this way.
//!
//! With env shards, a removed preview env stays one of the shards' envs until it
//! is torn down: only the replica holding its Lease tears it down, fenced like
//! any reconcile and, like one, only with a snapshot fetched since it took the
//! env. A replica whose last fetch is older than the commit that created a
//! preview may see its namespace and note it as removed, but it cannot hold the
//! env while the replica that created it does, and its next fetch drops it.

use std::collections::BTreeMap;
use std::sync::Arc;

use slipway_core::deployers::DeployTarget;
use slipway_core::RepoSnapshot;

use super::{lock, Deployer};
use crate::cluster::Cluster;
use crate::inventory::inventory_name;
use crate::object::{ENV_LABEL, MANAGED_BY_LABEL, MANAGER, PREVIEW_LABEL};

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

/// The env of a namespace Slipway created for a preview env that is no longer
/// in `targets` (`None` for any other namespace).
pub fn removed_preview_of(namespace: &serde_json::Value, targets: &BTreeMap<String, DeployTarget>) -> Option<String> {
    let labels = &namespace["metadata"]["labels"];
    let env = labels[ENV_LABEL].as_str()?;
    let ours = labels[MANAGED_BY_LABEL].as_str() == Some(MANAGER) && labels[PREVIEW_LABEL].as_str() == Some("true");
    (ours && !targets.contains_key(env) && slipway_core::names::validate_env_name(env).is_ok()).then(|| env.to_string())
}

/// What the search for removed preview envs depends on: `deployers.yaml` (a
/// commit that changes only versions does not list the namespaces again).
fn search_key(snapshot: &RepoSnapshot) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    snapshot
        .text(slipway_core::deployers::DEPLOYERS_FILE)
        .ok()
        .flatten()
        .hash(&mut h);
    h.finish()
}

/// The label selector of the namespaces Slipway created for preview envs.
fn preview_namespaces() -> String {
    format!("{MANAGED_BY_LABEL}={MANAGER},{PREVIEW_LABEL}=true")
}

impl Deployer {
    /// Tells the shards the envs to hold: those of `targets` and the removed
    /// preview envs still to tear down.
    pub(super) fn share_envs(&self, targets: &BTreeMap<String, DeployTarget>) {
        let pending = lock(&self.teardowns);
        self.shards().set_envs(targets.keys().chain(pending.keys()));
    }

    /// At start and whenever `deployers.yaml` changes: notes the preview envs of
    /// the config's clusters whose namespace Slipway created but which `targets`
    /// no longer has. After a cluster could not be read, the search runs again
    /// on the next round.
    pub(super) async fn search_removed_previews(
        &self,
        snapshot: &RepoSnapshot,
        targets: &BTreeMap<String, DeployTarget>,
    ) {
        let key = search_key(snapshot);
        if *lock(&self.searched_at) == Some(key) {
            return;
        }
        *lock(&self.searched_at) = Some(key);
        let selector = preview_namespaces();
        for name in self.config.clusters.keys() {
            let found = async {
                let cluster = self.cluster("", name).await.map_err(|e| e.to_string())?;
                let (namespaces, _) = cluster
                    .list_at(&Cluster::namespace_kind(), None, &selector, |ns| ns)
                    .await
                    .map_err(|e| e.to_string())?;
                Ok::<_, String>(namespaces)
            }
            .await;
            let namespaces = match found {
                Ok(n) => n,
                Err(e) => {
                    tracing::warn!(cluster = %name, "cannot look for namespaces of removed preview envs (again on the next round): {e}");
                    *lock(&self.searched_at) = None;
                    continue;
                }
            };
            let mut pending = lock(&self.teardowns);
            for ns in namespaces {
                let (Some(env), Some(namespace)) = (removed_preview_of(&ns, targets), ns["metadata"]["name"].as_str())
                else {
                    continue;
                };
                if pending.contains_key(&env) {
                    continue;
                }
                tracing::info!(env, namespace, cluster = %name, "found the namespace of a preview env no longer in deployers.yaml: tearing it down");
                pending.insert(
                    env,
                    DeployTarget {
                        cluster: name.clone(),
                        namespace: namespace.to_string(),
                        prune: true,
                        allow_empty: true,
                        adopt: false,
                        prune_adopted: false,
                        preview: None,
                    },
                );
            }
        }
        self.share_envs(targets);
    }

    /// Whether the clusters are to be searched for removed preview envs at `snapshot`.
    pub(super) fn search_due(&self, snapshot: &RepoSnapshot) -> bool {
        *lock(&self.searched_at) != Some(search_key(snapshot))
    }

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
        drop(pending);
        self.share_envs(targets);
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
            // With shards: only the replica that holds the env's Lease tears it
            // down, and only with a snapshot fetched since it took the env (one
            // older than the previous holder's might not have the env yet).
            let _busy = match self.may_reconcile(&env) {
                Ok(busy) => busy,
                Err(why) => {
                    tracing::debug!(env, "removed preview env not torn down here: {why}");
                    continue;
                }
            };
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
        // The envs torn down are no longer the shards'.
        let targets = lock(&self.last_targets).clone();
        self.share_envs(&targets);
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

    #[test]
    fn only_slipways_preview_namespaces_whose_env_left_the_file_are_found() {
        let ns = |labels: serde_json::Value| json!({"metadata": {"name": "n", "labels": labels}});
        let preview = ns(json!({MANAGED_BY_LABEL: MANAGER, ENV_LABEL: "preview-a", PREVIEW_LABEL: "true"}));
        let mut targets = BTreeMap::new();
        assert_eq!(removed_preview_of(&preview, &targets).as_deref(), Some("preview-a"));
        targets.insert(
            "preview-a".to_string(),
            DeployTarget {
                cluster: "main".into(),
                namespace: "preview-a".into(),
                prune: true,
                allow_empty: true,
                adopt: false,
                prune_adopted: false,
                preview: None,
            },
        );
        assert_eq!(removed_preview_of(&preview, &targets), None, "still deployed");
        let targets = BTreeMap::new();
        let ordinary = ns(json!({MANAGED_BY_LABEL: MANAGER, ENV_LABEL: "dev"}));
        assert_eq!(removed_preview_of(&ordinary, &targets), None, "an ordinary env's");
        let theirs = ns(json!({ENV_LABEL: "preview-a", PREVIEW_LABEL: "true"}));
        assert_eq!(removed_preview_of(&theirs, &targets), None, "not managed by Slipway");
        let bad = ns(json!({MANAGED_BY_LABEL: MANAGER, ENV_LABEL: "Not An Env", PREVIEW_LABEL: "true"}));
        assert_eq!(removed_preview_of(&bad, &targets), None, "not an env name");
    }
}
