//! One reconcile of one env: observe → plan → act → report.
//!
//! ```text
//! observe: render the env from the snapshot, resolve kinds, read the inventory
//!          and the env's labelled objects (one list per kind)
//! plan:    crate::plan::plan (pure)
//! act:     ensure the namespace, record new objects in the inventory, apply by
//!          rank (concurrently within a rank), prune in reverse order, store the inventory
//! report:  crate::report::env_status (pure)
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use futures::stream::{self, StreamExt};
use serde_json::{json, Value};
use slipway_core::deployers::DeployTarget;
use slipway_core::model::RenderedUnit;
use thiserror::Error;

use crate::cluster::{key_of, Cluster, ClusterError, Kind};
use crate::inventory::{inventory_name, Inventory, InventoryEntry};
use crate::live::{Live, LiveObject, SharedLive};
use crate::object::{
    apply_rank, crd_kinds, crd_plural, desired_set, DesiredObject, DesiredSet, EnvTarget, ObjectKey, Scope, ENV_LABEL,
    MANAGED_BY_LABEL, MANAGER,
};
use crate::plan::{plan_after, Outside, Plan, PruneOptions, Verified};
use crate::watch::{EnvWatches, Shapes};

/// A problem that stops the whole env's reconcile (the others go on).
#[derive(Debug, Error)]
pub enum EnvError {
    #[error("cluster {cluster} of env {env} is not in the deployer config (clusters:)")]
    UnknownCluster { env: String, cluster: String },
    #[error("cannot connect to cluster {cluster}: {source}")]
    Connect { cluster: String, source: ClusterError },
    #[error("cluster {cluster}: {what}: {source}")]
    Cluster {
        cluster: String,
        what: String,
        source: ClusterError,
    },
    #[error("{0}")]
    Inventory(#[from] crate::inventory::InventoryError),
}

/// Settings a reconcile needs.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    pub crd_wait: Duration,
    pub apply_concurrency: usize,
}

/// An env's rendering as a reconcile needs it: the kinds its manifests name and
/// those its CRDs define, and the rendered units themselves, which are let go
/// once the desired set is built (they take more memory than the rest of the
/// env's state) and rendered again only if they are needed once more. They are
/// let go at once when the cluster's kinds have to be looked up first, so that
/// envs waiting for discovery do not all hold their units at the same time.
pub struct Rendering {
    /// Different for every rendering of an env.
    pub generation: u64,
    /// `(apiVersion, kind)` of every manifest.
    pub wanted: BTreeSet<(String, String)>,
    /// Kinds the env's CustomResourceDefinitions define: scope and plural.
    pub crds: BTreeMap<(String, String), (Scope, String)>,
    units: std::sync::Mutex<Option<Arc<Vec<RenderedUnit>>>>,
    render: Box<dyn Fn() -> Vec<RenderedUnit> + Send + Sync>,
}

impl std::fmt::Debug for Rendering {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rendering")
            .field("generation", &self.generation)
            .finish()
    }
}

impl Rendering {
    /// A rendering of `units`; `render` renders them again after [`Rendering::release`].
    pub fn new(
        generation: u64,
        units: Vec<RenderedUnit>,
        render: impl Fn() -> Vec<RenderedUnit> + Send + Sync + 'static,
    ) -> Self {
        let mut wanted = BTreeSet::new();
        for unit in &units {
            let Ok(docs) = &unit.result else { continue };
            for doc in docs {
                let api_version = doc.get("apiVersion").and_then(|v| v.as_str()).unwrap_or_default();
                let kind = doc.get("kind").and_then(|v| v.as_str()).unwrap_or_default();
                // A document without them fails its unit: there is no kind to look up.
                if !api_version.is_empty() && !kind.is_empty() {
                    wanted.insert((api_version.to_string(), kind.to_string()));
                }
            }
        }
        let crds = crd_kinds(&units)
            .into_iter()
            .map(|((api_version, kind), scope)| {
                let group = crate::object::group_of(&api_version);
                let plural = crd_plural(&units, group, &kind).unwrap_or_else(|| kind.to_lowercase() + "s");
                ((api_version, kind), (scope, plural))
            })
            .collect();
        Rendering {
            generation,
            wanted,
            crds,
            units: std::sync::Mutex::new(Some(Arc::new(units))),
            render: Box::new(render),
        }
    }

