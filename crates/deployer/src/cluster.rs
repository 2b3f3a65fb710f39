//! The shell around one cluster: a `kube` client, cached discovery, and the few
//! requests a reconcile makes (get, list by label, server-side apply, delete),
//! each retried with capped exponential backoff on timeouts, 429 and 5xx.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::core::GroupVersionKind;
use kube::core::Resource as _;
use kube::discovery::{ApiResource, Scope as KubeScope};
use kube::runtime::wait::{await_condition, conditions};
use serde_json::Value;

use crate::config::{ClusterConfig, DeployerConfig};
pub use crate::error::ClusterError;
use crate::object::{ObjectKey, Scope, ENV_LABEL, HASH_ANNOTATION, MANAGED_BY_LABEL, MANAGER, SERVICE_LABEL};

impl From<kube::Error> for ClusterError {
    fn from(e: kube::Error) -> Self {
        match e {
            kube::Error::Api(status) => ClusterError::Api {
                code: status.code,
                reason: status.reason.clone(),
                message: status.message.clone(),
            },
            kube::Error::HyperError(e) => ClusterError::Transport(e.to_string()),
            kube::Error::Service(e) => ClusterError::Transport(e.to_string()),
            kube::Error::Discovery(e) => ClusterError::Api {
                code: 404,
                reason: "NotFound".into(),
                message: e.to_string(),
            },
            other => ClusterError::Other(other.to_string()),
        }
    }
}

/// A kind the cluster serves: how to address it.
#[derive(Debug, Clone)]
pub struct Kind {
    pub resource: ApiResource,
    pub scope: Scope,
}

impl Kind {
    /// The RBAC rule the deployer's identity needs to deploy objects of this kind.
    pub fn rbac_rule(&self) -> String {
        let role = match self.scope {
            Scope::Namespaced => "role",
            Scope::Cluster => "cluster role",
        };
        format!(
            "the deployer's {role} needs: apiGroups [\"{}\"], resources [\"{}\"], verbs [\"get\",\"list\",\"watch\",\"create\",\"patch\",\"delete\"]",
            self.resource.group, self.resource.plural
        )
    }
}

/// Backoff settings of API requests.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    pub attempts: usize,
    pub min_delay: Duration,
    pub max_delay: Duration,
}

impl RetryPolicy {
    /// From the deployer config.
    pub fn from_config(c: &DeployerConfig) -> Self {
        RetryPolicy {
            attempts: c.api_retries,
            min_delay: c.retry_min_delay,
            max_delay: c.retry_max_delay,
        }
    }

    fn backoff(&self) -> ExponentialBuilder {
        ExponentialBuilder::default()
            .with_min_delay(self.min_delay)
            .with_max_delay(self.max_delay)
            .with_max_times(self.attempts.saturating_sub(1))
            .with_jitter()
    }
}

/// One cluster connection with its discovery cache.
pub struct Cluster {
    pub name: String,
    client: kube::Client,
    /// For watches: like `client`, without the read timeout (a watch is quiet
    /// while nothing changes).
    watch_client: kube::Client,
    retry: RetryPolicy,
    /// `(apiVersion, kind)` → how to address it. Only found kinds are cached, so a
    /// kind that appears later (a new CRD) is looked up again.
    kinds: Mutex<HashMap<(String, String), Kind>>,
}

/// The HTTP header that names the deployer replica on each of its requests, so a
/// cluster's audit log (or the simulated cluster's write counts) can tell replicas apart.
pub const REPLICA_HEADER: &str = "x-slipway-replica";

/// Adds [`REPLICA_HEADER`] with `identity` to every request of clients made from
/// `config` (an identity that is not a valid header value is left out).
pub fn add_replica_header(config: &mut kube::Config, identity: &str) {
    match reqwest::header::HeaderValue::from_str(identity) {
        Ok(value) => config
            .headers
            .push((reqwest::header::HeaderName::from_static(REPLICA_HEADER), value)),
        Err(_) => tracing::warn!(
            identity,
            "the replica identity is not a valid HTTP header value: requests do not carry {REPLICA_HEADER}"
        ),
    }
}

