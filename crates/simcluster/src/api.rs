//! The API verbs over the store: create, get, list, replace, the four patch
//! types, delete and deletecollection, with the bookkeeping of the real server
//! (uid, resourceVersion, generation, managedFields, status subresource,
//! namespaces, finalizers, garbage collection).

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde_json::{json, Map, Value};
use tokio::sync::{broadcast, Notify};
use tokio::time::Instant;

use crate::controllers::{ControllerState, Task};
use crate::defaults::{apply_defaults, drop_unknown_fields};
use crate::fields::{read_managed, remove_at, value_at, write_managed, FieldSet, ManagedEntry};
use crate::merge::{apply_merge, json_merge, strategic_merge};
use crate::resources::{types_from_crd, Generation, ResourceType};
use crate::selector::{FieldSelector, LabelSelector};
use crate::status::{ApiError, Cause};
use crate::store::{Event, Inner};
use crate::typecheck;
use crate::validation::validate_object;

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
    fn ns(&self) -> &str {
        self.namespace.as_deref().unwrap_or_default()
    }
    fn name(&self) -> &str {
        self.name.as_deref().unwrap_or_default()
    }
    fn is_status(&self) -> bool {
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

/// Which part of an object a write may change.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Scope {
    Main,
    Status,
    Controller,
}

/// RFC 3339 UTC with second precision, as the real server writes timestamps.
pub fn now_rfc3339() -> String {
    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn meta_str<'a>(obj: &'a Value, field: &str) -> &'a str {
    obj.get("metadata")
        .and_then(|m| m.get(field))
        .and_then(Value::as_str)
        .unwrap_or_default()
}

fn has_finalizers(obj: &Value) -> bool {
    obj.pointer("/metadata/finalizers")
        .and_then(Value::as_array)
        .is_some_and(|f| !f.is_empty())
}

/// The part of an object whose change bumps generation.
fn generation_view(rt: &ResourceType, obj: &Value) -> Value {
    let mut v = obj.clone();
    if let Some(m) = v.as_object_mut() {
        let ann = m.get("metadata").and_then(|md| md.get("annotations")).cloned();
        m.remove("metadata");
        m.remove("apiVersion");
        m.remove("kind");
        if rt.status_subresource || !rt.is_custom() {
            m.remove("status");
        }
        if rt.generation == Generation::SpecAndAnnotations {
            if let Some(mut a) = ann {
                if let Some(am) = a.as_object_mut() {
                    am.remove("deployment.kubernetes.io/revision");
                }
                if a.as_object().is_some_and(|am| !am.is_empty()) {
                    m.insert("__annotations".into(), a);
                }
            }
        }
    }
    v
}

/// The object with resourceVersion and managedFields times blanked, for no-op detection.
fn comparable(obj: &Value) -> Value {
    let mut v = obj.clone();
    if let Some(m) = v.get_mut("metadata").and_then(Value::as_object_mut) {
        m.remove("resourceVersion");
        if let Some(Value::Array(mf)) = m.get_mut("managedFields") {
            for e in mf.iter_mut().filter_map(Value::as_object_mut) {
                e.remove("time");
            }
        }
    }
    v
}

