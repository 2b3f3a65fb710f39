//! Prometheus metrics of the deployer.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// The `env` label.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EnvLabel {
    pub env: String,
}

/// The labels of the failure counter: the env and why it failed.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct FailureLabels {
    pub env: String,
    /// One value per kind of failure ([`crate::outcome::FailureReason::label`]).
    pub reason: &'static str,
}

/// Every metric, registered once.
pub struct Metrics {
    pub registry: Registry,
    pub reconcile_seconds: Family<EnvLabel, Histogram>,
    pub applied: Family<EnvLabel, Counter>,
    pub pruned: Family<EnvLabel, Counter>,
    pub failed: Family<FailureLabels, Counter>,
    pub last_success: Family<EnvLabel, Gauge>,
    pub fetch_errors: Counter,
    /// Pod log streams open now (`GET /envs/{env}/services/{service}/logs`).
    pub log_streams: Gauge,
    /// Envs this replica applies to now (with sharding: whose Lease it holds).
    pub envs_held: Gauge,
    /// Envs whose objects this replica watches now.
    pub watched_envs: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("slipway_deployer");
        let reconcile_seconds = Family::<EnvLabel, Histogram>::new_with_constructor(|| {
            Histogram::new([0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0])
        });
        let applied = Family::<EnvLabel, Counter>::default();
        let pruned = Family::<EnvLabel, Counter>::default();
        let failed = Family::<FailureLabels, Counter>::default();
        let last_success = Family::<EnvLabel, Gauge>::default();
        let fetch_errors = Counter::default();
        let log_streams = Gauge::default();
        let envs_held = Gauge::default();
        let watched_envs = Gauge::default();
        registry.register(
            "reconcile_duration_seconds",
            "Duration of one reconcile of an env",
            reconcile_seconds.clone(),
        );
        registry.register(
            "applied_objects",
            "Objects applied (server-side apply)",
            applied.clone(),
        );
        registry.register(
            "pruned_objects",
            "Objects deleted because they left the repo",
            pruned.clone(),
        );
        registry.register(
            "failed_operations",
            "Failures in reconciles, by reason (apply, prune, cluster, ...)",
            failed.clone(),
        );
        registry.register(
            "last_successful_reconcile_timestamp_seconds",
            "Unix time of the last reconcile of an env without errors",
            last_success.clone(),
        );
        registry.register(
            "fetch_errors",
            "Failed fetches of the resource repo",
            fetch_errors.clone(),
        );
        registry.register(
            "log_streams",
            "Pod log streams open now, through the deployer's cluster access",
            log_streams.clone(),
        );
        registry.register(
            "envs_held",
            "Envs this replica applies to now (with sharding: the envs whose Lease it holds)",
            envs_held.clone(),
        );
        registry.register(
            "watched_envs",
            "Envs whose objects this replica watches now",
            watched_envs.clone(),
        );
        Metrics {
            registry,
            reconcile_seconds,
            applied,
            pruned,
            failed,
            last_success,
            fetch_errors,
            log_streams,
            envs_held,
            watched_envs,
        }
    }
}

impl Metrics {
    /// The label set of an env.
    pub fn env(env: &str) -> EnvLabel {
        EnvLabel { env: env.to_string() }
    }
}
