//! Env shards: with `sharding` configured, the envs are spread over the
//! deployer replicas with one `coordination.k8s.io/v1` Lease per env, and a
//! replica applies only to the envs whose Lease it holds.
//!
//! ```text
//!  every retry_period: LIST the Leases labelled slipway.dev/shards=<prefix>
//!        ├─ renew my replica Lease  <prefix>-replica-<identity>   (who is alive)
//!        ├─ plan_round (pure, plan.rs): per env Create / Acquire / Renew / Release / Wait
//!        └─ write the env Leases    <prefix>-env-<env>            (optimistic, on the version read)
//!  before each apply wave: Fence::check = I hold the env's Lease and my last
//!                          renewal of it was sent less than renew_deadline ago
//!  on shutdown (after the reconciles in flight): release my env Leases, delete my replica Lease
//! ```
//!
//! One Lease per env (not shards by consistent hashing with one Lease per
//! shard): an env is the unit a reconcile applies, so its Lease is exactly the
//! fence of that reconcile, `/status` can say who owns each env by reading the
//! Leases, and a takeover or a rebalance moves single envs. The cost, a Lease
//! write per env and replica every `retry_period`, is small for tens of envs;
//! the reads are one LIST per round.

mod plan;

pub use plan::{fair_share, plan_round, preferred_owner, RoundInput, RoundPlan, Step};

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use k8s_openapi::api::coordination::v1::Lease;
use kube::api::{DeleteParams, ListParams, ObjectMeta, PostParams};
use kube::Api;
use slipway_core::status::EnvOwner;
use slipway_kit::clock::SharedClock;
use slipway_kit::lease::{decide, record_of, spec_of, Decision, LeaseRecord, LeaseSettings, Standing, HOLDER_ADDRESS};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// Label on every Lease of one deployment of sharded deployers: its value is the prefix.
pub const SHARDS_LABEL: &str = "slipway.dev/shards";
/// Label on an env's Lease: the env.
pub const SHARD_ENV_LABEL: &str = "slipway.dev/shard-env";
/// Label on a replica's Lease: `"true"`.
pub const SHARD_REPLICA_LABEL: &str = "slipway.dev/shard-replica";
/// The Lease names' prefix when `sharding.lease_name` is not set.
pub const DEFAULT_PREFIX: &str = "slipway-deployer";

/// Which envs this replica may apply to. Without sharding it may apply to all.
#[derive(Clone, Default)]
pub struct Shards {
    inner: Option<Arc<Inner>>,
}

struct Inner {
    me: String,
    prefix: String,
    duration: Duration,
    renew_deadline: Duration,
    retry_period: Duration,
    address: Option<String>,
    clock: SharedClock,
    state: Mutex<State>,
    /// Woken when this replica takes an env, so it is reconciled at once.
    gained: Arc<Notify>,
    /// Woken when this replica gives an env up or loses it, so what it kept of
    /// the env (its watches) is dropped at once.
    lost: Arc<Notify>,
}

#[derive(Default)]
struct State {
    /// The envs of `deployers.yaml`, as last fetched.
    envs: BTreeSet<String>,
    /// This replica's standing per env.
    standings: BTreeMap<String, Standing>,
    /// Every env Lease, as last read or written.
    leases: BTreeMap<String, LeaseRecord>,
    /// The replicas alive at the last round (this one included).
    replicas: BTreeSet<String>,
    /// Where the other replicas alive at the last round answer (from their replica Leases).
    peers: BTreeMap<String, String>,
    /// How many reconciles of each env run now.
    busy: BTreeMap<String, usize>,
}

impl State {
    fn holds(&self, env: &str, now: DateTime<Utc>, renew_deadline: Duration) -> bool {
        self.standings.get(env).is_some_and(|s| s.leads(now, renew_deadline))
    }
}

fn lock(m: &Mutex<State>) -> std::sync::MutexGuard<'_, State> {
    // Plain data, consistent after any panic of a holder.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The fence of one env's reconcile, checked before each write wave.
pub struct Fence<'a> {
    pub shards: &'a Shards,
    pub env: &'a str,
}

impl Fence<'_> {
    /// Whether the reconcile may write now; the reason when not.
    pub fn check(&self) -> Result<(), String> {
        self.shards.check(self.env)
    }
}

/// Marks an env as being applied while it lives: its Lease is not given up meanwhile.
pub struct Busy {
    inner: Arc<Inner>,
    env: String,
}

impl Drop for Busy {
    fn drop(&mut self) {
        let mut state = lock(&self.inner.state);
        if let Some(n) = state.busy.get_mut(&self.env) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                state.busy.remove(&self.env);
            }
        }
    }
}