fn parse_body(bytes: &[u8], yaml_ok: bool) -> ApiResult<Value> {
    match serde_json::from_slice::<Value>(bytes) {
        Ok(v) => Ok(v),
        Err(e) if yaml_ok => serde_yaml::from_slice::<Value>(bytes)
            .map_err(|ye| ApiError::bad_request(format!("error decoding YAML: {ye} (JSON: {e})"))),
        Err(e) => Err(ApiError::bad_request(format!(
            "the object provided is unrecognized: couldn't get version/kind; json parse error: {e}"
        ))),
    }
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

    fn target(&self, group: &str, plural: &str, ns: Option<&str>, name: Option<&str>) -> Target {
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

    fn check_namespace(&self, inner: &Inner, t: &Target, name: &str) -> ApiResult<()> {
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

    // ------------------------------------------------------------------ reads

    /// GET of one object.
    pub fn get(&self, t: &Target) -> ApiResult<Value> {
        let inner = self.lock();
        inner
            .get(&t.rt.key(), t.ns(), t.name())
            .map(|o| (*o).clone())
            .ok_or_else(|| ApiError::not_found(&t.rt, t.name()))
    }

    /// LIST with selectors and pagination.
    pub fn list(&self, t: &Target, opts: &ListOptions) -> Value {
        let inner = self.lock();
        let all = inner.list_where(&t.rt.key(), t.namespace.as_deref(), |(ns, name), labels| {
            opts.labels.matches_labels(labels) && opts.fields.matches_key(ns, name)
        });
        let rv = inner.rv;
        // Parsing is done; the lock is not needed to shape the answer.
        drop(inner);
        let mut items: Vec<Arc<Value>> = all;
        if let Some(tok) = &opts.continue_token {
            let after = decode_continue(tok);
            items.retain(|o| crate::store::object_key(o) > after);
        }
        let mut metadata = json!({"resourceVersion": rv.to_string()});
        if opts.limit > 0 && items.len() > opts.limit {
            let rest = items.len() - opts.limit;
            items.truncate(opts.limit);
            let last = crate::store::object_key(&items[items.len() - 1]);
            metadata["continue"] = json!(encode_continue(&last));
            metadata["remainingItemCount"] = json!(rest);
        }
        let custom = t.rt.is_custom();
        let items: Vec<Value> = items
            .into_iter()
            .map(|o| {
                // Each Arc was just created by the store, so this normally moves instead of cloning.
                let mut v = Arc::try_unwrap(o).unwrap_or_else(|shared| (*shared).clone());
                if !custom {
                    if let Some(m) = v.as_object_mut() {
                        m.remove("apiVersion");
                        m.remove("kind");
                    }
                }
                v
            })
            .collect();
        json!({"kind": format!("{}List", t.rt.kind), "apiVersion": t.rt.api_version(), "metadata": metadata, "items": items})
    }

    // ------------------------------------------------------------------ writes

    /// POST.
    pub fn create(&self, t: &Target, mut body: Value, opts: &WriteOptions) -> ApiResult<Value> {
        if !body.is_object() {
            return Err(ApiError::bad_request("the object provided is not a JSON object"));
        }
        self.check_kind(t, &body)?;
        typecheck::check_object(&t.rt, &body)?;
        if let Some(ns) = body.pointer("/metadata/namespace").and_then(Value::as_str) {
            if t.rt.namespaced && !ns.is_empty() && ns != t.ns() {
                return Err(ApiError::bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request",
                ));
            }
        }
        if body.get("metadata").is_none_or(|m| !m.is_object()) {
            body["metadata"] = json!({});
        }
        let mut name = meta_str(&body, "name").to_string();
        if name.is_empty() {
            let gen = meta_str(&body, "generateName").to_string();
            if !gen.is_empty() {
                name = format!("{gen}{}", random_suffix());
                body["metadata"]["name"] = json!(name);
            }
        }
        let mut inner = self.lock();
        if name.is_empty() {
            let mut causes = validate_object(&t.rt, &body, None);
            causes.retain(|c| c.field == "metadata.name" || !c.field.starts_with("metadata"));
            return Err(ApiError::invalid(&t.rt, "", causes));
        }
        self.check_namespace(&inner, t, &name)?;
        if inner.contains(&t.rt.key(), t.ns(), &name) {
            return Err(ApiError::already_exists(&t.rt, &name));
        }
        let obj = self.prepare_create(&mut inner, t, body, &name)?;
        // The status a create starts with is the server's, not the creator's.
        let mut owned_view = obj.clone();
        if t.rt.status_subresource {
            if let Some(m) = owned_view.as_object_mut() {
                m.remove("status");
            }
        }
        let fields = FieldSet::of_changes(None, &owned_view, t.rt.is_custom());
        let entry = ManagedEntry {
            manager: opts.manager.clone(),
            operation: "Update".into(),
            api_version: t.rt.api_version(),
            time: now_rfc3339(),
            subresource: None,
            fields,
        };
        self.finish_create(&mut inner, t, obj, vec![entry], opts.dry_run)
    }

    fn check_kind(&self, t: &Target, body: &Value) -> ApiResult<()> {
        let kind = body.get("kind").and_then(Value::as_str).unwrap_or_default();
        let av = body.get("apiVersion").and_then(Value::as_str).unwrap_or_default();
        if (!kind.is_empty() && kind != t.rt.kind) || (!av.is_empty() && av != t.rt.api_version()) {
            return Err(ApiError::bad_request(format!(
                "the API version in the data ({av}) does not match the expected API version ({})",
                t.rt.api_version()
            )));
        }
        Ok(())
    }

    /// Builds a new object: server metadata, unknown fields dropped, defaults, validation.
    fn prepare_create(&self, inner: &mut Inner, t: &Target, mut obj: Value, name: &str) -> ApiResult<Value> {
        obj["apiVersion"] = json!(t.rt.api_version());
        obj["kind"] = json!(t.rt.kind);
        drop_unknown_fields(&t.rt, &mut obj);
        {
            let m = obj["metadata"].as_object_mut().expect("metadata is an object");
            m.insert("name".into(), json!(name));
            if t.rt.namespaced {
                m.insert("namespace".into(), json!(t.ns()));
            } else {
                m.remove("namespace");
            }
            for k in [
                "resourceVersion",
                "deletionTimestamp",
                "deletionGracePeriodSeconds",
                "managedFields",
                "generation",
            ] {
                m.remove(k);
            }
            m.insert("uid".into(), json!(uuid::Uuid::new_v4().to_string()));
            m.insert("creationTimestamp".into(), json!(now_rfc3339()));
            if t.rt.generation != Generation::None {
                m.insert("generation".into(), json!(1));
            }
        }
        if t.rt.status_subresource {
            if let Some(m) = obj.as_object_mut() {
                m.remove("status");
            }
        }
        server_set_on_create(&t.rt, &mut obj);
        apply_defaults(&t.rt, &mut obj, &mut || inner.allocate_ip());
        let causes = validate_object(&t.rt, &obj, None);
        if !causes.is_empty() {
            return Err(ApiError::invalid(&t.rt, name, causes));
        }
        Ok(reorder(obj))
    }

    fn finish_create(
        &self,
        inner: &mut Inner,
        t: &Target,
        mut obj: Value,
        managed: Vec<ManagedEntry>,
        dry_run: bool,
    ) -> ApiResult<Value> {
        write_managed(&mut obj, &managed);
        if dry_run {
            return Ok(obj);
        }
        let stored = inner.put(&t.rt.key(), obj, None);
        self.after_write(inner, t, &stored, true, false);
        Ok((*stored).clone())
    }

    /// Side effects of a committed write: namespace contents, CRD registration, controllers.
    fn after_write(&self, inner: &mut Inner, t: &Target, obj: &Arc<Value>, created: bool, by_controller: bool) {
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
    fn populate_namespace(&self, inner: &mut Inner, ns: &str) {
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

    /// PUT (main resource or status).
    pub fn replace(&self, t: &Target, body: Value, opts: &WriteOptions) -> ApiResult<Value> {
        if !body.is_object() {
            return Err(ApiError::bad_request("the object provided is not a JSON object"));
        }
        self.check_kind(t, &body)?;
        typecheck::check_object(&t.rt, &body)?;
        let body_name = meta_str(&body, "name");
        if !body_name.is_empty() && body_name != t.name() {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({body_name}) does not match the name on the URL ({})",
                t.name()
            )));
        }
        let mut inner = self.lock();
        let old = inner
            .get(&t.rt.key(), t.ns(), t.name())
            .ok_or_else(|| ApiError::not_found(&t.rt, t.name()))?;
        let rv = meta_str(&body, "resourceVersion");
        if !rv.is_empty() && rv != meta_str(&old, "resourceVersion") {
            return Err(ApiError::stale(&t.rt, t.name()));
        }
        let scope = if t.is_status() { Scope::Status } else { Scope::Main };
        self.update(&mut inner, t, &old, body, &opts.manager, scope, opts.dry_run)
    }

    /// PATCH of any type.
    pub fn patch(&self, t: &Target, ty: PatchType, body: &[u8], opts: &WriteOptions) -> ApiResult<(u16, Value)> {
        if ty == PatchType::Apply {
            return self.apply(t, body, opts);
        }
        let patch = parse_body(body, false)?;
        let mut inner = self.lock();
        let old = inner
            .get(&t.rt.key(), t.ns(), t.name())
            .ok_or_else(|| ApiError::not_found(&t.rt, t.name()))?;
        let mut new = (*old).clone();
        match ty {
            PatchType::Merge => json_merge(&mut new, &patch),
            PatchType::Strategic => strategic_merge(&mut new, &patch, &mut Vec::new(), t.rt.is_custom()),
            PatchType::Json => {
                let ops: json_patch::Patch = serde_json::from_value(patch)
                    .map_err(|e| ApiError::bad_request(format!("json patch is invalid: {e}")))?;
                json_patch::patch(&mut new, &ops).map_err(|_| ApiError::invalid_request())?;
            }
            PatchType::Apply => unreachable!("apply is handled above"),
        }
        typecheck::check_patched(&t.rt, &new)?;
        if meta_str(&new, "name") != t.name() {
            return Err(ApiError::bad_request(
                "metadata.name: the name may not be changed by a patch",
            ));
        }
        let rv = meta_str(&new, "resourceVersion");
        if !rv.is_empty() && rv != meta_str(&old, "resourceVersion") {
            return Err(ApiError::stale(&t.rt, t.name()));
        }
        let scope = if t.is_status() { Scope::Status } else { Scope::Main };
        let obj = self.update(&mut inner, t, &old, new, &opts.manager, scope, opts.dry_run)?;
        Ok((200, obj))
    }

    /// Server-side apply.
    fn apply(&self, t: &Target, body: &[u8], opts: &WriteOptions) -> ApiResult<(u16, Value)> {
        let Some(manager) = opts.field_manager_param.clone().filter(|m| !m.is_empty()) else {
            return Err(ApiError::invalid_kind(
                "PatchOptions",
                "meta.k8s.io",
                "",
                vec![Cause::required("fieldManager", "is required for apply patch")],
            ));
        };
        let mut applied = parse_body(body, true)?;
        if !applied.is_object() {
            return Err(ApiError::bad_request("the apply patch is not an object"));
        }
        let av = applied
            .get("apiVersion")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let kind = applied
            .get("kind")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        if av != t.rt.api_version() {
            return Err(ApiError::bad_request(format!(
                "Incorrect version specified in apply patch. Specified patch version: {av}, expected: {}",
                t.rt.api_version()
            )));
        }
        if kind != t.rt.kind {
            return Err(ApiError::bad_request(format!(
                "Incorrect kind specified in apply patch. Specified patch kind: {kind}, expected: {}",
                t.rt.kind
            )));
        }
        let body_name = meta_str(&applied, "name").to_string();
        if body_name != t.name() {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({body_name}) does not match the name on the URL ({})",
                t.name()
            )));
        }
        if let Some(ns) = applied.pointer("/metadata/namespace").and_then(Value::as_str) {
            if t.rt.namespaced && !ns.is_empty() && ns != t.ns() {
                return Err(ApiError::bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request",
                ));
            }
        }
        typecheck::check_apply(&t.rt, &applied, t.ns(), t.name())?;
        drop_unknown_fields(&t.rt, &mut applied);
        if t.rt.status_subresource {
            let status_only = t.is_status();
            if let Some(m) = applied.as_object_mut() {
                if status_only {
                    m.retain(|k, _| matches!(k.as_str(), "apiVersion" | "kind" | "metadata" | "status"));
                } else {
                    m.remove("status");
                }
            }
        }
        let custom = t.rt.is_custom();
        let new_fields = FieldSet::of_applied(&applied, custom);
        let subresource = if t.is_status() {
            Some("status".to_string())
        } else {
            None
        };
        let mut inner = self.lock();
        let Some(live) = inner.get(&t.rt.key(), t.ns(), t.name()) else {
            if t.is_status() {
                return Err(ApiError::not_found(&t.rt, t.name()));
            }
            self.check_namespace(&inner, t, t.name())?;
            let obj = self.prepare_create(&mut inner, t, applied, t.name())?;
            let entry = ManagedEntry {
                manager,
                operation: "Apply".into(),
                api_version: t.rt.api_version(),
                time: now_rfc3339(),
                subresource,
                fields: new_fields,
            };
            let obj = self.finish_create(&mut inner, t, obj, vec![entry], opts.dry_run)?;
            return Ok((201, obj));
        };
        let mut entries = read_managed(&live);
        let me = |e: &ManagedEntry| e.is(&manager, "Apply", subresource.as_deref());
        // Conflicts: another manager owns a leaf we set, with a different value.
        let mut conflicts: Vec<(String, String)> = Vec::new();
        let mut to_release: Vec<(usize, Vec<String>)> = Vec::new();
        for path in &new_fields.0 {
            let is_leaf = !new_fields
                .0
                .range(path.clone()..)
                .nth(1)
                .is_some_and(|p| p.starts_with(path));
            if !is_leaf {
                continue;
            }
            if value_at(&live, path) == value_at(&applied, path) {
                continue;
            }
            for (i, e) in entries.iter().enumerate() {
                if e.manager != manager && e.fields.contains(path) {
                    // Update managers are named with the apiVersion they wrote with, as the real server does.
                    let who = if e.operation == "Update" {
                        format!("{}\" using {}", e.manager, e.api_version)
                    } else {
                        e.manager.clone()
                    };
                    conflicts.push((who, crate::fields::display_path(path)));
                    to_release.push((i, path.clone()));
                }
            }
        }
        if !conflicts.is_empty() && !opts.force {
            return Err(ApiError::apply_conflicts(&conflicts));
        }
        for (i, path) in to_release {
            entries[i].fields.0.remove(&path);
        }
        let mut merged = apply_merge(&live, &applied, &mut Vec::new(), custom);
        let previous = entries
            .iter()
            .find(|e| me(e))
            .map(|e| e.fields.clone())
            .unwrap_or_default();
        let mut removed: Vec<&Vec<String>> = previous.0.iter().filter(|p| !new_fields.contains(p)).collect();
        // Parents first: a keyed item must be found by its key fields before they are removed.
        removed.sort_by_key(|p| p.len());
        for path in removed {
            if new_fields.owns_within(path) {
                continue;
            }
            let owned_by_other = entries.iter().any(|e| !me(e) && e.fields.owns_within(path));
            if !owned_by_other {
                remove_at(&mut merged, path);
            }
        }
        match entries.iter_mut().find(|e| me(e)) {
            Some(e) => e.fields = new_fields,
            None => entries.push(ManagedEntry {
                manager: manager.clone(),
                operation: "Apply".into(),
                api_version: t.rt.api_version(),
                time: now_rfc3339(),
                subresource: subresource.clone(),
                fields: new_fields,
            }),
        }
        let scope = if t.is_status() { Scope::Status } else { Scope::Main };
        let acting = (manager, "Apply".to_string(), subresource);
        let obj = self.update_with(&mut inner, t, &live, merged, scope, entries, &acting, opts.dry_run)?;
        Ok((200, obj))
    }

    /// A non-apply update by `manager`: it takes over the fields it changed.
    #[allow(clippy::too_many_arguments)]
    fn update(
        &self,
        inner: &mut Inner,
        t: &Target,
        old: &Arc<Value>,
        new: Value,
        manager: &str,
        scope: Scope,
        dry_run: bool,
    ) -> ApiResult<Value> {
        let subresource = if scope == Scope::Main {
            None
        } else {
            Some("status".to_string())
        };
        let acting = (manager.to_string(), "Update".to_string(), subresource);
        self.update_inner(inner, t, old, new, scope, None, &acting, dry_run)
    }

    #[allow(clippy::too_many_arguments)]
    fn update_with(
        &self,
        inner: &mut Inner,
        t: &Target,
        old: &Arc<Value>,
        new: Value,
        scope: Scope,
        entries: Vec<ManagedEntry>,
        acting: &(String, String, Option<String>),
        dry_run: bool,
    ) -> ApiResult<Value> {
        self.update_inner(inner, t, old, new, scope, Some(entries), acting, dry_run)
    }

    /// The shared update pipeline. With `entries` (apply) ownership is already
    /// decided; without, the acting Update manager takes the changed fields.
    #[allow(clippy::too_many_arguments)]
    fn update_inner(
        &self,
        inner: &mut Inner,
        t: &Target,
        old: &Arc<Value>,
        new: Value,
        scope: Scope,
        entries: Option<Vec<ManagedEntry>>,
        acting: &(String, String, Option<String>),
        dry_run: bool,
    ) -> ApiResult<Value> {
        let rt = &t.rt;
        let mut obj = match scope {
            Scope::Status => {
                let mut o = (**old).clone();
                match new.get("status") {
                    Some(s) => o["status"] = s.clone(),
                    None => {
                        if let Some(m) = o.as_object_mut() {
                            m.remove("status");
                        }
                    }
                }
                o
            }
            Scope::Main | Scope::Controller => new,
        };
        // Server-owned metadata always comes from the stored object.
        if !obj.get("metadata").is_some_and(Value::is_object) {
            obj["metadata"] = json!({});
        }
        for k in [
            "name",
            "namespace",
            "uid",
            "creationTimestamp",
            "generation",
            "deletionTimestamp",
            "resourceVersion",
            "managedFields",
        ] {
            match old.pointer(&format!("/metadata/{k}")) {
                Some(v) => obj["metadata"][k] = v.clone(),
                None => {
                    if let Some(m) = obj["metadata"].as_object_mut() {
                        m.remove(k);
                    }
                }
            }
        }
        obj["apiVersion"] = json!(rt.api_version());
        obj["kind"] = json!(rt.kind);
        if scope == Scope::Main && rt.status_subresource {
            match old.get("status") {
                Some(s) => obj["status"] = s.clone(),
                None => {
                    if let Some(m) = obj.as_object_mut() {
                        m.remove("status");
                    }
                }
            }
        }
        if scope != Scope::Controller {
            drop_unknown_fields(rt, &mut obj);
            apply_defaults(rt, &mut obj, &mut || inner.allocate_ip());
            let causes = validate_object(rt, &obj, Some(old));
            if !causes.is_empty() {
                return Err(ApiError::invalid(rt, t.name(), causes));
            }
        }
        let custom = rt.is_custom();
        let mut entries = match entries {
            Some(e) => e,
            None => {
                let mut e = read_managed(old);
                let changes = FieldSet::of_changes(Some(old), &obj, custom);
                if !changes.is_empty() {
                    for other in e.iter_mut() {
                        other.fields.remove_all(&changes);
                    }
                    let (m, op, sub) = acting;
                    match e.iter_mut().find(|x| x.is(m, op, sub.as_deref())) {
                        Some(x) => x.fields.0.extend(changes.0),
                        None => e.push(ManagedEntry {
                            manager: m.clone(),
                            operation: op.clone(),
                            api_version: rt.api_version(),
                            time: now_rfc3339(),
                            subresource: sub.clone(),
                            fields: changes,
                        }),
                    }
                }
                e
            }
        };
        for e in entries.iter_mut() {
            e.fields
                .0
                .retain(|p| p.first().map(String::as_str) == Some("f:stringData") || value_at(&obj, p).is_some());
        }
        if rt.generation != Generation::None && generation_view(rt, old) != generation_view(rt, &obj) {
            let g = old.pointer("/metadata/generation").and_then(Value::as_i64).unwrap_or(0);
            obj["metadata"]["generation"] = json!(g + 1);
        }
        write_managed(&mut obj, &entries);
        let obj = reorder(obj);
        if comparable(&obj) == comparable(old) {
            return Ok((**old).clone());
        }
        // Something changed: the acting manager's entry gets the current time.
        let (m, op, sub) = acting;
        let now = now_rfc3339();
        for e in entries.iter_mut() {
            if e.is(m, op, sub.as_deref()) {
                e.time = now.clone();
            }
        }
        let mut obj = obj;
        write_managed(&mut obj, &entries);
        if dry_run {
            return Ok(obj);
        }
        if obj.pointer("/metadata/deletionTimestamp").is_some() && !has_finalizers(&obj) {
            let gone = inner.remove(&rt.key(), t.ns(), t.name());
            self.after_remove(inner, t, &obj);
            return Ok(gone.map(|g| (*g).clone()).unwrap_or(obj));
        }
        let stored = inner.put(&rt.key(), obj, Some(old.clone()));
        self.after_write(inner, t, &stored, false, scope == Scope::Controller);
        Ok((*stored).clone())
    }

    /// Writes done by the simulated controllers: `change` edits a copy of the
    /// object; ownership goes to `kube-controller-manager` (status subresource).
    pub fn controller_write(&self, resource: &str, ns: &str, name: &str, change: impl FnOnce(&mut Value)) {
        self.controller_write_as(CONTROLLER_MANAGER, resource, ns, name, change)
    }

    /// [`Cluster::controller_write`] with another manager name (the CRD controller runs in the API server).
    pub fn controller_write_as(
        &self,
        manager: &str,
        resource: &str,
        ns: &str,
        name: &str,
        change: impl FnOnce(&mut Value),
    ) {
        let mut inner = self.lock();
        let Some(old) = inner.get(resource, ns, name) else {
            return;
        };
        let Some(rt) = inner.registry.all().find(|r| r.key() == resource).cloned() else {
            return;
        };
        let mut new = (*old).clone();
        change(&mut new);
        if new == *old {
            return;
        }
        let t = Target {
            rt,
            namespace: Some(ns.to_string()).filter(|s| !s.is_empty()),
            name: Some(name.to_string()),
            subresource: Some("status".into()),
        };
        let acting = (manager.to_string(), "Update".to_string(), Some("status".to_string()));
        // Controller writes are well-formed by construction; a failure would only mean the object vanished.
        let _ = self.update_inner(&mut inner, &t, &old, new, Scope::Controller, None, &acting, false);
    }

    /// Creates or replaces an object owned by a controller (ReplicaSets).
    pub fn controller_put(&self, resource: &str, obj: Value) {
        let mut inner = self.lock();
        let (ns, name) = crate::store::object_key(&obj);
        let old = inner.get(resource, &ns, &name);
        if old.as_deref() == Some(&obj) {
            return;
        }
        inner.put(resource, obj, old);
    }

    /// Removes an object without side effects other than watch events and garbage collection.
    pub fn controller_remove(&self, resource: &str, ns: &str, name: &str) {
        let mut inner = self.lock();
        if let Some(obj) = inner.remove(resource, ns, name) {
            collect_dependents(&mut inner, meta_str(&obj, "uid"));
        }
    }

    // ------------------------------------------------------------------ deletes

    /// DELETE of one object.
    pub fn delete(&self, t: &Target, options: &Value, dry_run: bool) -> ApiResult<Value> {
        let mut inner = self.lock();
        let old = inner
            .get(&t.rt.key(), t.ns(), t.name())
            .ok_or_else(|| ApiError::not_found(&t.rt, t.name()))?;
        if let Some(want) = options
            .pointer("/preconditions/resourceVersion")
            .and_then(Value::as_str)
        {
            let have = meta_str(&old, "resourceVersion");
            if want != have {
                return Err(ApiError::precondition(&t.rt, t.name(), "ResourceVersion", want, have));
            }
        }
        if let Some(want) = options.pointer("/preconditions/uid").and_then(Value::as_str) {
            let have = meta_str(&old, "uid");
            if want != have {
                return Err(ApiError::precondition(&t.rt, t.name(), "UID", want, have));
            }
        }
        let policy = options
            .get("propagationPolicy")
            .and_then(Value::as_str)
            .unwrap_or("Background");
        self.delete_one(&mut inner, t, &old, policy, dry_run)
    }

    fn delete_one(
        &self,
        inner: &mut Inner,
        t: &Target,
        old: &Arc<Value>,
        policy: &str,
        dry_run: bool,
    ) -> ApiResult<Value> {
        let rt = &t.rt;
        let ns = meta_str(old, "namespace").to_string();
        let name = meta_str(old, "name").to_string();
        let pending = matches!(
            (rt.group.as_str(), rt.plural.as_str()),
            ("", "namespaces") | ("apiextensions.k8s.io", "customresourcedefinitions")
        ) || has_finalizers(old)
            || policy == "Foreground";
        if pending {
            if old.pointer("/metadata/deletionTimestamp").is_some() {
                return Ok((**old).clone());
            }
            let mut obj = (**old).clone();
            obj["metadata"]["deletionTimestamp"] = json!(now_rfc3339());
            obj["metadata"]["deletionGracePeriodSeconds"] = json!(0);
            let task = match (rt.group.as_str(), rt.plural.as_str()) {
                ("", "namespaces") => {
                    obj["status"]["phase"] = json!("Terminating");
                    Some(Task::FinalizeNamespace(name.clone()))
                }
                ("apiextensions.k8s.io", "customresourcedefinitions") => Some(Task::RemoveCrd(name.clone())),
                _ if policy == "Foreground" => {
                    let fins = obj["metadata"]["finalizers"].as_array().cloned().unwrap_or_default();
                    let mut fins: Vec<Value> = fins;
                    if !fins.contains(&json!("foregroundDeletion")) {
                        fins.push(json!("foregroundDeletion"));
                    }
                    obj["metadata"]["finalizers"] = Value::Array(fins);
                    Some(Task::ForegroundDelete(rt.key(), ns.clone(), name.clone()))
                }
                _ => None,
            };
            if dry_run {
                return Ok(obj);
            }
            let stored = inner.put(&rt.key(), obj, Some(old.clone()));
            if let Some(task) = task {
                self.schedule(Instant::now() + Duration::from_millis(20), task);
            }
            return Ok((*stored).clone());
        }
        if !dry_run {
            inner.remove(&rt.key(), &ns, &name);
            self.after_remove(inner, t, old);
        }
        let mut details = Map::new();
        details.insert("name".into(), json!(name));
        if !rt.group.is_empty() {
            details.insert("group".into(), json!(rt.group));
        }
        details.insert("kind".into(), json!(rt.plural));
        details.insert("uid".into(), json!(meta_str(old, "uid")));
        Ok(json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "details": details}))
    }

    fn after_remove(&self, inner: &mut Inner, t: &Target, obj: &Value) {
        collect_dependents(inner, meta_str(obj, "uid"));
        if t.rt.is_workload() {
            self.controller_state
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .forget(meta_str(obj, "uid"));
        }
    }

    /// DELETE of a collection: the deleted objects as a `<Kind>List`.
    pub fn delete_collection(
        &self,
        t: &Target,
        opts: &ListOptions,
        options: &Value,
        dry_run: bool,
    ) -> ApiResult<Value> {
        let mut inner = self.lock();
        let policy = options
            .get("propagationPolicy")
            .and_then(Value::as_str)
            .unwrap_or("Background")
            .to_string();
        let victims = inner.list_where(&t.rt.key(), t.namespace.as_deref(), |(ns, name), labels| {
            opts.labels.matches_labels(labels) && opts.fields.matches_key(ns, name)
        });
        let mut items = Vec::new();
        for old in victims {
            let mut item = match self.delete_one(&mut inner, t, &old, &policy, dry_run)? {
                v if v.get("kind") == Some(&json!("Status")) => (*old).clone(),
                v => v,
            };
            if !t.rt.is_custom() {
                if let Some(m) = item.as_object_mut() {
                    m.remove("apiVersion");
                    m.remove("kind");
                }
            }
            items.push(item);
        }
        Ok(
            json!({"kind": format!("{}List", t.rt.kind), "apiVersion": t.rt.api_version(),
                  "metadata": {"resourceVersion": inner.rv.to_string()}, "items": items}),
        )
    }

    /// Deletes what a Terminating namespace still holds; true once it is gone.
    pub fn finalize_namespace(&self, ns: &str) -> bool {
        let mut inner = self.lock();
        let types: Vec<Arc<ResourceType>> = inner.registry.all().filter(|t| t.namespaced).cloned().collect();
        let mut remaining = 0;
        for rt in types {
            for obj in inner.list(&rt.key(), Some(ns)) {
                if has_finalizers(&obj) {
                    remaining += 1;
                    if obj.pointer("/metadata/deletionTimestamp").is_none() {
                        let mut o = (*obj).clone();
                        o["metadata"]["deletionTimestamp"] = json!(now_rfc3339());
                        inner.put(&rt.key(), o, Some(obj.clone()));
                    }
                } else {
                    inner.remove(&rt.key(), ns, meta_str(&obj, "name"));
                    if rt.is_workload() {
                        self.controller_state
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .forget(meta_str(&obj, "uid"));
                    }
                }
            }
        }
        if remaining == 0 {
            inner.remove("/namespaces", "", ns);
            return true;
        }
        false
    }

    /// Finishes a foreground deletion: dependents first, then the owner.
    pub fn finish_foreground(&self, resource: &str, ns: &str, name: &str) {
        let mut inner = self.lock();
        let Some(obj) = inner.get(resource, ns, name) else {
            return;
        };
        collect_dependents(&mut inner, meta_str(&obj, "uid"));
        let mut o = (*obj).clone();
        if let Some(f) = o["metadata"]["finalizers"].as_array_mut() {
            f.retain(|x| x != "foregroundDeletion");
        }
        if has_finalizers(&o) {
            inner.put(resource, o, Some(obj));
        } else {
            inner.remove(resource, ns, name);
            self.controller_state
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .forget(meta_str(&obj, "uid"));
        }
    }

    /// Removes a deleted CRD, its custom resources and its discovery entries.
    pub fn remove_crd(&self, name: &str) {
        let mut inner = self.lock();
        let removed = inner.registry.remove_crd(name);
        for rt in removed {
            inner.drop_resource(&rt.key());
        }
        inner.remove("apiextensions.k8s.io/customresourcedefinitions", "", name);
    }

    /// Sets a CRD's NamesAccepted/Established status.
    pub fn establish_crd(&self, name: &str) {
        self.controller_write_as(
            "kube-apiserver","apiextensions.k8s.io/customresourcedefinitions", "", name, |crd| {
            let names = crd.pointer("/spec/names").cloned().unwrap_or(json!({}));
            let stored: Vec<Value> = crd
                .pointer("/spec/versions")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter(|v| v.get("storage") == Some(&json!(true)))
                .filter_map(|v| v.get("name").cloned())
                .collect();
            let now = now_rfc3339();
            let keep = |ty: &str| {
                crd.pointer("/status/conditions")
                    .and_then(Value::as_array)
                    .and_then(|c| c.iter().find(|c| c.get("type") == Some(&json!(ty))))
                    .and_then(|c| c.get("lastTransitionTime").cloned())
                    .unwrap_or(json!(now))
            };
            crd["status"] = json!({
                "conditions": [
                    {"type": "NamesAccepted", "status": "True", "lastTransitionTime": keep("NamesAccepted"), "reason": "NoConflicts", "message": "no conflicts found"},
                    {"type": "Established", "status": "True", "lastTransitionTime": keep("Established"), "reason": "InitialNamesAccepted", "message": "the initial names have been accepted"},
                ],
                "acceptedNames": names,
                "storedVersions": stored,
            });
        });
    }

    /// GET of the `/scale` subresource.
    pub fn get_scale(&self, t: &Target) -> ApiResult<Value> {
        self.get(t).map(|o| scale_of(&o))
    }

    /// PATCH or (with `ty` None) PUT of the `/scale` subresource: changes `spec.replicas`.
    pub fn write_scale(&self, t: &Target, ty: Option<PatchType>, body: &[u8], opts: &WriteOptions) -> ApiResult<Value> {
        let input = parse_body(body, false)?;
        let mut inner = self.lock();
        let old = inner
            .get(&t.rt.key(), t.ns(), t.name())
            .ok_or_else(|| ApiError::not_found(&t.rt, t.name()))?;
        let mut scale = scale_of(&old);
        match ty {
            None => scale = input,
            Some(PatchType::Json) => {
                let ops: json_patch::Patch = serde_json::from_value(input)
                    .map_err(|e| ApiError::bad_request(format!("json patch is invalid: {e}")))?;
                json_patch::patch(&mut scale, &ops).map_err(|_| ApiError::invalid_request())?;
            }
            Some(_) => json_merge(&mut scale, &input),
        }
        let Some(replicas) = scale
            .pointer("/spec/replicas")
            .and_then(Value::as_i64)
            .filter(|r| *r >= 0)
        else {
            return Err(ApiError::invalid_kind(
                "Scale",
                "autoscaling",
                t.name(),
                vec![Cause::invalid(
                    "spec.replicas",
                    &go_value_of(scale.pointer("/spec/replicas")),
                    "must be greater than or equal to 0",
                )],
            ));
        };
        let mut new = (*old).clone();
        new["spec"]["replicas"] = json!(replicas);
        let main = Target {
            subresource: None,
            ..t.clone()
        };
        let obj = self.update(&mut inner, &main, &old, new, &opts.manager, Scope::Main, opts.dry_run)?;
        Ok(scale_of(&obj))
    }

    /// Number of stored objects.
    pub fn object_count(&self) -> usize {
        self.lock().len()
    }

    /// One object, parsed.
    pub fn lookup(&self, resource: &str, ns: &str, name: &str) -> Option<Arc<Value>> {
        self.lock().get(resource, ns, name)
    }
}