    /// The rendered units: the kept ones, or rendered again.
    pub fn units(&self) -> Arc<Vec<RenderedUnit>> {
        let kept = self.units.lock().unwrap_or_else(|p| p.into_inner()).clone();
        kept.unwrap_or_else(|| Arc::new((self.render)()))
    }

    /// Lets go of the rendered units.
    pub fn release(&self) {
        *self.units.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }
}

/// What the cluster and the repo hold for an env.
#[derive(Debug)]
pub struct Observed {
    pub desired: Arc<DesiredSet>,
    /// How to address each kind, by `(apiVersion, kind)`.
    pub kinds: BTreeMap<(String, String), Kind>,
    /// Kinds defined by CRDs of this env that the cluster does not serve yet.
    pub pending: BTreeSet<(String, String)>,
    pub inventory: Inventory,
    /// The inventory ConfigMap exists.
    pub inventory_stored: bool,
    pub live: Live,
    /// Desired objects that exist without the env's labels, and kinds that could not be read.
    pub outside: Outside,
    pub namespace_exists: bool,
}

/// The desired set of an env, kept while the rendered units and the scopes of
/// their kinds stay the same: building it (labels, manifest hashes) for 1,000
/// objects costs more than the rest of a reconcile that finds nothing to do.
#[derive(Default)]
pub struct DesiredCache(std::sync::Mutex<Option<DesiredEntry>>);

type DesiredEntry = (u64, BTreeMap<(String, String), Scope>, Arc<DesiredSet>);

impl DesiredCache {
    fn get_or_build(
        &self,
        generation: u64,
        scopes: BTreeMap<(String, String), Scope>,
        build: impl FnOnce() -> DesiredSet,
    ) -> Arc<DesiredSet> {
        let mut entry = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((g, s, set)) = entry.as_ref() {
            if *g == generation && *s == scopes {
                return set.clone();
            }
        }
        let set = Arc::new(build());
        *entry = Some((generation, scopes, set.clone()));
        set
    }
}

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

fn cluster_err(cluster: &Cluster, what: impl Into<String>) -> impl FnOnce(ClusterError) -> EnvError + '_ {
    let what = what.into();
    move |source| EnvError::Cluster {
        cluster: cluster.name.clone(),
        what,
        source,
    }
}

/// How to address each of `wanted` (`(apiVersion, kind)`), into `kinds`; kinds
/// the cluster does not serve yet but a CRD of the env defines go to `pending`
/// too, kinds nobody defines are left out.
async fn resolve_kinds<'a>(
    cluster: &Cluster,
    rendering: &Rendering,
    wanted: impl Iterator<Item = &'a (String, String)>,
    kinds: &mut BTreeMap<(String, String), Kind>,
    pending: &mut BTreeSet<(String, String)>,
) -> Result<(), EnvError> {
    for (api_version, kind) in wanted {
        if api_version.is_empty() || kind.is_empty() {
            continue;
        }
        let found = cluster
            .kind(api_version, kind)
            .await
            .map_err(cluster_err(cluster, format!("discovery of {kind} in {api_version}")))?;
        let id = (api_version.clone(), kind.clone());
        match found {
            Some(k) => {
                kinds.insert(id, k);
            }
            None => {
                if let Some((scope, plural)) = rendering.crds.get(&id) {
                    kinds.insert(id.clone(), Cluster::pending_kind(api_version, kind, plural, *scope));
                    pending.insert(id);
                }
            }
        }
    }
    Ok(())
}

