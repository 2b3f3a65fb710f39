//! The object store: every object by resource and (namespace, name), one global
//! resourceVersion counter, and the event log that feeds watches.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;

use serde_json::{json, Value};

use crate::resources::Registry;

/// How many past events a watch can replay from a resourceVersion.
const HISTORY: usize = 4096;

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

/// A change to one object.
#[derive(Clone, Debug)]
pub struct Event {
    /// resourceVersion of the change.
    pub rv: u64,
    /// Store key of the resource (`group/plural`).
    pub resource: String,
    /// What happened.
    pub kind: EventKind,
    /// The object after the change (for deletes: its last state).
    pub object: Arc<Value>,
    /// The object before a modification.
    pub old: Option<Arc<Value>>,
}

/// (namespace, name); cluster-scoped objects have an empty namespace.
pub type ObjectKey = (String, String);

/// Everything behind the cluster's lock.
pub struct Inner {
    /// Served resource types.
    pub registry: Registry,
    /// Last resourceVersion handed out.
    pub rv: u64,
    /// Objects by resource key.
    pub objects: HashMap<String, BTreeMap<ObjectKey, Arc<Value>>>,
    /// Recent events, oldest first.
    pub history: VecDeque<Arc<Event>>,
    /// Next Service cluster IP (host part).
    next_ip: u32,
    events: tokio::sync::broadcast::Sender<Arc<Event>>,
}

impl Inner {
    /// An empty store publishing events on `events`.
    pub fn new(events: tokio::sync::broadcast::Sender<Arc<Event>>) -> Inner {
        Inner {
            registry: Registry::default(),
            rv: 1000,
            objects: HashMap::new(),
            history: VecDeque::new(),
            next_ip: 1,
            events,
        }
    }

    /// The object at (resource, namespace, name).
    pub fn get(&self, resource: &str, ns: &str, name: &str) -> Option<Arc<Value>> {
        self.objects
            .get(resource)?
            .get(&(ns.to_string(), name.to_string()))
            .cloned()
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
                .map(|(_, v)| v.clone())
                .collect(),
            None => map.values().cloned().collect(),
        }
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

    /// Stores `obj` with a new resourceVersion and publishes the event.
    pub fn put(&mut self, resource: &str, mut obj: Value, old: Option<Arc<Value>>) -> Arc<Value> {
        self.rv += 1;
        obj["metadata"]["resourceVersion"] = json!(self.rv.to_string());
        let key = object_key(&obj);
        let obj = Arc::new(obj);
        self.objects
            .entry(resource.to_string())
            .or_default()
            .insert(key, obj.clone());
        let kind = if old.is_some() {
            EventKind::Modified
        } else {
            EventKind::Added
        };
        self.publish(Event {
            rv: self.rv,
            resource: resource.to_string(),
            kind,
            object: obj.clone(),
            old,
        });
        obj
    }

    /// Removes an object; the DELETED event carries a new resourceVersion.
    pub fn remove(&mut self, resource: &str, ns: &str, name: &str) -> Option<Arc<Value>> {
        let old = self
            .objects
            .get_mut(resource)?
            .remove(&(ns.to_string(), name.to_string()))?;
        self.rv += 1;
        let mut last = (*old).clone();
        last["metadata"]["resourceVersion"] = json!(self.rv.to_string());
        let last = Arc::new(last);
        self.publish(Event {
            rv: self.rv,
            resource: resource.to_string(),
            kind: EventKind::Deleted,
            object: last.clone(),
            old: None,
        });
        Some(last)
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