/// Deletes (in the background) every object owned by `uid`, recursively.
fn collect_dependents(inner: &mut Inner, uid: &str) {
    let mut owners = vec![uid.to_string()];
    while let Some(owner) = owners.pop() {
        for (resource, ns, name) in inner.dependents(&owner) {
            if let Some(gone) = inner.remove(&resource, &ns, &name) {
                owners.push(meta_str(&gone, "uid").to_string());
            }
        }
    }
}

/// What the real server's create strategies add: a Job's generated selector and
/// labels, a DaemonSet's template-generation annotation.
fn server_set_on_create(rt: &ResourceType, obj: &mut Value) {
    match (rt.group.as_str(), rt.plural.as_str()) {
        ("batch", "jobs") => {
            let manual = obj.pointer("/spec/manualSelector") == Some(&json!(true));
            if manual || obj.pointer("/spec/selector").is_some() {
                return;
            }
            let uid = meta_str(obj, "uid").to_string();
            let name = meta_str(obj, "name").to_string();
            let generated = json!({"controller-uid": uid, "job-name": name});
            obj["spec"]["selector"] = json!({"matchLabels": {"controller-uid": uid}});
            let labels = &mut obj["spec"]["template"]["metadata"]["labels"];
            if !labels.is_object() {
                *labels = json!({});
            }
            json_merge(labels, &generated);
            if obj
                .pointer("/metadata/labels")
                .and_then(Value::as_object)
                .is_none_or(|l| l.is_empty())
            {
                obj["metadata"]["labels"] = generated;
            }
        }
        ("apps", "daemonsets") => {
            obj["metadata"]["annotations"]["deprecated.daemonset.template.generation"] = json!("1");
        }
        _ => {}
    }
}

