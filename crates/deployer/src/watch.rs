//! Watch-fed caches of an env's live objects, one per kind. Each kind is
//! followed by `kube::runtime::watcher` (list, watch from the list's version,
//! resume after a dropped stream, list again after 410 Gone, with the watcher's
//! default backoff between failures); every object is cut down to what Slipway
//! reads ([`LiveObject`]) as it arrives and kept in a synchronous [`KindIndex`].
//! A reconcile reads its objects from here instead of listing them, so a
//! reconcile that finds nothing to do makes no requests at all, and every
//! change in the cluster (a rollout step, an edit by someone else) wakes the
//! deployer at once.
//!
//! ```text
//!  watcher ──▶ Init, InitApply… InitDone ──▶ index.restart(listed objects)
//!          ──▶ Apply / Delete            ──▶ index.apply / index.delete
//!          ──▶ error that makes it list  ──▶ index.lost()
//!   observe ◀── index ◀── apply responses (the newer resourceVersion wins)
//! ```
//!
//! While an index is not in step with the cluster (starting, or its watcher
//! lists again and has not finished), it answers nothing and the reconcile
//! lists that kind itself.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use futures::StreamExt as _;
use kube::api::DynamicObject;
use kube::runtime::watcher::{self, Event};
use kube::runtime::WatchStreamExt as _;
use serde_json::Value;
use tokio::sync::Notify;

use crate::cluster::{key_of, Cluster, Kind};
use crate::live::{LiveObject, SharedLive};
use crate::object::{DesiredSet, ObjectKey};

/// How long one watch request lasts before the server closes it and the watcher resumes.
const WATCH_TIMEOUT_SECS: u32 = 240;
/// Objects per page of a list: few whole objects are in memory at a time.
const PAGE_SIZE: u32 = 100;

/// The live objects of one kind of one env, fed by its watcher. Synchronous
/// and free of I/O: the watcher's events map onto [`KindIndex::apply`],
/// [`KindIndex::delete`] and [`KindIndex::restart`] (a complete list).
#[derive(Debug, Default)]
pub struct KindIndex {
    objects: BTreeMap<ObjectKey, SharedLive>,
    /// The index holds what the cluster holds (up to the events in flight).
    synced: bool,
}

impl KindIndex {
    /// An object was added or changed; a copy older than the one kept is
    /// ignored (an apply answer may arrive before the watch event it is newer than).
    pub fn apply(&mut self, key: ObjectKey, obj: SharedLive) {
        if self.objects.get(&key).is_none_or(|old| obj.replaces(old)) {
            self.objects.insert(key, obj);
        }
    }

    /// An object was deleted.
    pub fn delete(&mut self, key: &ObjectKey) {
        self.objects.remove(key);
    }

    /// The watcher listed every object again: they replace the index, which is
    /// in step from now on. An object the index holds in a newer copy than the
    /// listed one (an apply answer that came while the list was read) keeps
    /// that copy; objects not listed are gone.
    pub fn restart(&mut self, listed: Vec<(ObjectKey, SharedLive)>) {
        let mut objects = BTreeMap::new();
        for (key, obj) in listed {
            let kept = match self.objects.remove(&key) {
                Some(old) if !obj.replaces(&old) => old,
                _ => obj,
            };
            objects.insert(key, kept);
        }
        self.objects = objects;
        self.synced = true;
    }

    /// The watcher lost track of the cluster and lists again: until that
    /// list is complete, the index answers nothing.
    pub fn lost(&mut self) {
        self.synced = false;
    }

    /// Whether the index is in step with the cluster.
    pub fn synced(&self) -> bool {
        self.synced
    }

