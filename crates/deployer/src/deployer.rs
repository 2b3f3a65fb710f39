//! The deployer: one fetch per poll shared by every env, each env reconciled on
//! its own task so a slow or unreachable cluster never holds up the others.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Instant;

use chrono::{DateTime, Utc};
use slipway_core::deployers::DeployTarget;
use slipway_core::model::version_label;
use slipway_core::status::{DeployerStatus, EnvStatus, ErrorRecord, RolloutStatus};
use slipway_core::{RepoSnapshot, Unit};
use slipway_repo::SharedRepo;
use thiserror::Error;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::check::EnvCheck;
use crate::cluster::{client_for, Cluster, RetryPolicy};
use crate::config::DeployerConfig;
use crate::metrics::Metrics;
use crate::plan::Verified;
use crate::reconcile::{act, observe, plan_for, record, DesiredCache, EnvError, Rendering, Settings};
use crate::report::{env_error_status, env_status, Progress, ReportInput};
use crate::watch::EnvWatches;

/// Where "now" comes from (injected so tests control time).
pub type Clock = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

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
}

impl EnvRun {
    /// Whether anything failed (for `deploy`'s exit code).
    pub fn ok(&self) -> bool {
        self.failed == 0 && self.status.status != RolloutStatus::Failed
    }
}

/// An env's rendering and the snapshot it was rendered from.
type RenderedAt = (Arc<RepoSnapshot>, Arc<Rendering>);

#[derive(Default)]
struct EnvSlot {
    /// Another reconcile was asked for while one ran.
    again: bool,
}

