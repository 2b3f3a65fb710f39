//! The files under `<env>/deployable/` in the state: one row per file (its path
//! below `deployable/`), with the deployer's status of it in each deployed env.
//!
//! The deployer reports each such file as a unit named `deployable/<path>` next
//! to the services, and counts it in the env's status; the state shows the same
//! units so that an env's summary counts exactly what the matrix shows.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use slipway_core::deployers::Deployers;
use slipway_core::status::{DeployerStatus, Phase, ResourceStatus, RolloutStatus};
use slipway_core::RepoSnapshot;

/// The prefix of a deployable file's unit name in the deployer's status.
const UNIT_PREFIX: &str = "deployable/";

/// One `deployable/` file in one env.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "ts", ts(rename = "DeployableInEnv"))]
pub struct DeployableEnvView<'a> {
    /// The repo path of the file in this env (`dev/deployable/redis.yaml`); `None`
    /// when only the deployer still reports it (the file was removed since).
    pub path: Option<String>,
    pub status: Option<RolloutStatus>,
    pub phase: Option<Phase>,
    pub reason: String,
    pub resources: &'a [ResourceStatus],
    pub error: Option<String>,
}

/// One `deployable/` file (by its path below `deployable/`) across envs.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "ts", ts(rename = "DeployableRow"))]
pub struct DeployableView<'a> {
    /// Path below `<env>/deployable/`, e.g. `redis.yaml` or `rbac/roles.yaml`.
    pub file: String,
    pub envs: BTreeMap<String, DeployableEnvView<'a>>,
}

