//! slipway-aggregator: the API for CI and people, and the web UI (SPEC section 6).
//!
//! CI posts versions, people lock, unlock and roll back; every write is a commit
//! pushed to the resource repo before it is answered. Reads come from an
//! in-memory picture kept current from the repo and from the deployer's and
//! transitioner's status, and changes are streamed to the UI as Server-Sent Events.
//!
//! Pure planners ([`versions`], [`lock_changes`], [`rollback`], [`state`],
//! [`message`]) decide, refusing with a [`refusal::Refusal`]; [`app`] and [`http`]
//! carry out, and [`error`] turns refusals into status codes.
#![forbid(unsafe_code)]

pub mod app;
pub mod batch;
pub mod client;
pub mod config;
pub mod delivery;
pub mod error;
pub mod history;
pub mod history_filter;
pub mod http;
pub mod input;
pub mod inspect;
pub mod lock_changes;
pub mod message;
pub mod metrics;
pub mod notifications;
pub mod preview;
pub mod previews;
pub mod redeploy;
pub mod refusal;
pub mod rollback;
pub mod state;
pub mod store;
pub mod ui;
#[cfg(feature = "ts")]
pub mod ui_types;
pub mod versions;
pub mod webhooks;

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context as _;
use slipway_repo::SharedRepo;
use tokio::sync::Notify;

pub use config::AggregatorConfig;

use app::App;
use metrics::Metrics;
use slipway_core::tokens::{peer_token, Tokens};
use slipway_kit::clock::SystemClock;
use slipway_kit::drain::Drain;
use slipway_kit::fetch::FetchRecord;
use slipway_kit::peer::PeerClient;
use slipway_kit::refresh::RefreshGate;
use store::Store;

/// How long start-up waits for the first fetch before serving a stale (empty) state.
const FIRST_FETCH_LIMIT: std::time::Duration = std::time::Duration::from_secs(15);

/// A started aggregator.
pub struct Running {
    /// The address the API listens on.
    pub addr: SocketAddr,
    /// Ends when the server has shut down.
    pub task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

/// Starts the aggregator: fetches the repo once, binds `api_bind` (printing the
/// `listening on` line), and runs until the drain begins; its task ends once
/// the writes in flight have been pushed and answered.
pub async fn start(config: AggregatorConfig, drain: Drain) -> anyhow::Result<Running> {
    start_with_clock(config, drain, SystemClock::shared()).await
}

/// [`start`] on a given clock (preview expiry, `updated_at`, rate limits of refreshes).
pub async fn start_with_clock(
    config: AggregatorConfig,
    drain: Drain,
    clock: slipway_kit::clock::SharedClock,
) -> anyhow::Result<Running> {
    previews::check_config(config.preview_domain.as_deref(), &config.previews)
        .map_err(|e| anyhow::anyhow!("invalid config: {e}"))?;
    if let Some(template) = &config.commit_url_template {
        history_filter::check_template(template).map_err(|e| anyhow::anyhow!("invalid config: {e}"))?;
    }
    let tokens = Tokens::load(config.api_tokens_file.as_deref(), config.api_tokens_env.as_deref())?;
    let peer_token = peer_token(config.peer_token_file.as_deref(), config.peer_token_env.as_deref())?;
    if peer_token.is_none() && config.transitioner_url.is_some() {
        tracing::warn!(
            "no peer_token_file or peer_token_env is configured: the transitioner will refuse runs asked for here"
        );
    }
    let repo = SharedRepo::open(&config.repo).await.with_context(|| {
        format!(
            "cannot open the checkout at {}",
            config.repo.versions_checkout_path.display()
        )
    })?;
    let peer = |name, url: &Option<String>, token: Option<String>| {
        url.as_deref()
            .map(|url| PeerClient::new(name, url, config.peer_timeout, token))
            .transpose()
    };
    // The deployer needs the peer token for `POST /deploy` only.
    let deployer = peer("deployer", &config.deployer_url, peer_token.clone())?;
    let transitioner = peer("transitioner", &config.transitioner_url, peer_token)?;
    let fetch_now = Arc::new(Notify::new());
    let nudged = fetch_now.clone();
    let webhook_secrets =
        webhooks::Secrets::load(&config.webhooks).map_err(|e| anyhow::anyhow!("aggregator config: {e}"))?;
    let store = Arc::new(Store::new(clock.clone()));
    let mut metrics = Metrics::new();
    let notify_metrics = slipway_kit::notify::NotifyMetrics::default();
    notify_metrics.register(&mut metrics.registry);
    let notifier = slipway_kit::notify::Notifier::start("slipway-aggregator", &config.notifications, notify_metrics)
        .map_err(|e| anyhow::anyhow!("aggregator config: {e}"))?;
    let peers: Vec<PeerClient> = [&deployer, &transitioner].into_iter().flatten().cloned().collect();
    let versions = batch::VersionQueue::start(
        repo.clone(),
        store.clone(),
        config.version_batch_max,
        metrics.version_pushes.clone(),
        Arc::new(move || {
            for peer in &peers {
                let peer = peer.clone();
                tokio::spawn(async move { peer.refresh().await });
            }
        }),
    );
    let head_of = store.clone();
    let head = Arc::new(move || Some(head_of.snapshot().commit.clone()).filter(|c| !c.is_empty()));
    let app = Arc::new(App {
        tokens,
        refresh: RefreshGate::new(clock, head, move || nudged.notify_one()),
        repo,
        store,
        metrics,
        versions,
        webhook_secrets,
        notifier,
        notifies: !config.notifications.is_empty(),
        webhook_limit: webhooks::RateLimit::new(webhooks::RATE_PER_SECOND),
        deployer,
        transitioner,
        fetches: FetchRecord::default(),
        fetch_now,
        last_hint: Default::default(),
        drain: drain.clone(),
        config,
    });
    // Serve the first state from the repo; a remote that hangs must not keep the API down.
    let repo_loop = tokio::spawn(app.clone().repo_loop());
    if tokio::time::timeout(FIRST_FETCH_LIMIT, app.fetches.settled())
        .await
        .is_err()
    {
        tracing::warn!(
            "the first fetch of {} takes longer than {FIRST_FETCH_LIMIT:?}; serving meanwhile, state marked stale",
            app.config.repo.versions_url
        );
        app.store
            .set_repo_error("the first fetch has not finished yet".to_string());
    }
    let router = http::router(app.clone());
    let (listener, addr) = slipway_kit::bind("slipway-aggregator", &app.config.api_bind).await?;
    let publisher = tokio::spawn(app.store.clone().publisher(drain.clone()));
    let peer_loop = tokio::spawn(app.clone().peer_loop());
    let expiry_loop = tokio::spawn(previews::expiry_loop(app.clone()));
    let task = tokio::spawn(async move {
        let served = slipway_kit::serve(listener, router, &drain).await;
        drain.begin();
        let _ = repo_loop.await;
        let _ = peer_loop.await;
        let _ = expiry_loop.await;
        let _ = publisher.await;
        drain.drained().await;
        served
    });
    Ok(Running { addr, task })
}

/// Runs the aggregator until the drain begins and the writes in flight are done.
pub async fn serve(config: AggregatorConfig, drain: Drain) -> anyhow::Result<()> {
    let running = start(config, drain).await?;
    running.task.await.context("the server task failed")?
}
