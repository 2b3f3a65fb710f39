//! The deployer's config file (SPEC section 3). Credentials live here, never in the repo.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use slipway_kit::lease::LeaseSettings;
use slipway_repo::RepoSettings;

/// Defaults, in one place.
pub mod defaults {
    use std::time::Duration;

    pub const API_BIND: &str = "127.0.0.1:0";
    pub const POLL_INTERVAL: Duration = Duration::from_secs(30);
    pub const ROLLOUT_CHECK_INTERVAL: Duration = Duration::from_secs(2);
    pub const PROGRESS_DEADLINE: Duration = Duration::from_secs(600);
    pub const API_RETRIES: usize = 5;
    pub const RETRY_MIN_DELAY: Duration = Duration::from_millis(100);
    pub const RETRY_MAX_DELAY: Duration = Duration::from_secs(5);
    pub const CRD_WAIT: Duration = Duration::from_secs(60);
    pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
    pub const APPLY_CONCURRENCY: usize = 16;
}

fn api_bind() -> String {
    defaults::API_BIND.to_string()
}
fn poll_interval() -> Duration {
    defaults::POLL_INTERVAL
}
fn rollout_check_interval() -> Duration {
    defaults::ROLLOUT_CHECK_INTERVAL
}
fn progress_deadline() -> Duration {
    defaults::PROGRESS_DEADLINE
}
fn api_retries() -> usize {
    defaults::API_RETRIES
}
fn retry_min_delay() -> Duration {
    defaults::RETRY_MIN_DELAY
}
fn retry_max_delay() -> Duration {
    defaults::RETRY_MAX_DELAY
}
fn crd_wait() -> Duration {
    defaults::CRD_WAIT
}
fn request_timeout() -> Duration {
    defaults::REQUEST_TIMEOUT
}
fn apply_concurrency() -> usize {
    defaults::APPLY_CONCURRENCY
}

/// How to reach one cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterConfig {
    /// Path of a kubeconfig file.
    #[serde(default)]
    pub kubeconfig: Option<PathBuf>,
    /// Context in that kubeconfig (default: its current context).
    #[serde(default)]
    pub context: Option<String>,
    /// Use the pod's service account (the deployer runs in this cluster).
    #[serde(default)]
    pub in_cluster: bool,
}

/// The whole config file; unknown keys are refused by `slipway_kit::config::load_config`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeployerConfig {
    /// The resource repo's keys (`versions_url`, `versions_checkout_path`, ...).
    #[serde(flatten)]
    pub repo: RepoSettings,
    /// Address of the HTTP API.
    #[serde(default = "api_bind")]
    pub api_bind: String,
    /// How often the repo is fetched and every env reconciled.
    #[serde(default = "poll_interval", with = "humantime_serde")]
    pub poll_interval: Duration,
    /// While a rollout is in progress, how often its status is read again (without a fetch).
    #[serde(default = "rollout_check_interval", with = "humantime_serde")]
    pub rollout_check_interval: Duration,
    /// Rollout deadline of workloads that set no `progressDeadlineSeconds`.
    #[serde(default = "progress_deadline", with = "humantime_serde")]
    pub default_progress_deadline: Duration,
    /// Attempts per API request on timeouts, 429 and 5xx (with capped exponential backoff).
    #[serde(default = "api_retries")]
    pub api_retries: usize,
    /// First backoff delay between attempts.
    #[serde(default = "retry_min_delay", with = "humantime_serde")]
    pub retry_min_delay: Duration,
    /// Longest backoff delay between attempts.
    #[serde(default = "retry_max_delay", with = "humantime_serde")]
    pub retry_max_delay: Duration,
    /// How long to wait for a CustomResourceDefinition to be served before its objects fail.
    #[serde(default = "crd_wait", with = "humantime_serde")]
    pub crd_wait: Duration,
    /// Timeout of one API request.
    #[serde(default = "request_timeout", with = "humantime_serde")]
    pub request_timeout: Duration,
    /// Objects applied at the same time within one env and one apply rank.
    #[serde(default = "apply_concurrency")]
    pub apply_concurrency: usize,
    /// Named cluster connections, referred to by `deployers.yaml`.
    #[serde(default)]
    pub clusters: BTreeMap<String, ClusterConfig>,
    /// Spread the envs over several replicas, one Lease per env (`crate::shards`);
    /// `lease_name` is the prefix of the Leases' names. Without it this replica
    /// applies to every env.
    #[serde(default)]
    pub sharding: Option<LeaseSettings>,
    /// File with one `name:token` per line: who may ask for a redeploy
    /// (`POST /deploy`, scope `deploy`; the aggregator's peer token). Without
    /// this and `api_tokens_env`, `POST /deploy` is refused.
    #[serde(default)]
    pub api_tokens_file: Option<PathBuf>,
    /// Environment variable holding `name:token` pairs, comma-separated.
    #[serde(default)]
    pub api_tokens_env: Option<String>,
    /// The deployer's own Deployment, when the repo holds it: applied last in its
    /// wave. Default: found from `POD_NAMESPACE` and `POD_NAME`.
    #[serde(default, rename = "self")]
    pub self_deployment: Option<SelfDeployment>,
}

