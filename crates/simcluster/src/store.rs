//! The object store: every object by resource and (namespace, name), one global
//! resourceVersion counter, and the event log that feeds watches.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::Arc;

use serde_json::{json, Map, Value};

use crate::resources::Registry;

/// How many past events a watch can replay from a resourceVersion.
const HISTORY: usize = 1024;

/// Watch event type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventKind {
    /// Object created.
    Added,
    /// Object changed.
    Modified,
    /// Object removed.
    Deleted,
}

impl EventKind {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Added => "ADDED",
            EventKind::Modified => "MODIFIED",
            EventKind::Deleted => "DELETED",
        }
    }
}

/// A change to one object. Objects are kept as JSON text to keep memory low.
#[derive(Clone, Debug)]
pub struct Event {
    /// resourceVersion of the change.
    pub rv: u64,
    /// Store key of the resource (`group/plural`).
    pub resource: String,
    /// What happened.
    pub kind: EventKind,
    /// The object after the change (for deletes: its last state).
    pub object: Arc<str>,
    /// The object before a modification.
    pub old: Option<Arc<str>>,
}

impl Event {
    /// The object, parsed.
    pub fn object(&self) -> Value {
        parse_stored(&self.object)
    }

    /// The previous state of a modified object, parsed.
    pub fn old(&self) -> Option<Value> {
        self.old.as_deref().map(parse_stored)
    }
}

fn parse_stored(text: &str) -> Value {
    // The store only holds text it serialized itself.
    serde_json::from_str(text).expect("stored objects are valid JSON")
}

/// (namespace, name); cluster-scoped objects have an empty namespace.
pub type ObjectKey = (String, String);

/// Where an object lives: (resource key, namespace, name).
pub type ObjectRef = (String, String, String);

/// One stored object: its JSON text, and its labels for selector checks without parsing.
struct Stored {
    text: Arc<str>,
    labels: Option<Map<String, Value>>,
}

/// Everything behind the cluster's lock.
pub struct Inner {
    /// Served resource types.
    pub registry: Registry,
    /// Last resourceVersion handed out.
    pub rv: u64,
    /// Objects by resource key, as compact JSON.
    objects: HashMap<String, BTreeMap<ObjectKey, Stored>>,
    /// Dependents by owner uid (from `metadata.ownerReferences`), for garbage collection.
    dependents: HashMap<String, BTreeSet<ObjectRef>>,
    /// Recent events, oldest first.
    history: VecDeque<Arc<Event>>,
    /// Next Service cluster IP (host part).
    next_ip: u32,
    events: tokio::sync::broadcast::Sender<Arc<Event>>,
}

fn owner_uids(obj: &Value) -> Vec<String> {
    obj.pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|r| r.get("uid").and_then(Value::as_str).map(str::to_string))
        .collect()
}

impl Inner {
    /// An empty store publishing events on `events`.
    pub fn new(events: tokio::sync::broadcast::Sender<Arc<Event>>) -> Inner {
        Inner {
            registry: Registry::default(),
            rv: 1000,
            objects: HashMap::new(),
            dependents: HashMap::new(),
            history: VecDeque::new(),
            next_ip: 10,
            events,
        }
    }

    /// The object at (resource, namespace, name).
    pub fn get(&self, resource: &str, ns: &str, name: &str) -> Option<Arc<Value>> {
        let stored = self.objects.get(resource)?.get(&(ns.to_string(), name.to_string()))?;
        Some(Arc::new(parse_stored(&stored.text)))
    }

    /// Whether the object exists.
    pub fn contains(&self, resource: &str, ns: &str, name: &str) -> bool {
        self.objects
            .get(resource)
            .is_some_and(|m| m.contains_key(&(ns.to_string(), name.to_string())))
    }

    /// Objects of a resource, in one namespace or (None) everywhere, ordered by key.
    pub fn list(&self, resource: &str, ns: Option<&str>) -> Vec<Arc<Value>> {
        let Some(map) = self.objects.get(resource) else {
            return Vec::new();
        };
        match ns {
            Some(ns) => map
                .range((ns.to_string(), String::new())..)
                .take_while(|((n, _), _)| n == ns)
                .map(|(_, v)| Arc::new(parse_stored(&v.text)))
                .collect(),
            None => map.values().map(|v| Arc::new(parse_stored(&v.text))).collect(),
        }
    }

    /// Like [`Inner::list`], but parses only the objects whose key and labels pass `keep`.
    pub fn list_where(
        &self,
        resource: &str,
        ns: Option<&str>,
        keep: impl Fn(&ObjectKey, Option<&Map<String, Value>>) -> bool,
    ) -> Vec<Arc<Value>> {
        let Some(map) = self.objects.get(resource) else {
            return Vec::new();
        };
        let entries: Box<dyn Iterator<Item = (&ObjectKey, &Stored)>> = match ns {
            Some(ns) => Box::new(
                map.range((ns.to_string(), String::new())..)
                    .take_while(move |((n, _), _)| n == ns),
            ),
            None => Box::new(map.iter()),
        };
        entries
            .filter(|(k, v)| keep(k, v.labels.as_ref()))
            .map(|(_, v)| Arc::new(parse_stored(&v.text)))
            .collect()
    }

