//! Slipway's deployer: makes each cluster namespace match its environment folder
//! in the resource repo, and reports rollout status (SPEC section 3).
//!
//! ```text
//!            one fetch per poll
//! repo ───────────────▶ snapshot ──┬──▶ env dev  : observe → plan → act → report ──▶ cluster main
//!                                  └──▶ env prod : observe → plan → act → report ──▶ cluster prod-eu
//! ```
//!
//! The decisions are pure ([`object`], [`live`], [`plan`], [`diff`], [`rollout`],
//! [`report`], [`inventory`], [`outcome`], [`error`], the watch index of [`watch`],
//! the live view's [`workload_tree`]); [`cluster`], [`watch`], [`reconcile`] and
//! [`inspect`] carry them out.
#![forbid(unsafe_code)]

pub mod check;
pub mod cli;
pub mod cluster;
pub mod config;
pub mod deployer;
pub mod diff;
pub mod env_diff;
pub mod error;
pub mod http;
pub mod inspect;
pub mod inspect_http;
pub mod inventory;
pub mod live;
pub mod metrics;
pub mod object;
pub mod outcome;
pub mod plan;
pub mod pod_logs;
pub mod reconcile;
pub mod report;
pub mod rollout;
pub mod scheduler;
pub mod shards;
pub mod watch;
pub mod workload_tree;

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context as _;
use slipway_kit::Drain;

pub use crate::config::DeployerConfig;
pub use crate::deployer::{Deployer, EnvRun};

/// Name printed in the "listening on" line.
pub const SERVICE: &str = "slipway-deployer";

/// A running deployer: its API address and its task.
pub struct Running {
    pub deployer: Arc<Deployer>,
    pub addr: SocketAddr,
    pub task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

/// Starts the deployer (HTTP API and reconcile loop) and returns once it listens.
/// Once `drain` begins both stop; `task` ends when the reconciles in flight are done.
pub async fn start(config: DeployerConfig, drain: Drain) -> anyhow::Result<Running> {
    let tokens =
        match slipway_core::tokens::Tokens::load(config.api_tokens_file.as_deref(), config.api_tokens_env.as_deref()) {
            Ok(tokens) => Some(tokens),
            Err(slipway_core::tokens::TokenError::NotConfigured) => {
                tracing::warn!(
                    "no api_tokens_file or api_tokens_env is configured: POST /deploy is refused until there is one"
                );
                None
            }
            Err(e) => return Err(e).context("cannot load the API tokens"),
        };
    let deployer = Deployer::new(config).await.context("cannot start the deployer")?;
    let (listener, addr) = slipway_kit::bind(SERVICE, &deployer.config().api_bind).await?;
    // The env Leases are given up only once the reconciles in flight are done.
    let release = tokio_util::sync::CancellationToken::new();
    let shards = deployer
        .join_shards(slipway_kit::lease::advertised_address(addr), release.clone())
        .await
        .context("cannot join the env shards")?;
    let app = http::router(deployer.clone(), tokens);
    let looping = tokio::spawn(deployer.clone().run(drain.clone()));
    let task = tokio::spawn(async move {
        let served = slipway_kit::serve(listener, app, &drain).await;
        drain.begin();
        let _ = looping.await;
        drain.drained().await;
        release.cancel();
        if let Some(shards) = shards {
            let _ = shards.await;
        }
        served
    });
    Ok(Running { deployer, addr, task })
}

/// Runs the deployer until `drain` begins and its reconciles in flight are done
/// (`slipway-deployer serve`).
pub async fn serve(config: DeployerConfig, drain: Drain) -> anyhow::Result<()> {
    let running = start(config, drain).await?;
    running.task.await.context("deployer task failed")?
}
