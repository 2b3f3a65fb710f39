//! A simulated Kubernetes cluster: an HTTP server on 127.0.0.1 that speaks the
//! Kubernetes REST API well enough for `kube` clients and stock `kubectl`
//! (discovery, CRUD, server-side apply with field managers, watches, status
//! subresources, simulated workload controllers, fault injection).
//!
//! It is a test and playground backend, not a production API server: there is
//! no authentication, no persistence, no scheduling and no pods.
//!
//! ```text
//!  kube::Client / kubectl ──HTTP──▶ server (routing, counters, faults)
//!                                       │
//!                                       ▼
//!                                api (verbs, apply, validation, defaults)
//!                                       │                       ▲
//!                                       ▼                       │ status writes
//!                                store (objects, RV, events) ◀── controllers (due-time queue)
//! ```

#![forbid(unsafe_code)]

pub mod access;
pub mod api;
pub mod cli;
pub mod controllers;
pub mod counters;
pub mod defaults;
pub mod discovery;
pub mod events;
pub mod fields;
pub mod kubelet;
pub mod lease;
pub mod logs;
pub mod merge;
pub mod meta;
pub mod protobuf;
pub mod resources;
pub mod schema;
pub mod selector;
pub mod server;
pub mod status;
pub mod store;
pub mod table;
pub mod tasks;
pub mod typecheck;
pub mod validation;
pub mod writes;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::access::DenyList;
use crate::api::{Behaviour, Cluster, Faults};
use crate::counters::Counters;
pub use crate::counters::RequestCounts;
use crate::writes::Writes;
pub use crate::writes::{Overlap, Write, WriteLog};

/// Context, cluster and user name in the kubeconfig.
pub const CONTEXT_NAME: &str = "simcluster";

/// How the simulated cluster behaves.
#[derive(Clone, Debug)]
pub struct SimConfig {
    /// Time until a Deployment, StatefulSet or DaemonSet becomes ready (and a Job completes).
    pub rollout_delay: Duration,
    /// Glob (`*` wildcards) of images that never become ready, e.g. `*:broken`.
    pub fail_image_pattern: String,
    /// Share of requests (0.0-1.0) answered with 500, 503 or 429.
    pub error_rate: f64,
    /// Delay before each request is answered.
    pub latency: Duration,
    /// Resources, as `(group, plural)`, that every request is refused on with
    /// 403 Forbidden, as RBAC would (see [`SimCluster::deny`]).
    pub deny: Vec<(String, String)>,
    /// Request header that names the writer in the write log ([`SimCluster::writes`]),
    /// e.g. `x-slipway-replica`; without it (or when a request lacks it), the field manager.
    pub writer_header: Option<String>,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            rollout_delay: Duration::from_secs(1),
            fail_image_pattern: "*:broken".into(),
            error_rate: 0.0,
            latency: Duration::ZERO,
            deny: Vec::new(),
            writer_header: None,
        }
    }
}

/// Errors starting the simulated cluster.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source} (is the port in use?)")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The cause.
        source: std::io::Error,
    },
}

struct Serving {
    cancel: CancellationToken,
    task: JoinHandle<()>,
}

/// A running simulated cluster. Dropping it stops nothing; call [`SimCluster::shutdown`].
pub struct SimCluster {
    cluster: Arc<Cluster>,
    counters: Arc<Counters>,
    denied: Arc<DenyList>,
    writes: Arc<Writes>,
    writer_header: Option<String>,
    addr: SocketAddr,
    serving: tokio::sync::Mutex<Option<Serving>>,
    controllers: Serving,
}

/// What the HTTP layer shares with [`SimCluster`] across a stop and resume of serving.
#[derive(Clone)]
struct Shared {
    cluster: Arc<Cluster>,
    counters: Arc<Counters>,
    denied: Arc<DenyList>,
    writes: Arc<Writes>,
    writer_header: Option<String>,
}

async fn serve(shared: Shared, addr: SocketAddr) -> Result<(SocketAddr, Serving), Error> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| Error::Bind { addr, source })?;
    let bound = listener.local_addr().map_err(|source| Error::Bind { addr, source })?;
    let cancel = CancellationToken::new();
    let state = server::AppState {
        cluster: shared.cluster,
        counters: shared.counters,
        denied: shared.denied,
        writes: shared.writes,
        writer_header: shared.writer_header,
        cancel: cancel.clone(),
        address: bound.to_string(),
    };
    let app = server::router(state);
    let stop = cancel.clone();
    let task = tokio::spawn(async move {
        let shutdown = async move { stop.cancelled().await };
        if let Err(e) = axum::serve(listener, app).with_graceful_shutdown(shutdown).await {
            tracing::error!(error = %e, "simulated cluster server failed");
        }
    });
    Ok((bound, Serving { cancel, task }))
}

impl SimCluster {
    /// Starts a cluster on 127.0.0.1 with a free port.
    pub async fn start(config: SimConfig) -> Result<SimCluster, Error> {
        Self::start_on(SocketAddr::from(([127, 0, 0, 1], 0)), config).await
    }