impl Shards {
    /// No sharding: this replica applies to every env.
    pub const fn off() -> Self {
        Shards { inner: None }
    }

    /// Whether sharding is on.
    pub fn is_on(&self) -> bool {
        self.inner.is_some()
    }

    /// Whether this replica may apply to `env` now.
    pub fn holds(&self, env: &str) -> bool {
        self.check(env).is_ok()
    }

    /// Like [`Shards::holds`], with the reason when it may not.
    pub fn check(&self, env: &str) -> Result<(), String> {
        let Some(inner) = &self.inner else { return Ok(()) };
        let state = lock(&inner.state);
        if state.holds(env, inner.clock.now(), inner.renew_deadline) {
            return Ok(());
        }
        let holder = state.leases.get(env).and_then(LeaseRecord::holder);
        Err(match holder {
            Some(h) if h != inner.me => format!("replica {} does not hold env {env}: {h} does", inner.me),
            Some(_) => format!(
                "replica {} stopped applying to env {env}: its last renewal of the env's lease is more than {}s old",
                inner.me,
                inner.renew_deadline.as_secs_f64()
            ),
            None => format!("replica {} does not hold env {env}", inner.me),
        })
    }

    /// Marks `env` as being applied, if this replica holds it.
    pub fn enter(&self, env: &str) -> Result<Option<Busy>, String> {
        let Some(inner) = &self.inner else { return Ok(None) };
        let mut state = lock(&inner.state);
        if !state.holds(env, inner.clock.now(), inner.renew_deadline) {
            drop(state);
            return Err(self.check(env).err().unwrap_or_default());
        }
        *state.busy.entry(env.to_string()).or_insert(0) += 1;
        Ok(Some(Busy {
            inner: inner.clone(),
            env: env.to_string(),
        }))
    }

    /// Since when this replica holds `env` without a break (`None` without
    /// sharding, or when it does not hold it): a snapshot fetched before then
    /// may be older than what the previous holder applied.
    pub fn held_since(&self, env: &str) -> Option<DateTime<Utc>> {
        let inner = self.inner.as_ref()?;
        let state = lock(&inner.state);
        let standing = state.standings.get(env)?;
        standing
            .leads(inner.clock.now(), inner.renew_deadline)
            .then_some(standing.since?)
    }

    /// The envs of `deployers.yaml`, after each fetch.
    pub fn set_envs<'a>(&self, envs: impl IntoIterator<Item = &'a String>) {
        if let Some(inner) = &self.inner {
            lock(&inner.state).envs = envs.into_iter().cloned().collect();
        }
    }

    /// This replica's identity, with sharding on.
    pub fn identity(&self) -> Option<&str> {
        self.inner.as_ref().map(|i| i.me.as_str())
    }

    /// Who owns each env, from the Leases as last read (empty without sharding).
    pub fn owners(&self) -> BTreeMap<String, EnvOwner> {
        let Some(inner) = &self.inner else {
            return BTreeMap::new();
        };
        let now = inner.clock.now();
        let state = lock(&inner.state);
        state
            .envs
            .iter()
            .map(|env| {
                let lease = state.leases.get(env);
                let until = lease.and_then(LeaseRecord::valid_until).filter(|u| now < *u);
                let identity = until.and(lease.and_then(LeaseRecord::holder)).map(str::to_string);
                let owner = EnvOwner {
                    me: identity.as_deref() == Some(inner.me.as_str()) && state.holds(env, now, inner.renew_deadline),
                    address: identity
                        .is_some()
                        .then(|| lease.and_then(|l| l.address.clone()))
                        .flatten(),
                    identity,
                    until,
                };
                (env.clone(), owner)
            })
            .collect()
    }

    /// Where the other replicas alive at the last round answer: identity →
    /// address, from their replica Leases (empty without sharding, and for a
    /// replica that announces no address).
    pub fn peers(&self) -> BTreeMap<String, String> {
        self.inner
            .as_ref()
            .map(|i| lock(&i.state).peers.clone())
            .unwrap_or_default()
    }

    /// The replicas alive at the last round (empty without sharding).
    pub fn replicas(&self) -> Vec<String> {
        self.inner
            .as_ref()
            .map(|i| lock(&i.state).replicas.iter().cloned().collect())
            .unwrap_or_default()
    }
}