/// Builds a `kube` client for a cluster entry of the config, its requests naming
/// the replica `identity`. `read_timeout` is `None` for watches, which stay
/// quiet while nothing changes.
pub async fn client_for(
    name: &str,
    c: &ClusterConfig,
    identity: &str,
    request_timeout: Duration,
    read_timeout: Option<Duration>,
) -> Result<kube::Client, ClusterError> {
    let mut config = if c.in_cluster {
        kube::Config::incluster()
            .map_err(|e| ClusterError::Other(format!("cluster {name}: in-cluster config unavailable: {e}")))?
    } else {
        let path = c
            .kubeconfig
            .as_ref()
            .ok_or_else(|| ClusterError::Other(format!("cluster {name}: no kubeconfig configured")))?;
        let kubeconfig = Kubeconfig::read_from(path).map_err(|e| {
            ClusterError::Other(format!(
                "cluster {name}: cannot read kubeconfig {}: {e}",
                path.display()
            ))
        })?;
        let options = KubeConfigOptions {
            context: c.context.clone(),
            ..KubeConfigOptions::default()
        };
        kube::Config::from_custom_kubeconfig(kubeconfig, &options)
            .await
            .map_err(|e| ClusterError::Other(format!("cluster {name}: invalid kubeconfig {}: {e}", path.display())))?
    };
    config.connect_timeout = Some(request_timeout);
    config.read_timeout = read_timeout;
    config.write_timeout = Some(request_timeout);
    // Retries are ours (with the configured backoff), not the client's.
    config.default_retry = false;
    add_replica_header(&mut config, identity);
    kube::Client::try_from(config).map_err(|e| ClusterError::Other(format!("cluster {name}: {e}")))
}

pub(crate) fn to_value(obj: DynamicObject, kind: &Kind) -> Result<Value, ClusterError> {
    let mut v = serde_json::to_value(obj).map_err(|e| ClusterError::Other(format!("bad object from server: {e}")))?;
    compact(&mut v, kind);
    Ok(v)
}

/// Sets apiVersion/kind (items of built-in lists carry none) and keeps only
/// Slipway's own `managedFields` entry (without its field set): that is all the
/// plan reads from them.
fn compact(v: &mut Value, kind: &Kind) {
    let Some(map) = v.as_object_mut() else { return };
    map.insert("apiVersion".into(), Value::String(kind.resource.api_version.clone()));
    map.insert("kind".into(), Value::String(kind.resource.kind.clone()));
    if let Some(Value::Array(entries)) = map.get_mut("metadata").and_then(|m| m.get_mut("managedFields")) {
        entries.retain(|e| e.get("manager").and_then(Value::as_str) == Some(MANAGER));
        for e in entries.iter_mut() {
            if let Some(e) = e.as_object_mut() {
                e.retain(|k, _| k == "manager" || k == "operation");
            }
        }
    }
}

/// The merge patch that releases `obj` (see [`Cluster::release`]): Slipway's
/// labels and hash annotation removed, `managedFields` without Slipway's
/// entries (`[{}]`, which clears them, when no other manager is left), at the
/// object's `resourceVersion`.
fn release_patch(obj: &DynamicObject) -> Value {
    let mut others: Vec<Value> = obj
        .metadata
        .managed_fields
        .iter()
        .flatten()
        .filter(|e| e.manager.as_deref() != Some(MANAGER))
        .filter_map(|e| serde_json::to_value(e).ok())
        .collect();
    if others.is_empty() {
        others.push(serde_json::json!({}));
    }
    serde_json::json!({"metadata": {
        "resourceVersion": obj.metadata.resource_version,
        "labels": {MANAGED_BY_LABEL: null, ENV_LABEL: null, SERVICE_LABEL: null},
        "annotations": {HASH_ANNOTATION: null},
        "managedFields": others,
    }})
}