/// Every deployable file of every deployed env (`order`: the envs in the order
/// they are shown), with the deployer's status.
pub fn deployable_views<'a>(
    order: &[String],
    deployers: &Deployers,
    snap: &RepoSnapshot,
    deployer: Option<&'a DeployerStatus>,
) -> Vec<DeployableView<'a>> {
    let mut rows: BTreeMap<String, BTreeMap<String, DeployableEnvView<'a>>> = BTreeMap::new();
    for env in order.iter().filter(|e| deployers.deployers.contains_key(*e)) {
        let env_status = deployer.and_then(|d| d.envs.get(env));
        let prefix = format!("{env}/{UNIT_PREFIX}");
        let in_repo: BTreeSet<String> = snap
            .env_files(env)
            .deployables
            .iter()
            .filter_map(|p| p.strip_prefix(&prefix).map(str::to_string))
            .collect();
        let reported: BTreeSet<String> = env_status
            .map(|s| {
                s.services
                    .iter()
                    .filter(|(_, v)| v.kind == "deployable")
                    .filter_map(|(k, _)| k.strip_prefix(UNIT_PREFIX).map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        for file in in_repo.union(&reported) {
            let mut view = DeployableEnvView {
                path: in_repo.contains(file).then(|| format!("{prefix}{file}")),
                status: None,
                phase: None,
                reason: String::new(),
                resources: &[],
                error: None,
            };
            if let Some(env_status) = env_status {
                match env_status.services.get(&format!("{UNIT_PREFIX}{file}")) {
                    Some(s) => {
                        view.status = Some(s.status);
                        view.phase = Some(s.phase);
                        view.reason = s.reason.clone();
                        view.resources = &s.resources;
                        view.error = s.error.clone();
                    }
                    None => {
                        view.status = Some(RolloutStatus::Outdated);
                        view.phase = Some(Phase::Received);
                        view.reason = "not applied yet".to_string();
                    }
                }
            }
            rows.entry(file.clone()).or_default().insert(env.clone(), view);
        }
    }
    rows.into_iter()
        .map(|(file, envs)| DeployableView { file, envs })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::view::context;
    use slipway_core::status::{EnvStatus, ServiceStatus};

    fn snap() -> RepoSnapshot {
        let files = [
            (
                "deployers.yaml",
                "deployers:\n  dev: {cluster: main, namespace: dev}\n  prod: {cluster: main, namespace: prod}\n",
            ),
            ("latest/version/s1.yaml", "version: '1'\n"),
            ("latest/deployable/ignored.yaml", "kind: ConfigMap\n"),
            ("dev/deployable/redis.yaml", "kind: x\n"),
            ("dev/deployable/rbac/roles.yaml", "kind: x\n"),
            ("dev/deployable/notes.txt", "not yaml\n"),
            ("prod/deployable/redis.yaml", "kind: x\n"),
        ];
        RepoSnapshot::from_files("c1", files.iter().map(|(k, v)| (k.to_string(), v.as_bytes().to_vec())))
    }

    fn deployable(status: RolloutStatus, reason: &str) -> ServiceStatus {
        ServiceStatus {
            kind: "deployable".into(),
            phase: Phase::from_status(status),
            status,
            reason: reason.into(),
            version: None,
            resources: vec![],
            error: None,
        }
    }

    fn env(name: &str, services: &[(&str, ServiceStatus)]) -> EnvStatus {
        EnvStatus {
            env: name.into(),
            cluster: "main".into(),
            namespace: name.into(),
            commit: Some("c1".into()),
            status: RolloutStatus::Clean,
            reason: String::new(),
            services: services.iter().map(|(k, v)| (k.to_string(), v.clone())).collect(),
            last_error: None,
            last_reconcile: None,
            last_success: None,
            clean_since: None,
        }
    }

    #[test]
    fn deployable_files_of_deployed_envs_are_rows_grouped_by_file() {
        let s = snap();
        let ctx = context(&s);
        let rows = deployable_views(&ctx.order, &ctx.deployers, &s, None);
        let files: Vec<&str> = rows.iter().map(|r| r.file.as_str()).collect();
        assert_eq!(files, ["rbac/roles.yaml", "redis.yaml"]);
        let redis = &rows[1];
        assert_eq!(redis.envs.keys().collect::<Vec<_>>(), ["dev", "prod"]);
        assert_eq!(redis.envs["dev"].path.as_deref(), Some("dev/deployable/redis.yaml"));
        assert_eq!(redis.envs["dev"].status, None, "no deployer status yet");
        assert!(!rows[0].envs.contains_key("prod"));
    }

    #[test]
    fn deployer_status_fills_each_file_and_a_file_it_has_not_seen_is_outdated() {
        let s = snap();
        let ctx = context(&s);
        let d = DeployerStatus {
            repo_commit: Some("c1".into()),
            last_fetch_error: None,
            envs: [
                (
                    "dev".to_string(),
                    env(
                        "dev",
                        &[
                            (
                                "deployable/redis.yaml",
                                deployable(RolloutStatus::Failed, "redis: ImagePullBackOff"),
                            ),
                            ("deployable/gone.yaml", deployable(RolloutStatus::Clean, "")),
                            (
                                "s1",
                                ServiceStatus {
                                    kind: "service".into(),
                                    ..deployable(RolloutStatus::Clean, "")
                                },
                            ),
                        ],
                    ),
                ),
                ("prod".to_string(), env("prod", &[])),
            ]
            .into(),
            ..DeployerStatus::default()
        };
        let rows = deployable_views(&ctx.order, &ctx.deployers, &s, Some(&d));
        let by_file: BTreeMap<&str, &DeployableView<'_>> = rows.iter().map(|r| (r.file.as_str(), r)).collect();
        assert_eq!(
            by_file.keys().copied().collect::<Vec<_>>(),
            ["gone.yaml", "rbac/roles.yaml", "redis.yaml"]
        );
        let redis_dev = &by_file["redis.yaml"].envs["dev"];
        assert_eq!(redis_dev.status, Some(RolloutStatus::Failed));
        assert_eq!(redis_dev.phase, Some(Phase::DeployFailed));
        assert_eq!(redis_dev.reason, "redis: ImagePullBackOff");
        let redis_prod = &by_file["redis.yaml"].envs["prod"];
        assert_eq!(redis_prod.status, Some(RolloutStatus::Outdated));
        assert_eq!(redis_prod.reason, "not applied yet");
        let gone = &by_file["gone.yaml"].envs["dev"];
        assert_eq!(gone.path, None, "reported by the deployer, no longer in the repo");
        assert_eq!(gone.status, Some(RolloutStatus::Clean));
    }
}
