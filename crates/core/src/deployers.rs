//! `deployers.yaml`: which environments are deployed, and where (SPEC section 3).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::FileError;
use crate::names::validate_env_name;

/// Path of the file in the repo.
pub const DEPLOYERS_FILE: &str = "deployers.yaml";

/// Where one environment is deployed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeployTarget {
    /// Name of a cluster connection in the deployer's own config.
    pub cluster: String,
    /// Namespace the environment's objects go to (created if missing).
    pub namespace: String,
    /// Delete objects that left the repo (default true).
    #[serde(default = "default_true")]
    pub prune: bool,
    /// Allow a desired set that suddenly becomes empty to prune everything (default false).
    #[serde(default)]
    pub allow_empty: bool,
    /// Take over objects that already exist in the cluster without this env's
    /// labels (default false: such an object fails its unit and is left as it is).
    #[serde(default)]
    pub adopt: bool,
    /// Delete adopted objects when they leave the repo (default false: they are
    /// released, Slipway's labels and field ownership removed, and kept).
    #[serde(default)]
    pub prune_adopted: bool,
}

fn default_true() -> bool {
    true
}

/// The whole `deployers.yaml`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Deployers {
    #[serde(default)]
    pub deployers: BTreeMap<String, DeployTarget>,
}

impl Deployers {
    /// Parses and validates `deployers.yaml`.
    pub fn parse(text: &str) -> Result<Self, FileError> {
        if text.trim().is_empty() {
            return Ok(Deployers::default());
        }
        let parsed: Option<Deployers> = serde_yaml::from_str(text).map_err(|e| FileError::yaml(DEPLOYERS_FILE, &e))?;
        let parsed = parsed.unwrap_or_default();
        for (env, target) in &parsed.deployers {
            let line = crate::model::line_of_key(text, env);
            validate_env_name(env).map_err(|e| FileError::new(DEPLOYERS_FILE, line, e.to_string()))?;
            validate_env_name(&target.namespace).map_err(|_| {
                FileError::new(
                    DEPLOYERS_FILE,
                    line,
                    format!(
                        "namespace {:?} of env {env} is not a valid namespace name (lower-case DNS label)",
                        target.namespace
                    ),
                )
            })?;
            if target.cluster.trim().is_empty() {
                return Err(FileError::new(
                    DEPLOYERS_FILE,
                    line,
                    format!("env {env} names no cluster"),
                ));
            }
        }
        Ok(parsed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_prune_on_and_allow_empty_off() {
        let d = Deployers::parse("deployers:\n  dev: {cluster: main, namespace: dev}\n  prod: {cluster: eu, namespace: shop, prune: false, allow_empty: true}\n").unwrap();
        assert!(d.deployers["dev"].prune);
        assert!(!d.deployers["dev"].allow_empty);
        assert!(!d.deployers["prod"].prune);
        assert!(d.deployers["prod"].allow_empty);
    }

    #[test]
    fn adoption_is_off_unless_asked_for_and_adopted_objects_are_kept_on_prune() {
        let d = Deployers::parse(
            "deployers:\n  dev: {cluster: main, namespace: dev}\n  prod: {cluster: eu, namespace: shop, adopt: true, prune_adopted: true}\n",
        )
        .unwrap();
        assert!(!d.deployers["dev"].adopt);
        assert!(!d.deployers["dev"].prune_adopted);
        assert!(d.deployers["prod"].adopt);
        assert!(d.deployers["prod"].prune_adopted);
    }

    #[test]
    fn rejects_unknown_keys_and_bad_namespaces_with_line() {
        let err = Deployers::parse("deployers:\n  dev: {cluster: main, namespace: dev, prnue: true}\n").unwrap_err();
        assert_eq!(err.path, "deployers.yaml");
        assert_eq!(err.line, Some(2));
        let err = Deployers::parse("deployers:\n  dev: {cluster: main, namespace: Dev_NS}\n").unwrap_err();
        assert_eq!(err.line, Some(2));
        assert!(err.message.contains("Dev_NS"));
    }
}
