//! Watch-fed caches of an env's live objects, one per kind: a list, then a watch
//! from the list's version, again after a bookmark, a closed stream or an
//! expired version. A reconcile reads its objects from here instead of listing
//! them, so a reconcile that finds nothing to do makes no requests at all, and
//! every change in the cluster (a rollout step, an edit by someone else) wakes
//! the deployer at once.
//!
//! ```text
//!  list ──▶ cache ◀── watch events (Added/Modified/Deleted, Bookmark)
//!             │  ▲
//!   observe ◀─┘  └── apply responses (the newer resourceVersion wins)
//! ```
//!
//! While a cache is not in step with the cluster (starting, or its watch broke
//! and the list to restart it has not come back), it answers nothing and the
//! reconcile lists that kind itself.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt as _;
use kube::api::WatchEvent;
use serde_json::Value;
use tokio::sync::Notify;

use crate::cluster::{key_of, Cluster, ClusterError, Kind};
use crate::live::{LiveObject, SharedLive};
use crate::object::{DesiredSet, ObjectKey};

/// How long one watch request lasts before the server closes it and the next starts.
const WATCH_TIMEOUT: Duration = Duration::from_secs(240);
/// Longest wait before listing again after a failure.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

#[derive(Default)]
struct State {
    objects: BTreeMap<ObjectKey, SharedLive>,
    /// The cache holds what the cluster holds (up to the events in flight).
    synced: bool,
}

/// An env's desired set, by whose manifests live objects are cut down to what Slipway reads.
#[derive(Default)]
pub struct Shapes {
    set: Option<Arc<DesiredSet>>,
    index: std::collections::HashMap<ObjectKey, usize>,
}

impl Shapes {
    /// The shapes of `set`'s objects.
    pub fn of(set: &Arc<DesiredSet>) -> Self {
        Shapes {
            index: set
                .objects
                .iter()
                .enumerate()
                .map(|(i, o)| (o.key.clone(), i))
                .collect(),
            set: Some(set.clone()),
        }
    }

    /// The object as Slipway keeps it (see [`LiveObject`]).
    pub fn cut(&self, key: &ObjectKey, obj: &Value) -> SharedLive {
        let desired = self
            .index
            .get(key)
            .and_then(|i| self.set.as_ref().map(|set| set.objects[*i].body()));
        Arc::new(LiveObject::new(obj, desired.as_ref()))
    }
}

type SharedShapes = Arc<Mutex<Shapes>>;

fn cut(shapes: &SharedShapes, key: &ObjectKey, obj: &Value) -> SharedLive {
    shapes.lock().unwrap_or_else(|p| p.into_inner()).cut(key, obj)
}

/// The cache of one kind of one env.
struct KindWatch {
    state: Mutex<State>,
    task: tokio::task::AbortHandle,
}

impl Drop for KindWatch {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl KindWatch {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Keeps `obj` unless the cache holds a newer copy.
    fn keep(&self, key: ObjectKey, obj: SharedLive) {
        let mut state = self.state();
        if state.objects.get(&key).is_none_or(|old| obj.replaces(old)) {
            state.objects.insert(key, obj);
        }
    }
}

/// The caches of one env: its cluster, namespace and label selector, one cache per kind.
pub struct EnvWatches {
    cluster: Arc<Cluster>,
    namespace: String,
    selector: String,
    changed: Arc<Notify>,
    shapes: SharedShapes,
    kinds: Mutex<BTreeMap<(String, String), Arc<KindWatch>>>,
}

/// The `(group, kind)` a cache is kept under.
fn kind_id(kind: &Kind) -> (String, String) {
    (kind.resource.group.clone(), kind.resource.kind.clone())
}

impl EnvWatches {
    /// Caches for the objects labelled `selector` in `namespace` of `cluster`;
    /// `changed` is notified on every change a watch sees.
    pub fn new(cluster: Arc<Cluster>, namespace: &str, selector: &str, changed: Arc<Notify>) -> Self {
        EnvWatches {
            cluster,
            namespace: namespace.to_string(),
            selector: selector.to_string(),
            changed,
            shapes: SharedShapes::default(),
            kinds: Mutex::new(BTreeMap::new()),
        }
    }

