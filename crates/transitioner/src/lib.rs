//! Slipway's transitioner: promotes versions from one environment to the next
//! by the rules in `transitions.yaml` (SPEC section 4), one commit per run.
//!
//! ```text
//!   resource repo ──fetch──▶ evaluate (pure: evaluate.rs, schedule.rs, source_check.rs)
//!   deployer /status ──────▶     │
//!                                ▼
//!            commit_and_push (run.rs) ──▶ resource repo ──▶ POST deployer /refresh
//! ```
#![forbid(unsafe_code)]

pub mod api;
pub mod config;
pub mod evaluate;
pub mod message;
pub mod metrics;
pub mod run;
pub mod schedule;
pub mod source_check;
pub mod transitioner;

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context as _;
use slipway_core::tokens::{TokenError, Tokens};
use slipway_kit::drain::Drain;
use slipway_kit::fetch::{fetch_loop, FetchRecord, Wakeups};
use slipway_kit::peer::PeerClient;
use slipway_kit::refresh::RefreshGate;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

pub use config::Config;
pub use evaluate::{evaluate, Decision, Trigger};
pub use slipway_kit::clock::{Clock, ManualClock, SystemClock};
pub use transitioner::{Error, Transitioner};

/// A started transitioner: its API address, the service, and the task running it.
pub struct Running {
    pub addr: SocketAddr,
    pub transitioner: Arc<Transitioner>,
    pub task: JoinHandle<anyhow::Result<()>>,
}

/// Starts the API and the poll loop; they stop when the drain begins, and the
/// task ends once the runs in flight have committed and pushed.
pub async fn start(config: &Config, clock: Arc<dyn Clock>, drain: Drain) -> anyhow::Result<Running> {
    let tokens = match Tokens::load(config.api_tokens_file.as_deref(), config.api_tokens_env.as_deref()) {
        Ok(tokens) => Some(tokens),
        Err(TokenError::NotConfigured) => {
            tracing::warn!(
                "no api_tokens_file or api_tokens_env is configured: POST /transitions/{{name}}/run is refused until there is one"
            );
            None
        }
        Err(e) => return Err(e).context("cannot load the API tokens"),
    };
    let deployer = deployer_client(config)?;
    let transitioner = Arc::new(
        Transitioner::new(&config.repo, deployer, clock.clone())
            .await
            .with_context(|| {
                format!(
                    "cannot open the checkout at {}",
                    config.repo.versions_checkout_path.display()
                )
            })?
            .with_drain(drain.clone()),
    );
    let (listener, addr) = slipway_kit::bind("slipway-transitioner", &config.api_bind).await?;
    let refresh = Arc::new(Notify::new());
    let nudged = refresh.clone();
    let head_of = transitioner.clone();
    let gate = RefreshGate::new(clock.clone(), Arc::new(move || head_of.repo_commit()), move || {
        nudged.notify_one()
    });
    let app = api::router(transitioner.clone(), gate, tokens);
    let wakeups = Wakeups {
        every: config.poll_interval,
        now: refresh,
        drain: drain.clone(),
    };
    let runs = transitioner.clone();
    let poller = tokio::spawn(async move {
        fetch_loop("transition run", wakeups, FetchRecord::default(), clock, move || {
            let runs = runs.clone();
            async move { runs.run_all().await.map(drop).map_err(|e| e.to_string()) }
        })
        .await
    });
    let task = tokio::spawn(async move {
        let served = slipway_kit::serve(listener, app, &drain).await;
        drain.begin();
        let _ = poller.await;
        drain.drained().await;
        served
    });
    Ok(Running {
        addr,
        transitioner,
        task,
    })
}

/// `slipway-transitioner serve`: runs until SIGINT or SIGTERM.
pub async fn serve(config: Config) -> anyhow::Result<()> {
    let running = start(&config, Arc::new(SystemClock), Drain::on_signals()).await?;
    running.task.await.context("the transitioner task failed")?
}

/// `slipway-transitioner check`: prints what each transition would do now, writes nothing.
pub async fn check(config: Config, out: &mut impl std::io::Write) -> anyhow::Result<()> {
    let transitioner = Transitioner::new(&config.repo, deployer_client(&config)?, Arc::new(SystemClock))
        .await
        .with_context(|| {
            format!(
                "cannot open the checkout at {}",
                config.repo.versions_checkout_path.display()
            )
        })?;
    for (name, d) in transitioner.preview().await? {
        let note = if d.result == slipway_core::status::TransitionResult::Success {
            " (would commit)"
        } else {
            ""
        };
        writeln!(out, "{name}: {:?}{note}: {}", d.result, d.reason)?;
        for s in &d.skipped {
            writeln!(out, "  held back {}: {}", s.service, s.reason)?;
        }
        if let Some(next) = d.next_scheduled() {
            writeln!(out, "  next scheduled run: {}", evaluate::rfc3339(next))?;
        }
    }
    Ok(())
}

fn deployer_client(config: &Config) -> anyhow::Result<Option<PeerClient>> {
    let client = |url: &str| PeerClient::new("deployer", url, config.deployer_timeout, None);
    Ok(config.deployer_url.as_deref().map(client).transpose()?)
}
