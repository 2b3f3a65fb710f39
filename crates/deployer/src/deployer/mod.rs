//! The deployer: one fetch per poll shared by every env, each env reconciled on
//! its own task so a slow or unreachable cluster never holds up the others.
//!
//! ```text
//! mod.rs       the API: fetch, reconcile one env, reconcile all, deploy, check
//! run.rs       the loop of `serve` and the tasks of the envs
//! env_state.rs what is kept of each env between its reconciles
//! teardown.rs  preview envs removed from deployers.yaml: pruned, namespace deleted if ours
//! redeploy.rs  `POST /deploy`: reconcile chosen envs now, re-applying everything if forced
//! ```

mod env_state;
mod live_diff;
mod redeploy;
mod run;
mod teardown;

pub use run::{FIRST_ROLLOUT_CHECK, WATCH_MIN_GAP, WATCH_SETTLE};
pub use teardown::{created_for, Teardown};

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Instant;

use slipway_core::deployers::DeployTarget;
use slipway_core::model::version_label;
use slipway_core::status::{DeployerStatus, EnvStatus, ErrorRecord, RolloutStatus};
use slipway_core::{RepoSnapshot, Unit};
use slipway_kit::clock::{SharedClock, SystemClock};
use slipway_kit::fetch::FetchRecord;
use slipway_repo::SharedRepo;
use thiserror::Error;
use tracing::Instrument;

use crate::check::EnvCheck;
use crate::cluster::{client_for, Cluster, RetryPolicy};
use crate::config::DeployerConfig;
use crate::metrics::{FailureLabels, Metrics};
use crate::outcome::Outcome;
use crate::plan::Verified;
use crate::reconcile::{act, observe, plan_for, record, EnvError, Settings};
use crate::report::{env_error_status, env_status, ReportInput};
use crate::scheduler::Scheduler;
use crate::shards::{Fence, Shards};
use env_state::EnvState;