    /// The env's desired set: objects cached from now on keep the fields of
    /// their manifest in it (and what the plan and the rollout judgement read).
    pub fn set_desired(&self, set: &Arc<DesiredSet>) {
        let mut shapes = self.shapes.lock().unwrap_or_else(|p| p.into_inner());
        if !shapes.set.as_ref().is_some_and(|s| Arc::ptr_eq(s, set)) {
            *shapes = Shapes::of(set);
        }
    }

    /// Whether these caches are for that cluster and namespace.
    pub fn is_for(&self, cluster: &Arc<Cluster>, namespace: &str) -> bool {
        Arc::ptr_eq(&self.cluster, cluster) && self.namespace == namespace
    }

    fn kinds(&self) -> std::sync::MutexGuard<'_, BTreeMap<(String, String), Arc<KindWatch>>> {
        self.kinds.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The objects of a kind, when its cache is in step with the cluster; starts
    /// the cache on first use (and answers `None` until it has listed).
    pub fn objects(&self, kind: &Kind) -> Option<Vec<(ObjectKey, SharedLive)>> {
        let watch = self.watch(kind);
        let state = watch.state();
        state
            .synced
            .then(|| state.objects.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
    }

    fn watch(&self, kind: &Kind) -> Arc<KindWatch> {
        self.kinds()
            .entry(kind_id(kind))
            .or_insert_with(|| self.start(kind.clone()))
            .clone()
    }

    /// Starts the caches of these kinds (those not started yet).
    pub fn follow<'a>(&self, kinds: impl IntoIterator<Item = &'a Kind>) {
        for kind in kinds {
            self.watch(kind);
        }
    }

    /// The keys of every cached object, when every cache of the env is in step
    /// with the cluster.
    pub fn keys(&self) -> Option<Vec<ObjectKey>> {
        let kinds = self.kinds();
        let mut keys = Vec::new();
        for watch in kinds.values() {
            let state = watch.state();
            if !state.synced {
                return None;
            }
            keys.extend(state.objects.keys().cloned());
        }
        Some(keys)
    }

    /// Records what an apply returned, so the next reconcile does not see the
    /// object as it was before (its watch event may still be on the way).
    pub fn applied(&self, key: &ObjectKey, obj: &SharedLive) {
        let Some(watch) = self.kinds().get(&(key.group.clone(), key.kind.clone())).cloned() else {
            return;
        };
        watch.keep(key.clone(), obj.clone());
    }

    /// Records a delete.
    pub fn deleted(&self, key: &ObjectKey) {
        if let Some(watch) = self.kinds().get(&(key.group.clone(), key.kind.clone())).cloned() {
            watch.state().objects.remove(key);
        }
    }

