//! Request counters by (verb, resource), so tests can prove a reconcile wrote nothing.

use std::collections::BTreeMap;
use std::sync::Mutex;

/// Verbs that change state.
pub const WRITE_VERBS: &[&str] = &["create", "update", "patch", "delete", "deletecollection"];

/// A snapshot of request counts.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RequestCounts {
    counts: BTreeMap<(String, String), u64>,
}

impl RequestCounts {
    /// Requests with this verb (`get`, `list`, `watch`, `create`, `update`, `patch`, `delete`,
    /// `deletecollection`) on this resource (`deployments`, `deployments/status`, `discovery`).
    pub fn get(&self, verb: &str, resource: &str) -> u64 {
        self.counts
            .get(&(verb.to_string(), resource.to_string()))
            .copied()
            .unwrap_or(0)
    }

    /// All write requests (create, update, patch, delete, deletecollection).
    pub fn writes(&self) -> u64 {
        self.counts
            .iter()
            .filter(|((v, _), _)| WRITE_VERBS.contains(&v.as_str()))
            .map(|(_, n)| n)
            .sum()
    }

    /// Requests with this verb on any resource.
    pub fn verb(&self, verb: &str) -> u64 {
        self.counts.iter().filter(|((v, _), _)| v == verb).map(|(_, n)| n).sum()
    }

    /// All requests.
    pub fn total(&self) -> u64 {
        self.counts.values().sum()
    }

    /// Every (verb, resource) with its count.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str, u64)> {
        self.counts.iter().map(|((v, r), n)| (v.as_str(), r.as_str(), *n))
    }
}

/// The live counters.
#[derive(Debug, Default)]
pub struct Counters(Mutex<BTreeMap<(String, String), u64>>);

impl Counters {
    /// Counts one request.
    pub fn record(&self, verb: &str, resource: &str) {
        let mut m = self.0.lock().unwrap_or_else(|e| e.into_inner());
        *m.entry((verb.to_string(), resource.to_string())).or_default() += 1;
    }

    /// A snapshot.
    pub fn snapshot(&self) -> RequestCounts {
        RequestCounts {
            counts: self.0.lock().unwrap_or_else(|e| e.into_inner()).clone(),
        }
    }

    /// Sets every count to zero.
    pub fn reset(&self) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_count_only_mutating_verbs() {
        let c = Counters::default();
        c.record("get", "deployments");
        c.record("patch", "deployments");
        c.record("delete", "configmaps");
        let s = c.snapshot();
        assert_eq!((s.writes(), s.total(), s.get("patch", "deployments")), (2, 3, 1));
        c.reset();
        assert_eq!(c.snapshot().total(), 0);
    }
}
