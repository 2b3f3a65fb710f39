//! Shared test fixtures: resource repos from YAML, a transitioner on a manual clock,
//! and a fake deployer whose status the test controls.
#![allow(dead_code)]

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use slipway_core::status::{DeployerStatus, EnvStatus, RolloutStatus};
use slipway_kit::peer::PeerClient;
use slipway_transitioner::{Config, ManualClock, Transitioner};
use tokio_util::sync::CancellationToken;

pub use git_fixture::TempRepo;

/// Polls `check` every 10 ms until it gives `Ok`, for at most `within`, instead of
/// sleeping for a guessed time; on timeout the test fails naming what it waited
/// for and what `check` saw last.
pub async fn wait_until<T, F, Fut>(what: &str, within: std::time::Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let seen = match check().await {
            Ok(value) => return value,
            Err(seen) => seen,
        };
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out after {within:?} waiting for {what}; last seen: {seen}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}

pub fn at(s: &str) -> DateTime<Utc> {
    s.parse().expect("test timestamps are RFC 3339")
}

/// A fixture repo from YAML.
pub fn repo(yaml: &str) -> TempRepo {
    git_fixture::temp(yaml).expect("fixture definition is valid")
}

/// A transitioner on `repo` with its own checkout, a manual clock, and an optional deployer.
pub async fn transitioner(
    repo: &TempRepo,
    checkout: &str,
    clock: Arc<ManualClock>,
    deployer: Option<&FakeDeployer>,
) -> Transitioner {
    transitioner_with_deployer_at(repo, checkout, clock, deployer.map(FakeDeployer::url)).await
}

/// A transitioner whose deployer is at `deployer_url`.
pub async fn transitioner_with_deployer_at(
    repo: &TempRepo,
    checkout: &str,
    clock: Arc<ManualClock>,
    deployer_url: Option<String>,
) -> Transitioner {
    let config = Config::new(repo.url(), repo.scratch(checkout));
    let client =
        deployer_url.map(|url| PeerClient::new("deployer", &url, std::time::Duration::from_secs(2), None).unwrap());
    Transitioner::new(&config.repo, client, clock).await.unwrap()
}

/// The URL of a loopback port nobody listens on.
pub fn closed_port_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{addr}")
}

pub fn clock(now: &str) -> Arc<ManualClock> {
    Arc::new(ManualClock::new(at(now)))
}

/// Commits on the branch, newest first, made by the transitioner.
pub fn transitioner_commits(repo: &TempRepo) -> Vec<(String, String)> {
    repo.log()
        .into_iter()
        .filter(|(_, author, _)| author == "slipway-transitioner")
        .map(|(id, _, msg)| (id, msg))
        .collect()
}

/// A deployer status server the test controls.
pub struct FakeDeployer {
    pub addr: SocketAddr,
    pub status: Arc<Mutex<DeployerStatus>>,
    pub refreshes: Arc<AtomicUsize>,
    stop: CancellationToken,
}

#[derive(Clone)]
struct FakeState {
    status: Arc<Mutex<DeployerStatus>>,
    refreshes: Arc<AtomicUsize>,
}

impl FakeDeployer {
    pub async fn start() -> Self {
        let status = Arc::new(Mutex::new(DeployerStatus::default()));
        let refreshes = Arc::new(AtomicUsize::new(0));
        let state = FakeState {
            status: status.clone(),
            refreshes: refreshes.clone(),
        };
        let app = Router::new()
            .route(
                "/status",
                get(|State(s): State<FakeState>| async move { Json(s.status.lock().unwrap().clone()) }),
            )
            .route(
                "/refresh",
                post(|State(s): State<FakeState>| async move {
                    s.refreshes.fetch_add(1, Ordering::SeqCst);
                    "scheduled"
                }),
            )
            .with_state(state);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = CancellationToken::new();
        let s = stop.clone();
        tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async move { s.cancelled().await })
                .await
        });
        FakeDeployer {
            addr,
            status,
            refreshes,
            stop,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Reports `env` at `commit` with `status`, clean since `clean_since`.
    pub fn set_env(&self, env: &str, commit: &str, status: RolloutStatus, reason: &str, clean_since: Option<&str>) {
        let mut s = self.status.lock().unwrap();
        s.envs.insert(
            env.to_string(),
            EnvStatus {
                env: env.to_string(),
                cluster: "main".into(),
                namespace: env.to_string(),
                commit: Some(commit.to_string()),
                status,
                reason: reason.to_string(),
                services: Default::default(),
                last_error: None,
                last_reconcile: None,
                last_success: None,
                clean_since: clean_since.map(at),
            },
        );
    }
}

impl Drop for FakeDeployer {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}