/// Joins the shards configured by `settings` as `identity`, announcing `address`
/// (where this replica's API answers) on the Leases it holds. `gained` is woken
/// when this replica takes an env, `lost` when it gives one up or loses it. The Leases are given up once `shutdown` is
/// cancelled; await the returned task before exiting.
pub async fn join(
    settings: &LeaseSettings,
    identity: &str,
    address: Option<String>,
    clock: SharedClock,
    gained: Arc<Notify>,
    lost: Arc<Notify>,
    shutdown: CancellationToken,
) -> Result<(Shards, tokio::task::JoinHandle<()>), String> {
    let settings_error = |e: String| e.replace("leader_election", "sharding");
    settings.validate().map_err(settings_error)?;
    let prefix = settings
        .lease_name
        .clone()
        .unwrap_or_else(|| DEFAULT_PREFIX.to_string());
    slipway_core::names::validate_env_name(&prefix).map_err(|e| {
        format!("sharding.lease_name {prefix:?} must be a DNS label (it names the Leases and labels them): {e}")
    })?;
    let mut config = settings.config().await.map_err(|e| settings_error(e.to_string()))?;
    crate::cluster::add_replica_header(&mut config, identity);
    let client = kube::Client::try_from(config).map_err(|e| format!("sharding: {e}"))?;
    let namespace = settings
        .namespace
        .clone()
        .or_else(|| std::env::var("POD_NAMESPACE").ok().filter(|n| !n.trim().is_empty()))
        .unwrap_or_else(|| client.default_namespace().to_string());
    tracing::info!(%prefix, %namespace, identity, "env shards configured");
    let shards = start(
        Api::namespaced(client, &namespace),
        prefix,
        identity,
        address,
        settings,
        clock,
        gained,
        lost,
        shutdown,
    );
    Ok(shards)
}

/// Starts the shard rounds on `api` (the Leases' namespace).
#[allow(clippy::too_many_arguments)]
pub fn start(
    api: Api<Lease>,
    prefix: String,
    identity: &str,
    address: Option<String>,
    settings: &LeaseSettings,
    clock: SharedClock,
    gained: Arc<Notify>,
    lost: Arc<Notify>,
    shutdown: CancellationToken,
) -> (Shards, tokio::task::JoinHandle<()>) {
    let inner = Arc::new(Inner {
        me: identity.to_string(),
        prefix,
        duration: settings.duration,
        renew_deadline: settings.renew_deadline,
        retry_period: settings.retry_period,
        address,
        clock,
        state: Mutex::new(State::default()),
        gained,
        lost,
    });
    let rounds = Rounds {
        api,
        params: PostParams {
            field_manager: Some(format!("slipway-lease/{identity}")),
            ..PostParams::default()
        },
        inner: inner.clone(),
    };
    let task = tokio::spawn(rounds.run(shutdown));
    (Shards { inner: Some(inner) }, task)
}

/// The name of an env's Lease.
pub fn env_lease_name(prefix: &str, env: &str) -> String {
    format!("{prefix}-env-{env}")
}

/// The name of a replica's Lease: the identity made a valid object name.
pub fn replica_lease_name(prefix: &str, identity: &str) -> String {
    let mut name: String = identity
        .chars()
        .map(|c| {
            let c = c.to_ascii_lowercase();
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                c
            } else {
                '-'
            }
        })
        .collect();
    name.truncate(200);
    let name = name.trim_matches(|c: char| c == '-' || c == '.');
    format!("{prefix}-replica-{name}")
}

struct Rounds {
    api: Api<Lease>,
    params: PostParams,
    inner: Arc<Inner>,
}

