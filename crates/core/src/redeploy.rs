//! Redeploy on request: the body and answer of the deployer's `POST /deploy`
//! and the aggregator's `POST /api/deploy` (which passes it on).
//!
//! A plain redeploy is an immediate reconcile of the envs; a forced one
//! re-applies every object of them (server-side apply with `force`), even
//! the ones that look unchanged, so that fields other field managers took come back.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::status::RolloutStatus;

/// The body of `POST /deploy` and `POST /api/deploy`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct DeployRequest {
    /// The envs to redeploy; none: every env (of the replica asked).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub envs: Option<Vec<String>>,
    /// Re-apply every object, even unchanged ones, taking back fields other managers own.
    #[serde(default)]
    pub force: bool,
}

/// What became of one env of a redeploy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub enum DeployResult {
    /// Reconciled, and nothing failed.
    Applied,
    /// Reconciled, but something failed (see `error` and `failed`).
    Failed,
    /// Another replica applies to this env (see `owner`); nothing was done here.
    NotHeld,
}

/// How an object was applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub enum AppliedAction {
    /// It was not in the cluster.
    Created,
    /// It differed from the repo (a changed manifest, drift, ownership, adoption).
    Changed,
    /// It matched, and a forced redeploy applied it again.
    Reapplied,
}

/// One object a redeploy applied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct AppliedObject {
    /// `Kind namespace/name` (`Kind name` for cluster-scoped objects).
    pub object: String,
    pub action: AppliedAction,
    /// Why the apply failed; none when it succeeded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub error: Option<String>,
}

/// What a redeploy did in one env.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct EnvDeployed {
    pub result: DeployResult,
    /// The repo commit deployed (none when not held here).
    #[serde(default)]
    pub commit: Option<String>,
    /// The env's rollout status after the reconcile.
    #[serde(default)]
    pub status: Option<RolloutStatus>,
    /// Objects created, changed, and re-applied although unchanged (forced).
    #[serde(default)]
    pub created: usize,
    #[serde(default)]
    pub changed: usize,
    #[serde(default)]
    pub reapplied: usize,
    /// Objects that matched the repo and were not written.
    #[serde(default)]
    pub unchanged: usize,
    #[serde(default)]
    pub pruned: usize,
    /// Failed applies, prunes and env-level errors.
    #[serde(default)]
    pub failed: usize,
    /// Every object applied, in order of kind and name.
    #[serde(default)]
    pub objects: Vec<AppliedObject>,
    /// What went wrong, or why this replica did not deploy it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub error: Option<String>,
    /// With sharding on: the replica that holds the env, when another one does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub owner: Option<String>,
    /// Where that replica answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub owner_address: Option<String>,
}

impl EnvDeployed {
    /// The answer for an env another replica holds (`owner` when known).
    pub fn not_held(env: &str, owner: Option<String>, owner_address: Option<String>) -> Self {
        let error = match (&owner, &owner_address) {
            (Some(o), Some(a)) => format!("env {env} is applied by replica {o}; ask it at {a}"),
            (Some(o), None) => format!("env {env} is applied by replica {o}"),
            _ => format!("env {env} is not held by this replica and no replica holds it now; try again shortly"),
        };
        EnvDeployed {
            result: DeployResult::NotHeld,
            commit: None,
            status: None,
            created: 0,
            changed: 0,
            reapplied: 0,
            unchanged: 0,
            pruned: 0,
            failed: 0,
            objects: Vec::new(),
            error: Some(error),
            owner,
            owner_address,
        }
    }

    /// Objects written: created, changed and re-applied.
    pub fn applied(&self) -> usize {
        self.created + self.changed + self.reapplied
    }
}

/// The answer of `POST /deploy` and `POST /api/deploy`: per env, what was applied.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct DeployAnswer {
    pub force: bool,
    pub envs: BTreeMap<String, EnvDeployed>,
}

impl DeployAnswer {
    /// Whether every env was applied here (or by its owner) without failure.
    pub fn ok(&self) -> bool {
        self.envs.values().all(|e| e.result == DeployResult::Applied)
    }

    /// One line per env, for the command line.
    pub fn summary(&self) -> String {
        let mut out = String::new();
        for (env, e) in &self.envs {
            let line = match e.result {
                DeployResult::NotHeld => format!("{env}: not deployed: {}", e.error.as_deref().unwrap_or("")),
                _ => {
                    let mut line = format!(
                        "{env}: {} created, {} changed, {} re-applied, {} unchanged, {} pruned",
                        e.created, e.changed, e.reapplied, e.unchanged, e.pruned
                    );
                    if let Some(commit) = &e.commit {
                        line.push_str(&format!(" at {}", commit.get(..12).unwrap_or(commit)));
                    }
                    if let Some(status) = e.status {
                        line.push_str(&format!(" ({status:?})"));
                    }
                    if e.result == DeployResult::Failed {
                        line.push_str(&format!("; {} failed", e.failed));
                        if let Some(error) = &e.error {
                            line.push_str(&format!(": {error}"));
                        }
                    }
                    line
                }
            };
            out.push_str(&line);
            out.push('\n');
            for o in &e.objects {
                let action = match o.action {
                    AppliedAction::Created => "created",
                    AppliedAction::Changed => "changed",
                    AppliedAction::Reapplied => "re-applied",
                };
                match &o.error {
                    Some(err) => out.push_str(&format!("  ! {action} {}: {err}\n", o.object)),
                    None => out.push_str(&format!("  {action} {}\n", o.object)),
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_without_envs_means_every_env_and_unknown_fields_are_refused() {
        let r: DeployRequest = serde_json::from_str("{}").unwrap();
        assert_eq!(r, DeployRequest::default());
        let r: DeployRequest = serde_json::from_str(r#"{"envs": ["dev"], "force": true}"#).unwrap();
        assert_eq!(r.envs, Some(vec!["dev".to_string()]));
        assert!(r.force);
        let err = serde_json::from_str::<DeployRequest>(r#"{"namespaces": ["dev"]}"#).unwrap_err();
        assert!(err.to_string().contains("namespaces"), "{err}");
    }

    #[test]
    fn an_env_held_elsewhere_names_its_owner_and_fails_the_answer() {
        let e = EnvDeployed::not_held("pp", Some("deployer-1".into()), Some("http://10.0.0.2:8080".into()));
        assert_eq!(
            e.error.as_deref(),
            Some("env pp is applied by replica deployer-1; ask it at http://10.0.0.2:8080")
        );
        let answer = DeployAnswer {
            force: false,
            envs: [("pp".to_string(), e)].into(),
        };
        assert!(!answer.ok());
        assert!(answer
            .summary()
            .starts_with("pp: not deployed: env pp is applied by replica deployer-1"));
    }
}
