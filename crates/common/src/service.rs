//! Plumbing shared by the three services (feature `service`): config files,
//! tracing, the HTTP listener, shutdown on SIGINT/SIGTERM, and the resource repo
//! on a blocking thread.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context as _;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use crate::git::{GitAuth, GitError, RepoLocation, ResourceRepo, DEFAULT_GIT_TIMEOUT, DEFAULT_STALE_LOCK_AFTER};

/// Config keys every service has for the resource repo.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RepoSettings {
    /// Local path, `file://`, `https://` or `ssh://` URL of the resource repo.
    pub versions_url: String,
    /// Where this service keeps its local (bare) copy.
    pub versions_checkout_path: PathBuf,
    /// Branch that holds the environments (default `main`).
    #[serde(default = "default_branch")]
    pub versions_branch: String,
    /// Credentials for the repo host (default: token from `SLIPWAY_GIT_TOKEN`, ssh agent).
    #[serde(default)]
    pub git: GitAuth,
    /// Bound of connecting and of each answer of a network fetch or push (default `30s`).
    #[serde(default = "default_git_timeout", with = "humantime_serde")]
    pub git_timeout: Duration,
    /// Age after which a lock file in the checkout is removed at run time (default `2m`).
    #[serde(default = "default_stale_lock_after", with = "humantime_serde")]
    pub git_stale_lock_after: Duration,
}

fn default_branch() -> String {
    "main".to_string()
}

/// Default of `git_timeout`, for the services' config structs.
pub fn default_git_timeout() -> Duration {
    DEFAULT_GIT_TIMEOUT
}

/// Default of `git_stale_lock_after`, for the services' config structs.
pub fn default_stale_lock_after() -> Duration {
    DEFAULT_STALE_LOCK_AFTER
}

impl RepoSettings {
    /// The location for [`ResourceRepo::open`].
    pub fn location(&self) -> RepoLocation {
        RepoLocation {
            url: self.versions_url.clone(),
            checkout_path: self.versions_checkout_path.clone(),
            branch: self.versions_branch.clone(),
            auth: self.git.clone(),
            timeout: self.git_timeout,
            stale_lock_after: self.git_stale_lock_after,
        }
    }
}

/// Reads a YAML config file into `T` (which should deny unknown fields).
pub fn load_config<T: DeserializeOwned>(path: &Path) -> anyhow::Result<T> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read config file {}", path.display()))?;
    serde_yaml::from_str(&text).map_err(|e| {
        let at = e.location().map(|l| format!(":{}", l.line())).unwrap_or_default();
        anyhow::anyhow!("invalid config file {}{at}: {e}", path.display())
    })
}

/// Sets up logging to stderr; `RUST_LOG` overrides the default `info` level.
pub fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

/// Binds the HTTP listener and prints `<service> listening on http://ADDR` on stdout,
/// the line tools and tests wait for.
pub async fn bind(service: &str, addr: &str) -> anyhow::Result<(tokio::net::TcpListener, SocketAddr)> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    let local = listener.local_addr()?;
    println!("{service} listening on http://{local}");
    tracing::info!(%local, "{service} listening");
    Ok((listener, local))
}

/// A token cancelled on SIGINT or SIGTERM.
pub fn shutdown_on_signals() -> CancellationToken {
    let token = CancellationToken::new();
    let t = token.clone();
    tokio::spawn(async move {
        let ctrl_c = tokio::signal::ctrl_c();
        #[cfg(unix)]
        {
            let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!("cannot listen for SIGTERM: {e}");
                    let _ = ctrl_c.await;
                    t.cancel();
                    return;
                }
            };
            tokio::select! {
                _ = ctrl_c => {}
                _ = term.recv() => {}
            }
        }
        #[cfg(not(unix))]
        let _ = ctrl_c.await;
        tracing::info!("shutting down");
        t.cancel();
    });
    token
}

/// Serves an axum router until `shutdown` is cancelled.
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: axum::Router,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    axum::serve(listener, app)
        .with_graceful_shutdown(async move { shutdown.cancelled().await })
        .await
        .context("HTTP server failed")
}

/// The resource repo, usable from async code: every git call runs on a blocking
/// thread. Fetches and pushes ([`SharedRepo::with`]) run one at a time; reads
/// ([`SharedRepo::read`]) go through a second handle, so they never wait for a
/// fetch or push that hangs on the remote.
#[derive(Clone)]
pub struct SharedRepo {
    inner: Arc<Mutex<ResourceRepo>>,
    reader: Arc<Mutex<ResourceRepo>>,
}

impl SharedRepo {
    /// Opens (creating if needed) the local copy; does not fetch.
    pub async fn open(settings: &RepoSettings) -> Result<Self, GitError> {
        let location = settings.location();
        let (repo, reader) = tokio::task::spawn_blocking(move || {
            let repo = ResourceRepo::open(location)?;
            let reader = repo.reader()?;
            Ok::<_, GitError>((repo, reader))
        })
        .await
        .map_err(|e| GitError::Change(format!("git worker failed: {e}")))??;
        Ok(SharedRepo {
            inner: Arc::new(Mutex::new(repo)),
            reader: Arc::new(Mutex::new(reader)),
        })
    }

    /// Runs `f` with the repo on a blocking thread, after the fetch or push in
    /// progress; if that one timed out, the first fetch or push of `f` fails at once.
    pub async fn with<R, F>(&self, f: F) -> R
    where
        F: FnOnce(&ResourceRepo) -> R + Send + 'static,
        R: Send + 'static,
    {
        let since = std::time::Instant::now();
        Self::run(self.inner.clone(), move |repo| {
            repo.waited_since(since);
            f(repo)
        })
        .await
    }

    /// Runs `f` on a blocking thread with the reading handle: it sees what the last
    /// fetch brought and must not fetch or push itself.
    pub async fn read<R, F>(&self, f: F) -> R
    where
        F: FnOnce(&ResourceRepo) -> R + Send + 'static,
        R: Send + 'static,
    {
        Self::run(self.reader.clone(), f).await
    }

    async fn run<R, F>(inner: Arc<Mutex<ResourceRepo>>, f: F) -> R
    where
        F: FnOnce(&ResourceRepo) -> R + Send + 'static,
        R: Send + 'static,
    {
        tokio::task::spawn_blocking(move || {
            // A panic while holding the lock leaves the repo itself consistent
            // (every write is a whole commit), so a poisoned lock is still usable.
            let guard = inner.lock().unwrap_or_else(|p| p.into_inner());
            f(&guard)
        })
        .await
        .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()))
    }
}

/// Parses a `poll_interval`-style field.
pub fn duration_field<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let text = String::deserialize(d)?;
    crate::duration::parse_duration(&text).map_err(serde::de::Error::custom)
}

/// Renders a Prometheus registry as an HTTP response in the text exposition format.
pub fn metrics_response(registry: &prometheus_client::registry::Registry) -> axum::response::Response {
    use axum::response::IntoResponse;
    let mut body = String::new();
    match prometheus_client::encoding::text::encode(&mut body, registry) {
        Ok(()) => (
            [(
                axum::http::header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            body,
        )
            .into_response(),
        Err(e) => (
            axum::http::StatusCode::INTERNAL_SERVER_ERROR,
            format!("cannot encode metrics: {e}"),
        )
            .into_response(),
    }
}
