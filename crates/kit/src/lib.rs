//! What the three services share around their domain: config files
//! ([`config`]), tracing, the HTTP listener, shutdown on SIGINT/SIGTERM, the
//! clock ([`clock`]), the admin endpoints and the JSON error shape ([`admin`]),
//! the record of the resource repo's fetches that `/ready` reads ([`fetch`]),
//! the rate-limited `POST /refresh` gate ([`refresh`]), leader election on a
//! Kubernetes Lease ([`lease`]), and notifications to webhooks and Slack
//! ([`notify`]).
//!
//! It sits above `slipway-core` (and beside `slipway-repo`, whose config keys
//! the services embed); nothing below it may depend on it.
#![forbid(unsafe_code)]

pub mod admin;
pub mod clock;
pub mod config;
pub mod fetch;
pub mod lease;
pub mod notify;
pub mod peer;
pub mod refresh;

pub use config::load_config;

use std::net::SocketAddr;

use anyhow::Context as _;
use tokio_util::sync::CancellationToken;

/// Sets up logging to stderr at the `info` level; `RUST_LOG` overrides it.
pub fn init_tracing() {
    init_tracing_at("info");
}

/// Sets up logging to stderr at `default_level` unless `RUST_LOG` says otherwise.
/// Colours only on a terminal: a log file or a collector would keep the escape codes.
pub fn init_tracing_at(default_level: &str) {
    use std::io::IsTerminal as _;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_level));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
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

/// A token cancelled on the first SIGINT or SIGTERM: the service then stops
/// taking new work and lets what is in flight finish. A second signal exits at
/// once with status 130, for an operator who does not want to wait.
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
        tracing::info!("shutting down: finishing the work in flight (a second signal aborts)");
        t.cancel();
        if wait_for_signal().await {
            tracing::warn!("second signal: aborting");
            std::process::exit(130);
        }
    });
    token
}

/// Waits for the next SIGINT or SIGTERM; false when signals cannot be listened for.
async fn wait_for_signal() -> bool {
    #[cfg(unix)]
    {
        let Ok(mut term) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) else {
            return tokio::signal::ctrl_c().await.is_ok();
        };
        tokio::select! {
            r = tokio::signal::ctrl_c() => r.is_ok(),
            r = term.recv() => r.is_some(),
        }
    }
    #[cfg(not(unix))]
    {
        tokio::signal::ctrl_c().await.is_ok()
    }
}

/// Serves an axum router until `shutdown` is cancelled, with the JSON error
/// shape ([`admin::json_errors`]) on every answer that has no body of its own.
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: axum::Router,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    axum::serve(listener, admin::json_errors(app))
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

/// The exit status of a binary's `main`, printing an error as one line
/// (`error: ...` with its causes). Printed here rather than returned from
/// `main`: a returned error is printed with its Debug form, which carries a
/// backtrace whenever `RUST_BACKTRACE` is set.
pub fn exit_status(result: anyhow::Result<std::process::ExitCode>) -> std::process::ExitCode {
    result.unwrap_or_else(|e| {
        eprintln!("error: {e:#}");
        std::process::ExitCode::FAILURE
    })
}
