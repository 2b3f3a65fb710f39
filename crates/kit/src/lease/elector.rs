//! The election loop (the I/O around [`decide`]) and the [`Leadership`] handle
//! a service asks before each write.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use k8s_openapi::jiff::Timestamp;
use kube::api::{ObjectMeta, PostParams};
use kube::Api;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::decide::{decide, released, Decision, LeaseRecord, HOLDER_ADDRESS};
use super::standing::{LeaderInfo, Standing};
use super::LeaseSettings;
use crate::clock::SharedClock;

/// Why the election could not start, or why a write is not allowed.
#[derive(Debug, thiserror::Error)]
pub enum LeaseError {
    /// No client for the cluster that holds the Lease.
    #[error("leader election: {0}")]
    Cluster(String),
    /// The settings cannot work.
    #[error("{0}")]
    Settings(String),
    /// This replica does not hold the Lease (or its last renewal is too old).
    #[error("this replica ({me}) does not lead: {why}")]
    NotLeader { me: String, why: String },
}

struct Shared {
    me: String,
    renew_deadline: Duration,
    clock: SharedClock,
    standing: Mutex<Standing>,
    leads: watch::Sender<bool>,
}

/// Whether this replica may write, asked right before each write. Cheap and
/// synchronous (it reads memory and the clock), so it can be asked on a
/// blocking thread just before a push.
#[derive(Clone)]
pub struct Leadership {
    /// `None`: no election is configured, this replica runs alone and always leads.
    shared: Option<Arc<Shared>>,
}

impl std::fmt::Debug for Leadership {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.shared {
            None => f.write_str("Leadership(alone)"),
            Some(s) => write!(f, "Leadership({})", s.me),
        }
    }
}

impl Leadership {
    /// A replica that runs alone: it always leads.
    pub fn alone() -> Self {
        Leadership { shared: None }
    }

    /// Whether this replica may write now: it holds the Lease and its last
    /// successful renewal was sent less than `renew_deadline` ago.
    pub fn leads(&self) -> bool {
        self.check().is_ok()
    }

    /// Like [`Leadership::leads`], with the reason when it may not write.
    pub fn check(&self) -> Result<(), LeaseError> {
        let Some(s) = &self.shared else { return Ok(()) };
        let now = s.clock.now();
        let standing = lock(&s.standing);
        if standing.leads(now, s.renew_deadline) {
            return Ok(());
        }
        let why = match standing.observed.as_ref().and_then(LeaseRecord::holder) {
            Some(holder) if holder != s.me => format!("{holder} holds the lease"),
            Some(_) => format!(
                "its last renewal of the lease is more than {}s old",
                s.renew_deadline.as_secs_f64()
            ),
            None => "nobody holds the lease yet".to_string(),
        };
        Err(LeaseError::NotLeader { me: s.me.clone(), why })
    }

    /// Who leads, for `/status`; `None` when no election is configured.
    pub fn leader(&self) -> Option<LeaderInfo> {
        let s = self.shared.as_ref()?;
        Some(lock(&s.standing).leader(&s.me, s.clock.now(), s.renew_deadline))
    }

    /// This replica's identity in the election; `None` when it runs alone.
    pub fn identity(&self) -> Option<&str> {
        self.shared.as_ref().map(|s| s.me.as_str())
    }

    /// Changes of leadership as each election round sees them (`true`: this
    /// replica just took or kept the Lease); `None` when it runs alone.
    pub fn changes(&self) -> Option<watch::Receiver<bool>> {
        self.shared.as_ref().map(|s| s.leads.subscribe())
    }
}

fn lock(m: &Mutex<Standing>) -> std::sync::MutexGuard<'_, Standing> {
    // Plain data, valid after any panic of a writer.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// A running election: the handle to ask, and the task that renews and, once
/// `shutdown` is cancelled, releases the Lease (await it before exiting).
pub struct Election {
    pub leadership: Leadership,
    pub task: JoinHandle<()>,
}

