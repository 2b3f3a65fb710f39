//! Observe: what the repo and the cluster hold for an env (kinds, namespace,
//! inventory, the env's labelled objects from the caches or one list per
//! kind, desired objects that exist without the env's labels).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use serde_json::Value;
use slipway_core::deployers::DeployTarget;

use super::{cluster_err, with_rule, DesiredCache, EnvError, Rendering};
use crate::cluster::{key_of, Cluster, ClusterError, Kind};
use crate::inventory::{inventory_name, Inventory};
use crate::live::{Live, LiveObject, SharedLive};
use crate::object::{desired_set, DesiredObject, DesiredSet, EnvTarget, ObjectKey, Scope, ENV_LABEL};
use crate::plan::Outside;
use crate::watch::{EnvWatches, Shapes};

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reconcile::rendering::tests::counted_rendering;
    use std::sync::atomic::Ordering;
    use std::time::Duration;

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
            preview: None,
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
