//! What carrying out a plan did ([`Acted`]), and what a reconcile counts of
//! it ([`Outcome`]): objects applied, pruned and released, and failures by
//! reason (the `reason` label of `slipway_deployer_failed_operations_total`). Pure.

use std::collections::BTreeMap;

use crate::error::ClusterError;
use crate::inventory::InventoryEntry;
use crate::live::SharedLive;
use crate::object::{DesiredSet, ObjectKey};
use crate::plan::Plan;

/// The outcome of carrying out a plan.
#[derive(Debug, Default)]
pub struct Acted {
    /// Result of each apply: the object as the server returned it, cut down to
    /// what Slipway reads.
    pub applied: BTreeMap<ObjectKey, Result<SharedLive, ClusterError>>,
    /// Result of each prune.
    pub pruned: Vec<(InventoryEntry, Result<(), ClusterError>)>,
    /// Result of each release of an adopted object.
    pub released: Vec<(InventoryEntry, Result<(), ClusterError>)>,
    /// Failures of the namespace or inventory writes.
    pub errors: Vec<String>,
    /// Write requests made (applies, deletes, namespace, inventory).
    pub writes: usize,
}

/// Why something failed in a reconcile: one value per kind of failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FailureReason {
    /// The env names a cluster the deployer config does not have.
    UnknownCluster,
    /// No client could be made for the env's cluster.
    Connect,
    /// A read of the cluster failed, so the env was not reconciled.
    Cluster,
    /// The env's inventory ConfigMap cannot be read.
    Inventory,
    /// A unit of the env failed to render.
    Render,
    /// The plan refused to act (e.g. it would prune every object).
    Refused,
    /// The plan did not apply an object (forbidden kind, owned by someone else, ...).
    NotApplied,
    /// An apply failed.
    Apply,
    /// A prune failed.
    Prune,
    /// A release of an adopted object failed.
    Release,
    /// Creating the namespace or storing the inventory failed.
    Write,
}

impl FailureReason {
    /// The metric label value.
    pub fn label(self) -> &'static str {
        match self {
            FailureReason::UnknownCluster => "unknown_cluster",
            FailureReason::Connect => "connect",
            FailureReason::Cluster => "cluster",
            FailureReason::Inventory => "inventory",
            FailureReason::Render => "render",
            FailureReason::Refused => "refused",
            FailureReason::NotApplied => "not_applied",
            FailureReason::Apply => "apply",
            FailureReason::Prune => "prune",
            FailureReason::Release => "release",
            FailureReason::Write => "write",
        }
    }
}

/// What one reconcile of one env counts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outcome {
    pub applied: usize,
    pub pruned: usize,
    /// Adopted objects released (kept, without Slipway's labels) after they left the repo.
    pub released: usize,
    /// Failures by reason (only reasons that happened).
    pub failures: BTreeMap<FailureReason, usize>,
}

impl Outcome {
    /// The counts of a reconcile that planned `plan` for `desired` and did `acted`.
    pub fn of(desired: &DesiredSet, plan: &Plan, acted: &Acted) -> Self {
        fn split<'a, T: 'a, E: 'a>(results: impl Iterator<Item = &'a Result<T, E>>) -> (usize, usize) {
            results.fold((0, 0), |(ok, failed), r| match r {
                Ok(_) => (ok + 1, failed),
                Err(_) => (ok, failed + 1),
            })
        }
        let (applied, apply_failed) = split(acted.applied.values());
        let (pruned, prune_failed) = split(acted.pruned.iter().map(|(_, r)| r));
        let (released, release_failed) = split(acted.released.iter().map(|(_, r)| r));
        let failures = [
            (FailureReason::Render, desired.failed.len()),
            (FailureReason::Refused, usize::from(plan.refused.is_some())),
            (FailureReason::NotApplied, plan.blocked.len()),
            (FailureReason::Apply, apply_failed),
            (FailureReason::Prune, prune_failed),
            (FailureReason::Release, release_failed),
            (FailureReason::Write, acted.errors.len()),
        ]
        .into_iter()
        .filter(|(_, n)| *n > 0)
        .collect();
        Outcome {
            applied,
            pruned,
            released,
            failures,
        }
    }

    /// The counts of a reconcile that stopped with an env-level error.
    pub fn failed(reason: FailureReason) -> Self {
        Outcome {
            failures: BTreeMap::from([(reason, 1)]),
            ..Outcome::default()
        }
    }

    /// Every failure, whatever its reason.
    pub fn failed_total(&self) -> usize {
        self.failures.values().sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::InventoryEntry;

    fn entry(name: &str) -> InventoryEntry {
        InventoryEntry {
            api_version: "v1".into(),
            key: ObjectKey {
                group: String::new(),
                kind: "ConfigMap".into(),
                namespace: Some("dev".into()),
                name: name.into(),
            },
            unit: slipway_core::Unit::Deployable("c.yaml".into()),
            adopted: false,
        }
    }

    fn refused() -> ClusterError {
        ClusterError::Api {
            code: 422,
            reason: "Invalid".into(),
            message: "bad".into(),
        }
    }

    #[test]
    fn a_reconcile_counts_each_failure_under_its_reason_and_successes_apart() {
        let acted = Acted {
            applied: BTreeMap::from([
                (entry("a").key, Err(refused())),
                (
                    entry("b").key,
                    Ok(std::sync::Arc::new(crate::live::LiveObject::new(
                        &serde_json::json!({}),
                        None,
                    ))),
                ),
            ]),
            pruned: vec![
                (entry("c"), Ok(())),
                (entry("d"), Err(refused())),
                (entry("e"), Err(refused())),
            ],
            released: vec![(entry("f"), Ok(()))],
            errors: vec!["storing the inventory: 500".into()],
            writes: 7,
        };
        let outcome = Outcome::of(&DesiredSet::default(), &Plan::default(), &acted);
        assert_eq!((outcome.applied, outcome.pruned, outcome.released), (1, 1, 1));
        assert_eq!(
            outcome.failures,
            BTreeMap::from([
                (FailureReason::Apply, 1),
                (FailureReason::Prune, 2),
                (FailureReason::Write, 1)
            ])
        );
        assert_eq!(outcome.failed_total(), 4);
    }

    #[test]
    fn a_reconcile_without_failures_counts_no_reason_at_all() {
        let outcome = Outcome::of(&DesiredSet::default(), &Plan::default(), &Acted::default());
        assert!(outcome.failures.is_empty());
        assert_eq!(outcome.failed_total(), 0);
        assert_eq!(Outcome::failed(FailureReason::Connect).failed_total(), 1);
    }

    #[test]
    fn every_reason_has_its_own_label() {
        use FailureReason::*;
        let all = [
            UnknownCluster,
            Connect,
            Cluster,
            Inventory,
            Render,
            Refused,
            NotApplied,
            Apply,
            Prune,
            Release,
            Write,
        ];
        let labels: std::collections::BTreeSet<&str> = all.iter().map(|r| r.label()).collect();
        assert_eq!(labels.len(), all.len());
    }
}