/// Problems of the deployer as a whole.
#[derive(Debug, Error)]
pub enum DeployerError {
    #[error("invalid config: {0}")]
    Config(String),
    #[error("resource repo: {0}")]
    Repo(#[from] slipway_repo::GitError),
    #[error("{0}")]
    Repository(#[from] slipway_core::FileError),
    #[error("env {0} is not in deployers.yaml")]
    UnknownEnv(String),
    #[error("{} not in deployers.yaml; its envs are: {}", names(unknown), known.join(", "))]
    UnknownEnvs { unknown: Vec<String>, known: Vec<String> },
}

fn names(envs: &[String]) -> String {
    match envs {
        [one] => format!("env {one} is"),
        _ => format!("envs {} are", envs.join(", ")),
    }
}

/// What one reconcile of one env did.
#[derive(Debug, Clone)]
pub struct EnvRun {
    pub status: EnvStatus,
    pub applied: usize,
    pub pruned: usize,
    /// Adopted objects released (kept, without Slipway's labels) after they left the repo.
    pub released: usize,
    /// Failed applies, prunes, releases, objects not applied, units and env-level errors.
    pub failed: usize,
    /// Objects found to match the repo and not written.
    pub unchanged: usize,
    /// Every object the plan applied, how, and its error if it failed.
    pub objects: Vec<slipway_core::redeploy::AppliedObject>,
}

impl EnvRun {
    /// Whether anything failed (for `deploy`'s exit code).
    pub fn ok(&self) -> bool {
        self.failed == 0 && self.status.status != RolloutStatus::Failed
    }
}

/// The deployer service.
pub struct Deployer {
    config: DeployerConfig,
    repo: SharedRepo,
    clusters: tokio::sync::Mutex<BTreeMap<String, Arc<Cluster>>>,
    status: RwLock<DeployerStatus>,
    snapshot: Mutex<Option<Arc<RepoSnapshot>>>,
    /// When the fetch of `snapshot` started.
    fetched_at: Mutex<Option<chrono::DateTime<chrono::Utc>>>,
    /// What is kept of each env between its reconciles.
    envs: Mutex<BTreeMap<String, EnvState>>,
    /// When envs with a rollout in progress are checked again.
    scheduler: Mutex<Scheduler>,
    /// The targets of the last fetch (to see which preview envs were removed).
    last_targets: Mutex<BTreeMap<String, DeployTarget>>,
    /// Removed preview envs not torn down yet.
    teardowns: Mutex<BTreeMap<String, DeployTarget>>,
    /// The `deployers.yaml` (its hash) at which the clusters were last searched
    /// for namespaces of removed preview envs.
    searched_at: Mutex<Option<u64>>,
    /// A teardown task runs (`serve`).
    tearing_down: std::sync::atomic::AtomicBool,
    /// Numbers the renderings.
    generations: std::sync::atomic::AtomicU64,
    /// Notified when a watch sees a change in the cluster.
    changed: Arc<tokio::sync::Notify>,
    /// Wakes the fetch loop (`POST /refresh`).
    refresh: Arc<tokio::sync::Notify>,
    /// The fetch loop's record: `GET /ready` waits for its first success.
    fetches: FetchRecord,
    clock: SharedClock,
    /// This replica's identity: in the `x-slipway-replica` header of its
    /// requests, and in the env Leases with sharding on.
    identity: String,
    /// The envs this replica applies to (every env until sharding is joined).
    shards: std::sync::OnceLock<Shards>,
    /// The deployer's own Deployment, when known: applied last in its wave.
    self_deployment: Option<crate::config::SelfDeployment>,
    /// Prometheus metrics.
    pub metrics: Metrics,
}

static NO_SHARDS: Shards = Shards::off();

/// How long a refresh passed on to another replica may take.
const FORWARD_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Every critical section leaves the data consistent, so a poisoned lock is still usable.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Deployer {
    /// Opens the local copy of the repo (no fetch, no cluster connection yet).
    pub async fn new(config: DeployerConfig) -> Result<Arc<Self>, DeployerError> {
        Self::with_clock(config, SystemClock::shared()).await
    }

    /// Like [`Deployer::new`] with a given clock.
    pub async fn with_clock(config: DeployerConfig, clock: SharedClock) -> Result<Arc<Self>, DeployerError> {
        config.validate().map_err(DeployerError::Config)?;
        let repo = SharedRepo::open(&config.repo_settings()).await?;
        let self_deployment = crate::config::SelfDeployment::resolve(config.self_deployment.as_ref());
        Ok(Arc::new(Deployer {
            config,
            repo,
            clusters: tokio::sync::Mutex::new(BTreeMap::new()),
            status: RwLock::new(DeployerStatus::default()),
            snapshot: Mutex::new(None),
            fetched_at: Mutex::new(None),
            envs: Mutex::new(BTreeMap::new()),
            scheduler: Mutex::new(Scheduler::default()),
            last_targets: Mutex::new(BTreeMap::new()),
            teardowns: Mutex::new(BTreeMap::new()),
            searched_at: Mutex::new(None),
            tearing_down: std::sync::atomic::AtomicBool::new(false),
            generations: std::sync::atomic::AtomicU64::new(0),
            changed: Arc::new(tokio::sync::Notify::new()),
            refresh: Arc::new(tokio::sync::Notify::new()),
            fetches: FetchRecord::default(),
            clock,
            identity: slipway_kit::lease::identity(),
            shards: std::sync::OnceLock::new(),
            self_deployment,
            metrics: Metrics::default(),
        }))
    }

    /// The config it runs with.
    pub fn config(&self) -> &DeployerConfig {
        &self.config
    }

    /// The current status (what `GET /status` answers). With sharding on: the
    /// envs this replica holds, and who owns every env.
    pub fn status(&self) -> DeployerStatus {
        let mut status = self.status.read().unwrap_or_else(|p| p.into_inner()).clone();
        let shards = self.shards();
        if shards.is_on() {
            status.envs.retain(|env, _| shards.holds(env));
            status.replica = Some(self.identity.clone());
            status.owners = shards.owners();
        }
        status
    }

    /// Whether a reconcile of `env` may start now, marking it busy meanwhile:
    /// with sharding on, only of an env this replica holds, and only with a
    /// snapshot fetched since it took the env (the previous holder may have
    /// applied a newer commit than the one this replica fetched last).
    pub(crate) fn may_reconcile(&self, env: &str) -> Result<Option<crate::shards::Busy>, String> {
        let shards = self.shards();
        let busy = shards.enter(env)?;
        if let Some(since) = shards.held_since(env) {
            if lock(&self.fetched_at).is_none_or(|fetched| fetched < since) {
                self.request_refresh();
                return Err(format!(
                    "env {env} was taken over at {since}: waiting for a fetch of the repo"
                ));
            }
        }
        Ok(busy)
    }

    /// This replica's identity (`POD_NAME`, else the host name and a random suffix).
    pub fn identity(&self) -> &str {
        &self.identity
    }

    /// Which envs this replica applies to.
    pub fn shards(&self) -> &Shards {
        self.shards.get().unwrap_or(&NO_SHARDS)
    }

    /// Joins the env shards of `config.sharding`, announcing `address` as where
    /// this replica answers; the Leases are given up once `release` is
    /// cancelled (await the task). `None` without sharding.
    pub async fn join_shards(
        &self,
        address: Option<String>,
        release: tokio_util::sync::CancellationToken,
    ) -> Result<Option<tokio::task::JoinHandle<()>>, DeployerError> {
        let Some(settings) = &self.config.sharding else {
            return Ok(None);
        };
        let (shards, task) = crate::shards::join(
            settings,
            &self.identity,
            address,
            self.clock.clone(),
            // An env taken over is reconciled after a fetch (see `may_reconcile`).
            self.refresh.clone(),
            // An env given up: the run loop drops its watches (see `forget_envs_not_held`).
            self.changed.clone(),
            release,
        )
        .await
        .map_err(DeployerError::Config)?;
        if let Some(snapshot) = self.last_snapshot() {
            if let Ok(d) = snapshot.deployers() {
                shards.set_envs(d.deployers.keys());
            }
        }
        self.shards
            .set(shards)
            .map_err(|_| DeployerError::Config("the shards were joined twice".into()))?;
        Ok(Some(task))
    }

    /// The objects the env's watch-fed caches hold, once all are in step with
    /// the cluster (`None` before, or for an env not reconciled yet).
    pub fn cached_objects(&self, env: &str) -> Option<Vec<crate::object::ObjectKey>> {
        let watches = lock(&self.envs).get(env).and_then(|e| e.watches.clone());
        watches.and_then(|w| w.keys())
    }

    /// The clock it runs on.
    pub fn clock(&self) -> SharedClock {
        self.clock.clone()
    }

    /// Whether the run loop has fetched the repo yet, and its last fetch error (`GET /ready`).
    pub fn fetches(&self) -> &FetchRecord {
        &self.fetches
    }

    /// The last fetched head of the repo (cheap, unlike [`Deployer::status`]).
    pub fn repo_commit(&self) -> Option<String> {
        self.status
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .repo_commit
            .clone()
    }

    /// Asks the run loop for an immediate fetch and reconcile.
    pub fn request_refresh(&self) {
        self.refresh.notify_one();
    }

    fn set_status(&self, f: impl FnOnce(&mut DeployerStatus)) {
        let mut guard = self.status.write().unwrap_or_else(|p| p.into_inner());
        f(&mut guard);
    }

    /// Fetches the repo once and returns the snapshot of its head.
    pub async fn fetch(&self) -> Result<Arc<RepoSnapshot>, DeployerError> {
        let started = self.clock.now();
        let result = self
            .repo
            .with(|repo| {
                repo.fetch()?;
                repo.head_snapshot()
            })
            .await;
        let now = self.clock.now();
        match result {
            Ok(snap) => {
                *lock(&self.snapshot) = Some(snap.clone());
                *lock(&self.fetched_at) = Some(started);
                self.set_status(|s| {
                    s.repo_commit = (!snap.commit.is_empty()).then(|| snap.commit.clone());
                    s.last_fetch_error = None;
                });
                Ok(snap)
            }
            Err(e) => {
                // Logged by the caller: the fetch loop once per new error, the commands as their error.
                self.metrics.fetch_errors.inc();
                self.set_status(|s| {
                    s.last_fetch_error = Some(ErrorRecord {
                        message: e.to_string(),
                        at: now,
                    })
                });
                Err(e.into())
            }
        }
    }

    /// The envs of `deployers.yaml` in a snapshot; a broken file is reported in the status.
    pub fn targets(&self, snapshot: &RepoSnapshot) -> Result<BTreeMap<String, DeployTarget>, DeployerError> {
        match snapshot.deployers() {
            Ok(d) => {
                self.share_envs(&d.deployers);
                Ok(d.deployers)
            }
            Err(e) => {
                let now = self.clock.now();
                self.set_status(|s| {
                    s.last_fetch_error = Some(ErrorRecord {
                        message: format!("{e} (envs keep their last state until it is fixed)"),
                        at: now,
                    })
                });
                Err(e.into())
            }
        }
    }

    /// Now, by the deployer's clock.
    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.clock.now()
    }

    /// The snapshot of the last successful fetch.
    pub fn last_snapshot(&self) -> Option<Arc<RepoSnapshot>> {
        lock(&self.snapshot).clone()
    }

    /// The connection to a cluster of the config, made on first use.
    pub(crate) async fn cluster(&self, env: &str, name: &str) -> Result<Arc<Cluster>, EnvError> {
        let mut clusters = self.clusters.lock().await;
        if let Some(c) = clusters.get(name) {
            return Ok(c.clone());
        }
        let Some(cfg) = self.config.clusters.get(name) else {
            return Err(EnvError::UnknownCluster {
                env: env.to_string(),
                cluster: name.to_string(),
            });
        };
        let connect = |read_timeout| async move {
            client_for(name, cfg, &self.identity, self.config.request_timeout, read_timeout)
                .await
                .map_err(|source| EnvError::Connect {
                    cluster: name.to_string(),
                    source,
                })
        };
        let client = connect(Some(self.config.request_timeout)).await?;
        let watch_client = connect(None).await?;
        let cluster = Arc::new(
            Cluster::new(name, client, RetryPolicy::from_config(&self.config)).with_watch_client(watch_client),
        );
        clusters.insert(name.to_string(), cluster.clone());
        Ok(cluster)
    }

    fn settings(&self) -> Settings {
        Settings {
            crd_wait: self.config.crd_wait,
            apply_concurrency: self.config.apply_concurrency,
            self_deployment: self.self_deployment.clone(),
        }
    }

    /// Reconciles one env to a snapshot and records its status.
    pub async fn reconcile_env(&self, env: &str, target: &DeployTarget, snapshot: &Arc<RepoSnapshot>) -> EnvRun {
        self.reconcile_env_forced(env, target, snapshot, false).await
    }

    /// Like [`Deployer::reconcile_env`]; with `force`, every object is applied
    /// again, also those that match (a forced redeploy).
    pub async fn reconcile_env_forced(
        &self,
        env: &str,
        target: &DeployTarget,
        snapshot: &Arc<RepoSnapshot>,
        force: bool,
    ) -> EnvRun {
        let span =
            tracing::info_span!("reconcile", env, cluster = %target.cluster, commit = %short(&snapshot.commit), force);
        // One reconcile of an env at a time, whoever asked for it.
        let turn = self.with_env(env, |e| e.turn.clone());
        let _turn = turn.lock().await;
        self.reconcile_env_inner(env, target, snapshot, force)
            .instrument(span)
            .await
    }

    async fn reconcile_env_inner(
        &self,
        env: &str,
        target: &DeployTarget,
        snapshot: &Arc<RepoSnapshot>,
        force: bool,
    ) -> EnvRun {
        let started = Instant::now();
        let previous = self.status().envs.get(env).cloned();
        let labels = Metrics::env(env);
        let result = async {
            let cluster = self.cluster(env, &target.cluster).await?;
            let rendering = self.rendered(env, snapshot);
            let watches = self.watches(env, &cluster, target);
            let desired = self.with_env(env, |e| e.desired.clone());
            let observed = observe(env, target, &rendering, &cluster, Some(&watches), Some(&desired)).await?;
            let observed_after = started.elapsed();
            let verified = self.with_env(env, |e| std::mem::take(&mut e.verified));
            let mut plan = if force {
                // Every object is compared again: none is taken as verified.
                plan_for(env, target, &observed, &Verified::default())
            } else {
                plan_for(env, target, &observed, &verified)
            };
            drop(verified);
            if force {
                plan.force_all();
            }
            let verified = Verified::after(&observed.desired, &observed.live, &plan);
            self.with_env(env, |e| e.verified = verified);
            let planned_after = started.elapsed();
            let fence = Fence {
                shards: self.shards(),
                env,
            };
            let acted = act(env, target, &cluster, &observed, &plan, self.settings(), &fence).await;
            record(&watches, &observed, &acted);
            tracing::debug!(
                observe_ms = observed_after.as_millis() as u64,
                plan_ms = (planned_after - observed_after).as_millis() as u64,
                act_ms = (started.elapsed() - planned_after).as_millis() as u64,
                objects = observed.desired.objects.len(),
                "reconcile phases"
            );
            Ok::<_, EnvError>((observed, plan, acted))
        }
        .await;
        let now = self.clock.now();
        let (status, outcome, objects, unchanged) = match result {
            Err(e) => {
                let message = e.to_string();
                tracing::warn!("reconcile failed: {message}");
                let status = env_error_status(
                    env,
                    &target.cluster,
                    &target.namespace,
                    &message,
                    previous.as_ref(),
                    now,
                );
                (status, Outcome::failed(e.reason()), Vec::new(), 0)
            }
            Ok((observed, plan, acted)) => {
                let versions = service_versions(snapshot, env, &observed.desired.units);
                // Taken out while the status is worked out, so other envs' reconciles do not wait.
                let mut progress = self.with_env(env, |e| std::mem::take(&mut e.progress));
                let status = {
                    env_status(
                        ReportInput {
                            env,
                            cluster: &target.cluster,
                            namespace: &target.namespace,
                            commit: &snapshot.commit,
                            desired: &observed.desired,
                            live: &observed.live,
                            plan: &plan,
                            acted: &acted,
                            versions: &versions,
                            previous: previous.as_ref(),
                            now,
                            default_deadline: self.config.default_progress_deadline,
                        },
                        &mut progress,
                    )
                };
                self.with_env(env, |e| e.progress = progress);
                let outcome = Outcome::of(&observed.desired, &plan, &acted);
                for left in &plan.left_alone {
                    tracing::debug!(object = %left.key, "left alone: {}", left.reason);
                }
                for (i, why) in &plan.blocked {
                    tracing::debug!(object = %observed.desired.objects[*i].key, "not applied: {why}");
                }
                let (applied, pruned, released, failed) = (
                    outcome.applied,
                    outcome.pruned,
                    outcome.released,
                    outcome.failed_total(),
                );
                if applied + pruned + released > 0 || failed > 0 {
                    tracing::info!(applied, pruned, released, failed, status = ?status.status, "reconciled");
                }
                let objects = redeploy::applied_objects(&observed.desired, &plan, &acted);
                (status, outcome, objects, plan.unchanged.len())
            }
        };
        let run = EnvRun {
            status,
            applied: outcome.applied,
            pruned: outcome.pruned,
            released: outcome.released,
            failed: outcome.failed_total(),
            unchanged,
            objects,
        };
        self.metrics
            .reconcile_seconds
            .get_or_create(&labels)
            .observe(started.elapsed().as_secs_f64());
        self.metrics.applied.get_or_create(&labels).inc_by(run.applied as u64);
        self.metrics.pruned.get_or_create(&labels).inc_by(run.pruned as u64);
        // A failure series appears with its first failure: its presence means something failed.
        for (reason, n) in &outcome.failures {
            let labels = FailureLabels {
                env: env.to_string(),
                reason: reason.label(),
            };
            self.metrics.failed.get_or_create(&labels).inc_by(*n as u64);
        }
        if let Some(t) = run.status.last_success.filter(|t| *t == now) {
            self.metrics.last_success.get_or_create(&labels).set(t.timestamp());
        }
        let status = run.status.clone();
        self.set_status(|s| {
            s.envs.insert(env.to_string(), status);
        });
        run
    }

    /// Fetches once, reconciles every env of `deployers.yaml` concurrently, then
    /// tears down the preview envs removed since the last fetch, or before
    /// (found by their namespaces' labels at start and when `deployers.yaml` changes).
    pub async fn reconcile_all(&self) -> Result<BTreeMap<String, EnvRun>, DeployerError> {
        let snapshot = self.fetch().await?;
        let targets = self.targets(&snapshot)?;
        self.forget_removed_envs(&targets);
        let runs = futures::future::join_all(targets.iter().map(|(env, target)| {
            let snapshot = snapshot.clone();
            async move { (env.clone(), self.reconcile_env(env, target, &snapshot).await) }
        }))
        .await;
        self.search_removed_previews(&snapshot, &targets).await;
        self.tear_down_removed_previews(&snapshot).await;
        Ok(runs.into_iter().collect())
    }

    /// Fetches once and reconciles one env (`deploy --local --env`).
    pub async fn deploy(&self, env: &str) -> Result<EnvRun, DeployerError> {
        self.deploy_forced(env, false).await
    }

    /// Like [`Deployer::deploy`]; with `force`, every object is applied again.
    pub async fn deploy_forced(&self, env: &str, force: bool) -> Result<EnvRun, DeployerError> {
        let snapshot = self.fetch().await?;
        let targets = self.targets(&snapshot)?;
        let target = targets
            .get(env)
            .ok_or_else(|| DeployerError::UnknownEnv(env.to_string()))?;
        Ok(self.reconcile_env_forced(env, target, &snapshot, force).await)
    }

    /// Dry run: what a reconcile would create, change and prune, per env.
    pub async fn check(&self, only: Option<&str>) -> Result<Vec<EnvCheck>, DeployerError> {
        let snapshot = self.fetch().await?;
        let targets = self.targets(&snapshot)?;
        if let Some(env) = only {
            if !targets.contains_key(env) {
                return Err(DeployerError::UnknownEnv(env.to_string()));
            }
        }
        let mut out = Vec::new();
        for (env, target) in targets.iter().filter(|(e, _)| only.is_none_or(|o| o == e.as_str())) {
            let result = async {
                let cluster = self.cluster(env, &target.cluster).await?;
                let observed = observe(env, target, &self.rendered(env, &snapshot), &cluster, None, None).await?;
                let plan = plan_for(env, target, &observed, &Verified::default());
                Ok::<_, EnvError>((observed, plan))
            }
            .await;
            out.push(match result {
                Ok((observed, plan)) => EnvCheck::from_plan(env, target, &observed, &plan),
                Err(e) => EnvCheck::failed(env, target, e.to_string()),
            });
        }
        Ok(out)
    }

    /// Forgets the envs that left `deployers.yaml` (nothing of theirs is deleted)
    /// and notes the preview envs among them for their teardown.
    fn forget_removed_envs(&self, targets: &BTreeMap<String, DeployTarget>) {
        self.note_removed_previews(targets);
        self.set_status(|s| s.envs.retain(|env, _| targets.contains_key(env)));
        lock(&self.envs).retain(|env, _| targets.contains_key(env));
        lock(&self.scheduler).retain(|env| targets.contains_key(env));
    }

    /// With sharding on, forgets what is kept of each env this replica does not
    /// hold (another replica applies to it) once no reconcile of it runs: its
    /// watches stop and its rendering, caches and status are freed. An env taken
    /// (back) later starts afresh, as on a new replica.
    pub(super) fn forget_envs_not_held(&self) {
        let shards = self.shards();
        if !shards.is_on() {
            return;
        }
        let mut forgotten = Vec::new();
        lock(&self.envs).retain(|env, e| {
            let keep = e.running || shards.holds(env);
            if !keep {
                forgotten.push(env.clone());
            }
            keep
        });
        if forgotten.is_empty() {
            return;
        }
        tracing::debug!(envs = ?forgotten, "another replica holds these envs: their watches stop");
        self.set_status(|s| s.envs.retain(|env, _| !forgotten.contains(env)));
        lock(&self.scheduler).retain(|env| !forgotten.contains(&env.to_string()));
    }

    /// Sets the gauges of what this replica holds (read at each `GET /metrics`).
    pub fn update_held_gauges(&self) {
        let shards = self.shards();
        let held = lock(&self.last_targets).keys().filter(|env| shards.holds(env)).count();
        let watched = lock(&self.envs).values().filter(|e| e.watches.is_some()).count();
        self.metrics.envs_held.set(held as i64);
        self.metrics.watched_envs.set(watched as i64);
    }

    /// With sharding on, passes a refresh on to the other replicas alive
    /// (`POST /refresh/local` at the address their replica Leases announce), so a
    /// webhook that reaches one replica reconciles every env at once. Each
    /// replica rate-limits what it is passed; none passes it on again.
    pub fn forward_refresh(&self) {
        let peers = self.shards().peers();
        if peers.is_empty() {
            return;
        }
        tokio::spawn(async move {
            let client = reqwest::Client::new();
            futures::future::join_all(peers.into_iter().map(|(replica, address)| {
                let client = client.clone();
                async move {
                    let sent = client
                        .post(format!("{address}/refresh/local"))
                        .timeout(FORWARD_TIMEOUT)
                        .send()
                        .await
                        .and_then(reqwest::Response::error_for_status);
                    if let Err(e) = sent {
                        tracing::debug!(replica, %address, "cannot pass the refresh on to another replica: {e}");
                    }
                }
            }))
            .await;
        });
    }
}

fn short(commit: &str) -> &str {
    commit.get(..12).unwrap_or(commit)
}

/// The version label of each service of the env.
fn service_versions(snapshot: &RepoSnapshot, env: &str, units: &[Unit]) -> BTreeMap<String, String> {
    units
        .iter()
        .filter_map(|u| match u {
            Unit::Service(s) => match snapshot.version_vars(env, s) {
                Some(Ok(vars)) => Some((s.clone(), version_label(&vars))),
                _ => None,
            },
            Unit::Deployable(_) => None,
        })
        .collect()
}