fn go_value_of(v: Option<&Value>) -> String {
    v.map(crate::validation::go_value).unwrap_or_else(|| "null".into())
}

/// Whether a resource has a `/scale` subresource.
pub fn has_scale(rt: &ResourceType) -> bool {
    rt.group == "apps" && matches!(rt.plural.as_str(), "deployments" | "statefulsets" | "replicasets")
}

/// The autoscaling/v1 Scale view of a workload.
fn scale_of(obj: &Value) -> Value {
    let selector: Vec<String> = obj
        .pointer("/spec/selector/matchLabels")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
        .collect();
    let mut meta = Map::new();
    for k in ["name", "namespace", "uid", "resourceVersion", "creationTimestamp"] {
        if let Some(v) = obj.pointer(&format!("/metadata/{k}")) {
            meta.insert(k.into(), v.clone());
        }
    }
    json!({"kind": "Scale", "apiVersion": "autoscaling/v1", "metadata": meta,
           "spec": {"replicas": obj.pointer("/spec/replicas").cloned().unwrap_or(json!(0))},
           "status": {"replicas": obj.pointer("/status/replicas").cloned().unwrap_or(json!(0)), "selector": selector.join(",")}})
}

/// Puts the top-level keys in the order the real server writes them.
fn reorder(obj: Value) -> Value {
    let Value::Object(mut m) = obj else { return obj };
    let mut out = Map::new();
    for k in ["kind", "apiVersion", "metadata"] {
        if let Some(v) = m.remove(k) {
            out.insert(k.to_string(), v);
        }
    }
    let rest: Vec<String> = m.keys().filter(|k| *k != "status").cloned().collect();
    for k in rest {
        if let Some(v) = m.remove(&k) {
            out.insert(k, v);
        }
    }
    if let Some(v) = m.remove("status") {
        out.insert("status".into(), v);
    }
    Value::Object(out)
}