    /// Kinds of cluster-scoped objects are watched cluster-wide, the others in the namespace.
    fn start(&self, kind: Kind) -> Arc<KindWatch> {
        let namespace = (kind.scope == crate::object::Scope::Namespaced).then(|| self.namespace.clone());
        let cluster = self.cluster.clone();
        let selector = self.selector.clone();
        let changed = self.changed.clone();
        let shapes = self.shapes.clone();
        // The task gets a weak handle, so dropping the caches ends it.
        let (tx, rx) = tokio::sync::oneshot::channel::<std::sync::Weak<KindWatch>>();
        let task = tokio::spawn(async move {
            let Ok(watch) = rx.await else { return };
            run(cluster, kind, namespace, selector, changed, shapes, watch).await;
        });
        let watch = Arc::new(KindWatch {
            state: Mutex::new(State::default()),
            task: task.abort_handle(),
        });
        let _ = tx.send(Arc::downgrade(&watch));
        watch
    }
}

/// List, then watch from the list's version until the version expires or the
/// watch fails; then list again (after a capped, doubling wait if it failed).
async fn run(
    cluster: Arc<Cluster>,
    kind: Kind,
    namespace: Option<String>,
    selector: String,
    changed: Arc<Notify>,
    shapes: SharedShapes,
    watch: std::sync::Weak<KindWatch>,
) {
    let mut backoff = Duration::from_millis(100);
    loop {
        let listed = cluster
            .list_at(&kind, namespace.as_deref(), &selector, |obj| {
                let key = key_of(&obj, &kind);
                let obj = cut(&shapes, &key, &obj);
                (key, obj)
            })
            .await;
        let failure = match listed {
            Ok((items, version)) => {
                let objects = items.into_iter().collect();
                let Some(w) = watch.upgrade() else { return };
                {
                    let mut state = w.state();
                    state.objects = objects;
                    state.synced = !version.is_empty();
                }
                drop(w);
                changed.notify_one();
                if version.is_empty() {
                    // Not served yet (a CRD of the env): look again later.
                    ClusterError::Other(format!("{} is not served yet", kind.resource.plural))
                } else {
                    backoff = Duration::from_millis(100);
                    let place = Place {
                        cluster: &cluster,
                        kind: &kind,
                        namespace: namespace.as_deref(),
                        selector: &selector,
                    };
                    follow(place, version, &changed, &shapes, &watch).await
                }
            }
            Err(e) => e,
        };
        let Some(w) = watch.upgrade() else { return };
        w.state().synced = false;
        drop(w);
        tracing::debug!(cluster = %cluster.name, kind = %kind.resource.plural, "watch restarts after: {failure}");
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// What a cache follows: a kind, in a namespace (or cluster-wide), with labels.
struct Place<'a> {
    cluster: &'a Cluster,
    kind: &'a Kind,
    namespace: Option<&'a str>,
    selector: &'a str,
}

/// Follows the watch from `version` for as long as it can; returns why it stopped.
async fn follow(
    place: Place<'_>,
    mut version: String,
    changed: &Notify,
    shapes: &SharedShapes,
    watch: &std::sync::Weak<KindWatch>,
) -> ClusterError {
    let Place {
        cluster,
        kind,
        namespace,
        selector,
    } = place;
    loop {
        let stream = match cluster.watch(kind, namespace, selector, &version, WATCH_TIMEOUT).await {
            Ok(s) => s,
            Err(e) => return e,
        };
        let mut stream = std::pin::pin!(stream);
        while let Some(event) = stream.next().await {
            let event = match event {
                Ok(e) => e,
                Err(e) => return e,
            };
            let Some(w) = watch.upgrade() else {
                return ClusterError::Other("cache dropped".into());
            };
            match event {
                WatchEvent::Added(obj) | WatchEvent::Modified(obj) => {
                    if let Some(v) = obj.pointer("/metadata/resourceVersion").and_then(Value::as_str) {
                        version = v.to_string();
                    }
                    let key = key_of(&obj, kind);
                    let obj = cut(shapes, &key, &obj);
                    w.keep(key, obj);
                }
                WatchEvent::Deleted(obj) => {
                    if let Some(v) = obj.pointer("/metadata/resourceVersion").and_then(Value::as_str) {
                        version = v.to_string();
                    }
                    w.state().objects.remove(&key_of(&obj, kind));
                }
                WatchEvent::Bookmark(b) => {
                    version = b.metadata.resource_version;
                    continue;
                }
                WatchEvent::Error(status) => {
                    // 410 Gone: the version expired; anything else: start over too.
                    return ClusterError::from(kube::Error::Api(status));
                }
            }
            changed.notify_one();
        }
        // The server closed the watch (its timeout): go on from the last version.
    }
}
