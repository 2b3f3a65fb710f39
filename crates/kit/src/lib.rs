//! What the three services share around their domain: config files
//! ([`config`]), tracing, the HTTP listener, graceful shutdown ([`drain`]), the
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
pub mod drain;
pub mod fetch;
pub mod lease;
pub mod notify;
pub mod peer;
pub mod refresh;
#[cfg(feature = "testing")]
pub mod testing;

pub use config::load_config;
pub use drain::{Drain, DrainGuard};

use std::net::SocketAddr;

use anyhow::Context as _;

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

/// Serves an axum router until the drain begins, then finishes the requests in
/// flight; with the JSON error shape ([`admin::json_errors`]) on every answer
/// that has no body of its own.
pub async fn serve(listener: tokio::net::TcpListener, app: axum::Router, drain: &Drain) -> anyhow::Result<()> {
    axum::serve(listener, admin::json_errors(app))
        .with_graceful_shutdown(drain.draining())
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