fn random_suffix() -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut rng = rand::thread_rng();
    (0..5)
        .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
        .collect()
}

fn encode_continue(key: &(String, String)) -> String {
    crate::defaults::base64(format!("{}\u{0}{}", key.0, key.1).as_bytes())
}

fn decode_continue(tok: &str) -> (String, String) {
    let bytes = decode_base64(tok);
    let s = String::from_utf8_lossy(&bytes);
    match s.split_once('\u{0}') {
        Some((a, b)) => (a.to_string(), b.to_string()),
        None => (String::new(), String::new()),
    }
}

fn decode_base64(s: &str) -> Vec<u8> {
    let val = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            _ => return None,
        } as u32)
    };
    let mut out = Vec::new();
    let (mut acc, mut bits) = (0u32, 0);
    for c in s.bytes() {
        let Some(v) = val(c) else { continue };
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    out
}

/// A placeholder CA certificate for `kube-root-ca.crt` (nothing verifies it).
const SIM_CA: &str = "-----BEGIN CERTIFICATE-----\nMIIBdzCCAR2gAwIBAgIBADAKBggqhkjOPQQDAjAVMRMwEQYDVQQDEwpzaW1jbHVz\ndGVyMB4XDTI2MDEwMTAwMDAwMFoXDTM2MDEwMTAwMDAwMFowFTETMBEGA1UEAxMK\nc2ltY2x1c3RlcjBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABHNpbWNsdXN0ZXIg\ncGxhY2Vob2xkZXIgY2VydGlmaWNhdGUgLSBub3QgYSByZWFsIGtleSAtIHRlc3Rz\nIG9ubHmjQjBAMA4GA1UdDwEB/wQEAwICpDAPBgNVHRMBAf8EBTADAQH/MB0GA1Ud\nDgQWBBRzaW1jbHVzdGVyLXBsYWNlaG9sZGVyMAoGCCqGSM49BAMCA0gAMEUCIQDz\naW1jbHVzdGVyIHBsYWNlaG9sZGVyIGNlcnQhAiBzaW1jbHVzdGVyIHBsYWNlaG9s\nZGVyIGNlcnRpZmljYXRlIQ==\n-----END CERTIFICATE-----\n";

