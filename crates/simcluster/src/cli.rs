//! The command line of `slipway-simcluster`: its flags, and running the cluster
//! until SIGINT or SIGTERM.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;

use crate::{SimCluster, SimConfig};

/// A simulated Kubernetes API server for tests and the playground (not for production).
#[derive(Parser, Debug)]
#[command(name = "slipway-simcluster", version)]
pub struct Args {
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:0")]
    pub bind: SocketAddr,
    /// Write a kubeconfig for the cluster (context "simcluster") to this path.
    #[arg(long)]
    kubeconfig_out: Option<PathBuf>,
    /// Time until workloads become ready and Jobs complete (e.g. 2s, 500ms).
    #[arg(long, default_value = "2s", value_parser = humantime::parse_duration)]
    rollout_delay: Duration,
    /// Images matching this glob (`*` wildcards) never become ready.
    #[arg(long, default_value = "*:broken")]
    fail_image_pattern: String,
    /// Share of requests (0.0-1.0) answered with an injected 500, 503 or 429.
    #[arg(long, default_value_t = 0.0, value_parser = parse_rate)]
    error_rate: f64,
    /// Delay added to every request (e.g. 50ms).
    #[arg(long, default_value = "0s", value_parser = humantime::parse_duration)]
    latency: Duration,
    /// Refuse every request on this resource with 403 Forbidden, as RBAC would:
    /// RESOURCE[.GROUP], e.g. ingresses.networking.k8s.io (repeatable).
    #[arg(long = "deny", value_name = "RESOURCE[.GROUP]", value_parser = crate::access::parse_resource)]
    deny: Vec<(String, String)>,
    /// Request header that names the writer in the write log (`GET /debug/writes`),
    /// e.g. x-slipway-replica; without it, writes are logged by field manager.
    #[arg(long, value_name = "HEADER")]
    writer_header: Option<String>,
}

fn parse_rate(s: &str) -> Result<f64, String> {
    let rate: f64 = s.parse().map_err(|e| format!("not a number: {e}"))?;
    if (0.0..=1.0).contains(&rate) {
        Ok(rate)
    } else {
        Err("must be between 0.0 and 1.0".into())
    }
}

impl Args {
    /// Starts the cluster, prints its URL on stdout (the line tools wait for),
    /// and serves until SIGINT or SIGTERM.
    pub async fn run(self) -> anyhow::Result<()> {
        use std::io::IsTerminal as _;
        // Colours only on a terminal: a log file would keep the escape codes.
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()))
            .with_ansi(std::io::stderr().is_terminal())
            .with_writer(std::io::stderr)
            .try_init();
        let args = self;
        let config = SimConfig {
            rollout_delay: args.rollout_delay,
            fail_image_pattern: args.fail_image_pattern,
            error_rate: args.error_rate,
            latency: args.latency,
            deny: args.deny,
            writer_header: args.writer_header,
        };
        let cluster = SimCluster::start_on(args.bind, config)
            .await
            .context("starting the simulated cluster")?;
        if let Some(path) = &args.kubeconfig_out {
            cluster
                .write_kubeconfig(path)
                .with_context(|| format!("writing kubeconfig to {}", path.display()))?;
        }
        // The handlers are in place before the URL is printed: a caller that
        // signals as soon as it reads the URL must get a clean shutdown.
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate())?;
        let mut interrupt = signal(SignalKind::interrupt())?;
        println!("{}", cluster.url());
        tokio::select! {
            _ = interrupt.recv() => {}
            _ = term.recv() => {}
        }
        cluster.shutdown().await;
        Ok(())
    }
}
