//! Prometheus metrics of the transitioner.

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use slipway_core::status::TransitionResult;

type Labels = Vec<(String, String)>;

/// The transitioner's metrics and their registry.
pub struct Metrics {
    pub registry: Registry,
    runs: Family<Labels, Counter>,
    promotions: Family<Labels, Counter>,
    pending: Family<Labels, Gauge>,
    errors: Counter,
    leader: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Registers every metric.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("slipway_transitioner");
        let runs = Family::<Labels, Counter>::default();
        registry.register("runs", "Transition runs by transition and result", runs.clone());
        let promotions = Family::<Labels, Counter>::default();
        registry.register("promotions", "Services promoted, by transition", promotions.clone());
        let pending = Family::<Labels, Gauge>::default();
        registry.register(
            "pending_services",
            "Services whose source version waits to move, by transition",
            pending.clone(),
        );
        let errors = Counter::default();
        registry.register(
            "run_errors",
            "Runs that failed on the repo (fetch, push) or on transitions.yaml",
            errors.clone(),
        );
        let leader = Gauge::default();
        registry.register(
            "leader",
            "1 while this replica may commit (it holds the Lease, or runs without leader election), else 0",
            leader.clone(),
        );
        Metrics {
            registry,
            runs,
            promotions,
            pending,
            errors,
            leader,
        }
    }

    /// Records one evaluated transition.
    pub fn record(&self, transition: &str, result: TransitionResult, promoted: usize, pending: usize) {
        let name = ("transition".to_string(), transition.to_string());
        self.runs
            .get_or_create(&vec![name.clone(), ("result".to_string(), format!("{result:?}"))])
            .inc();
        self.promotions
            .get_or_create(&vec![name.clone()])
            .inc_by(promoted as u64);
        self.pending.get_or_create(&vec![name]).set(pending as i64);
    }

    /// Records whether this replica may commit now (read at each scrape).
    pub fn set_leader(&self, leads: bool) {
        self.leader.set(i64::from(leads));
    }

    /// Records a failed run.
    pub fn error(&self) {
        self.errors.inc();
    }
}