#[cfg(test)]
mod tests {
    use super::*;

    fn cluster() -> Arc<Cluster> {
        Cluster::new(
            Behaviour {
                rollout_delay: Duration::from_secs(1),
                fail_image_pattern: "*:broken".into(),
            },
            Faults::new(0.0, Duration::ZERO),
        )
    }

    fn opts(manager: &str, apply: bool) -> WriteOptions {
        WriteOptions {
            manager: manager.into(),
            field_manager_param: apply.then(|| manager.to_string()),
            force: false,
            dry_run: false,
        }
    }

    fn configmaps(c: &Cluster, name: &str) -> Target {
        let mut t = c.target("", "configmaps", Some("default"), Some(name));
        t.name = Some(name.into());
        t
    }

    fn managers(obj: &Value) -> Vec<String> {
        read_managed(obj)
            .into_iter()
            .map(|e| format!("{}/{}", e.manager, e.operation))
            .collect()
    }

    #[test]
    fn identical_apply_keeps_resource_version_and_field_removal_works() {
        let c = cluster();
        let t = configmaps(&c, "cfg");
        let body = br#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"cfg","labels":{"a":"1"}},"data":{"x":"1","y":"2"}}"#;
        let (code, first) = c.patch(&t, PatchType::Apply, body, &opts("slipway", true)).unwrap();
        assert_eq!(code, 201);
        let (code, again) = c.patch(&t, PatchType::Apply, body, &opts("slipway", true)).unwrap();
        assert_eq!(
            (code, meta_str(&again, "resourceVersion")),
            (200, meta_str(&first, "resourceVersion"))
        );
        let smaller = br#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"cfg"},"data":{"x":"1"}}"#;
        let (_, after) = c.patch(&t, PatchType::Apply, smaller, &opts("slipway", true)).unwrap();
        assert_eq!(after["data"], json!({"x": "1"}));
        assert!(after.pointer("/metadata/labels/a").is_none());
    }

