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
pub mod approve;
pub mod config;
pub mod evaluate;
pub mod git_host;
pub mod message;
pub mod metrics;
pub mod notifications;
pub mod preview_text;
pub mod pull_requests;
pub mod run;
pub mod schedule;
pub mod source_check;
pub mod transitioner;
pub mod verify;

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context as _;
use slipway_core::tokens::{TokenError, Tokens};
use slipway_kit::drain::Drain;
use slipway_kit::fetch::{fetch_loop, FetchRecord, Wakeups};
use slipway_kit::lease::Leadership;
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
    let git_host = config
        .git_host
        .as_ref()
        .map(git_host::GitHostConfig::client)
        .transpose()
        .context("invalid transitioner config")?;
    // The Lease is released only after the run in flight has finished, so that
    // run can still push; the loop cancels this once the poller has stopped.
    let (listener, addr) = slipway_kit::bind("slipway-transitioner", &config.api_bind).await?;
    let release = tokio_util::sync::CancellationToken::new();
    let (leadership, election) = match &config.leader_election {
        None => (Leadership::alone(), None),
        Some(settings) => {
            let election = slipway_kit::lease::join(
                settings,
                config::DEFAULT_LEASE_NAME,
                slipway_kit::lease::advertised_address(addr),
                clock.clone(),
                release.clone(),
            )
            .await
            .context("cannot start the leader election")?;
            (election.leadership, Some(election.task))
        }
    };
    let transitioner = Transitioner::new(&config.repo, deployer, clock.clone())
        .await
        .with_context(|| {
            format!(
                "cannot open the checkout at {}",
                config.repo.versions_checkout_path.display()
            )
        })?
        .with_leadership(leadership.clone())
        .with_notifications(&config.notifications)
        .map_err(|e| anyhow::anyhow!("transitioner config: {e}"))?
        .with_drain(drain.clone());
    let transitioner = Arc::new(match git_host {
        Some(host) => transitioner.with_git_host(host),
        None => transitioner,
    });
    let refresh = Arc::new(Notify::new());
    let nudged = refresh.clone();
    let head_of = transitioner.clone();
    let gate = RefreshGate::new(clock.clone(), Arc::new(move || head_of.repo_commit()), move || {
        nudged.notify_one()
    });
    let app = api::router(transitioner.clone(), gate, tokens);
    if let Some(changes) = leadership.changes() {
        tokio::spawn(run_on_takeover(changes, refresh.clone(), drain.clone()));
    }
    let wakeups = Wakeups {
        every: config.poll_interval,
        now: refresh,
        drain: drain.clone(),
    };
    let runs = transitioner.clone();
    let poller = tokio::spawn(async move {
        fetch_loop("transition run", wakeups, FetchRecord::default(), clock, move || {
            let runs = runs.clone();
            async move {
                let ran = runs.run_all().await.map(drop).map_err(|e| e.to_string());
                // Deploys are observed even when a transition failed: they are another concern.
                if let Err(e) = runs.observe_deploys().await {
                    tracing::warn!("cannot record deploy outcomes in git notes: {e}");
                }
                ran
            }
        })
        .await
    });
    let task = tokio::spawn(async move {
        let served = slipway_kit::serve(listener, app, &drain).await;
        drain.begin();
        let _ = poller.await;
        drain.drained().await;
        // The Lease is released only now, after the runs in flight have pushed.
        release.cancel();
        if let Some(election) = election {
            let _ = election.await;
        }
        served
    });
    Ok(Running {
        addr,
        transitioner,
        task,
    })
}

/// Wakes the poll loop when this replica becomes the leader, so a takeover
/// promotes at once instead of at the next poll.
async fn run_on_takeover(mut changes: tokio::sync::watch::Receiver<bool>, wake: Arc<Notify>, drain: Drain) {
    let mut led = false;
    loop {
        tokio::select! {
            _ = drain.draining() => return,
            changed = changes.changed() => if changed.is_err() { return },
        }
        let leads = *changes.borrow_and_update();
        if leads && !led {
            wake.notify_one();
        }
        led = leads;
    }
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

/// `slipway-transitioner preview NAME`: prints what the next promotion of that
/// transition ships (as text, or as JSON with `json`) and writes nothing.
pub async fn preview(config: Config, name: &str, json: bool, out: &mut impl std::io::Write) -> anyhow::Result<()> {
    let transitioner = Transitioner::new(&config.repo, None, Arc::new(SystemClock))
        .await
        .with_context(|| {
            format!(
                "cannot open the checkout at {}",
                config.repo.versions_checkout_path.display()
            )
        })?;
    let Some(preview) = transitioner.promotion_preview(name).await? else {
        anyhow::bail!("no transition named {name:?} in transitions.yaml");
    };
    if json {
        writeln!(out, "{}", serde_json::to_string_pretty(&preview)?)?;
    } else {
        write!(out, "{}", preview_text::render(&preview))?;
    }
    Ok(())
}

fn deployer_client(config: &Config) -> anyhow::Result<Option<PeerClient>> {
    let client = |url: &str| PeerClient::new("deployer", url, config.deployer_timeout, None);
    Ok(config.deployer_url.as_deref().map(client).transpose()?)
}