    /// The objects, when the index is in step with the cluster.
    pub fn objects(&self) -> Option<Vec<(ObjectKey, SharedLive)>> {
        self.synced
            .then(|| self.objects.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
    }

    /// The keys of the objects held (in step or not).
    fn keys(&self) -> impl Iterator<Item = &ObjectKey> {
        self.objects.keys()
    }
}

/// Whether, after this error, the watcher starts over with a new list (its
/// index no longer knows what the cluster holds) rather than resume its watch
/// from the last version it saw (missed events then still arrive).
pub fn lists_again(error: &watcher::Error) -> bool {
    match error {
        watcher::Error::InitialListFailed(_) | watcher::Error::NoResourceVersion => true,
        watcher::Error::WatchError(status) => status.code == 410,
        watcher::Error::WatchStartFailed(_) | watcher::Error::WatchFailed(_) => false,
    }
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

/// The index of one kind of one env and the task of its watcher.
struct KindWatch {
    index: Mutex<KindIndex>,
    task: tokio::task::AbortHandle,
}

impl Drop for KindWatch {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl KindWatch {
    fn index(&self) -> std::sync::MutexGuard<'_, KindIndex> {
        self.index.lock().unwrap_or_else(|p| p.into_inner())
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
        self.watch(kind).index().objects()
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
            let index = watch.index();
            if !index.synced() {
                return None;
            }
            keys.extend(index.keys().cloned());
        }
        Some(keys)
    }

    /// Records what an apply returned, so the next reconcile does not see the
    /// object as it was before (its watch event may still be on the way).
    pub fn applied(&self, key: &ObjectKey, obj: &SharedLive) {
        let Some(watch) = self.kinds().get(&(key.group.clone(), key.kind.clone())).cloned() else {
            return;
        };
        watch.index().apply(key.clone(), obj.clone());
    }

    /// Records a delete.
    pub fn deleted(&self, key: &ObjectKey) {
        if let Some(watch) = self.kinds().get(&(key.group.clone(), key.kind.clone())).cloned() {
            watch.index().delete(key);
        }
    }

    /// Kinds of cluster-scoped objects are watched cluster-wide, the others in the namespace.
    fn start(&self, kind: Kind) -> Arc<KindWatch> {
        let namespace = (kind.scope == crate::object::Scope::Namespaced).then_some(self.namespace.as_str());
        let api = self.cluster.watch_api(&kind, namespace);
        let config = watcher::Config::default()
            .labels(&self.selector)
            .timeout(WATCH_TIMEOUT_SECS)
            .page_size(PAGE_SIZE);
        let cluster = self.cluster.name.clone();
        let changed = self.changed.clone();
        let shapes = self.shapes.clone();
        // The task gets a weak handle, so dropping the caches ends it.
        let (tx, rx) = tokio::sync::oneshot::channel::<std::sync::Weak<KindWatch>>();
        let task = tokio::spawn(async move {
            let Ok(watch) = rx.await else { return };
            let events = watcher::watcher(api, config).default_backoff();
            let place = Place {
                cluster: &cluster,
                kind: &kind,
                changed: &changed,
                shapes: &shapes,
            };
            follow(place, events, &watch).await;
        });
        let watch = Arc::new(KindWatch {
            index: Mutex::new(KindIndex::default()),
            task: task.abort_handle(),
        });
        let _ = tx.send(Arc::downgrade(&watch));
        watch
    }
}

/// What an index follows and whom it tells.
struct Place<'a> {
    cluster: &'a str,
    kind: &'a Kind,
    changed: &'a Notify,
    shapes: &'a SharedShapes,
}

/// A watcher event, its object cut down to what Slipway keeps.
#[derive(Debug)]
pub enum Change {
    /// The watcher lists again: the listed objects follow.
    Init,
    /// An object of that list.
    Listed(ObjectKey, SharedLive),
    /// The list is complete.
    InitDone,
    /// An object was added or changed.
    Apply(ObjectKey, SharedLive),
    /// An object was deleted.
    Delete(ObjectKey),
    /// The watcher failed; whether it lists again (see [`lists_again`]).
    Failed { lists_again: bool, error: String },
}

