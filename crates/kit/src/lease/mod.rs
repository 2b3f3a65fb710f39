//! Leader election on a `coordination.k8s.io/v1` Lease: acquire, renew,
//! release on shutdown, and observe who holds it.
//!
//! ```text
//!   every retry_period:  GET lease ─▶ decide (pure) ─▶ create / PUT on the version read
//!                                          │                 │ 409: someone else won; read again
//!                                          ▼                 ▼
//!                                   Wait / Lost        Standing.claimed(sent at)
//!   before each write:   Leadership::leads() = last claim sent < renew_deadline ago
//!   on shutdown:         PUT holderIdentity: null, leaseDurationSeconds: 1
//! ```
//!
//! Writes are optimistic updates on the `resourceVersion` that was read (a
//! create when there is no Lease), so of two contenders only one succeeds. Each
//! replica writes with its own field manager (`slipway-lease/<identity>`), so
//! the Lease's `managedFields` show who wrote it last.
//!
//! Timing: the holder renews every `retry_period`; it stops counting itself
//! leader when its last renewal is `renew_deadline` old; the others take over
//! once the Lease's `renewTime` is `duration` old. The difference
//! (`duration - renew_deadline`, 5 s by default) is the margin for a write that
//! passed the check to finish, and for clock differences between replicas.

mod decide;
mod elector;
mod standing;

pub use decide::{decide, released, Decision, Holder, LeaseRecord, HOLDER_ADDRESS};
pub use elector::{elect, record_of, spec_of, Election, Leadership, LeaseError};
pub use standing::{LeaderInfo, Standing};

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The `leader_election` section of a service's config.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LeaseSettings {
    /// Name of the Lease (default: chosen by the service, e.g. `slipway-transitioner`).
    #[serde(default)]
    pub lease_name: Option<String>,
    /// Namespace of the Lease (default: `POD_NAMESPACE`, else the kubeconfig
    /// context's namespace or the pod's service-account namespace).
    #[serde(default)]
    pub namespace: Option<String>,
    /// How long a renewal holds: others take over this long after the last one.
    #[serde(default = "defaults::duration", with = "humantime_serde")]
    pub duration: Duration,
    /// The holder stops acting as leader when it could not renew for this long.
    #[serde(default = "defaults::renew_deadline", with = "humantime_serde")]
    pub renew_deadline: Duration,
    /// How often the Lease is read and renewed (or tried for).
    #[serde(default = "defaults::retry_period", with = "humantime_serde")]
    pub retry_period: Duration,
    /// A kubeconfig file for the cluster that holds the Lease (default: in-cluster
    /// config in a pod, else `KUBECONFIG` or `~/.kube/config`).
    #[serde(default)]
    pub kubeconfig: Option<PathBuf>,
    /// Context in that kubeconfig (default: its current context).
    #[serde(default)]
    pub context: Option<String>,
    /// Use the pod's service account (`in_cluster: true`), not a kubeconfig.
    #[serde(default)]
    pub in_cluster: bool,
}

/// The defaults of every optional key, in one place.
pub mod defaults {
    use std::time::Duration;

    /// `duration`.
    pub fn duration() -> Duration {
        Duration::from_secs(15)
    }
    /// `renew_deadline`.
    pub fn renew_deadline() -> Duration {
        Duration::from_secs(10)
    }
    /// `retry_period`.
    pub fn retry_period() -> Duration {
        Duration::from_secs(2)
    }
}

impl Default for LeaseSettings {
    fn default() -> Self {
        LeaseSettings {
            lease_name: None,
            namespace: None,
            duration: defaults::duration(),
            renew_deadline: defaults::renew_deadline(),
            retry_period: defaults::retry_period(),
            kubeconfig: None,
            context: None,
            in_cluster: false,
        }
    }
}