/// Starts taking part in the election for the Lease `name` in `api`'s namespace
/// as `identity`; while it holds the Lease, its annotation [`HOLDER_ADDRESS`]
/// says `address` (where this replica's API answers).
pub fn elect(
    api: Api<Lease>,
    name: &str,
    identity: &str,
    address: Option<String>,
    settings: &LeaseSettings,
    clock: SharedClock,
    shutdown: CancellationToken,
) -> Result<Election, LeaseError> {
    settings.validate().map_err(LeaseError::Settings)?;
    let shared = Arc::new(Shared {
        me: identity.to_string(),
        renew_deadline: settings.renew_deadline,
        clock,
        standing: Mutex::new(Standing::default()),
        leads: watch::channel(false).0,
    });
    let elector = Elector {
        api,
        name: name.to_string(),
        address,
        duration: settings.duration,
        retry_period: settings.retry_period,
        params: PostParams {
            field_manager: Some(format!("slipway-lease/{identity}")),
            ..PostParams::default()
        },
        shared: shared.clone(),
    };
    let task = tokio::spawn(elector.run(shutdown));
    Ok(Election {
        leadership: Leadership { shared: Some(shared) },
        task,
    })
}

struct Elector {
    api: Api<Lease>,
    name: String,
    address: Option<String>,
    duration: Duration,
    retry_period: Duration,
    params: PostParams,
    shared: Arc<Shared>,
}

impl Elector {
    async fn run(self, shutdown: CancellationToken) {
        tracing::info!(lease = %self.name, identity = %self.shared.me, "taking part in the leader election");
        loop {
            self.round().await;
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tokio::time::sleep(self.retry_period) => {}
            }
        }
        self.release().await;
    }

    fn now(&self) -> DateTime<Utc> {
        self.shared.clock.now()
    }

    async fn round(&self) {
        // The fence counts from before the read: a renewal is never credited
        // with more time than it really holds.
        let sent = self.now();
        let lease = match self.api.get_opt(&self.name).await {
            Ok(lease) => lease,
            Err(e) => {
                tracing::warn!(lease = %self.name, "cannot read the lease: {e}");
                return;
            }
        };
        let observed = lease.as_ref().map(record_of);
        let was_leading = lock(&self.shared.standing).leads(self.now(), self.shared.renew_deadline);
        let decision = decide(
            observed.as_ref(),
            &self.shared.me,
            was_leading,
            self.now(),
            self.duration,
        );
        let written = match decision {
            Decision::Create(record) => {
                let mut new = Lease {
                    metadata: ObjectMeta {
                        name: Some(self.name.clone()),
                        ..ObjectMeta::default()
                    },
                    spec: Some(spec_of(&record)),
                };
                set_address(&mut new, self.address.as_deref());
                Some(self.api.create(&self.params, &new).await)
            }
            Decision::Acquire(record) | Decision::Renew(record) => {
                // `lease` is Some: decide() answers Create when there is none.
                let mut new = lease.clone().unwrap_or_default();
                new.spec = Some(spec_of(&record));
                set_address(&mut new, self.address.as_deref());
                Some(self.api.replace(&self.name, &self.params, &new).await)
            }
            Decision::Wait(_) => {
                lock(&self.shared.standing).follows(observed.clone());
                None
            }
            Decision::Lost(holder) => {
                tracing::warn!(lease = %self.name, "lost the lease to {}: no more writes from this replica", holder.identity);
                lock(&self.shared.standing).follows(observed.clone());
                None
            }
        };
        match written {
            Some(Ok(lease)) => lock(&self.shared.standing).claimed(record_of(&lease), sent),
            // Another replica wrote the Lease since it was read: read again at once.
            Some(Err(kube::Error::Api(e))) if e.code == 409 => {
                tracing::debug!(lease = %self.name, "another replica wrote the lease first");
                Box::pin(self.retry_after_conflict()).await;
            }
            Some(Err(e)) => tracing::warn!(lease = %self.name, "cannot write the lease: {e}"),
            None => {}
        }
        self.publish(was_leading);
    }

    /// One more read after a conflict, so the winner is known without waiting a period.
    async fn retry_after_conflict(&self) {
        if let Ok(lease) = self.api.get_opt(&self.name).await {
            let observed = lease.as_ref().map(record_of);
            let mine = observed.as_ref().and_then(LeaseRecord::holder) == Some(self.shared.me.as_str());
            if !mine {
                lock(&self.shared.standing).follows(observed);
            }
        }
    }

    fn publish(&self, was_leading: bool) {
        let (leads, holder) = {
            let standing = lock(&self.shared.standing);
            let holder = standing
                .observed
                .as_ref()
                .and_then(LeaseRecord::holder)
                .map(str::to_string);
            (standing.leads(self.now(), self.shared.renew_deadline), holder)
        };
        if leads && !was_leading {
            tracing::info!(lease = %self.name, identity = %self.shared.me, "this replica leads now");
        } else if !leads && was_leading {
            tracing::warn!(lease = %self.name, "this replica no longer leads (holder: {})", holder.as_deref().unwrap_or("none"));
        }
        self.shared.leads.send_replace(leads);
    }

    /// Gives the Lease up, so another replica takes over at its next round.
    async fn release(&self) {
        let held = lock(&self.shared.standing)
            .observed
            .as_ref()
            .and_then(LeaseRecord::holder)
            == Some(self.shared.me.as_str());
        // Stop writing before the Lease says so: from here on every check fails.
        lock(&self.shared.standing).follows(None);
        self.shared.leads.send_replace(false);
        if !held {
            return;
        }
        let lease = match self.api.get_opt(&self.name).await {
            Ok(Some(lease)) => lease,
            Ok(None) => return,
            Err(e) => {
                tracing::warn!(lease = %self.name, "cannot release the lease (others take over when it expires): {e}");
                return;
            }
        };
        let record = record_of(&lease);
        if record.holder() != Some(self.shared.me.as_str()) {
            return;
        }
        let mut new = lease;
        new.spec = Some(spec_of(&released(&record, self.now())));
        set_address(&mut new, None);
        match self.api.replace(&self.name, &self.params, &new).await {
            Ok(_) => tracing::info!(lease = %self.name, "released the lease"),
            Err(e) => {
                tracing::warn!(lease = %self.name, "cannot release the lease (others take over when it expires): {e}")
            }
        }
    }
}