/// The deployer service.
pub struct Deployer {
    config: DeployerConfig,
    repo: SharedRepo,
    clusters: tokio::sync::Mutex<BTreeMap<String, Arc<Cluster>>>,
    status: RwLock<DeployerStatus>,
    progress: Mutex<BTreeMap<String, Progress>>,
    snapshot: Mutex<Option<Arc<RepoSnapshot>>>,
    /// env → (snapshot, its rendering): rendering 500 services is the costliest
    /// pure step, most polls see the same commit, and most commits touch one env.
    rendered: Mutex<BTreeMap<String, RenderedAt>>,
    /// Numbers the renderings.
    generations: std::sync::atomic::AtomicU64,
    /// env → its desired set, kept while the commit stays the same.
    desired: Mutex<BTreeMap<String, Arc<DesiredCache>>>,
    /// env → what its last plan found unchanged.
    verified: Mutex<BTreeMap<String, Verified>>,
    /// env → the watch-fed caches of its objects.
    watches: Mutex<BTreeMap<String, Arc<EnvWatches>>>,
    /// Notified when a watch sees a change in the cluster.
    changed: Arc<tokio::sync::Notify>,
    slots: Mutex<BTreeMap<String, EnvSlot>>,
    refresh: tokio::sync::Notify,
    clock: Clock,
    /// Prometheus metrics.
    pub metrics: Metrics,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Every critical section leaves the data consistent, so a poisoned lock is still usable.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Deployer {
    /// Opens the local copy of the repo (no fetch, no cluster connection yet).
    pub async fn new(config: DeployerConfig) -> Result<Arc<Self>, DeployerError> {
        Self::with_clock(config, Arc::new(Utc::now)).await
    }

    /// Like [`Deployer::new`] with a given clock.
    pub async fn with_clock(config: DeployerConfig, clock: Clock) -> Result<Arc<Self>, DeployerError> {
        config.validate().map_err(DeployerError::Config)?;
        let repo = SharedRepo::open(&config.repo_settings()).await?;
        Ok(Arc::new(Deployer {
            config,
            repo,
            clusters: tokio::sync::Mutex::new(BTreeMap::new()),
            status: RwLock::new(DeployerStatus::default()),
            progress: Mutex::new(BTreeMap::new()),
            snapshot: Mutex::new(None),
            rendered: Mutex::new(BTreeMap::new()),
            generations: std::sync::atomic::AtomicU64::new(0),
            desired: Mutex::new(BTreeMap::new()),
            verified: Mutex::new(BTreeMap::new()),
            watches: Mutex::new(BTreeMap::new()),
            changed: Arc::new(tokio::sync::Notify::new()),
            slots: Mutex::new(BTreeMap::new()),
            refresh: tokio::sync::Notify::new(),
            clock,
            metrics: Metrics::default(),
        }))
    }

    /// The config it runs with.
    pub fn config(&self) -> &DeployerConfig {
        &self.config
    }

    /// The current status (what `GET /status` answers).
    pub fn status(&self) -> DeployerStatus {
        self.status.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The objects the env's watch-fed caches hold, once all are in step with
    /// the cluster (`None` before, or for an env not reconciled yet).
    pub fn cached_objects(&self, env: &str) -> Option<Vec<crate::object::ObjectKey>> {
        lock(&self.watches).get(env).and_then(|w| w.keys())
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
        let result = self
            .repo
            .with(|repo| {
                repo.fetch()?;
                repo.head_snapshot()
            })
            .await;
        let now = (self.clock)();
        match result {
            Ok(snap) => {
                *lock(&self.snapshot) = Some(snap.clone());
                self.set_status(|s| {
                    s.repo_commit = (!snap.commit.is_empty()).then(|| snap.commit.clone());
                    s.last_fetch_error = None;
                });
                Ok(snap)
            }
            Err(e) => {
                self.metrics.fetch_errors.inc();
                tracing::warn!("fetching the resource repo failed: {e}");
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
            Ok(d) => Ok(d.deployers),
            Err(e) => {
                let now = (self.clock)();
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

    async fn cluster(&self, env: &str, name: &str) -> Result<Arc<Cluster>, EnvError> {
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
            client_for(name, cfg, self.config.request_timeout, read_timeout)
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

    /// The env rendered from the snapshot: the same rendering while the env's
    /// folder is unchanged, else rendered again.
    fn rendered(&self, env: &str, snapshot: &Arc<RepoSnapshot>) -> Arc<Rendering> {
        let earlier = lock(&self.rendered).get(env).cloned();
        let rendering = match earlier {
            Some((before, rendering)) if snapshot.same_folder(&before, env) => rendering,
            _ => {
                let units = snapshot.render_env(env);
                let generation = self.generations.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let (again, name) = (snapshot.clone(), env.to_string());
                Arc::new(Rendering::new(generation, units, move || again.render_env(&name)))
            }
        };
        lock(&self.rendered).insert(env.to_string(), (snapshot.clone(), rendering.clone()));
        rendering
    }

    /// The env's caches, started anew when its cluster or namespace changed.
    fn watches(&self, env: &str, cluster: &Arc<Cluster>, target: &DeployTarget) -> Arc<EnvWatches> {
        let mut all = lock(&self.watches);
        match all.get(env) {
            Some(w) if w.is_for(cluster, &target.namespace) => w.clone(),
            _ => {
                let w = Arc::new(EnvWatches::new(
                    cluster.clone(),
                    &target.namespace,
                    &format!("{}={env}", crate::object::ENV_LABEL),
                    self.changed.clone(),
                ));
                all.insert(env.to_string(), w.clone());
                w
            }
        }
    }

    fn settings(&self) -> Settings {
        Settings {
            crd_wait: self.config.crd_wait,
            apply_concurrency: self.config.apply_concurrency,
        }
    }

    /// Reconciles one env to a snapshot and records its status.
    pub async fn reconcile_env(&self, env: &str, target: &DeployTarget, snapshot: &Arc<RepoSnapshot>) -> EnvRun {
        let span = tracing::info_span!("reconcile", env, cluster = %target.cluster, commit = %short(&snapshot.commit));
        self.reconcile_env_inner(env, target, snapshot).instrument(span).await
    }

    async fn reconcile_env_inner(&self, env: &str, target: &DeployTarget, snapshot: &Arc<RepoSnapshot>) -> EnvRun {
        let started = Instant::now();
        let previous = self.status().envs.get(env).cloned();
        let labels = Metrics::env(env);
        let result = async {
            let cluster = self.cluster(env, &target.cluster).await?;
            let rendering = self.rendered(env, snapshot);
            let watches = self.watches(env, &cluster, target);
            let desired = lock(&self.desired).entry(env.to_string()).or_default().clone();
            let observed = observe(env, target, &rendering, &cluster, Some(&watches), Some(&desired)).await?;
            let observed_after = started.elapsed();
            let verified = lock(&self.verified).remove(env).unwrap_or_default();
            let plan = plan_for(env, target, &observed, &verified);
            drop(verified);
            lock(&self.verified).insert(
                env.to_string(),
                Verified::after(&observed.desired, &observed.live, &plan),
            );
            let planned_after = started.elapsed();
            let acted = act(env, target, &cluster, &observed, &plan, self.settings()).await;
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
        let now = (self.clock)();
        let run = match result {
            Err(e) => {
                let message = e.to_string();
                tracing::warn!("reconcile failed: {message}");
                EnvRun {
                    status: env_error_status(
                        env,
                        &target.cluster,
                        &target.namespace,
                        &message,
                        previous.as_ref(),
                        now,
                    ),
                    applied: 0,
                    pruned: 0,
                    released: 0,
                    failed: 1,
                }
            }
            Ok((observed, plan, acted)) => {
                let versions = service_versions(snapshot, env, &observed.desired.units);
                let status = {
                    let mut progress = lock(&self.progress);
                    let progress = progress.entry(env.to_string()).or_default();
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
                        progress,
                    )
                };
                let applied = acted.applied.values().filter(|r| r.is_ok()).count();
                let pruned = acted.pruned.iter().filter(|(_, r)| r.is_ok()).count();
                let released = acted.released.iter().filter(|(_, r)| r.is_ok()).count();
                let failed = acted.applied.values().filter(|r| r.is_err()).count()
                    + acted.pruned.iter().filter(|(_, r)| r.is_err()).count()
                    + acted.released.iter().filter(|(_, r)| r.is_err()).count()
                    + plan.blocked.len()
                    + acted.errors.len()
                    + observed.desired.failed.len()
                    + usize::from(plan.refused.is_some());
                for left in &plan.left_alone {
                    tracing::debug!(object = %left.key, "left alone: {}", left.reason);
                }
                for (i, why) in &plan.blocked {
                    tracing::debug!(object = %observed.desired.objects[*i].key, "not applied: {why}");
                }
                if applied + pruned + released > 0 || failed > 0 {
                    tracing::info!(applied, pruned, released, failed, status = ?status.status, "reconciled");
                }
                EnvRun {
                    status,
                    applied,
                    pruned,
                    released,
                    failed,
                }
            }
        };
        self.metrics
            .reconcile_seconds
            .get_or_create(&labels)
            .observe(started.elapsed().as_secs_f64());
        self.metrics.applied.get_or_create(&labels).inc_by(run.applied as u64);
        self.metrics.pruned.get_or_create(&labels).inc_by(run.pruned as u64);
        self.metrics.failed.get_or_create(&labels).inc_by(run.failed as u64);
        if let Some(t) = run.status.last_success.filter(|t| *t == now) {
            self.metrics.last_success.get_or_create(&labels).set(t.timestamp());
        }
        let status = run.status.clone();
        self.set_status(|s| {
            s.envs.insert(env.to_string(), status);
        });
        run
    }

    /// Fetches once and reconciles every env of `deployers.yaml` concurrently.
    pub async fn reconcile_all(&self) -> Result<BTreeMap<String, EnvRun>, DeployerError> {
        let snapshot = self.fetch().await?;
        let targets = self.targets(&snapshot)?;
        self.forget_removed_envs(&targets);
        let runs = futures::future::join_all(targets.iter().map(|(env, target)| {
            let snapshot = snapshot.clone();
            async move { (env.clone(), self.reconcile_env(env, target, &snapshot).await) }
        }))
        .await;
        Ok(runs.into_iter().collect())
    }

    /// Fetches once and reconciles one env (`deploy --env`).
    pub async fn deploy(&self, env: &str) -> Result<EnvRun, DeployerError> {
        let snapshot = self.fetch().await?;
        let targets = self.targets(&snapshot)?;
        let target = targets
            .get(env)
            .ok_or_else(|| DeployerError::UnknownEnv(env.to_string()))?;
        Ok(self.reconcile_env(env, target, &snapshot).await)
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

    fn forget_removed_envs(&self, targets: &BTreeMap<String, DeployTarget>) {
        self.set_status(|s| s.envs.retain(|env, _| targets.contains_key(env)));
        lock(&self.progress).retain(|env, _| targets.contains_key(env));
        lock(&self.rendered).retain(|env, _| targets.contains_key(env));
        lock(&self.watches).retain(|env, _| targets.contains_key(env));
        lock(&self.desired).retain(|env, _| targets.contains_key(env));
        lock(&self.verified).retain(|env, _| targets.contains_key(env));
    }

    /// The loop of `serve`: fetch on every poll interval and on refresh, and start a
    /// reconcile for every env that is not reconciling already (one that is gets
    /// another run right after, with the newest snapshot). While a rollout is in
    /// progress, the envs are reconciled again without fetching: first after
    /// [`FIRST_ROLLOUT_CHECK`], then at doubling intervals up to
    /// `rollout_check_interval`, so a fast rollout is reported `Clean` (or `Failed`)
    /// soon after it happens, a slow one costs few reads, and the repo host still
    /// sees one fetch per poll.
    pub async fn run(self: Arc<Self>, shutdown: CancellationToken) {
        let mut tasks = JoinSet::new();
        let mut fetch = true;
        let mut next_fetch = tokio::time::Instant::now();
        let mut check_after = FIRST_ROLLOUT_CHECK;
        let mut last_woken = tokio::time::Instant::now() - WATCH_MIN_GAP;
        loop {
            if fetch {
                check_after = FIRST_ROLLOUT_CHECK;
            }
            let snapshot = if fetch {
                next_fetch = tokio::time::Instant::now() + self.config.poll_interval;
                self.fetch().await.ok()
            } else {
                lock(&self.snapshot).clone()
            };
            if let Some(snapshot) = snapshot {
                if let Ok(targets) = self.targets(&snapshot) {
                    self.forget_removed_envs(&targets);
                    for env in targets.keys() {
                        let start = {
                            let mut slots = lock(&self.slots);
                            match slots.get_mut(env) {
                                Some(slot) => {
                                    slot.again = true;
                                    false
                                }
                                None => {
                                    slots.insert(env.clone(), EnvSlot::default());
                                    true
                                }
                            }
                        };
                        if start {
                            let me = self.clone();
                            let env = env.clone();
                            tasks.spawn(async move { me.env_task(env).await });
                        }
                    }
                }
            }
            // Wait for the next poll, a refresh, or (while a rollout is in progress)
            // the next rollout check; a finished reconcile may start or end a rollout.
            loop {
                let checking = self.rollouts_in_progress();
                if !checking {
                    check_after = FIRST_ROLLOUT_CHECK;
                }
                let wake = if checking {
                    next_fetch.min(tokio::time::Instant::now() + check_after.min(self.config.rollout_check_interval))
                } else {
                    next_fetch
                };
                tokio::select! {
                    _ = shutdown.cancelled() => {
                        tasks.shutdown().await;
                        return;
                    }
                    _ = tokio::time::sleep_until(wake) => {
                        fetch = tokio::time::Instant::now() >= next_fetch;
                        check_after = (check_after * 2).min(self.config.rollout_check_interval);
                        break;
                    }
                    _ = self.refresh.notified() => {
                        fetch = true;
                        break;
                    }
                    _ = self.changed.notified() => {
                        // Let a burst of changes (a rollout step of many objects) settle into
                        // one reconcile, and keep a cluster that changes all the time from
                        // keeping the deployer busy.
                        let wake = (tokio::time::Instant::now() + WATCH_SETTLE).max(last_woken + WATCH_MIN_GAP);
                        tokio::time::sleep_until(wake).await;
                        last_woken = tokio::time::Instant::now();
                        fetch = tokio::time::Instant::now() >= next_fetch;
                        break;
                    }
                    Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
                }
            }
        }
    }

    /// Whether any env has a rollout under way (or objects still to apply).
    fn rollouts_in_progress(&self) -> bool {
        self.status
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .envs
            .values()
            .any(|e| matches!(e.status, RolloutStatus::InProgress | RolloutStatus::Outdated))
    }

    async fn env_task(self: Arc<Self>, env: String) {
        loop {
            let snapshot = lock(&self.snapshot).clone();
            let target = snapshot
                .as_ref()
                .and_then(|s| s.deployers().ok())
                .and_then(|d| d.deployers.get(&env).cloned());
            if let (Some(snapshot), Some(target)) = (snapshot, target) {
                let me = self.clone();
                let name = env.clone();
                // On its own task, so that even a bug that panics leaves this loop (and the slot) intact.
                let run = tokio::spawn(async move { me.reconcile_env(&name, &target, &snapshot).await });
                if let Err(e) = run.await {
                    tracing::error!(env, "reconcile task failed: {e}");
                }
            }
            let mut slots = lock(&self.slots);
            match slots.get_mut(&env) {
                Some(slot) if slot.again => slot.again = false,
                _ => {
                    slots.remove(&env);
                    return;
                }
            }
        }
    }
}

/// How long a change seen by a watch waits for others before the envs are reconciled.
pub const WATCH_SETTLE: std::time::Duration = std::time::Duration::from_millis(20);

/// The shortest time between two reconcile rounds started by watches.
pub const WATCH_MIN_GAP: std::time::Duration = std::time::Duration::from_millis(100);

/// The first rollout check after a reconcile that left a rollout in progress.
pub const FIRST_ROLLOUT_CHECK: std::time::Duration = std::time::Duration::from_millis(100);

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
