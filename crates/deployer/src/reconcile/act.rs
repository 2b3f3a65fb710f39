//! Act: carries out a plan (namespace, inventory before, apply waves, prune
//! waves, releases, inventory after) and tells the env's caches what it wrote.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures::stream::{self, StreamExt};
use serde_json::json;
use slipway_core::deployers::DeployTarget;

use super::{with_rule, Acted, Observed, Settings};
use crate::cluster::{Cluster, ClusterError, Kind};
use crate::inventory::{inventory_name, Inventory, InventoryEntry};
use crate::live::{LiveObject, SharedLive};
use crate::object::{ObjectKey, ENV_LABEL, MANAGED_BY_LABEL, MANAGER, PREVIEW_LABEL};
use crate::plan::Plan;
use crate::shards::Fence;
use crate::watch::EnvWatches;

/// Tells the env's caches what a reconcile wrote, ahead of the watch events, and
/// starts those of kinds new to the env (with their namespace now in place).
pub fn record(watches: &EnvWatches, observed: &Observed, acted: &Acted) {
    let served = observed.kinds.iter().filter(|(id, _)| !observed.pending.contains(*id));
    watches.follow(served.map(|(_, kind)| kind));
    for (key, result) in &acted.applied {
        if let Ok(obj) = result {
            watches.applied(key, obj);
        }
    }
    // A released object no longer carries the env label: the caches no longer hold it.
    for (entry, result) in acted.pruned.iter().chain(&acted.released) {
        if result.is_ok() {
            watches.deleted(&entry.key);
        }
    }
}

fn kind_for<'a>(observed: &'a Observed, api_version: &str, kind: &str) -> Option<&'a Kind> {
    observed.kinds.get(&(api_version.to_string(), kind.to_string()))
}