/// The key of a live object of a known kind.
pub fn key_of(obj: &Value, kind: &Kind) -> ObjectKey {
    ObjectKey {
        group: kind.resource.group.clone(),
        kind: kind.resource.kind.clone(),
        namespace: obj
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .filter(|_| kind.scope == Scope::Namespaced)
            .map(str::to_string),
        name: obj
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
    }
}

impl Cluster {
    /// A cluster from a ready client.
    pub fn new(name: &str, client: kube::Client, retry: RetryPolicy) -> Self {
        Cluster {
            name: name.to_string(),
            watch_client: client.clone(),
            client,
            retry,
            kinds: Mutex::new(HashMap::new()),
        }
    }

    /// Uses `client` for watches (one without a read timeout).
    pub fn with_watch_client(mut self, client: kube::Client) -> Self {
        self.watch_client = client;
        self
    }

    async fn retried<T, F, Fut>(&self, what: &str, f: F) -> Result<T, ClusterError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, ClusterError>>,
    {
        f.retry(self.retry.backoff())
            .sleep(tokio::time::sleep)
            .when(ClusterError::is_transient)
            .notify(|e, after| tracing::debug!(cluster = %self.name, "{what} failed ({e}); retrying in {after:?}"))
            .await
    }

    /// Whether discovery found the kind before (so [`Cluster::kind`] answers without a request).
    pub fn knows(&self, api_version: &str, kind: &str) -> bool {
        self.kinds
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains_key(&(api_version.to_string(), kind.to_string()))
    }

    /// How to address a kind; `None` if the cluster does not serve it.
    pub async fn kind(&self, api_version: &str, kind: &str) -> Result<Option<Kind>, ClusterError> {
        let cache_key = (api_version.to_string(), kind.to_string());
        if let Some(k) = self.kinds.lock().unwrap_or_else(|p| p.into_inner()).get(&cache_key) {
            return Ok(Some(k.clone()));
        }
        let (group, version) = match api_version.rsplit_once('/') {
            Some((g, v)) => (g, v),
            None => ("", api_version),
        };
        let gvk = GroupVersionKind::gvk(group, version, kind);
        let found = self
            .retried("discovery", || async {
                match kube::discovery::pinned_kind(&self.client, &gvk).await {
                    Ok(found) => Ok(Some(found)),
                    Err(e) => {
                        let e = ClusterError::from(e);
                        if e.is_not_found() {
                            Ok(None)
                        } else {
                            Err(e)
                        }
                    }
                }
            })
            .await?;
        let Some((resource, caps)) = found else { return Ok(None) };
        let k = Kind {
            resource,
            scope: match caps.scope {
                KubeScope::Cluster => Scope::Cluster,
                KubeScope::Namespaced => Scope::Namespaced,
            },
        };
        self.kinds
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(cache_key, k.clone());
        Ok(Some(k))
    }

    fn api(&self, kind: &Kind, namespace: Option<&str>) -> Api<DynamicObject> {
        match (kind.scope, namespace) {
            (Scope::Namespaced, Some(ns)) => Api::namespaced_with(self.client.clone(), ns, &kind.resource),
            _ => Api::all_with(self.client.clone(), &kind.resource),
        }
    }

    /// One object, `None` if it does not exist.
    pub async fn get(&self, kind: &Kind, namespace: Option<&str>, name: &str) -> Result<Option<Value>, ClusterError> {
        let api = self.api(kind, namespace);
        let obj = self
            .retried("get", || async { api.get_opt(name).await.map_err(ClusterError::from) })
            .await?;
        obj.map(|o| to_value(o, kind)).transpose()
    }