impl Rounds {
    async fn run(self, shutdown: CancellationToken) {
        loop {
            self.round().await;
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tokio::time::sleep(self.inner.retry_period) => {}
            }
        }
        self.leave().await;
    }

    fn now(&self) -> DateTime<Utc> {
        self.inner.clock.now()
    }

    fn labels(&self, role: (&str, &str)) -> BTreeMap<String, String> {
        BTreeMap::from([
            (SHARDS_LABEL.to_string(), self.inner.prefix.clone()),
            (role.0.to_string(), role.1.to_string()),
        ])
    }

    /// A Lease that says `record`, on the version of `read` (a new one when `None`).
    fn lease(
        &self,
        name: String,
        read: Option<&Lease>,
        record: &LeaseRecord,
        labels: BTreeMap<String, String>,
    ) -> Lease {
        let mut lease = read.cloned().unwrap_or_else(|| Lease {
            metadata: ObjectMeta {
                name: Some(name),
                ..ObjectMeta::default()
            },
            spec: None,
        });
        lease
            .metadata
            .labels
            .get_or_insert_with(Default::default)
            .extend(labels);
        let annotations = lease.metadata.annotations.get_or_insert_with(Default::default);
        match (&self.inner.address, record.holder()) {
            (Some(address), Some(_)) => {
                annotations.insert(HOLDER_ADDRESS.to_string(), address.clone());
            }
            _ => {
                annotations.remove(HOLDER_ADDRESS);
            }
        }
        lease.spec = Some(spec_of(record));
        lease
    }

    async fn write(&self, read: Option<&Lease>, lease: &Lease) -> Result<Lease, kube::Error> {
        match read {
            Some(_) => {
                let name = lease.metadata.name.clone().unwrap_or_default();
                self.api.replace(&name, &self.params, lease).await
            }
            None => self.api.create(&self.params, lease).await,
        }
    }

    async fn round(&self) {
        // The fence counts from before the read: a renewal never holds longer than it really does.
        let sent = self.now();
        let selector = format!("{SHARDS_LABEL}={}", self.inner.prefix);
        let listed = match self.api.list(&ListParams::default().labels(&selector)).await {
            Ok(list) => list.items,
            Err(e) => {
                tracing::warn!(
                    "cannot read the env shards' leases (applying stops once the renew deadline passes): {e}"
                );
                return;
            }
        };
        let now = self.now();
        let mut env_leases: BTreeMap<String, Lease> = BTreeMap::new();
        let mut replicas = BTreeSet::from([self.inner.me.clone()]);
        let mut peers = BTreeMap::new();
        let my_replica_lease = replica_lease_name(&self.inner.prefix, &self.inner.me);
        let mut mine = None;
        for lease in listed {
            let labels = lease.metadata.labels.clone().unwrap_or_default();
            if let Some(env) = labels.get(SHARD_ENV_LABEL) {
                env_leases.insert(env.clone(), lease);
            } else if labels.contains_key(SHARD_REPLICA_LABEL) {
                let record = record_of(&lease);
                if lease.metadata.name.as_deref() == Some(my_replica_lease.as_str()) {
                    mine = Some(lease);
                } else if let (Some(holder), Some(until)) = (record.holder(), record.valid_until()) {
                    if now < until {
                        replicas.insert(holder.to_string());
                        if let Some(address) = &record.address {
                            peers.insert(holder.to_string(), address.clone());
                        }
                    }
                }
            }
        }
        self.announce(&my_replica_lease, mine.as_ref(), now).await;

        let records: BTreeMap<String, LeaseRecord> =
            env_leases.iter().map(|(e, l)| (e.clone(), record_of(l))).collect();
        let (envs, holding, busy) = {
            let state = lock(&self.inner.state);
            let holding: BTreeSet<String> = state
                .standings
                .iter()
                .filter(|(_, s)| s.leads(now, self.inner.renew_deadline))
                .map(|(e, _)| e.clone())
                .collect();
            (
                state.envs.clone(),
                holding,
                state.busy.keys().cloned().collect::<BTreeSet<_>>(),
            )
        };
        let plan = plan_round(RoundInput {
            me: &self.inner.me,
            envs: &envs,
            leases: &records,
            replicas: &replicas,
            holding: &holding,
            busy: &busy,
            now,
            duration: self.inner.duration,
        });
        let mut writes = Vec::new();
        let mut lost = false;
        {
            let mut state = lock(&self.inner.state);
            state.replicas = replicas;
            state.peers = peers;
            state.leases = records.clone();
            // Envs that left deployers.yaml are simply no longer renewed.
            state.standings.retain(|env, _| envs.contains(env));
            for (env, step) in &plan.steps {
                let observed = records.get(env).cloned();
                match step {
                    Step::Create(r) | Step::Acquire(r) | Step::Renew(r) => writes.push((env.clone(), r.clone(), true)),
                    Step::Release(r) => {
                        // Stop applying before the Lease says so. Entering checks the
                        // standing under this lock, so no reconcile starts after this;
                        // one that started since the plan keeps the env for now.
                        if state.busy.contains_key(env) {
                            continue;
                        }
                        state.standings.entry(env.clone()).or_default().follows(observed);
                        lost = true;
                        tracing::info!(
                            env,
                            fair_share = plan.fair_share,
                            "giving the env up to a replica that holds fewer"
                        );
                        writes.push((env.clone(), r.clone(), false));
                    }
                    Step::Lost(h) => {
                        tracing::warn!(
                            env,
                            "lost the env to {}: no more applies to it from this replica",
                            h.identity
                        );
                        state.standings.entry(env.clone()).or_default().follows(observed);
                        lost = true;
                    }
                    Step::Wait(_) | Step::Leave => state.standings.entry(env.clone()).or_default().follows(observed),
                }
            }
        }
        let results = futures::future::join_all(writes.into_iter().map(|(env, record, claim)| {
            let read = env_leases.get(&env);
            let lease = self.lease(
                env_lease_name(&self.inner.prefix, &env),
                read,
                &record,
                self.labels((SHARD_ENV_LABEL, &env)),
            );
            async move { (env, claim, self.write(read, &lease).await) }
        }))
        .await;
        let mut gained = false;
        let mut state = lock(&self.inner.state);
        for (env, claim, result) in results {
            match result {
                Ok(lease) => {
                    let record = record_of(&lease);
                    if claim {
                        let standing = state.standings.entry(env.clone()).or_default();
                        if standing.renewed_at.is_none() {
                            tracing::info!(env, "this replica applies to the env now");
                            gained = true;
                        }
                        standing.claimed(record.clone(), sent);
                    }
                    state.leases.insert(env, record);
                }
                Err(e) => {
                    if claim {
                        // A conflict: another replica wrote the Lease since it was read.
                        if matches!(&e, kube::Error::Api(s) if s.code == 409) {
                            state.standings.entry(env.clone()).or_default().follows(None);
                        }
                    }
                    tracing::debug!(env, "cannot write the env's lease: {e}");
                }
            }
        }
        drop(state);
        if gained {
            self.inner.gained.notify_one();
        }
        if lost {
            self.inner.lost.notify_one();
        }
    }

    /// Creates or renews this replica's own Lease, so the others count it.
    async fn announce(&self, name: &str, read: Option<&Lease>, now: DateTime<Utc>) {
        let record = match decide(
            read.map(record_of).as_ref(),
            &self.inner.me,
            true,
            now,
            self.inner.duration,
        ) {
            Decision::Create(r) | Decision::Acquire(r) | Decision::Renew(r) => r,
            Decision::Wait(_) | Decision::Lost(_) => return,
        };
        let lease = self.lease(
            name.to_string(),
            read,
            &record,
            self.labels((SHARD_REPLICA_LABEL, "true")),
        );
        if let Err(e) = self.write(read, &lease).await {
            tracing::debug!(lease = name, "cannot renew this replica's lease: {e}");
        }
    }

    /// On shutdown: stop applying, give up the env Leases and remove the replica Lease.
    async fn leave(&self) {
        let held: Vec<String> = {
            let mut state = lock(&self.inner.state);
            let now = self.now();
            let held = state
                .standings
                .iter()
                .filter(|(_, s)| s.leads(now, self.inner.renew_deadline))
                .map(|(e, _)| e.clone())
                .collect();
            for standing in state.standings.values_mut() {
                standing.follows(None);
            }
            held
        };
        for env in held {
            let name = env_lease_name(&self.inner.prefix, &env);
            let Ok(Some(read)) = self.api.get_opt(&name).await else {
                continue;
            };
            let record = record_of(&read);
            if record.holder() != Some(self.inner.me.as_str()) {
                continue;
            }
            let lease = self.lease(
                name,
                Some(&read),
                &slipway_kit::lease::released(&record, self.now()),
                BTreeMap::new(),
            );
            match self.write(Some(&read), &lease).await {
                Ok(_) => tracing::info!(env, "gave the env up"),
                Err(e) => tracing::warn!(
                    env,
                    "cannot give the env up (another replica takes it when its lease expires): {e}"
                ),
            }
        }
        let name = replica_lease_name(&self.inner.prefix, &self.inner.me);
        if let Err(e) = self.api.delete(&name, &DeleteParams::default()).await {
            tracing::debug!(lease = name, "cannot remove this replica's lease: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lease_names_are_valid_object_names() {
        assert_eq!(env_lease_name("slipway-deployer", "dev"), "slipway-deployer-env-dev");
        assert_eq!(
            replica_lease_name("slipway-deployer", "Build_Host-ab12x9"),
            "slipway-deployer-replica-build-host-ab12x9"
        );
        assert_eq!(
            replica_lease_name("p", "deployer-7f9c-x2"),
            "p-replica-deployer-7f9c-x2"
        );
    }

    #[test]
    fn without_sharding_every_env_may_be_applied() {
        let s = Shards::off();
        assert!(s.holds("dev") && s.check("prod").is_ok());
        assert!(s.enter("dev").unwrap().is_none());
        assert!(s.owners().is_empty() && s.identity().is_none());
    }
}
