//! One reconcile of one env: observe → plan → act → report.
//!
//! ```text
//! observe: render the env from the snapshot, resolve kinds, read the inventory
//!          and the env's labelled objects (one list per kind)
//! plan:    crate::plan::plan (pure)
//! act:     ensure the namespace, record new objects in the inventory, apply by
//!          rank (concurrently within a rank), prune in reverse order, store the inventory
//! report:  crate::report::env_status (pure)
//! ```
//!
//! `rendering.rs` keeps the env's rendering and desired set, `observe.rs`
//! reads the cluster, `act.rs` carries out the plan.

mod act;
mod observe;
mod rendering;

use slipway_core::deployers::DeployTarget;
use thiserror::Error;

use crate::cluster::{Cluster, ClusterError, Kind};
pub use crate::outcome::Acted;
use crate::outcome::FailureReason;
use crate::plan::{plan_after, Plan, PruneOptions, Verified};
pub use act::{act, record};
pub use observe::{observe, Observed};
pub use rendering::{DesiredCache, Rendering};

/// A problem that stops the whole env's reconcile (the others go on).
#[derive(Debug, Error)]
pub enum EnvError {
    #[error("cluster {cluster} of env {env} is not in the deployer config (clusters:)")]
    UnknownCluster { env: String, cluster: String },
    #[error("cannot connect to cluster {cluster}: {source}")]
    Connect { cluster: String, source: ClusterError },
    #[error("cluster {cluster}: {what}: {source}")]
    Cluster {
        cluster: String,
        what: String,
        source: ClusterError,
    },
    #[error("{0}")]
    Inventory(#[from] crate::inventory::InventoryError),
}

impl EnvError {
    /// The failure metric's reason for this error.
    pub fn reason(&self) -> FailureReason {
        match self {
            EnvError::UnknownCluster { .. } => FailureReason::UnknownCluster,
            EnvError::Connect { .. } => FailureReason::Connect,
            EnvError::Cluster { .. } => FailureReason::Cluster,
            EnvError::Inventory(_) => FailureReason::Inventory,
        }
    }
}

/// Settings a reconcile needs.
#[derive(Debug, Clone)]
pub struct Settings {
    pub crd_wait: std::time::Duration,
    pub apply_concurrency: usize,
    /// The deployer's own Deployment: applied last in its wave.
    pub self_deployment: Option<crate::config::SelfDeployment>,
}

impl Settings {
    /// Whether `key` is the deployer's own Deployment.
    pub fn is_self(&self, key: &crate::object::ObjectKey) -> bool {
        self.self_deployment.as_ref().is_some_and(|s| {
            key.group == "apps"
                && key.kind == "Deployment"
                && key.namespace.as_deref() == Some(s.namespace.as_str())
                && key.name == s.deployment
        })
    }
}

pub(super) fn cluster_err(cluster: &Cluster, what: impl Into<String>) -> impl FnOnce(ClusterError) -> EnvError + '_ {
    let what = what.into();
    move |source| EnvError::Cluster {
        cluster: cluster.name.clone(),
        what,
        source,
    }
}

/// A refusal of the server, with the RBAC rule that would allow the request.
pub(super) fn with_rule(kind: &Kind, error: ClusterError) -> ClusterError {
    match error {
        ClusterError::Api {
            code: 403,
            reason,
            message,
        } => ClusterError::Api {
            code: 403,
            reason,
            message: format!("{message}; {}", kind.rbac_rule()),
        },
        other => other,
    }
}

/// The plan for what was observed, comparing again only objects that changed
/// since `verified` (see [`Verified`]).
pub fn plan_for(env: &str, target: &DeployTarget, observed: &Observed, verified: &Verified) -> Plan {
    plan_after(
        env,
        &observed.desired,
        &observed.inventory,
        &observed.live,
        &observed.outside,
        PruneOptions {
            prune: target.prune,
            allow_empty: target.allow_empty,
            adopt: target.adopt,
            prune_adopted: target.prune_adopted,
            namespace: target.namespace.clone(),
        },
        verified,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_names_the_rbac_rule_that_would_allow_it_and_other_errors_are_kept_as_they_are() {
        let forbidden = ClusterError::Api {
            code: 403,
            reason: "Forbidden".into(),
            message: "configmaps is forbidden: User \"x\" cannot list resource \"configmaps\"".into(),
        };
        let e = with_rule(&Cluster::config_map_kind(), forbidden).to_string();
        assert!(e.starts_with("403 Forbidden: configmaps is forbidden"), "{e}");
        assert!(e.ends_with(
            "; the deployer's role needs: apiGroups [\"\"], resources [\"configmaps\"], verbs [\"get\",\"list\",\"watch\",\"create\",\"patch\",\"delete\"]"
        ), "{e}");
        let namespaces = with_rule(
            &Cluster::namespace_kind(),
            ClusterError::Api {
                code: 403,
                reason: "Forbidden".into(),
                message: "no".into(),
            },
        );
        assert!(
            namespaces.to_string().contains("the deployer's cluster role needs"),
            "{namespaces}"
        );
        let invalid = ClusterError::Api {
            code: 422,
            reason: "Invalid".into(),
            message: "bad".into(),
        };
        assert_eq!(
            with_rule(&Cluster::config_map_kind(), invalid).to_string(),
            "422 Invalid: bad"
        );
    }
}