    /// Every object of a kind with the labels, in the namespace (or cluster-wide),
    /// and the list's `resourceVersion` to watch from (empty when the kind is not
    /// served yet).
    ///
    /// Read as plain JSON (no typed metadata) with `managedFields` cut down to
    /// Slipway's own entry, and each object turned by `keep` into what the caller
    /// keeps as soon as its page is read (pages of 100, so that few whole objects
    /// are in memory at a time).
    pub async fn list_at<T>(
        &self,
        kind: &Kind,
        namespace: Option<&str>,
        selector: &str,
        mut keep: impl FnMut(Value) -> T,
    ) -> Result<(Vec<T>, String), ClusterError> {
        let url = DynamicObject::url_path(&kind.resource, namespace.filter(|_| kind.scope == Scope::Namespaced));
        let mut out = Vec::new();
        let mut version: Option<String> = None;
        let mut token: Option<String> = None;
        loop {
            let mut params = ListParams::default().labels(selector).limit(100);
            if let Some(t) = &token {
                params = params.continue_token(t);
            }
            let page = self
                .retried("list", || async {
                    let request = kube::core::Request::new(&url)
                        .list(&params)
                        .map_err(|e| ClusterError::Other(format!("cannot build list request: {e}")))?;
                    self.client.request::<Value>(request).await.map_err(ClusterError::from)
                })
                .await;
            let mut page = match page {
                Ok(p) => p,
                // A kind whose CRD is not served yet has no objects.
                Err(e) if e.is_not_found() => return Ok((out, version.unwrap_or_default())),
                Err(e) => return Err(e),
            };
            if version.is_none() {
                // Every page of a paged list is read at the first page's version.
                version = page
                    .pointer("/metadata/resourceVersion")
                    .and_then(Value::as_str)
                    .map(str::to_string);
            }
            if let Some(Value::Array(items)) = page.get_mut("items").map(Value::take) {
                for mut item in items {
                    compact(&mut item, kind);
                    out.push(keep(item));
                }
            }
            token = page
                .pointer("/metadata/continue")
                .and_then(Value::as_str)
                .filter(|t| !t.is_empty())
                .map(str::to_string);
            if token.is_none() {
                return Ok((out, version.unwrap_or_default()));
            }
        }
    }

    /// A pod's log as it is written (`follow`) or up to now, on the client
    /// without a read timeout (a followed log is quiet while the container is).
    pub async fn log_stream(
        &self,
        namespace: &str,
        pod: &str,
        params: &kube::api::LogParams,
    ) -> Result<impl futures::AsyncBufRead + use<>, ClusterError> {
        let api: Api<k8s_openapi::api::core::v1::Pod> = Api::namespaced(self.watch_client.clone(), namespace);
        api.log_stream(pod, params).await.map_err(ClusterError::from)
    }

    /// The API of a kind for watches (on the client without a read timeout).
    pub fn watch_api(&self, kind: &Kind, namespace: Option<&str>) -> Api<DynamicObject> {
        match (kind.scope, namespace) {
            (Scope::Namespaced, Some(ns)) => Api::namespaced_with(self.watch_client.clone(), ns, &kind.resource),
            _ => Api::all_with(self.watch_client.clone(), &kind.resource),
        }
    }

    /// Waits (at most `wait`) until the CustomResourceDefinition `name` is
    /// established; whether it was. Watches the one object, so it answers as
    /// soon as the API server says so.
    pub async fn crd_established(&self, name: &str, wait: Duration) -> bool {
        let api = Api::<CustomResourceDefinition>::all(self.watch_client.clone());
        let established = await_condition(api, name, conditions::is_crd_established());
        match tokio::time::timeout(wait, established).await {
            Ok(Ok(found)) => found.is_some(),
            Ok(Err(e)) => {
                tracing::debug!(cluster = %self.name, crd = name, "waiting for the CRD failed: {e}");
                false
            }
            Err(_) => false,
        }
    }

    /// Server-side apply with field manager `slipway`, forcing ownership back.
    pub async fn apply(
        &self,
        kind: &Kind,
        namespace: Option<&str>,
        name: &str,
        body: &Value,
    ) -> Result<Value, ClusterError> {
        let api = self.api(kind, namespace);
        let params = PatchParams::apply(MANAGER).force();
        let obj = self
            .retried("apply", || async {
                api.patch(name, &params, &Patch::Apply(body))
                    .await
                    .map_err(ClusterError::from)
            })
            .await?;
        to_value(obj, kind)
    }

