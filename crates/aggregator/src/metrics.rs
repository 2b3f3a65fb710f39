//! Prometheus metrics of the aggregator.

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

type Labels = Vec<(String, String)>;

/// Every metric, registered once.
pub struct Metrics {
    pub registry: Registry,
    /// Commits pushed, by action (`version`, `lock`, `rollback`).
    pub commits: Family<Labels, Counter>,
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
        Metrics {
            registry,
            commits,
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

    pub fn label(key: &str, value: &str) -> Labels {
        vec![(key.to_string(), value.to_string())]
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}
