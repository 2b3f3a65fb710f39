//! The cluster's shared state: the store, the controllers' task queue, fault
//! settings, and what every verb takes as input (target, options); plus the
//! side effects every committed write has (namespace contents, CRD types,
//! controller work).

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde_json::{json, Value};
use tokio::sync::{broadcast, Notify};
use tokio::time::Instant;

use crate::fields::{write_managed, FieldSet, ManagedEntry};
use crate::meta::{meta_str, now_rfc3339};
use crate::resources::{types_from_crd, ResourceType};
use crate::selector::{FieldSelector, LabelSelector};
use crate::status::ApiError;
use crate::store::{Event, Inner};
use crate::tasks::{ControllerState, Task};

/// The manager name the simulated controllers write with.
pub const CONTROLLER_MANAGER: &str = "kube-controller-manager";

/// Result alias for API operations.
pub type ApiResult<T> = Result<T, ApiError>;

/// Settings that tests change at runtime.
#[derive(Debug)]
pub struct Faults {
    error_rate_millionths: AtomicU64,
    latency_micros: AtomicU64,
}

impl Faults {
    /// Fault settings.
    pub fn new(error_rate: f64, latency: Duration) -> Faults {
        let f = Faults {
            error_rate_millionths: AtomicU64::new(0),
            latency_micros: AtomicU64::new(0),
        };
        f.set_error_rate(error_rate);
        f.set_latency(latency);
        f
    }

    /// Share of requests that fail (0.0-1.0).
    pub fn error_rate(&self) -> f64 {
        self.error_rate_millionths.load(Ordering::Relaxed) as f64 / 1e6
    }

    /// Sets the share of requests that fail.
    pub fn set_error_rate(&self, rate: f64) {
        let r = if rate.is_nan() { 0.0 } else { rate.clamp(0.0, 1.0) };
        self.error_rate_millionths
            .store((r * 1e6).round() as u64, Ordering::Relaxed);
    }

    /// Delay before each request is answered.
    pub fn latency(&self) -> Duration {
        Duration::from_micros(self.latency_micros.load(Ordering::Relaxed))
    }

    /// Sets the delay before each request is answered.
    pub fn set_latency(&self, latency: Duration) {
        self.latency_micros
            .store(latency.as_micros().min(u128::from(u64::MAX)) as u64, Ordering::Relaxed);
    }
}

/// Controller behaviour.
#[derive(Clone, Debug)]
pub struct Behaviour {
    /// Time until a workload becomes ready.
    pub rollout_delay: Duration,
    /// Images matching this glob never become ready.
    pub fail_image_pattern: String,
}

/// The simulated cluster's state, shared by the HTTP layer and the controllers.
pub struct Cluster {
    inner: Mutex<Inner>,
    events: broadcast::Sender<Arc<Event>>,
    queue: Mutex<BinaryHeap<Reverse<(Instant, u64, Task)>>>,
    queued: Mutex<HashMap<Task, Instant>>,
    queue_seq: AtomicU64,
    /// Wakes the controller loop when a task is queued.
    pub wake: Notify,
    /// Fault injection settings.
    pub faults: Faults,
    /// Controller behaviour.
    pub behaviour: Behaviour,
    /// Per-object controller memory.
    pub controller_state: Mutex<ControllerState>,
}

/// Who writes, and how.
#[derive(Clone, Debug)]
pub struct WriteOptions {
    /// Field manager (User-Agent prefix or `fieldManager`).
    pub manager: String,
    /// `fieldManager` as given in the query (required for apply).
    pub field_manager_param: Option<String>,
    /// `force=true` (apply only).
    pub force: bool,
    /// `dryRun=All`.
    pub dry_run: bool,
}

/// What a request addresses.
#[derive(Clone, Debug)]
pub struct Target {
    /// The resource type.
    pub rt: Arc<ResourceType>,
    /// Namespace from the URL.
    pub namespace: Option<String>,
    /// Object name from the URL.
    pub name: Option<String>,
    /// `status` for the status subresource.
    pub subresource: Option<String>,
}