/// Reads the repo's desired state and the cluster's state of an env.
/// `rendering` is the env rendered from the snapshot (see [`Rendering`]).
/// The env's objects come from `watches` where its caches are in step with the
/// cluster, else from one list per kind.
pub async fn observe(
    env: &str,
    target: &DeployTarget,
    rendering: &Rendering,
    cluster: &Cluster,
    watches: Option<&EnvWatches>,
    desired_cache: Option<&DesiredCache>,
) -> Result<Observed, EnvError> {
    let ns = target.namespace.as_str();
    // The manifests' kinds first, then the desired set: with the kinds known
    // (discovery is cached) nothing is awaited between rendering and building
    // the desired set, so the rendered units of one env are let go before
    // another env renders (see `Rendering`).
    // When a kind has to be looked up first, the units are let go meanwhile and
    // rendered again to build the set.
    if !rendering.wanted.iter().all(|(v, k)| cluster.knows(v, k)) {
        rendering.release();
    }
    let mut kinds = BTreeMap::new();
    let mut pending = BTreeSet::new();
    resolve_kinds(cluster, rendering, rendering.wanted.iter(), &mut kinds, &mut pending).await?;
    let env_target = EnvTarget {
        env: env.to_string(),
        namespace: target.namespace.clone(),
    };
    let scope = |api_version: &str, kind: &str| {
        kinds
            .get(&(api_version.to_string(), kind.to_string()))
            .map(|k: &Kind| k.scope)
    };
    let build = || desired_set(&env_target, &rendering.units(), &scope);
    let desired = match desired_cache {
        Some(cache) => {
            let scopes = kinds.iter().map(|(id, k)| (id.clone(), k.scope)).collect();
            cache.get_or_build(rendering.generation, scopes, build)
        }
        None => Arc::new(build()),
    };
    rendering.release();

    let namespace_exists = cluster
        .get(&Cluster::namespace_kind(), None, ns)
        .await
        .map_err(|e| with_rule(&Cluster::namespace_kind(), e))
        .map_err(cluster_err(cluster, format!("reading namespace {ns}")))?
        .is_some();

    let t0 = std::time::Instant::now();
    let inventory = if namespace_exists {
        match cluster
            .get(&Cluster::config_map_kind(), Some(ns), &inventory_name(env))
            .await
            .map_err(|e| with_rule(&Cluster::config_map_kind(), e))
            .map_err(cluster_err(cluster, "reading the inventory"))?
        {
            Some(cm) => Some(Inventory::from_config_map(env, &cm)?),
            None => None,
        }
    } else {
        None
    };
    let inventory_stored = inventory.is_some();
    let inventory = inventory.unwrap_or_default();
    // Kinds of inventoried objects that left the repo, to prune them.
    let gone: BTreeSet<(String, String)> = inventory
        .entries
        .values()
        .map(|e| (e.api_version.clone(), e.key.kind.clone()))
        .filter(|id| !kinds.contains_key(id))
        .collect();
    resolve_kinds(cluster, rendering, gone.iter(), &mut kinds, &mut pending).await?;

    if let Some(w) = watches {
        w.set_desired(&desired);
    }

    // One list per kind, by the env label; the same kind under two versions is listed once.
    let mut live = BTreeMap::new();
    let mut listed: BTreeSet<(String, String)> = BTreeSet::new();
    let selector = format!("{ENV_LABEL}={env}");
    // Only when some kind has to be listed (the caches usually answer).
    let shapes = std::sync::OnceLock::new();
    let mut lists = Vec::new();
    for kind in kinds.values() {
        if !listed.insert((kind.resource.group.clone(), kind.resource.kind.clone())) {
            continue;
        }
        let namespace = (kind.scope == Scope::Namespaced).then_some(ns);
        if namespace.is_some() && !namespace_exists {
            continue;
        }
        if let Some(objects) = watches.and_then(|w| w.objects(kind)) {
            live.extend(objects);
            continue;
        }
        let selector = &selector;
        let shapes: &Shapes = shapes.get_or_init(|| Shapes::of(&desired));
        lists.push(async move {
            // Cut down like the caches' objects, page by page.
            let cut = |obj: Value| {
                let key = key_of(&obj, kind);
                let obj = shapes.cut(&key, &obj);
                (key, obj)
            };
            match cluster.list_at(kind, namespace, selector, cut).await {
                Ok((objects, _)) => Ok(Ok(objects)),
                Err(e) => kind_read_failed(cluster, kind, format!("listing {}", kind.resource.plural), e),
            }
        });
    }
    let t1 = std::time::Instant::now();
    let mut outside = Outside::default();
    for listed in futures::future::try_join_all(lists).await? {
        match listed {
            Ok(objects) => live.extend(objects),
            Err((id, message)) => {
                outside.unavailable.insert(id, message);
            }
        }
    }
    tracing::debug!(
        list_ms = t1.elapsed().as_millis() as u64,
        before_list_ms = (t1 - t0).as_millis() as u64,
        "observe phases"
    );
    let t2 = std::time::Instant::now();
    let namespace = namespace_exists.then_some(ns);
    let lookups = look_up_unlabelled(cluster, &desired, &kinds, &pending, &live, &outside, namespace);
    let looked_up = lookups.len();
    for found in futures::future::try_join_all(lookups).await? {
        match found {
            Ok(objects) => outside.unlabelled.extend(objects),
            Err((id, message)) => {
                outside.unavailable.insert(id, message);
            }
        }
    }
    if looked_up > 0 {
        tracing::debug!(
            kinds = looked_up,
            lookup_ms = t2.elapsed().as_millis() as u64,
            unlabelled = outside.unlabelled.len(),
            "looked up desired objects without the env's labels"
        );
    }
    Ok(Observed {
        desired,
        kinds,
        pending,
        inventory,
        inventory_stored,
        live,
        outside,
        namespace_exists,
    })
}

