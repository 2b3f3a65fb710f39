//! `GET /envs/{env}/diff`: observes the env as a reconcile would (at the commit
//! of the last fetch, without fetching) and tells its plan as a diff.

use slipway_core::live::EnvDiff;

use super::Deployer;
use crate::env_diff::{env_diff, DiffOf};
use crate::inspect::InspectError;
use crate::plan::Verified;
use crate::reconcile::{observe, plan_for};

impl Deployer {
    /// Live against desired for an env (or one unit of it), now.
    pub async fn diff(&self, env: &str, unit: Option<&str>) -> Result<EnvDiff, InspectError> {
        let snapshot = self
            .last_snapshot()
            .ok_or_else(|| InspectError::NotReconciled(env.to_string()))?;
        let targets = snapshot
            .deployers()
            .map_err(|e| InspectError::NotFound(format!("deployers.yaml cannot be read: {e}")))?;
        let target = targets
            .deployers
            .get(env)
            .ok_or_else(|| InspectError::UnknownEnv(env.to_string()))?;
        let cluster_error = |e: &dyn std::fmt::Display| InspectError::Cluster {
            cluster: target.cluster.clone(),
            message: e.to_string(),
        };
        let cluster = self
            .cluster(env, &target.cluster)
            .await
            .map_err(|e| cluster_error(&e))?;
        let observed = observe(env, target, &self.rendered(env, &snapshot), &cluster, None, None)
            .await
            .map_err(|e| cluster_error(&e))?;
        if let Some(u) = unit {
            let known = observed.desired.objects.iter().any(|o| o.unit.display_name() == u)
                || observed.desired.failed.keys().any(|f| f.display_name() == u);
            if !known {
                return Err(InspectError::UnknownUnit {
                    env: env.to_string(),
                    unit: u.to_string(),
                });
            }
        }
        let plan = plan_for(env, target, &observed, &Verified::default());
        Ok(env_diff(
            &DiffOf {
                env,
                target,
                commit: &snapshot.commit,
                now: self.now(),
            },
            &observed.desired,
            &plan,
            unit,
        ))
    }
}