/// Where the deployer's own Deployment lives (`self: {namespace, deployment}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SelfDeployment {
    pub namespace: String,
    pub deployment: String,
}

impl SelfDeployment {
    /// The configured one, else the one found from the pod's `POD_NAMESPACE`
    /// and `POD_NAME` (set from the downward API in `deploy/`).
    pub fn resolve(configured: Option<&SelfDeployment>) -> Option<SelfDeployment> {
        configured
            .cloned()
            .or_else(|| Self::of_pod(&std::env::var("POD_NAMESPACE").ok()?, &std::env::var("POD_NAME").ok()?))
    }

    /// The Deployment a pod belongs to, from the pod's name: a Deployment's
    /// pods are named `<deployment>-<pod-template-hash>-<5 characters>`.
    pub fn of_pod(namespace: &str, pod: &str) -> Option<SelfDeployment> {
        let mut parts = pod.rsplitn(3, '-');
        let (random, hash, deployment) = (parts.next()?, parts.next()?, parts.next()?);
        let generated = |s: &str, len: std::ops::RangeInclusive<usize>| {
            len.contains(&s.len()) && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        };
        let ok = !namespace.trim().is_empty()
            && !deployment.is_empty()
            && generated(random, 5..=5)
            && generated(hash, 1..=10);
        ok.then(|| SelfDeployment {
            namespace: namespace.trim().to_string(),
            deployment: deployment.to_string(),
        })
    }
}

impl DeployerConfig {
    /// A config with every default, for tests and tools.
    pub fn new(versions_url: impl Into<String>, versions_checkout_path: impl Into<PathBuf>) -> Self {
        DeployerConfig {
            repo: RepoSettings::new(versions_url, versions_checkout_path),
            api_bind: api_bind(),
            poll_interval: poll_interval(),
            rollout_check_interval: rollout_check_interval(),
            default_progress_deadline: progress_deadline(),
            api_retries: api_retries(),
            retry_min_delay: retry_min_delay(),
            retry_max_delay: retry_max_delay(),
            crd_wait: crd_wait(),
            request_timeout: request_timeout(),
            apply_concurrency: apply_concurrency(),
            clusters: BTreeMap::new(),
            sharding: None,
            api_tokens_file: None,
            api_tokens_env: None,
            self_deployment: None,
        }
    }

    /// The repo settings shared with the other services.
    pub fn repo_settings(&self) -> RepoSettings {
        self.repo.clone()
    }

