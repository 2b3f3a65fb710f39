//! `POST /deploy`: redeploy chosen envs now. A plain redeploy is an immediate
//! reconcile; a forced one applies every object again (server-side apply with
//! `force`, as every apply of Slipway), also the ones that match the repo, so
//! fields that other field managers took are owned by Slipway again.
//!
//! ```text
//!  fetch once ─▶ per env: held here? ──no──▶ not_held (owner, address)
//!                              │yes
//!                              ▼
//!                 the env's turn (waits for a reconcile in flight)
//!                              ▼
//!                 observe → plan (+ every match, if forced) → act → report
//! ```
//!
//! It goes through the same path as the regular reconciles: the env's turn
//! (one reconcile of an env at a time), the shard fence, the inventory.

use std::collections::BTreeMap;

use slipway_core::redeploy::{AppliedAction, AppliedObject, DeployAnswer, DeployRequest, DeployResult, EnvDeployed};
use slipway_core::status::RolloutStatus;

use super::{lock, Deployer, DeployerError, EnvRun};
use crate::object::DesiredSet;
use crate::outcome::Acted;
use crate::plan::{ApplyReason, Plan};

impl Deployer {
    /// Fetches the repo once and redeploys the envs asked for (with sharding
    /// on, of those this replica holds; without `envs`, every env it holds).
    /// An env of the request that `deployers.yaml` does not have fails the
    /// whole request before anything is applied.
    pub async fn redeploy(&self, request: &DeployRequest) -> Result<DeployAnswer, DeployerError> {
        let snapshot = self.fetch().await?;
        let targets = self.targets(&snapshot)?;
        let envs: Vec<String> = match &request.envs {
            Some(envs) => {
                let unknown: Vec<String> = envs.iter().filter(|e| !targets.contains_key(*e)).cloned().collect();
                if !unknown.is_empty() {
                    return Err(DeployerError::UnknownEnvs {
                        unknown,
                        known: targets.keys().cloned().collect(),
                    });
                }
                let mut envs = envs.clone();
                envs.sort();
                envs.dedup();
                envs
            }
            None => targets.keys().filter(|e| self.shards().holds(e)).cloned().collect(),
        };
        let force = request.force;
        let runs = futures::future::join_all(envs.iter().map(|env| {
            let (snapshot, target) = (snapshot.clone(), &targets[env]);
            async move {
                // Held for the reconcile: the env's Lease is not given up meanwhile.
                let busy = match self.may_reconcile(env) {
                    Ok(busy) => busy,
                    Err(why) => return (env.clone(), self.not_held(env, why)),
                };
                let run = self.reconcile_env_forced(env, target, &snapshot, force).await;
                drop(busy);
                let wrote = run.applied + run.pruned + run.released > 0;
                lock(&self.scheduler).reconciled(
                    env,
                    run.status.status,
                    wrote,
                    self.checks(),
                    tokio::time::Instant::now(),
                );
                (env.clone(), deployed(&run))
            }
        }))
        .await;
        Ok(DeployAnswer {
            force,
            envs: runs.into_iter().collect(),
        })
    }

    /// The answer for an env this replica may not reconcile now.
    fn not_held(&self, env: &str, why: String) -> EnvDeployed {
        let owner = self.shards().owners().remove(env).filter(|o| !o.me);
        match owner {
            Some(o) if o.identity.is_some() => EnvDeployed::not_held(env, o.identity, o.address),
            _ => EnvDeployed {
                error: Some(why),
                ..EnvDeployed::not_held(env, None, None)
            },
        }
    }
}

/// Every object the plan applied, how, and why it failed: sorted by object.
pub(super) fn applied_objects(desired: &DesiredSet, plan: &Plan, acted: &Acted) -> Vec<AppliedObject> {
    let mut objects: Vec<AppliedObject> = plan
        .apply
        .iter()
        .map(|(i, reason)| {
            let key = &desired.objects[*i].key;
            let action = match reason {
                ApplyReason::Create => AppliedAction::Created,
                ApplyReason::Redeploy => AppliedAction::Reapplied,
                _ => AppliedAction::Changed,
            };
            let error = match acted.applied.get(key) {
                Some(Ok(_)) => None,
                Some(Err(e)) => Some(e.to_string()),
                None => Some("not applied: the reconcile stopped before it (see the env's error)".to_string()),
            };
            AppliedObject {
                object: key.to_string(),
                action,
                error,
            }
        })
        .collect();
    objects.sort_by(|a, b| a.object.cmp(&b.object));
    objects
}

/// What one reconcile of a redeploy did, as the API answers it.
fn deployed(run: &EnvRun) -> EnvDeployed {
    let mut counts: BTreeMap<AppliedAction, usize> = BTreeMap::new();
    for o in run.objects.iter().filter(|o| o.error.is_none()) {
        *counts.entry(o.action).or_default() += 1;
    }
    let count = |a| counts.get(&a).copied().unwrap_or(0);
    let ok = run.ok();
    let error = (!ok).then(|| {
        run.objects
            .iter()
            .find_map(|o| o.error.as_ref().map(|e| format!("{}: {e}", o.object)))
            .or_else(|| run.status.last_error.as_ref().map(|e| e.message.clone()))
            .unwrap_or_else(|| match run.status.status {
                RolloutStatus::Failed if !run.status.reason.is_empty() => run.status.reason.clone(),
                _ => format!("{} operations failed (see GET /status)", run.failed),
            })
    });
    EnvDeployed {
        result: if ok {
            DeployResult::Applied
        } else {
            DeployResult::Failed
        },
        commit: run.status.commit.clone(),
        status: Some(run.status.status),
        created: count(AppliedAction::Created),
        changed: count(AppliedAction::Changed),
        reapplied: count(AppliedAction::Reapplied),
        unchanged: run.unchanged,
        pruned: run.pruned,
        failed: run.failed,
        objects: run.objects.clone(),
        error,
        owner: None,
        owner_address: None,
    }
}
