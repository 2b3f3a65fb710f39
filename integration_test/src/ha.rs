//! A highly available installation on one machine: several replicas of each
//! service against one simulated cluster and one resource repo, each service's
//! replicas behind a [`ServiceProxy`] (what a Kubernetes Service gives them),
//! coordinated through Leases only. Used by the chaos test and the scale bench.
//!
//! ```text
//!   CI ──▶ aggregators (proxy) ──▶ aggregator-0..n ──▶ transitioners (proxy) ──▶ transitioner-0..n
//!                                        │                                            │
//!                                        └──────────▶ deployers (proxy) ◀─────────────┘
//!                                                          ▼
//!                                  deployer-0..n ──▶ simulated cluster (Leases, write log)
//! ```
//!
//! Each replica is named by `POD_NAME` (`deployer-1-0`: replica 1, first start);
//! a restart gives it a new name, as a new pod gets, so a replica that died and
//! one that replaced it are never confused in Leases or in the write log.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;

use crate::example::ExampleRepo;
use crate::process::ServiceProcess;
use crate::service_proxy::ServiceProxy;
use crate::stack::{duration_text, Ground, RepoServer, StackOptions, Transport};

/// Lease timing of every service that elects (transitioners, sharded deployers).
#[derive(Debug, Clone, Copy)]
pub struct LeaseTiming {
    /// Others take over this long after the holder's last renewal (whole seconds).
    pub duration: Duration,
    /// The holder stops acting when it could not renew for this long.
    pub renew_deadline: Duration,
    /// How often the Lease is renewed or tried for.
    pub retry_period: Duration,
}

impl LeaseTiming {
    /// The keys of a `leader_election`-style section (indented by two spaces),
    /// with the Lease on the cluster of `kubeconfig`, namespace `default`.
    pub fn yaml(&self, kubeconfig: &Path) -> String {
        format!(
            "  namespace: default\n  duration: {}s\n  renew_deadline: {}\n  retry_period: {}\n  kubeconfig: {}\n",
            self.duration.as_secs(),
            duration_text(self.renew_deadline),
            duration_text(self.retry_period),
            kubeconfig.display()
        )
    }
}

/// The deployers' sharding section (one Lease per env, held by one replica),
/// with its Leases on the cluster of `kubeconfig`. Its keys follow the
/// transitioner's `leader_election` section plus a Lease name prefix; this is the
/// one place to change when the deployer's keys differ.
pub fn deployer_sharding(lease: &LeaseTiming, kubeconfig: &Path) -> String {
    format!("sharding:\n  lease_name: slipway-deployer\n{}", lease.yaml(kubeconfig))
}

/// How to build the installation.
#[derive(Debug, Clone)]
pub struct HaOptions {
    /// Folder, repo, rollout delay, poll interval, transport.
    pub stack: StackOptions,
    pub deployers: usize,
    pub transitioners: usize,
    pub aggregators: usize,
    pub lease: LeaseTiming,
    /// Shard the deployers through Leases ([`deployer_sharding`]); without it, one
    /// unsharded deployer applies everything (then `deployers` must be 1).
    pub sharded: bool,
}

impl HaOptions {
    /// `n` replicas of each service over smart HTTP, in `dir`.
    pub fn new(dir: &Path, example: ExampleRepo) -> Self {
        let mut stack = StackOptions::new(dir);
        stack.example = example;
        stack.transport = Transport::SmartHttp;
        stack.poll_interval = Duration::from_secs(1);
        stack.rollout_delay = Duration::from_millis(300);
        HaOptions {
            stack,
            deployers: 1,
            transitioners: 1,
            aggregators: 1,
            lease: LeaseTiming {
                duration: Duration::from_secs(4),
                renew_deadline: Duration::from_secs(3),
                retry_period: Duration::from_millis(500),
            },
            sharded: false,
        }
    }
}

/// Which service a replica belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    Deployer,
    Transitioner,
    Aggregator,
}

