//! What the three services share around their domain: config files, tracing,
//! the HTTP listener, shutdown on SIGINT/SIGTERM, the metrics endpoint's
//! answer, and the rate-limited `POST /refresh` gate ([`refresh`]).
//!
//! It sits above `slipway-core` (and beside `slipway-repo`, whose config keys
//! the services embed); nothing below it may depend on it.
#![forbid(unsafe_code)]

pub mod refresh;

use std::net::SocketAddr;
use std::path::Path;

use anyhow::Context as _;
use serde::de::DeserializeOwned;
use tokio_util::sync::CancellationToken;

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