impl Target {
    pub(super) fn ns(&self) -> &str {
        self.namespace.as_deref().unwrap_or_default()
    }
    pub(super) fn name(&self) -> &str {
        self.name.as_deref().unwrap_or_default()
    }
    pub(super) fn is_status(&self) -> bool {
        self.subresource.as_deref() == Some("status")
    }
}

/// List parameters.
#[derive(Clone, Debug, Default)]
pub struct ListOptions {
    /// `labelSelector`.
    pub labels: LabelSelector,
    /// `fieldSelector`.
    pub fields: FieldSelector,
    /// `limit` (0 = no limit).
    pub limit: usize,
    /// `continue` token.
    pub continue_token: Option<String>,
}

/// Kinds of patch bodies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PatchType {
    /// `application/merge-patch+json`.
    Merge,
    /// `application/strategic-merge-patch+json`.
    Strategic,
    /// `application/json-patch+json`.
    Json,
    /// `application/apply-patch+yaml`.
    Apply,
}

impl Cluster {
    /// A cluster with the default namespaces.
    pub fn new(behaviour: Behaviour, faults: Faults) -> Arc<Cluster> {
        let (events, _) = broadcast::channel(1024);
        let c = Arc::new(Cluster {
            inner: Mutex::new(Inner::new(events.clone())),
            events,
            queue: Mutex::new(BinaryHeap::new()),
            queued: Mutex::new(HashMap::new()),
            queue_seq: AtomicU64::new(0),
            wake: Notify::new(),
            faults,
            behaviour,
            controller_state: Mutex::new(ControllerState::default()),
        });
        for ns in ["default", "kube-system", "kube-public", "kube-node-lease"] {
            let body = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}});
            let t = c.target("", "namespaces", None, None);
            let opts = WriteOptions {
                manager: "kube-apiserver".into(),
                field_manager_param: None,
                force: false,
                dry_run: false,
            };
            // The built-in namespaces are valid by construction.
            let _ = c.create(&t, body, &opts);
        }
        c
    }

    /// Locks the store.
    pub fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock would be a bug; keep serving with the data as it is.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A live event subscription.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Event>> {
        self.events.subscribe()
    }

    pub(super) fn target(&self, group: &str, plural: &str, ns: Option<&str>, name: Option<&str>) -> Target {
        let rt = self
            .lock()
            .registry
            .get(group, "v1", plural)
            .expect("built-in resource types are always registered");
        Target {
            rt,
            namespace: ns.map(str::to_string),
            name: name.map(str::to_string),
            subresource: None,
        }
    }

    /// Queues a controller task.
    pub fn schedule(&self, at: Instant, task: Task) {
        {
            // One pending entry per task: the earliest due time wins.
            let mut queued = self.queued.lock().unwrap_or_else(|e| e.into_inner());
            if queued.get(&task).is_some_and(|t| *t <= at) {
                return;
            }
            queued.insert(task.clone(), at);
        }
        let seq = self.queue_seq.fetch_add(1, Ordering::Relaxed);
        self.queue
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(Reverse((at, seq, task)));
        self.wake.notify_one();
    }

    /// Pops the tasks that are due; returns them and the next due time.
    pub fn due_tasks(&self, now: Instant) -> (Vec<Task>, Option<Instant>) {
        let mut q = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        let mut out = Vec::new();
        while let Some(Reverse((at, _, _))) = q.peek() {
            if *at > now {
                break;
            }
            if let Some(Reverse((at, _, t))) = q.pop() {
                let mut queued = self.queued.lock().unwrap_or_else(|e| e.into_inner());
                // Entries superseded by an earlier schedule of the same task are skipped.
                if queued.get(&t) == Some(&at) {
                    queued.remove(&t);
                    out.push(t);
                }
            }
        }
        (out, q.peek().map(|Reverse((at, _, _))| *at))
    }

    pub(super) fn check_namespace(&self, inner: &Inner, t: &Target, name: &str) -> ApiResult<()> {
        if !t.rt.namespaced {
            return Ok(());
        }
        match inner.get("/namespaces", "", t.ns()) {
            None => Err(ApiError::namespace_not_found(t.ns())),
            Some(ns) if ns.pointer("/status/phase").and_then(Value::as_str) == Some("Terminating") => {
                Err(ApiError::namespace_terminating(&t.rt, name, t.ns()))
            }
            Some(_) => Ok(()),
        }
    }

    /// Side effects of a committed write: namespace contents, CRD registration, controllers.
    pub(super) fn after_write(
        &self,
        inner: &mut Inner,
        t: &Target,
        obj: &Arc<Value>,
        created: bool,
        by_controller: bool,
    ) {
        let key = (t.rt.group.as_str(), t.rt.plural.as_str());
        match key {
            ("", "namespaces") if created => self.populate_namespace(inner, meta_str(obj, "name")),
            ("apiextensions.k8s.io", "customresourcedefinitions")
                if obj.pointer("/metadata/deletionTimestamp").is_none() =>
            {
                for rt in types_from_crd(obj) {
                    inner.registry.add(rt);
                }
                self.schedule(Instant::now(), Task::EstablishCrd(meta_str(obj, "name").to_string()));
            }
            _ => {}
        }
        if t.rt.is_workload() && !by_controller {
            self.schedule(
                Instant::now(),
                Task::Sync(
                    t.rt.key(),
                    meta_str(obj, "namespace").to_string(),
                    meta_str(obj, "name").to_string(),
                ),
            );
        }
    }

    /// The objects every new namespace gets from the real control plane.
    pub(super) fn populate_namespace(&self, inner: &mut Inner, ns: &str) {
        let now = now_rfc3339();
        let objects = [
            (
                "/serviceaccounts",
                json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "default", "namespace": ns}}),
            ),
            (
                "/configmaps",
                json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {
                    "name": "kube-root-ca.crt", "namespace": ns,
                    "annotations": {"kubernetes.io/description": "Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across distributions of Kubernetes clusters."}},
                    "data": {"ca.crt": SIM_CA}}),
            ),
        ];
        for (key, mut obj) in objects {
            obj["metadata"]["uid"] = json!(uuid::Uuid::new_v4().to_string());
            obj["metadata"]["creationTimestamp"] = json!(now);
            let fields = FieldSet::of_changes(None, &obj, false);
            let entry = ManagedEntry {
                manager: CONTROLLER_MANAGER.into(),
                operation: "Update".into(),
                api_version: "v1".into(),
                time: now.clone(),
                subresource: None,
                fields,
            };
            write_managed(&mut obj, &[entry]);
            inner.put(key, obj, None);
        }
    }
}