fn to_chrono(t: &MicroTime) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp_micros(t.0.as_microsecond())
}

fn to_micro(t: DateTime<Utc>) -> Option<MicroTime> {
    Timestamp::from_microsecond(t.timestamp_micros()).ok().map(MicroTime)
}

/// Sets (or, with `None`, removes) the holder's address on a Lease.
fn set_address(lease: &mut Lease, address: Option<&str>) {
    let annotations = lease.metadata.annotations.get_or_insert_with(Default::default);
    match address {
        Some(address) => {
            annotations.insert(HOLDER_ADDRESS.to_string(), address.to_string());
        }
        None => {
            annotations.remove(HOLDER_ADDRESS);
        }
    }
    if annotations.is_empty() {
        lease.metadata.annotations = None;
    }
}

/// The plain view of a Lease.
pub fn record_of(lease: &Lease) -> LeaseRecord {
    let spec = lease.spec.clone().unwrap_or_default();
    LeaseRecord {
        holder: spec.holder_identity.filter(|h| !h.is_empty()),
        acquire_time: spec.acquire_time.as_ref().and_then(to_chrono),
        renew_time: spec.renew_time.as_ref().and_then(to_chrono),
        duration: spec
            .lease_duration_seconds
            .and_then(|s| u64::try_from(s).ok())
            .map(Duration::from_secs),
        transitions: spec.lease_transitions.unwrap_or(0),
        address: lease
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(HOLDER_ADDRESS))
            .filter(|a| !a.is_empty())
            .cloned(),
    }
}

/// The Lease spec that says `record`.
pub fn spec_of(record: &LeaseRecord) -> LeaseSpec {
    LeaseSpec {
        holder_identity: record.holder.clone(),
        acquire_time: record.acquire_time.and_then(to_micro),
        renew_time: record.renew_time.and_then(to_micro),
        lease_duration_seconds: record
            .duration
            .map(|d| i32::try_from(d.as_secs().max(1)).unwrap_or(i32::MAX)),
        lease_transitions: Some(record.transitions),
        ..LeaseSpec::default()
    }
}