/// A kind the deployer may not read: its `(group, kind)` and why (the server's
/// message and the missing rule), for the units that use it.
type Unusable = ((String, String), String);

/// What a read of one kind found, or why that kind cannot be used; other
/// errors stop the reconcile.
type KindRead = Result<Result<Vec<(ObjectKey, SharedLive)>, Unusable>, EnvError>;

/// Sorts a failed read of a kind: a refusal (403) makes only that kind
/// unusable, anything else fails the env's reconcile.
fn kind_read_failed(cluster: &Cluster, kind: &Kind, what: String, error: ClusterError) -> KindRead {
    if error.is_forbidden() {
        let id = (kind.resource.group.clone(), kind.resource.kind.clone());
        return Ok(Err((id, with_rule(kind, error).to_string())));
    }
    Err(cluster_err(cluster, what)(error))
}

/// Reads the desired objects that the env's labelled objects do not include:
/// they may exist without the env's labels (created by someone else), which
/// the plan must know before it applies over them. One GET when a kind has one
/// such object, else one list of the kind in the namespace (no label selector).
/// Nothing is read when every desired object is labelled (a reconcile that
/// finds nothing to do), nor in `namespace` when it does not exist yet (`None`).
fn look_up_unlabelled<'a>(
    cluster: &'a Cluster,
    desired: &'a DesiredSet,
    kinds: &'a BTreeMap<(String, String), Kind>,
    pending: &BTreeSet<(String, String)>,
    live: &Live,
    outside: &Outside,
    namespace: Option<&'a str>,
) -> Vec<impl std::future::Future<Output = KindRead> + 'a> {
    let mut missing: BTreeMap<(String, String), (&Kind, Vec<&DesiredObject>)> = BTreeMap::new();
    for obj in &desired.objects {
        if live.contains_key(&obj.key) {
            continue;
        }
        let id = (obj.api_version.clone(), obj.key.kind.clone());
        let Some(kind) = kinds.get(&id).filter(|_| !pending.contains(&id)) else {
            continue;
        };
        let kind_id = (kind.resource.group.clone(), kind.resource.kind.clone());
        if outside.unavailable.contains_key(&kind_id) || (kind.scope == Scope::Namespaced && namespace.is_none()) {
            continue;
        }
        missing.entry(kind_id).or_insert_with(|| (kind, Vec::new())).1.push(obj);
    }
    missing
        .into_values()
        .map(move |(kind, objects)| async move {
            let namespace = namespace.filter(|_| kind.scope == Scope::Namespaced);
            if let [obj] = objects.as_slice() {
                let found = match cluster.get(kind, namespace, &obj.key.name).await {
                    Ok(found) => found,
                    Err(e) => return kind_read_failed(cluster, kind, format!("reading {}", obj.key), e),
                };
                let found = found.map(|v| (obj.key.clone(), Arc::new(LiveObject::new(&v, Some(&obj.body())))));
                return Ok(Ok(found.into_iter().collect()));
            }
            let wanted: BTreeMap<&ObjectKey, &DesiredObject> = objects.iter().map(|o| (&o.key, *o)).collect();
            let keep = |obj: Value| {
                let key = key_of(&obj, kind);
                let manifest = wanted.get(&key)?.body();
                let live = Arc::new(LiveObject::new(&obj, Some(&manifest)));
                Some((key, live))
            };
            match cluster.list_at(kind, namespace, "", keep).await {
                Ok((found, _)) => Ok(Ok(found.into_iter().flatten().collect())),
                Err(e) => kind_read_failed(cluster, kind, format!("listing {}", kind.resource.plural), e),
            }
        })
        .collect()
}

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