impl Role {
    /// `deployer`, `transitioner`, `aggregator`.
    pub fn name(self) -> &'static str {
        match self {
            Role::Deployer => "deployer",
            Role::Transitioner => "transitioner",
            Role::Aggregator => "aggregator",
        }
    }
}

/// One replica: its process and how often it was started.
pub struct Replica {
    pub role: Role,
    pub index: usize,
    pub starts: usize,
    pub process: ServiceProcess,
}

impl Replica {
    /// Its current name (`POD_NAME`): the identity in Leases and in the write log.
    pub fn identity(&self) -> String {
        identity(self.role, self.index, self.starts - 1)
    }

    /// Kills it at once (SIGKILL), as a crash would.
    pub fn kill(&mut self) {
        self.process.kill();
    }

    /// Starts it again on the same address under a new name, as a new pod would be.
    pub fn restart(&mut self) -> anyhow::Result<()> {
        let name = identity(self.role, self.index, self.starts);
        self.process.set_env("POD_NAME", &name);
        self.starts += 1;
        self.process.restart()
    }
}

fn identity(role: Role, index: usize, generation: usize) -> String {
    format!("{}-{index}-{generation}", role.name())
}

/// A running installation. Dropping it stops every process.
pub struct HaStack {
    pub repo: git_fixture::BuiltRepo,
    pub server: Option<RepoServer>,
    /// A token for the aggregators' API.
    pub token: String,
    pub sim: slipway_simcluster::SimCluster,
    pub kubeconfig: PathBuf,
    /// Every replica, deployers first, then transitioners, then aggregators.
    pub replicas: Vec<Replica>,
    pub deployers: ServiceProxy,
    pub transitioners: ServiceProxy,
    pub aggregators: ServiceProxy,
    pub dir: PathBuf,
}

impl HaStack {
    /// Creates the repo and starts every replica; returns once all listen.
    pub async fn start(opts: HaOptions) -> anyhow::Result<HaStack> {
        if !opts.sharded && opts.deployers != 1 {
            anyhow::bail!(
                "{} deployers without a sharding section would all apply every env",
                opts.deployers
            );
        }
        let ground = Ground::prepare(&opts.stack).await?;
        let sim = ground
            .sim
            .ok_or_else(|| anyhow::anyhow!("an HA stack runs on the simulated cluster only"))?;
        let dir = opts.stack.dir.clone();
        let (deployers, transitioners, aggregators) = (
            ServiceProxy::start().await?,
            ServiceProxy::start().await?,
            ServiceProxy::start().await?,
        );
        let mut replicas = Vec::new();
        let lease = opts.lease.yaml(&ground.kubeconfig);
        let keys = &ground.keys;
        let checkout = |name: &str| dir.join("checkouts").join(name);
        let mut start = |role: Role, index: usize, config: String| -> anyhow::Result<()> {
            let name = identity(role, index, 0);
            let path = dir.join(format!("{}-{index}.yaml", role.name()));
            std::fs::write(&path, config)?;
            let process = ServiceProcess::start_with_env(
                &format!("slipway-{}", role.name()),
                &path,
                &ground.logs.join(format!("{}-{index}.log", role.name())),
                &[("POD_NAME", name.as_str())],
            )?;
            match role {
                Role::Deployer => deployers.add_backend(&process.url)?,
                Role::Transitioner => transitioners.add_backend(&process.url)?,
                Role::Aggregator => aggregators.add_backend(&process.url)?,
            }
            replicas.push(Replica {
                role,
                index,
                starts: 1,
                process,
            });
            Ok(())
        };
        for i in 0..opts.deployers {
            let sharding = if opts.sharded {
                deployer_sharding(&opts.lease, &ground.kubeconfig)
            } else {
                String::new()
            };
            let config = keys.deployer(
                &checkout(&format!("deployer-{i}")),
                &opts.stack.example.cluster,
                &ground.kubeconfig,
                &ground.context_line,
                &format!(
                    "{sharding}api_tokens_file: {}\n",
                    dir.join("transitioner-tokens").display()
                ),
            );
            start(Role::Deployer, i, config)?;
        }
        let peer_tokens = dir.join("transitioner-tokens");
        for i in 0..opts.transitioners {
            let election = if opts.transitioners > 1 {
                format!("leader_election:\n{lease}")
            } else {
                String::new()
            };
            let config = keys.transitioner(
                &checkout(&format!("transitioner-{i}")),
                &deployers.url(),
                &peer_tokens,
                &election,
            );
            start(Role::Transitioner, i, config)?;
        }
        for i in 0..opts.aggregators {
            let config = keys.aggregator(
                &checkout(&format!("aggregator-{i}")),
                &deployers.url(),
                &transitioners.url(),
                &dir,
                &opts.stack.aggregator_config,
            );
            start(Role::Aggregator, i, config)?;
        }
        Ok(HaStack {
            repo: ground.repo,
            server: ground.server,
            token: ground.token,
            sim,
            kubeconfig: ground.kubeconfig,
            replicas,
            deployers,
            transitioners,
            aggregators,
            dir,
        })
    }