    /// Gives an adopted object back to whoever had it: removes Slipway's labels,
    /// its manifest hash and the `managedFields` entries of field manager
    /// `slipway`, keeping every field's value. A merge patch with the object's
    /// `resourceVersion` (so a concurrent change makes it fail rather than be
    /// undone); the API server takes `managedFields` sent in an update as they
    /// are, and `[{}]` clears them when Slipway was the only manager. A missing
    /// object is fine.
    pub async fn release(&self, kind: &Kind, namespace: Option<&str>, name: &str) -> Result<(), ClusterError> {
        let api = self.api(kind, namespace);
        let params = PatchParams {
            field_manager: Some(MANAGER.to_string()),
            ..PatchParams::default()
        };
        self.retried("release", || async {
            let Some(obj) = api.get_opt(name).await.map_err(ClusterError::from)? else {
                return Ok(());
            };
            let patch = release_patch(&obj);
            match api.patch(name, &params, &Patch::Merge(&patch)).await {
                Ok(_) => Ok(()),
                Err(e) => match ClusterError::from(e) {
                    e if e.is_not_found() => Ok(()),
                    e => Err(e),
                },
            }
        })
        .await
    }

    /// Deletes an object (background propagation); a missing object is fine.
    pub async fn delete(&self, kind: &Kind, namespace: Option<&str>, name: &str) -> Result<(), ClusterError> {
        let api = self.api(kind, namespace);
        let params = DeleteParams::background();
        let result = self
            .retried("delete", || async {
                api.delete(name, &params).await.map_err(ClusterError::from)
            })
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if e.is_not_found() => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// The well-known kind of a Namespace.
    pub fn namespace_kind() -> Kind {
        Kind {
            resource: ApiResource {
                group: String::new(),
                version: "v1".into(),
                api_version: "v1".into(),
                kind: "Namespace".into(),
                plural: "namespaces".into(),
            },
            scope: Scope::Cluster,
        }
    }

    /// The well-known kind of a ConfigMap.
    pub fn config_map_kind() -> Kind {
        Kind {
            resource: ApiResource {
                group: String::new(),
                version: "v1".into(),
                api_version: "v1".into(),
                kind: "ConfigMap".into(),
                plural: "configmaps".into(),
            },
            scope: Scope::Namespaced,
        }
    }

    /// A kind defined by a CRD that is not served yet (addressed by the CRD's plural).
    pub fn pending_kind(api_version: &str, kind: &str, plural: &str, scope: Scope) -> Kind {
        let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
        Kind {
            resource: ApiResource {
                group: group.to_string(),
                version: version.to_string(),
                api_version: api_version.to_string(),
                kind: kind.to_string(),
                plural: plural.to_string(),
            },
            scope,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(code: u16) -> ClusterError {
        ClusterError::Api {
            code,
            reason: String::new(),
            message: String::new(),
        }
    }

    #[test]
    fn timeouts_throttling_and_server_errors_are_retried_but_rejections_are_not() {
        assert!(api(429).is_transient());
        assert!(api(500).is_transient());
        assert!(api(503).is_transient());
        assert!(ClusterError::Transport("connection refused".into()).is_transient());
        assert!(!api(422).is_transient());
        assert!(!api(409).is_transient());
        assert!(!api(404).is_transient());
        assert!(api(404).is_not_found());
        assert!(!ClusterError::Other("bad kubeconfig".into()).is_transient());
    }

    #[test]
    fn a_release_removes_slipways_labels_and_field_ownership_at_the_objects_version() {
        let obj: DynamicObject = serde_json::from_value(serde_json::json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "c", "resourceVersion": "42",
                "labels": {"team": "a", "slipway.dev/env": "dev"},
                "managedFields": [
                    {"manager": "kubectl-create", "operation": "Update", "fieldsType": "FieldsV1",
                     "fieldsV1": {"f:data": {"f:owner": {}}}},
                    {"manager": "slipway", "operation": "Apply", "fieldsType": "FieldsV1",
                     "fieldsV1": {"f:data": {"f:level": {}}}}
                ]},
            "data": {"owner": "a", "level": "info"}
        }))
        .unwrap();
        let patch = release_patch(&obj);
        let meta = &patch["metadata"];
        assert_eq!(meta["resourceVersion"], "42");
        assert_eq!(meta["labels"]["slipway.dev/env"], Value::Null);
        assert!(meta["labels"]
            .as_object()
            .unwrap()
            .contains_key("app.kubernetes.io/managed-by"));
        assert!(meta["labels"].get("team").is_none(), "other labels are not touched");
        let managers: Vec<&str> = meta["managedFields"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["manager"].as_str().unwrap())
            .collect();
        assert_eq!(managers, ["kubectl-create"]);
        assert_eq!(
            meta["managedFields"][0]["fieldsV1"],
            serde_json::json!({"f:data": {"f:owner": {}}})
        );
        assert!(patch.get("data").is_none(), "values are kept");

        // Slipway the only manager left: cleared.
        let mut only = obj.clone();
        only.metadata.managed_fields.as_mut().unwrap().remove(0);
        assert_eq!(
            release_patch(&only)["metadata"]["managedFields"],
            serde_json::json!([{}])
        );
    }