    /// Starts a cluster on the given address (port 0 picks a free one).
    pub async fn start_on(addr: SocketAddr, config: SimConfig) -> Result<SimCluster, Error> {
        let cluster = Cluster::new(
            Behaviour {
                rollout_delay: config.rollout_delay,
                fail_image_pattern: config.fail_image_pattern.clone(),
            },
            Faults::new(config.error_rate, config.latency),
        );
        let counters = Arc::new(Counters::default());
        let denied = Arc::new(DenyList::default());
        for (group, resource) in &config.deny {
            denied.deny(group, resource);
        }
        let writes = Arc::new(Writes::default());
        let writer_header = config.writer_header.clone();
        let shared = Shared {
            cluster: cluster.clone(),
            counters: counters.clone(),
            denied: denied.clone(),
            writes: writes.clone(),
            writer_header: writer_header.clone(),
        };
        let (bound, serving) = serve(shared, addr).await?;
        let cancel = CancellationToken::new();
        let task = tokio::spawn(controllers::run(cluster.clone(), cancel.clone()));
        tracing::info!(url = %format!("http://{bound}"), "simulated cluster listening");
        Ok(SimCluster {
            cluster,
            counters,
            denied,
            writes,
            writer_header,
            addr: bound,
            serving: tokio::sync::Mutex::new(Some(serving)),
            controllers: Serving { cancel, task },
        })
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// A kubeconfig whose current context `simcluster` points at this cluster, with a token user.
    pub fn kubeconfig_yaml(&self) -> String {
        kubeconfig(&self.url())
    }

    /// Writes [`SimCluster::kubeconfig_yaml`] to `path`.
    pub fn write_kubeconfig(&self, path: &Path) -> std::io::Result<()> {
        std::fs::write(path, self.kubeconfig_yaml())
    }

    /// A `kube::Client` for this cluster (default namespace `default`).
    pub async fn client(&self) -> kube::Client {
        let uri: http::Uri = self.url().parse().expect("http://127.0.0.1:PORT is a valid URI");
        let mut config = kube::Config::new(uri);
        config.default_namespace = "default".into();
        config.read_timeout = Some(Duration::from_secs(295));
        kube::Client::try_from(config).expect("a plain-HTTP client config without TLS or exec auth always builds")
    }

    /// A snapshot of request counts by (verb, resource).
    pub fn counters(&self) -> RequestCounts {
        self.counters.snapshot()
    }

    /// Sets all request counts to zero.
    pub fn reset_counters(&self) {
        self.counters.reset();
    }

    /// The write log: every write request on a namespaced object or a Namespace
    /// (Leases left out), with its time, writer and namespace (see [`writes`]).
    /// Also served at `GET /debug/writes`.
    pub fn writes(&self) -> WriteLog {
        self.writes.snapshot()
    }

    /// Empties the write log (also `DELETE /debug/writes`).
    pub fn reset_writes(&self) {
        self.writes.reset();
    }

    fn shared(&self) -> Shared {
        Shared {
            cluster: self.cluster.clone(),
            counters: self.counters.clone(),
            denied: self.denied.clone(),
            writes: self.writes.clone(),
            writer_header: self.writer_header.clone(),
        }
    }

    /// Changes the share of requests that fail with 500/503/429.
    pub fn set_error_rate(&self, rate: f64) {
        self.cluster.faults.set_error_rate(rate);
    }

    /// Changes the delay added to every request.
    pub fn set_latency(&self, latency: Duration) {
        self.cluster.faults.set_latency(latency);
    }

    /// Refuses every request on `resource` (a plural, e.g. `ingresses`) of
    /// `group` (empty for the core group) with 403 Forbidden, in the shape a
    /// real API server gives when RBAC does not grant the verb.
    pub fn deny(&self, group: &str, resource: &str) {
        self.denied.deny(group, resource);
    }

    /// Allows requests on a resource again after [`SimCluster::deny`].
    pub fn allow(&self, group: &str, resource: &str) {
        self.denied.allow(group, resource);
    }

    /// Number of stored objects (all kinds, including the simulator's own).
    pub fn object_count(&self) -> usize {
        self.cluster.object_count()
    }

    /// Stops accepting connections (the port is closed) but keeps all state, to simulate an outage.
    pub async fn stop_serving(&self) {
        let current = self.serving.lock().await.take();
        if let Some(s) = current {
            stop(s).await;
        }
    }

    /// Serves again on the same port after [`SimCluster::stop_serving`].
    pub async fn resume_serving(&self) -> Result<(), Error> {
        let mut guard = self.serving.lock().await;
        if guard.is_none() {
            let (_, serving) = serve(self.shared(), self.addr).await?;
            *guard = Some(serving);
        }
        Ok(())
    }

    /// Stops serving (the port is closed) and stops the controllers.
    pub async fn shutdown(self) {
        self.stop_serving().await;
        stop(self.controllers).await;
    }
}

async fn stop(s: Serving) {
    s.cancel.cancel();
    let abort = s.task.abort_handle();
    // Graceful shutdown waits for open connections; a client holding a
    // kept-alive connection must not keep the port open for long.
    if tokio::time::timeout(Duration::from_secs(2), s.task).await.is_err() {
        abort.abort();
    }
}

/// The kubeconfig for a cluster at `url`.
pub fn kubeconfig(url: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: {CONTEXT_NAME}\n  cluster:\n    server: {url}\ncontexts:\n- name: {CONTEXT_NAME}\n  context:\n    cluster: {CONTEXT_NAME}\n    user: {CONTEXT_NAME}\n    namespace: default\ncurrent-context: {CONTEXT_NAME}\nusers:\n- name: {CONTEXT_NAME}\n  user:\n    token: simcluster-token\npreferences: {{}}\n"
    )
}