impl LeaseSettings {
    /// Checks that the timings can work: `retry_period < renew_deadline < duration`,
    /// the duration in whole seconds (the Lease holds seconds).
    pub fn validate(&self) -> Result<(), String> {
        let show = |d: Duration| humantime_serde::re::humantime::format_duration(d).to_string();
        if self.duration.as_secs() == 0 || self.duration.subsec_nanos() != 0 {
            return Err(format!(
                "leader_election.duration must be a whole number of seconds, at least 1s (is {})",
                show(self.duration)
            ));
        }
        if self.renew_deadline >= self.duration {
            return Err(format!(
                "leader_election.renew_deadline ({}) must be shorter than duration ({}): the difference is the time a leader that stopped renewing has to stop writing",
                show(self.renew_deadline),
                show(self.duration)
            ));
        }
        if self.retry_period.is_zero() || self.retry_period >= self.renew_deadline {
            return Err(format!(
                "leader_election.retry_period ({}) must be above zero and shorter than renew_deadline ({}), so a leader renews several times before its deadline",
                show(self.retry_period),
                show(self.renew_deadline)
            ));
        }
        if self.kubeconfig.is_some() && self.in_cluster {
            return Err("leader_election: set either kubeconfig (with context) or in_cluster: true, not both".into());
        }
        if self.context.is_some() && self.kubeconfig.is_none() {
            return Err("leader_election.context only applies to a kubeconfig".into());
        }
        Ok(())
    }

    /// A client for the cluster that holds the Lease.
    pub async fn client(&self) -> Result<kube::Client, LeaseError> {
        kube::Client::try_from(self.config().await?).map_err(|e| LeaseError::Cluster(e.to_string()))
    }

    /// The client config for the cluster that holds the Lease (for a caller that
    /// adds headers before making the client).
    pub async fn config(&self) -> Result<kube::Config, LeaseError> {
        let config = if self.in_cluster {
            kube::Config::incluster().map_err(|e| LeaseError::Cluster(format!("in-cluster config: {e}")))?
        } else if let Some(path) = &self.kubeconfig {
            let kubeconfig = kube::config::Kubeconfig::read_from(path)
                .map_err(|e| LeaseError::Cluster(format!("cannot read kubeconfig {}: {e}", path.display())))?;
            let options = kube::config::KubeConfigOptions {
                context: self.context.clone(),
                ..Default::default()
            };
            kube::Config::from_custom_kubeconfig(kubeconfig, &options)
                .await
                .map_err(|e| LeaseError::Cluster(format!("invalid kubeconfig {}: {e}", path.display())))?
        } else {
            kube::Config::infer()
                .await
                .map_err(|e| LeaseError::Cluster(format!("no cluster configured (in-cluster or kubeconfig): {e}")))?
        };
        Ok(config)
    }
}

/// Joins the election configured by `settings` as [`identity()`]: the Lease
/// `settings.lease_name` (else `default_name`) in `settings.namespace` (else
/// `POD_NAMESPACE`, else the client's default namespace), announcing `address`
/// (where this replica's API answers) while it holds the Lease. The Lease is
/// released once `shutdown` is cancelled; await the returned task before exiting.
pub async fn join(
    settings: &LeaseSettings,
    default_name: &str,
    address: Option<String>,
    clock: crate::clock::SharedClock,
    shutdown: tokio_util::sync::CancellationToken,
) -> Result<Election, LeaseError> {
    settings.validate().map_err(LeaseError::Settings)?;
    let client = settings.client().await?;
    let namespace = settings
        .namespace
        .clone()
        .or_else(|| std::env::var("POD_NAMESPACE").ok().filter(|n| !n.trim().is_empty()))
        .unwrap_or_else(|| client.default_namespace().to_string());
    let name = settings.lease_name.clone().unwrap_or_else(|| default_name.to_string());
    let me = identity();
    tracing::info!(lease = %name, %namespace, identity = %me, "leader election configured");
    elect(
        kube::Api::namespaced(client, &namespace),
        &name,
        &me,
        address,
        settings,
        clock,
        shutdown,
    )
}

/// Where this replica's API answers, for the others to pass requests on: the
/// bound address, or for a wildcard bind (`0.0.0.0:8080`) the pod's `POD_IP`
/// (from the downward API) with the bound port; `None` when neither is known.
pub fn advertised_address(bound: std::net::SocketAddr) -> Option<String> {
    advertised_address_from(bound, std::env::var("POD_IP").ok())
}