/// A refusal of the server, with the RBAC rule that would allow the request.
fn with_rule(kind: &Kind, error: ClusterError) -> ClusterError {
    match error {
        ClusterError::Api {
            code: 403,
            reason,
            message,
        } => ClusterError::Api {
            code: 403,
            reason,
            message: format!("{message}; {}", kind.rbac_rule()),
        },
        other => other,
    }
}

/// The plan for what was observed, comparing again only objects that changed
/// since `verified` (see [`Verified`]).
pub fn plan_for(env: &str, target: &DeployTarget, observed: &Observed, verified: &Verified) -> Plan {
    plan_after(
        env,
        &observed.desired,
        &observed.inventory,
        &observed.live,
        &observed.outside,
        PruneOptions {
            prune: target.prune,
            allow_empty: target.allow_empty,
            adopt: target.adopt,
            prune_adopted: target.prune_adopted,
            namespace: target.namespace.clone(),
        },
        verified,
    )
}

fn kind_for<'a>(observed: &'a Observed, api_version: &str, kind: &str) -> Option<&'a Kind> {
    observed.kinds.get(&(api_version.to_string(), kind.to_string()))
}

async fn wait_until_served(cluster: &Cluster, api_version: &str, kind: &str, wait: Duration) -> Option<Kind> {
    let deadline = tokio::time::Instant::now() + wait;
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
) -> Acted {
    let mut acted = Acted::default();
    if plan.refused.is_some() {
        return acted;
    }
    // Nothing to write (the usual reconcile): skip the inventory bookkeeping below.
    let settled = plan.is_noop() && observed.namespace_exists && observed.inventory_stored;
    if settled && plan.inventory == observed.inventory {
        return acted;
    }
    let ns = target.namespace.as_str();
    if !observed.namespace_exists {
        acted.writes += 1;
        let body = json!({"apiVersion": "v1", "kind": "Namespace",
                          "metadata": {"name": ns, "labels": {MANAGED_BY_LABEL: MANAGER}}});
        if let Err(e) = cluster.apply(&Cluster::namespace_kind(), None, ns, &body).await {
            acted.errors.push(format!("creating namespace {ns}: {e}"));
            return acted;
        }
    }

    // Record new objects before creating them, so a crash in between cannot leave
    // objects that Slipway created but does not know about.
    let mut stored = observed.inventory.clone();
    let mut stored_ok = observed.inventory_stored;
    let mut before = observed.inventory.clone();
    for e in plan.inventory.entries.values() {
        before.insert(e.clone());
    }
    if before != stored || (!stored_ok && !before.is_empty()) {
        if store_inventory(cluster, env, ns, &before, &mut acted).await {
            stored = before;
            stored_ok = true;
        } else {
            // Without a recorded inventory nothing new is created.
            return acted;
        }
    }

    // Apply rank by rank; objects of one rank go out concurrently.
    let mut by_rank: BTreeMap<u8, Vec<usize>> = BTreeMap::new();
    for (i, _) in &plan.apply {
        let o = &observed.desired.objects[*i];
        by_rank
            .entry(apply_rank(&o.key.group, &o.key.kind))
            .or_default()
            .push(*i);
    }
    let mut served: BTreeMap<(String, String), Option<Kind>> = BTreeMap::new();
    for indexes in by_rank.values() {
        let mut jobs = Vec::new();
        for &i in indexes {
            let o = &observed.desired.objects[i];
            let id = (o.api_version.clone(), o.key.kind.clone());
            let kind = if observed.pending.contains(&id) {
                if !served.contains_key(&id) {
                    let k = wait_until_served(cluster, &o.api_version, &o.key.kind, settings.crd_wait).await;
                    served.insert(id.clone(), k);
                }
                served.get(&id).cloned().flatten()
            } else {
                kind_for(observed, &o.api_version, &o.key.kind).cloned()
            };
            jobs.push((o, kind));
        }
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
        let results: Vec<(ObjectKey, Result<SharedLive, ClusterError>)> = stream::iter(futures)
            .buffer_unordered(settings.apply_concurrency)
            .collect()
            .await;
        acted.writes += results.len();
        acted.applied.extend(results);
    }

    // Prune in reverse apply order, rank by rank.
    let mut prune_ranks: Vec<(u8, Vec<&InventoryEntry>)> = Vec::new();
    for e in &plan.prune {
        let rank = apply_rank(&e.key.group, &e.key.kind);
        match prune_ranks.last_mut() {
            Some((r, list)) if *r == rank => list.push(e),
            _ => prune_ranks.push((rank, vec![e])),
        }
    }
    for (_, entries) in prune_ranks {
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

    let mut after = plan.inventory.clone();
    for (e, result) in acted.pruned.iter().chain(&acted.released) {
        if result.is_err() {
            after.insert(e.clone());
        }
    }
    if after != stored || (!stored_ok && !after.is_empty()) {
        store_inventory(cluster, env, ns, &after, &mut acted).await;
    }
    acted
}

#[cfg(test)]
mod tests {
    use super::*;
    use slipway_core::RepoSnapshot;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// The rendering of env `dev` of a repo of `files`, and how often it rendered again.
    fn counted_rendering(files: &[(&str, &str)]) -> (Rendering, Arc<AtomicUsize>) {
        let snap = Arc::new(RepoSnapshot::from_files(
            "c",
            files.iter().map(|(p, t)| (p.to_string(), t.as_bytes().to_vec())),
        ));
        let renders = Arc::new(AtomicUsize::new(0));
        let (again, count) = (snap.clone(), renders.clone());
        let rendering = Rendering::new(7, snap.render_env("dev"), move || {
            count.fetch_add(1, Ordering::SeqCst);
            again.render_env("dev")
        });
        (rendering, renders)
    }

    #[test]
    fn a_refusal_names_the_rbac_rule_that_would_allow_it_and_other_errors_are_kept_as_they_are() {
        let forbidden = ClusterError::Api {
            code: 403,
            reason: "Forbidden".into(),
            message: "configmaps is forbidden: User \"x\" cannot list resource \"configmaps\"".into(),
        };
        let e = with_rule(&Cluster::config_map_kind(), forbidden).to_string();
        assert!(e.starts_with("403 Forbidden: configmaps is forbidden"), "{e}");
        assert!(e.ends_with(
            "; the deployer's role needs: apiGroups [\"\"], resources [\"configmaps\"], verbs [\"get\",\"list\",\"watch\",\"create\",\"patch\",\"delete\"]"
        ), "{e}");
        let namespaces = with_rule(
            &Cluster::namespace_kind(),
            ClusterError::Api {
                code: 403,
                reason: "Forbidden".into(),
                message: "no".into(),
            },
        );
        assert!(
            namespaces.to_string().contains("the deployer's cluster role needs"),
            "{namespaces}"
        );
        let invalid = ClusterError::Api {
            code: 422,
            reason: "Invalid".into(),
            message: "bad".into(),
        };
        assert_eq!(
            with_rule(&Cluster::config_map_kind(), invalid).to_string(),
            "422 Invalid: bad"
        );
    }

    #[test]
    fn a_rendering_knows_its_kinds_and_renders_again_only_after_letting_go_of_its_units() {
        let crd = "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata: {name: widgets.example.com}\nspec:\n  group: example.com\n  scope: Cluster\n  names: {kind: Widget, plural: widgets}\n  versions: [{name: v1}]\n";
        let files = [
            ("dev/deployable/crd.yaml", crd),
            (
                "dev/deployable/w.yaml",
                "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\n",
            ),
        ];
        let (rendering, renders) = counted_rendering(&files);
        assert!(rendering
            .wanted
            .contains(&("example.com/v1".to_string(), "Widget".to_string())));
        assert_eq!(
            rendering
                .crds
                .get(&("example.com/v1".to_string(), "Widget".to_string())),
            Some(&(Scope::Cluster, "widgets".to_string()))
        );
        assert_eq!(rendering.units().len(), 2);
        assert_eq!(renders.load(Ordering::SeqCst), 0, "kept units are not rendered again");
        rendering.release();
        assert_eq!(rendering.units().len(), 2);
        assert_eq!(renders.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn observe_lets_go_of_the_units_once_the_desired_set_is_built_and_while_kinds_are_looked_up() {
        let sim = slipway_simcluster::SimCluster::start(slipway_simcluster::SimConfig::default())
            .await
            .unwrap();
        let cluster = Cluster::new(
            "main",
            sim.client().await,
            crate::cluster::RetryPolicy {
                attempts: 2,
                min_delay: Duration::from_millis(1),
                max_delay: Duration::from_millis(2),
            },
        );
        let files = [(
            "dev/deployable/c.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {k: v}\n",
        )];
        let (rendering, renders) = counted_rendering(&files);
        assert!(!cluster.knows("v1", "ConfigMap"), "not looked up yet");
        let target = DeployTarget {
            cluster: "main".into(),
            namespace: "dev".into(),
            prune: true,
            allow_empty: false,
            adopt: false,
            prune_adopted: false,
        };
        // The kind has to be looked up: the units are let go meanwhile and rendered again.
        let looked_up = observe(
            "dev",
            &target,
            &rendering,
            &cluster,
            None,
            Some(&DesiredCache::default()),
        )
        .await
        .unwrap();
        assert_eq!(looked_up.desired.objects.len(), 1);
        assert_eq!(renders.load(Ordering::SeqCst), 1);
        assert!(cluster.knows("v1", "ConfigMap"));

        // With the kind known, a fresh rendering's units are used as rendered.
        let (rendering, renders) = counted_rendering(&files);
        let cache = DesiredCache::default();
        let observed = observe("dev", &target, &rendering, &cluster, None, Some(&cache))
            .await
            .unwrap();
        assert_eq!(observed.desired.objects.len(), 1);
        assert!(!observed.namespace_exists);
        // The units were used as rendered, then let go: needing them again renders them again.
        assert_eq!(renders.load(Ordering::SeqCst), 0);
        rendering.units();
        assert_eq!(renders.load(Ordering::SeqCst), 1);
        // The same rendering and kinds again: the kept desired set, nothing rendered.
        let again = observe("dev", &target, &rendering, &cluster, None, Some(&cache))
            .await
            .unwrap();
        assert!(Arc::ptr_eq(&again.desired, &observed.desired));
        assert_eq!(renders.load(Ordering::SeqCst), 1);
        sim.shutdown().await;
    }
}