    #[test]
    fn the_answers_of_the_kube_client_that_slipway_retries_are_throttling_server_errors_and_no_answer() {
        let status = |code: u16| kube::Error::Api(kube::core::Status::failure("m", "R").with_code(code).boxed());
        let transient = |e: kube::Error| ClusterError::from(e).is_transient();
        for code in [429, 500, 502, 503, 504] {
            assert!(transient(status(code)), "{code}");
        }
        for code in [400, 403, 404, 409, 410, 422] {
            assert!(!transient(status(code)), "{code}");
        }
        // No answer at all: the connection failed or timed out in the client's stack.
        let refused: Box<dyn std::error::Error + Send + Sync> = Box::new(std::io::Error::other("connection refused"));
        assert!(transient(kube::Error::Service(refused)));
        // A kind the server does not serve is an answer (not found), not a reason to ask again.
        let missing = ClusterError::from(kube::Error::Discovery(kube::error::DiscoveryError::MissingKind(
            "Widget".into(),
        )));
        assert!(missing.is_not_found() && !missing.is_transient(), "{missing:?}");
        // A response that cannot be read will not read better the next time.
        let garbled = serde_json::from_str::<Value>("{").unwrap_err();
        assert!(!transient(kube::Error::SerdeError(garbled)));
        assert!(ClusterError::from(status(403)).is_forbidden());
    }

    #[tokio::test]
    async fn transient_errors_are_retried_until_they_stop_and_rejections_are_not() {
        let cluster = Cluster::new(
            "test",
            kube::Client::try_from(kube::Config::new("http://127.0.0.1:1".parse().unwrap())).unwrap(),
            RetryPolicy {
                attempts: 5,
                min_delay: Duration::from_millis(1),
                max_delay: Duration::from_millis(4),
            },
        );
        let calls = std::sync::atomic::AtomicUsize::new(0);
        let result = cluster
            .retried("test", || async {
                let n = calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                if n < 3 {
                    Err(api(503))
                } else {
                    Ok(n)
                }
            })
            .await;
        assert_eq!(result.unwrap(), 3);

        calls.store(0, std::sync::atomic::Ordering::SeqCst);
        let rejected: Result<(), _> = cluster
            .retried("test", || async {
                calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                Err(api(422))
            })
            .await;
        assert!(rejected.is_err());
        assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 1);

        calls.store(0, std::sync::atomic::Ordering::SeqCst);
        let exhausted: Result<(), _> = cluster
            .retried("test", || async {
                calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                Err(api(500))
            })
            .await;
        assert!(exhausted.is_err());
        assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 5);
    }
}