fn advertised_address_from(bound: std::net::SocketAddr, pod_ip: Option<String>) -> Option<String> {
    let ip = if bound.ip().is_unspecified() {
        pod_ip?.trim().parse::<std::net::IpAddr>().ok()?
    } else {
        bound.ip()
    };
    Some(format!("http://{}", std::net::SocketAddr::new(ip, bound.port())))
}

/// This replica's identity in the election: `POD_NAME` (set from the downward
/// API in `deploy/`), else the host name plus a random suffix, so two processes
/// on one host never share an identity.
pub fn identity() -> String {
    identity_from(std::env::var("POD_NAME").ok(), host_name())
}

fn identity_from(pod_name: Option<String>, host: Option<String>) -> String {
    if let Some(pod) = pod_name.filter(|p| !p.trim().is_empty()) {
        return pod.trim().to_string();
    }
    use rand::Rng as _;
    let suffix: String = rand::thread_rng()
        .sample_iter(rand::distributions::Alphanumeric)
        .take(6)
        .map(|c| (c as char).to_ascii_lowercase())
        .collect();
    format!("{}-{suffix}", host.unwrap_or_else(|| "slipway".into()))
}

fn host_name() -> Option<String> {
    std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/proc/sys/kernel/hostname").ok())
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_is_the_pod_name_or_host_plus_a_random_suffix() {
        assert_eq!(
            identity_from(Some("transitioner-7f9c-x2".into()), Some("h".into())),
            "transitioner-7f9c-x2"
        );
        let a = identity_from(None, Some("build-host".into()));
        let b = identity_from(Some(" ".into()), Some("build-host".into()));
        assert!(
            a.starts_with("build-host-") && a.len() == "build-host-".len() + 6,
            "{a}"
        );
        assert_ne!(a, b, "two processes on one host get different identities");
    }

    #[test]
    fn the_advertised_address_is_the_bound_one_or_the_pod_ip() {
        let bound = |s: &str| s.parse::<std::net::SocketAddr>().unwrap();
        assert_eq!(
            advertised_address_from(bound("127.0.0.1:4000"), Some("10.0.0.9".into())).as_deref(),
            Some("http://127.0.0.1:4000")
        );
        assert_eq!(
            advertised_address_from(bound("0.0.0.0:8080"), Some("10.0.0.9".into())).as_deref(),
            Some("http://10.0.0.9:8080")
        );
        assert_eq!(
            advertised_address_from(bound("[::]:8080"), Some("fd00::5".into())).as_deref(),
            Some("http://[fd00::5]:8080")
        );
        assert_eq!(advertised_address_from(bound("0.0.0.0:8080"), None), None);
        assert_eq!(
            advertised_address_from(bound("0.0.0.0:8080"), Some("not-an-ip".into())),
            None
        );
    }

    #[test]
    fn settings_default_and_refuse_timings_that_cannot_work() {
        let s: LeaseSettings = serde_yaml::from_str("{}").unwrap();
        assert_eq!(s, LeaseSettings::default());
        assert_eq!(
            (s.duration, s.renew_deadline),
            (Duration::from_secs(15), Duration::from_secs(10))
        );
        assert!(s.validate().is_ok());
        let s: LeaseSettings = serde_yaml::from_str("{duration: 10s, renew_deadline: 10s}").unwrap();
        assert!(s
            .validate()
            .unwrap_err()
            .contains("renew_deadline (10s) must be shorter than duration (10s)"));
        let s: LeaseSettings = serde_yaml::from_str("{duration: 1500ms}").unwrap();
        assert!(s.validate().unwrap_err().contains("whole number of seconds"));
        let s: LeaseSettings = serde_yaml::from_str("{retry_period: 10s}").unwrap();
        assert!(s.validate().unwrap_err().contains("retry_period"));
        assert!(serde_yaml::from_str::<LeaseSettings>("{lease_nmae: x}").is_err());
    }
}