    /// Checks what serde cannot: each cluster names exactly one way to connect.
    pub fn validate(&self) -> Result<(), String> {
        for (name, c) in &self.clusters {
            match (&c.kubeconfig, c.in_cluster) {
                (Some(_), true) => {
                    return Err(format!(
                        "cluster {name}: set either kubeconfig (with context) or in_cluster: true, not both"
                    ))
                }
                (None, false) => {
                    return Err(format!(
                        "cluster {name}: set kubeconfig: PATH (and context: NAME) or in_cluster: true"
                    ))
                }
                (None, true) if c.context.is_some() => {
                    return Err(format!("cluster {name}: context only applies to a kubeconfig"))
                }
                _ => {}
            }
        }
        if self.api_retries == 0 {
            return Err("api_retries must be at least 1".into());
        }
        if self.apply_concurrency == 0 {
            return Err("apply_concurrency must be at least 1".into());
        }
        if let Some(sharding) = &self.sharding {
            sharding
                .validate()
                .map_err(|e| e.replace("leader_election", "sharding"))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use slipway_kit::config::parse_config;

    use super::*;

    #[test]
    fn spec_example_parses_with_defaults() {
        let c: DeployerConfig = parse_config(
            "versions_url: https://git.example.com/ops/resources.git\nversions_checkout_path: /var/lib/slipway/deployer\napi_bind: 0.0.0.0:8080\npoll_interval: 30s\nclusters:\n  main: {in_cluster: true}\n  prod-eu: {kubeconfig: /etc/slipway/prod-eu.kubeconfig, context: prod}\n",
            "deployer.yaml",
        )
        .unwrap();
        c.validate().unwrap();
        assert_eq!(c.poll_interval, Duration::from_secs(30));
        assert_eq!(c.default_progress_deadline, Duration::from_secs(600));
        assert_eq!(c.repo.versions_branch, "main");
        assert_eq!(c.repo.git_timeout, Duration::from_secs(30));
        assert_eq!(c.repo.git_stale_lock_after, Duration::from_secs(120));
        assert!(c.clusters["main"].in_cluster);
        assert_eq!(c.clusters["prod-eu"].context.as_deref(), Some("prod"));
    }

    #[test]
    fn the_own_deployment_is_configured_or_found_from_the_pod_name() {
        let found = SelfDeployment::of_pod("slipway", "slipway-deployer-7c9f8d6b5-x2k4q").unwrap();
        assert_eq!(
            (found.namespace.as_str(), found.deployment.as_str()),
            ("slipway", "slipway-deployer")
        );
        // A StatefulSet's pod, a bare pod, a host name: no Deployment.
        assert_eq!(SelfDeployment::of_pod("slipway", "slipway-deployer-0"), None);
        assert_eq!(SelfDeployment::of_pod("slipway", "deployer"), None);
        assert_eq!(SelfDeployment::of_pod("", "slipway-deployer-7c9f8d6b5-x2k4q"), None);
        let configured = SelfDeployment {
            namespace: "ops".into(),
            deployment: "deployer".into(),
        };
        assert_eq!(SelfDeployment::resolve(Some(&configured)), Some(configured));
        let c: DeployerConfig = parse_config(
            "versions_url: x\nversions_checkout_path: y\nself: {namespace: ops, deployment: deployer}\nsharding: {namespace: ops, duration: 6s, renew_deadline: 4s, retry_period: 1s}\n",
            "deployer.yaml",
        )
        .unwrap();
        c.validate().unwrap();
        assert_eq!(c.self_deployment.unwrap().deployment, "deployer");
        assert_eq!(c.sharding.unwrap().duration, Duration::from_secs(6));
        let c: DeployerConfig = parse_config(
            "versions_url: x\nversions_checkout_path: y\nsharding: {duration: 5s, renew_deadline: 5s}\n",
            "deployer.yaml",
        )
        .unwrap();
        let err = c.validate().unwrap_err();
        assert!(err.starts_with("sharding.renew_deadline (5s) must be shorter"), "{err}");
    }

    #[test]
    fn unknown_keys_and_ambiguous_clusters_are_rejected() {
        let err = parse_config::<DeployerConfig>(
            "versions_url: x\nversions_checkout_path: y\npoll_intervall: 1s\n",
            "deployer.yaml",
        )
        .unwrap_err();
        assert!(err.to_string().contains("unknown key poll_intervall"), "{err}");
        let err = parse_config::<DeployerConfig>(
            "versions_url: x\nversions_checkout_path: y\nclusters:\n  a: {in_cluster: true, contxt: c}\n",
            "deployer.yaml",
        )
        .unwrap_err();
        assert!(err.to_string().contains("contxt"), "{err}");
        let c: DeployerConfig = parse_config(
            "versions_url: x\nversions_checkout_path: y\nclusters:\n  a: {in_cluster: true, kubeconfig: /k}\n",
            "deployer.yaml",
        )
        .unwrap();
        assert!(c.validate().unwrap_err().contains("cluster a"));
    }
}