impl Change {
    /// The change an event of the watcher of `kind` makes; objects are cut
    /// down by the manifests of `shapes`.
    pub fn of(event: Result<Event<DynamicObject>, watcher::Error>, kind: &Kind, shapes: &Shapes) -> Option<Change> {
        let cut = |obj: DynamicObject| match crate::cluster::to_value(obj, kind) {
            Ok(value) => {
                let key = key_of(&value, kind);
                let live = shapes.cut(&key, &value);
                Some((key, live))
            }
            Err(e) => {
                tracing::warn!(kind = %kind.resource.plural, "watch event skipped: {e}");
                None
            }
        };
        Some(match event {
            Ok(Event::Init) => Change::Init,
            Ok(Event::InitApply(obj)) => cut(obj).map(|(k, v)| Change::Listed(k, v))?,
            Ok(Event::InitDone) => Change::InitDone,
            Ok(Event::Apply(obj)) => cut(obj).map(|(k, v)| Change::Apply(k, v))?,
            Ok(Event::Delete(obj)) => Change::Delete(ObjectKey {
                group: kind.resource.group.clone(),
                kind: kind.resource.kind.clone(),
                namespace: obj
                    .metadata
                    .namespace
                    .filter(|_| kind.scope == crate::object::Scope::Namespaced),
                name: obj.metadata.name.unwrap_or_default(),
            }),
            Err(e) => Change::Failed {
                lists_again: lists_again(&e),
                error: e.to_string(),
            },
        })
    }
}

/// Applies the changes of one watcher to its index: the objects of a list
/// are kept aside until the list is complete, then replace the index at once.
#[derive(Debug, Default)]
pub struct Feed {
    listed: Vec<(ObjectKey, SharedLive)>,
}

impl Feed {
    /// Applies `change` to `index`; whether what the index answers changed.
    pub fn apply(&mut self, index: &mut KindIndex, change: Change) -> bool {
        match change {
            Change::Init => {
                self.listed.clear();
                false
            }
            Change::Listed(key, obj) => {
                self.listed.push((key, obj));
                false
            }
            Change::InitDone => {
                index.restart(std::mem::take(&mut self.listed));
                true
            }
            Change::Apply(key, obj) => {
                index.apply(key, obj);
                true
            }
            Change::Delete(key) => {
                index.delete(&key);
                true
            }
            Change::Failed { lists_again, .. } => {
                if lists_again {
                    index.lost();
                }
                false
            }
        }
    }
}

