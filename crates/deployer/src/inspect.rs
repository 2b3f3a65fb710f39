//! The live view of one unit in one env (`GET /envs/{env}/services/{service}/live`,
//! `GET /envs/{env}/deployables/{file}/live`): reads the unit's applied objects,
//! the ReplicaSets and Pods of its workloads and the namespace's Events through
//! the deployer's own cluster connection, and joins them with
//! [`crate::workload_tree::live_view`].

use std::sync::Arc;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use slipway_core::live::LiveView;
use slipway_core::status::ServiceStatus;
use thiserror::Error;

use crate::cluster::{Cluster, ClusterError};
use crate::deployer::Deployer;
use crate::workload_tree::{live_view, Observed, ViewOf};

/// Why a live view (or a log) cannot be answered.
#[derive(Debug, Error)]
pub enum InspectError {
    #[error("env {0} is not deployed by this deployer (not in deployers.yaml)")]
    UnknownEnv(String),
    #[error("{unit} is not deployed in env {env} (the deployer has not applied it)")]
    UnknownUnit { env: String, unit: String },
    #[error("env {0} has not been reconciled yet; try again after the first reconcile")]
    NotReconciled(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    BadRequest(String),
    #[error("cluster {cluster}: {message}")]
    Cluster { cluster: String, message: String },
}

impl InspectError {
    fn status(&self) -> StatusCode {
        match self {
            InspectError::UnknownEnv(_) | InspectError::UnknownUnit { .. } | InspectError::NotFound(_) => {
                StatusCode::NOT_FOUND
            }
            InspectError::NotReconciled(_) => StatusCode::SERVICE_UNAVAILABLE,
            InspectError::BadRequest(_) => StatusCode::BAD_REQUEST,
            InspectError::Cluster { .. } => StatusCode::BAD_GATEWAY,
        }
    }
}

impl IntoResponse for InspectError {
    fn into_response(self) -> Response {
        slipway_kit::admin::error(self.status(), &self)
    }
}

/// What the view of a unit is read through: its env's cluster and namespace and its status.
pub struct UnitTarget {
    pub cluster: Arc<Cluster>,
    pub cluster_name: String,
    pub namespace: String,
    pub status: ServiceStatus,
}

fn cluster_error(cluster: &str, e: impl std::fmt::Display) -> InspectError {
    InspectError::Cluster {
        cluster: cluster.to_string(),
        message: e.to_string(),
    }
}

/// `key=value,...` of a workload's `spec.selector.matchLabels` (empty: none).
fn selector_of(obj: &Value) -> String {
    obj.pointer("/spec/selector/matchLabels")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| v.as_str().map(|v| format!("{k}={v}")))
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default()
}

/// A unit's path in a URL (`team-a/api/live`, `redis.yaml/live`) split into the
/// unit and what is asked of it; `None` without a known endpoint at the end.
pub fn split_unit_path(rest: &str) -> Option<(&str, &str)> {
    let (unit, what) = rest.trim_end_matches('/').rsplit_once('/')?;
    (!unit.is_empty() && matches!(what, "live" | "logs" | "diff")).then_some((unit, what))
}

impl Deployer {
    /// The cluster, namespace and status of a unit (`service` or `deployable/<file>`) in an env.
    pub async fn unit_target(&self, env: &str, unit: &str) -> Result<UnitTarget, InspectError> {
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
        let env_status = self
            .status()
            .envs
            .get(env)
            .cloned()
            .ok_or_else(|| InspectError::NotReconciled(env.to_string()))?;
        let status = env_status
            .services
            .get(unit)
            .cloned()
            .ok_or_else(|| InspectError::UnknownUnit {
                env: env.to_string(),
                unit: unit.to_string(),
            })?;
        let cluster = self
            .cluster(env, &target.cluster)
            .await
            .map_err(|e| cluster_error(&target.cluster, e))?;
        Ok(UnitTarget {
            cluster,
            cluster_name: target.cluster.clone(),
            namespace: target.namespace.clone(),
            status,
        })
    }

    /// The live view of a unit in an env, read from the cluster now.
    pub async fn live(&self, env: &str, unit: &str) -> Result<LiveView, InspectError> {
        let t = self.unit_target(env, unit).await?;
        let c = &t.cluster;
        let err = |e: ClusterError| cluster_error(&t.cluster_name, e);
        let mut observed = Observed::default();
        let mut selectors: Vec<(String, bool)> = Vec::new();
        for r in &t.status.resources {
            let live = match c.kind(&r.api_version, &r.kind).await.map_err(err)? {
                Some(kind) => c.get(&kind, r.namespace.as_deref(), &r.name).await.map_err(err)?,
                None => None,
            };
            if let Some(v) = &live {
                if matches!(r.kind.as_str(), "Deployment" | "StatefulSet" | "DaemonSet" | "Job") {
                    selectors.push((selector_of(v), r.kind == "Deployment"));
                }
            }
            observed.objects.push((r.clone(), live));
        }
        if !selectors.is_empty() {
            let pod_kind = c.kind("v1", "Pod").await.map_err(err)?;
            let rs_kind = c.kind("apps/v1", "ReplicaSet").await.map_err(err)?;
            for (selector, is_deployment) in &selectors {
                // An empty selector would list the whole namespace; the owner join needs only the workload's own.
                if selector.is_empty() {
                    continue;
                }
                if let (true, Some(k)) = (*is_deployment, &rs_kind) {
                    let (sets, _) = c.list_at(k, Some(&t.namespace), selector, |v| v).await.map_err(err)?;
                    observed.replicasets.extend(sets);
                }
                if let Some(k) = &pod_kind {
                    let (pods, _) = c.list_at(k, Some(&t.namespace), selector, |v| v).await.map_err(err)?;
                    observed.pods.extend(pods);
                }
            }
        }
        if let Some(k) = c.kind("v1", "Event").await.map_err(err)? {
            let (events, _) = c.list_at(&k, Some(&t.namespace), "", |v| v).await.map_err(err)?;
            observed.events = events;
        }
        let now = self.now();
        Ok(live_view(
            &ViewOf {
                env,
                unit,
                cluster: &t.cluster_name,
                namespace: &t.namespace,
                now,
            },
            &observed,
        ))
    }
}