    /// The replicas of one service.
    pub fn of(&self, role: Role) -> impl Iterator<Item = &Replica> {
        self.replicas.iter().filter(move |r| r.role == role)
    }

    /// Every Lease in the cluster: `(namespace/name, holderIdentity)`.
    pub async fn lease_holders(&self) -> anyhow::Result<Vec<(String, Option<String>)>> {
        lease_holders(&self.sim.url()).await
    }

    /// Stops every replica (SIGTERM) and the simulated cluster.
    pub async fn stop(mut self) {
        for r in self.replicas.iter_mut().rev() {
            r.process.stop();
        }
        self.sim.shutdown().await;
    }
}

/// Every Lease in the cluster at `sim_url`: `(namespace/name, holderIdentity)`.
pub async fn lease_holders(sim_url: &str) -> anyhow::Result<Vec<(String, Option<String>)>> {
    let list: Value = reqwest::get(format!("{sim_url}/apis/coordination.k8s.io/v1/leases"))
        .await?
        .error_for_status()?
        .json()
        .await?;
    Ok(list["items"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .map(|l| {
                    (
                        format!(
                            "{}/{}",
                            l["metadata"]["namespace"].as_str().unwrap_or_default(),
                            l["metadata"]["name"].as_str().unwrap_or_default()
                        ),
                        l["spec"]["holderIdentity"].as_str().map(str::to_string),
                    )
                })
                .collect()
        })
        .unwrap_or_default())
}

/// The Leases `identity` holds now (`namespace/name`).
pub async fn leases_held_by(sim_url: &str, identity: &str) -> anyhow::Result<Vec<String>> {
    Ok(lease_holders(sim_url)
        .await?
        .into_iter()
        .filter(|(_, holder)| holder.as_deref() == Some(identity))
        .map(|(name, _)| name)
        .collect())
}

/// The Leases another replica must take over when `identity` dies: those it
/// holds now but its own replica Lease (a sharded deployer's
/// `<prefix>-replica-<identity>`, which says it is alive and simply expires).
pub async fn leases_to_take_over(sim_url: &str, identity: &str) -> anyhow::Result<Vec<String>> {
    let own = format!("-replica-{identity}");
    Ok(leases_held_by(sim_url, identity)
        .await?
        .into_iter()
        .filter(|name| !name.ends_with(&own))
        .collect())
}

/// Failover after `dead` was killed at `since`: waits until none of the Leases
/// in `held` names `dead` and each has another holder, and returns the time
/// since `since`; `None` when that did not happen within `give_up` of it.
pub async fn taken_over(
    sim_url: &str,
    dead: &str,
    held: &[String],
    since: std::time::Instant,
    give_up: Duration,
) -> Option<Duration> {
    while since.elapsed() < give_up {
        if let Ok(leases) = lease_holders(sim_url).await {
            let taken = held.iter().all(|name| {
                leases
                    .iter()
                    .any(|(n, holder)| n == name && holder.as_deref().is_some_and(|h| h != dead))
            });
            if taken {
                return Some(since.elapsed());
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    None
}