/// Waits (at most `wait`) until the kind a CRD of the env defines is served:
/// first until the CRD is established, then until discovery finds the kind
/// (a real API server may serve it a moment after).
async fn wait_until_served(cluster: &Cluster, pending: &Kind, wait: Duration) -> Option<Kind> {
    let deadline = tokio::time::Instant::now() + wait;
    let (api_version, kind) = (&pending.resource.api_version, &pending.resource.kind);
    let crd = format!("{}.{}", pending.resource.plural, pending.resource.group);
    // Not established in time: discovery below still gets its one look.
    cluster.crd_established(&crd, wait).await;
    loop {
        if let Ok(Some(k)) = cluster.kind(api_version, kind).await {
            return Some(k);
        }
        if tokio::time::Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn store_inventory(cluster: &Cluster, env: &str, ns: &str, inventory: &Inventory, acted: &mut Acted) -> bool {
    acted.writes += 1;
    let body = inventory.to_config_map(env, ns);
    match cluster
        .apply(&Cluster::config_map_kind(), Some(ns), &inventory_name(env), &body)
        .await
    {
        Ok(_) => true,
        Err(e) => {
            acted
                .errors
                .push(format!("storing the inventory {}: {e}", inventory_name(env)));
            false
        }
    }
}

/// Carries out a plan: namespace, inventory, applies by rank, prunes, inventory.
pub async fn act(
    env: &str,
    target: &DeployTarget,
    cluster: &Cluster,
    observed: &Observed,
    plan: &Plan,
    settings: Settings,
    fence: &Fence<'_>,
) -> Acted {
    let mut acted = Acted::default();
    // Before each group of writes: a replica that lost the env's Lease (or could
    // not renew it in time) stops here, before another replica can start.
    let fenced = |acted: &mut Acted| match fence.check() {
        Ok(()) => false,
        Err(why) => {
            tracing::warn!(env, "stopped applying: {why}");
            acted.errors.push(format!("stopped applying: {why}"));
            true
        }
    };
    if plan.refused.is_some() {
        return acted;
    }
    // Nothing to write (the usual reconcile): skip the inventory bookkeeping below.
    let settled = plan.is_noop() && observed.namespace_exists && observed.inventory_stored;
    if settled && plan.inventory == observed.inventory {
        return acted;
    }
    let ns = target.namespace.as_str();
    if fenced(&mut acted) {
        return acted;
    }
    if !observed.namespace_exists {
        acted.writes += 1;
        let mut labels = json!({MANAGED_BY_LABEL: MANAGER, ENV_LABEL: env});
        if target.preview.is_some() {
            labels[PREVIEW_LABEL] = json!("true");
        }
        let body = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns, "labels": labels}});
        if let Err(e) = cluster.apply(&Cluster::namespace_kind(), None, ns, &body).await {
            acted.errors.push(format!("creating namespace {ns}: {e}"));
            return acted;
        }
    }

    // Record new objects before creating them, so a crash in between cannot leave
    // objects that Slipway created but does not know about.
    let mut stored = observed.inventory.clone();
    let mut stored_ok = observed.inventory_stored;
    let before = plan.inventory_before(&observed.inventory);
    if before != stored || (!stored_ok && !before.is_empty()) {
        if store_inventory(cluster, env, ns, &before, &mut acted).await {
            stored = before;
            stored_ok = true;
        } else {
            // Without a recorded inventory nothing new is created.
            return acted;
        }
    }

    // Apply wave by wave; the objects of one wave go out concurrently.
    let mut served: BTreeMap<(String, String), Option<Kind>> = BTreeMap::new();
    for wave in plan.apply_waves(&observed.desired) {
        if fenced(&mut acted) {
            return acted;
        }
        let mut jobs = Vec::new();
        for i in wave {
            let o = &observed.desired.objects[i];
            let id = (o.api_version.clone(), o.key.kind.clone());
            let kind = if observed.pending.contains(&id) {
                if !served.contains_key(&id) {
                    let k = match kind_for(observed, &o.api_version, &o.key.kind) {
                        Some(pending) => wait_until_served(cluster, pending, settings.crd_wait).await,
                        None => None,
                    };
                    served.insert(id.clone(), k);
                }
                served.get(&id).cloned().flatten()
            } else {
                kind_for(observed, &o.api_version, &o.key.kind).cloned()
            };
            jobs.push((o, kind));
        }
        // The deployer's own Deployment goes out after the rest of its wave: its
        // rollout replaces this replica, and the others of the wave are in place by then.
        let (mut jobs, own): (Vec<_>, Vec<_>) = jobs.into_iter().partition(|(o, _)| !settings.is_self(&o.key));
        let own_count = own.len();
        jobs.extend(own);
        let mut futures = Vec::new();
        for (o, kind) in jobs {
            futures.push(async move {
                let result = match kind {
                    // Only what the status and the caches read is kept of the answer
                    // (a first sync holds the answers for every object at once).
                    Some(kind) => {
                        let body = o.body();
                        cluster
                            .apply(&kind, o.key.namespace.as_deref(), &o.key.name, &body)
                            .await
                            .map(|obj| Arc::new(LiveObject::new(&obj, Some(&body))))
                            .map_err(|e| with_rule(&kind, e))
                    }
                    None => Err(ClusterError::Other(format!(
                        "kind {} in {} is not served by the cluster (its CustomResourceDefinition was not established in time)",
                        o.key.kind, o.api_version
                    ))),
                };
                (o.key.clone(), result)
            });
        }
        let own_futures = futures.split_off(futures.len() - own_count);
        let mut results: Vec<(ObjectKey, Result<SharedLive, ClusterError>)> = stream::iter(futures)
            .buffer_unordered(settings.apply_concurrency)
            .collect()
            .await;
        if !own_futures.is_empty() {
            tracing::info!(env, "applying the deployer's own Deployment last in its wave");
            results.extend(stream::iter(own_futures).buffered(1).collect::<Vec<_>>().await);
        }
        acted.writes += results.len();
        acted.applied.extend(results);
    }

    // Prune in reverse apply order, wave by wave.
    for entries in plan.prune_waves() {
        if fenced(&mut acted) {
            return acted;
        }
        let mut futures = Vec::new();
        for e in entries {
            let kind = kind_for(observed, &e.api_version, &e.key.kind);
            futures.push(async move {
                let result = match kind {
                    Some(kind) => cluster
                        .delete(kind, e.key.namespace.as_deref(), &e.key.name)
                        .await
                        .map_err(|err| with_rule(kind, err)),
                    None => Ok(()),
                };
                (e.clone(), result)
            });
        }
        let results: Vec<(InventoryEntry, Result<(), ClusterError>)> = stream::iter(futures)
            .buffer_unordered(settings.apply_concurrency)
            .collect()
            .await;
        acted.writes += results.len();
        acted.pruned.extend(results);
    }

    // Adopted objects that left the repo are given back, not deleted.
    if !plan.release.is_empty() && fenced(&mut acted) {
        return acted;
    }
    let mut releases = Vec::new();
    for e in &plan.release {
        let kind = kind_for(observed, &e.api_version, &e.key.kind);
        releases.push(async move {
            let result = match kind {
                Some(kind) => cluster
                    .release(kind, e.key.namespace.as_deref(), &e.key.name)
                    .await
                    .map_err(|err| with_rule(kind, err)),
                None => Ok(()),
            };
            (e.clone(), result)
        });
    }
    let results: Vec<(InventoryEntry, Result<(), ClusterError>)> = stream::iter(releases)
        .buffer_unordered(settings.apply_concurrency)
        .collect()
        .await;
    acted.writes += results.len();
    acted.released.extend(results);

    let not_removed = acted.pruned.iter().chain(&acted.released).filter(|(_, r)| r.is_err());
    let after = plan.inventory_after(not_removed.map(|(e, _)| e));
    if (after != stored || (!stored_ok && !after.is_empty())) && !fenced(&mut acted) {
        store_inventory(cluster, env, ns, &after, &mut acted).await;
    }
    acted
}