/// A placeholder CA certificate for `kube-root-ca.crt` (nothing verifies it).
const SIM_CA: &str = "-----BEGIN CERTIFICATE-----\nMIIBdzCCAR2gAwIBAgIBADAKBggqhkjOPQQDAjAVMRMwEQYDVQQDEwpzaW1jbHVz\ndGVyMB4XDTI2MDEwMTAwMDAwMFoXDTM2MDEwMTAwMDAwMFowFTETMBEGA1UEAxMK\nc2ltY2x1c3RlcjBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABHNpbWNsdXN0ZXIg\ncGxhY2Vob2xkZXIgY2VydGlmaWNhdGUgLSBub3QgYSByZWFsIGtleSAtIHRlc3Rz\nIG9ubHmjQjBAMA4GA1UdDwEB/wQEAwICpDAPBgNVHRMBAf8EBTADAQH/MB0GA1Ud\nDgQWBBRzaW1jbHVzdGVyLXBsYWNlaG9sZGVyMAoGCCqGSM49BAMCA0gAMEUCIQDz\naW1jbHVzdGVyIHBsYWNlaG9sZGVyIGNlcnQhAiBzaW1jbHVzdGVyIHBsYWNlaG9s\nZGVyIGNlcnRpZmljYXRlIQ==\n-----END CERTIFICATE-----\n";