    #[test]
    fn merge_patch_takes_ownership_and_a_later_apply_conflicts() {
        let c = cluster();
        let t = configmaps(&c, "cfg");
        let body = br#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"cfg"},"data":{"x":"1"}}"#;
        c.patch(&t, PatchType::Apply, body, &opts("slipway", true)).unwrap();
        let (_, patched) = c
            .patch(&t, PatchType::Merge, br#"{"data":{"x":"2"}}"#, &opts("editor", false))
            .unwrap();
        assert_eq!(managers(&patched), ["editor/Update"]);
        let err = c.patch(&t, PatchType::Apply, body, &opts("slipway", true)).unwrap_err();
        assert_eq!(err.code, 409);
        assert!(
            err.message.contains("conflict with \"editor\" using v1: .data.x"),
            "{}",
            err.message
        );
        let mut forced = opts("slipway", true);
        forced.force = true;
        let (_, back) = c.patch(&t, PatchType::Apply, body, &forced).unwrap();
        assert_eq!(
            (back["data"]["x"].as_str(), managers(&back)),
            (Some("1"), vec!["slipway/Apply".to_string()])
        );
    }

    #[test]
    fn object_with_finalizer_is_deleted_once_the_finalizer_is_removed() {
        let c = cluster();
        let t = configmaps(&c, "held");
        let body = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "held", "finalizers": ["example.com/hold"]}});
        c.create(
            &c.target("", "configmaps", Some("default"), None),
            body,
            &opts("test", false),
        )
        .unwrap();
        let pending = c.delete(&t, &json!({}), false).unwrap();
        assert!(pending.pointer("/metadata/deletionTimestamp").is_some());
        assert!(c.get(&t).is_ok());
        c.patch(
            &t,
            PatchType::Merge,
            br#"{"metadata":{"finalizers":null}}"#,
            &opts("test", false),
        )
        .unwrap();
        assert_eq!(c.get(&t).unwrap_err().code, 404);
    }

    #[test]
    fn deployment_generation_follows_spec_and_annotations_only() {
        let c = cluster();
        let mut t = c.target("apps", "deployments", Some("default"), None);
        let d = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
            "spec": {"selector": {"matchLabels": {"app": "web"}},
                     "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "a", "image": "x:1"}]}}}});
        c.create(&t, d, &opts("test", false)).unwrap();
        t.name = Some("web".into());
        let gen = |v: &Value| v.pointer("/metadata/generation").and_then(Value::as_i64);
        let (_, v) = c
            .patch(
                &t,
                PatchType::Merge,
                br#"{"metadata":{"labels":{"l":"1"}}}"#,
                &opts("test", false),
            )
            .unwrap();
        assert_eq!(gen(&v), Some(1));
        let (_, v) = c
            .patch(
                &t,
                PatchType::Merge,
                br#"{"metadata":{"annotations":{"n":"1"}}}"#,
                &opts("test", false),
            )
            .unwrap();
        assert_eq!(gen(&v), Some(2));
        let (_, v) = c
            .patch(
                &t,
                PatchType::Merge,
                br#"{"spec":{"replicas":3}}"#,
                &opts("test", false),
            )
            .unwrap();
        assert_eq!(gen(&v), Some(3));
        let (_, v) = c
            .patch(
                &t,
                PatchType::Merge,
                br#"{"status":{"replicas":9}}"#,
                &opts("test", false),
            )
            .unwrap();
        assert_eq!((gen(&v), v.pointer("/status/replicas")), (Some(3), None));
    }

    #[test]
    fn continue_tokens_round_trip() {
        let k = ("ns".to_string(), "name-1".to_string());
        assert_eq!(decode_continue(&encode_continue(&k)), k);
    }
}