    /// The (namespace, name) of every object of a resource.
    pub fn keys(&self, resource: &str) -> Vec<ObjectKey> {
        self.objects
            .get(resource)
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// Resource keys that hold objects.
    pub fn resource_keys(&self) -> Vec<String> {
        self.objects.keys().cloned().collect()
    }

    /// Drops every object of a resource (a deleted CRD's custom resources).
    pub fn drop_resource(&mut self, resource: &str) {
        self.objects.remove(resource);
    }

    /// Objects whose ownerReferences name `uid`.
    pub fn dependents(&self, uid: &str) -> Vec<ObjectRef> {
        self.dependents
            .get(uid)
            .map(|s| s.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// Number of stored objects.
    pub fn len(&self) -> usize {
        self.objects.values().map(BTreeMap::len).sum()
    }

    /// Whether the store is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn publish(&mut self, ev: Event) {
        let ev = Arc::new(ev);
        self.history.push_back(ev.clone());
        while self.history.len() > HISTORY {
            self.history.pop_front();
        }
        // No receivers is fine: nobody is watching.
        let _ = self.events.send(ev);
    }

    fn index(&mut self, r: &ObjectRef, obj: &Value, add: bool) {
        for uid in owner_uids(obj) {
            let set = self.dependents.entry(uid.clone()).or_default();
            if add {
                set.insert(r.clone());
            } else {
                set.remove(r);
                if set.is_empty() {
                    self.dependents.remove(&uid);
                }
            }
        }
    }

    /// Stores `obj` with a new resourceVersion and publishes the event.
    pub fn put(&mut self, resource: &str, mut obj: Value, old: Option<Arc<Value>>) -> Arc<Value> {
        self.rv += 1;
        obj["metadata"]["resourceVersion"] = json!(self.rv.to_string());
        let key = object_key(&obj);
        let r: ObjectRef = (resource.to_string(), key.0.clone(), key.1.clone());
        if let Some(o) = &old {
            self.index(&r, o, false);
        }
        self.index(&r, &obj, true);
        let text: Arc<str> = Arc::from(obj.to_string());
        let labels = obj.pointer("/metadata/labels").and_then(Value::as_object).cloned();
        let previous = self
            .objects
            .entry(resource.to_string())
            .or_default()
            .insert(
                key,
                Stored {
                    text: text.clone(),
                    labels,
                },
            )
            .map(|s| s.text);
        let kind = if previous.is_some() {
            EventKind::Modified
        } else {
            EventKind::Added
        };
        self.publish(Event {
            rv: self.rv,
            resource: resource.to_string(),
            kind,
            object: text,
            old: previous,
        });
        Arc::new(obj)
    }

    /// Removes an object; the DELETED event carries a new resourceVersion.
    pub fn remove(&mut self, resource: &str, ns: &str, name: &str) -> Option<Arc<Value>> {
        let old = self
            .objects
            .get_mut(resource)?
            .remove(&(ns.to_string(), name.to_string()))?;
        self.rv += 1;
        let mut last = parse_stored(&old.text);
        self.index(&(resource.to_string(), ns.to_string(), name.to_string()), &last, false);
        last["metadata"]["resourceVersion"] = json!(self.rv.to_string());
        let text: Arc<str> = Arc::from(last.to_string());
        self.publish(Event {
            rv: self.rv,
            resource: resource.to_string(),
            kind: EventKind::Deleted,
            object: text,
            old: None,
        });
        Some(Arc::new(last))
    }

    /// Allocates a Service cluster IP from 10.96.0.0/12.
    pub fn allocate_ip(&mut self) -> String {
        let n = self.next_ip;
        self.next_ip += 1;
        format!("10.96.{}.{}", (n >> 8) & 0xff, n & 0xff)
    }

    /// Events after `rv` for a resource, or None when the history no longer reaches back that far.
    pub fn events_since(&self, resource: &str, rv: u64) -> Option<Vec<Arc<Event>>> {
        if let Some(first) = self.history.front() {
            if first.rv > rv + 1 && self.history.len() >= HISTORY {
                return None;
            }
        }
        Some(
            self.history
                .iter()
                .filter(|e| e.rv > rv && e.resource == resource)
                .cloned()
                .collect(),
        )
    }
}

/// The (namespace, name) of an object.
pub fn object_key(obj: &Value) -> ObjectKey {
    let s = |p: &str| obj.pointer(p).and_then(Value::as_str).unwrap_or_default().to_string();
    (s("/metadata/namespace"), s("/metadata/name"))
}