/// Feeds the watcher's events into the index for as long as the index exists.
async fn follow(
    place: Place<'_>,
    events: impl futures::Stream<Item = Result<Event<DynamicObject>, watcher::Error>>,
    watch: &std::sync::Weak<KindWatch>,
) {
    let mut events = std::pin::pin!(events);
    let mut feed = Feed::default();
    while let Some(event) = events.next().await {
        let change = {
            let shapes = place.shapes.lock().unwrap_or_else(|p| p.into_inner());
            Change::of(event, place.kind, &shapes)
        };
        let Some(change) = change else { continue };
        if let Change::Failed { error, .. } = &change {
            tracing::debug!(cluster = %place.cluster, kind = %place.kind.resource.plural, "watch restarts after: {error}");
        }
        let Some(w) = watch.upgrade() else { return };
        if feed.apply(&mut w.index(), change) {
            place.changed.notify_one();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::core::Status;
    use serde_json::json;

    fn key(name: &str) -> ObjectKey {
        ObjectKey {
            group: String::new(),
            kind: "ConfigMap".into(),
            namespace: Some("dev".into()),
            name: name.into(),
        }
    }

    /// A copy of `name` at resourceVersion `rv`.
    fn at(name: &str, rv: u64) -> (ObjectKey, SharedLive) {
        let obj = json!({"metadata": {"name": name, "namespace": "dev", "resourceVersion": rv.to_string()}});
        (key(name), Arc::new(LiveObject::new(&obj, None)))
    }

    fn names(index: &KindIndex) -> Option<Vec<String>> {
        index
            .objects()
            .map(|objects| objects.into_iter().map(|(k, _)| k.name).collect())
    }

    #[test]
    fn an_index_answers_nothing_until_its_first_list_is_complete() {
        let mut index = KindIndex::default();
        let (k, v) = at("a", 1);
        index.apply(k, v);
        assert_eq!(names(&index), None);
        index.restart(vec![at("a", 1), at("b", 2)]);
        assert_eq!(names(&index), Some(vec!["a".to_string(), "b".to_string()]));
    }

    #[test]
    fn applies_and_deletes_change_the_index_and_an_older_copy_never_replaces_a_newer_one() {
        let mut index = KindIndex::default();
        index.restart(vec![at("a", 5)]);
        let (k, v) = at("a", 4);
        index.apply(k, v);
        assert_eq!(index.objects().unwrap()[0].1, at("a", 5).1, "the older copy is ignored");
        let (k, v) = at("a", 7);
        index.apply(k, v);
        assert_eq!(index.objects().unwrap()[0].1, at("a", 7).1);
        let (k, v) = at("b", 8);
        index.apply(k, v);
        index.delete(&key("a"));
        assert_eq!(names(&index), Some(vec!["b".to_string()]));
    }

    #[test]
    fn a_restart_drops_objects_it_did_not_list_and_keeps_newer_copies_it_held() {
        let mut index = KindIndex::default();
        index.restart(vec![at("gone", 1), at("kept", 3), at("applied", 9)]);
        index.lost();
        assert_eq!(names(&index), None, "out of step while the watcher lists again");
        // The list was read at version 5, before an apply answered with version 9.
        index.restart(vec![at("kept", 4), at("applied", 5), at("new", 5)]);
        let objects: BTreeMap<String, SharedLive> =
            index.objects().unwrap().into_iter().map(|(k, v)| (k.name, v)).collect();
        assert_eq!(
            objects.keys().collect::<Vec<_>>(),
            ["applied", "kept", "new"],
            "the object not listed is gone"
        );
        assert_eq!(objects["kept"], at("kept", 4).1);
        assert_eq!(objects["applied"], at("applied", 9).1);
    }

    #[test]
    fn the_index_is_out_of_step_only_after_errors_that_make_the_watcher_list_again() {
        let status = |code: u16| Status::failure("x", "y").with_code(code);
        let gone = watcher::Error::WatchError(status(410).boxed());
        assert!(lists_again(&gone));
        assert!(lists_again(&watcher::Error::InitialListFailed(kube::Error::Api(
            status(503).boxed()
        ))));
        assert!(lists_again(&watcher::Error::NoResourceVersion));
        // The watcher resumes from its last version: the missed events still come.
        assert!(!lists_again(&watcher::Error::WatchError(status(500).boxed())));
        assert!(!lists_again(&watcher::Error::WatchFailed(kube::Error::Api(
            status(500).boxed()
        ))));
        assert!(!lists_again(&watcher::Error::WatchStartFailed(kube::Error::Api(
            status(503).boxed()
        ))));
    }

    #[test]
    fn a_feed_replaces_the_index_only_once_a_list_is_complete() {
        let mut index = KindIndex::default();
        let mut feed = Feed::default();
        feed.apply(&mut index, Change::InitDone);
        let (k, v) = at("old", 1);
        feed.apply(&mut index, Change::Apply(k, v));
        assert_eq!(names(&index), Some(vec!["old".to_string()]));

        let gone = Change::Failed {
            lists_again: true,
            error: "410 Gone".into(),
        };
        assert!(!feed.apply(&mut index, gone));
        assert_eq!(names(&index), None);
        feed.apply(&mut index, Change::Init);
        let (k, v) = at("new", 5);
        assert!(
            !feed.apply(&mut index, Change::Listed(k, v)),
            "nothing answered before the list is complete"
        );
        assert_eq!(names(&index), None);
        assert!(feed.apply(&mut index, Change::InitDone));
        assert_eq!(names(&index), Some(vec!["new".to_string()]));

        // A dropped stream: the watcher resumes from its version, the index stays in step.
        let dropped = Change::Failed {
            lists_again: false,
            error: "connection reset".into(),
        };
        feed.apply(&mut index, dropped);
        feed.apply(&mut index, Change::Delete(key("new")));
        assert_eq!(names(&index), Some(vec![]));
    }
}
