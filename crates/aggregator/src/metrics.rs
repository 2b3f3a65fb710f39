//! Prometheus metrics of the aggregator.

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;

type Labels = Vec<(String, String)>;

/// Every metric, registered once.
pub struct Metrics {
    pub registry: Registry,
    /// Commits pushed, by action (`version`, `lock`, `rollback`).
    pub commits: Family<Labels, Counter>,
    /// Redeploys passed on to the deployer, by `force` (`true`, `false`).
    pub redeploys: Family<Labels, Counter>,
    /// Requests refused, by status code.
    pub rejected: Family<Labels, Counter>,
    /// Failed fetches of the resource repo.
    pub fetch_errors: Counter,
    /// Fetches of the resource repo (tried).
    pub fetches: Counter,
    /// Push webhook requests, by host and outcome.
    pub webhooks: Family<Labels, Counter>,
    /// Pushes (tried) of batches of posted versions (group commit).
    pub version_pushes: Counter,
    /// Failed status reads of peers, by peer.
    pub peer_errors: Family<Labels, Counter>,
    /// 1 while the state is stale.
    pub stale: Gauge,
    /// Open `/api/events` streams.
    pub subscribers: Gauge,
    /// The DORA four keys of an env, by `env` and `key`, as the last `GET /api/dora` of that env computed them.
    pub dora: Family<Labels, Gauge<f64, AtomicU64>>,
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("slipway_aggregator");
        let commits = Family::<Labels, Counter>::default();
        registry.register(
            "commits",
            "Commits pushed to the resource repo, by action",
            commits.clone(),
        );
        let redeploys = Family::<Labels, Counter>::default();
        registry.register(
            "redeploys",
            "Redeploys (POST /api/deploy) passed on to the deployer, by force",
            redeploys.clone(),
        );
        let rejected = Family::<Labels, Counter>::default();
        registry.register(
            "rejected_requests",
            "API requests refused, by status code",
            rejected.clone(),
        );
        let fetch_errors = Counter::default();
        registry.register(
            "repo_fetch_errors",
            "Failed fetches of the resource repo",
            fetch_errors.clone(),
        );
        let fetches = Counter::default();
        registry.register("repo_fetches", "Fetches of the resource repo (tried)", fetches.clone());
        let webhooks = Family::<Labels, Counter>::default();
        registry.register(
            "webhooks",
            "Push webhook requests, by host and outcome (refreshing, ignored, refused, rate_limited, not_configured)",
            webhooks.clone(),
        );
        let version_pushes = Counter::default();
        registry.register(
            "version_pushes",
            "Batches of posted versions committed together and pushed once (tried)",
            version_pushes.clone(),
        );
        let peer_errors = Family::<Labels, Counter>::default();
        registry.register(
            "peer_errors",
            "Failed status reads of the deployer or transitioner",
            peer_errors.clone(),
        );
        let stale = Gauge::default();
        registry.register("state_stale", "1 while the state may be out of date", stale.clone());
        let subscribers = Gauge::default();
        registry.register("event_subscribers", "Open /api/events streams", subscribers.clone());
        let dora = Family::<Labels, Gauge<f64, AtomicU64>>::default();
        registry.register(
            "dora",
            "DORA four keys per env (key: deploys_per_day, deploys_per_week, lead_time_median_seconds, lead_time_p90_seconds, change_failure_rate, time_to_restore_median_seconds) over the period of the last GET /api/dora of that env",
            dora.clone(),
        );
        Metrics {
            dora,
            registry,
            commits,
            redeploys,
            rejected,
            fetch_errors,
            version_pushes,
            fetches,
            webhooks,
            peer_errors,
            stale,
            subscribers,
        }
    }

    /// Sets the DORA gauges of an env from the four keys computed for all its services.
    pub fn dora(&self, keys: &slipway_core::delivery::Dora) {
        if keys.service.is_some() {
            return;
        }
        let values = [
            ("deploys_per_day", Some(keys.deploys_per_day)),
            ("deploys_per_week", Some(keys.deploys_per_week)),
            ("lead_time_median_seconds", keys.lead_time.median_seconds),
            ("lead_time_p90_seconds", keys.lead_time.p90_seconds),
            ("change_failure_rate", keys.change_failure_rate),
            ("time_to_restore_median_seconds", keys.time_to_restore.median_seconds),
        ];
        for (key, value) in values {
            let labels = vec![
                ("env".to_string(), keys.env.clone()),
                ("key".to_string(), key.to_string()),
            ];
            match value {
                Some(v) => {
                    self.dora.get_or_create(&labels).set(v);
                }
                None => {
                    self.dora.remove(&labels);
                }
            }
        }
    }

    pub fn label(key: &str, value: &str) -> Labels {
        vec![(key.to_string(), value.to_string())]
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}
