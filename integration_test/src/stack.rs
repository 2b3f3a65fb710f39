//! A whole Slipway installation on one machine: a simulated cluster (or a real
//! one), a resource repo, and the deployer, transitioner and aggregator as
//! processes. Used by the playground, the end-to-end tests and the benchmark.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;
use slipway_simcluster::{SimCluster, SimConfig};

use crate::example::ExampleRepo;
use crate::process::ServiceProcess;

/// How to build the installation.
#[derive(Debug, Clone)]
pub struct StackOptions {
    /// Folder for the repo, checkouts, configs and logs (created if missing).
    pub dir: PathBuf,
    /// The resource repo to create.
    pub example: ExampleRepo,
    /// The built web UI (`ui/dist`).
    pub ui_path: Option<PathBuf>,
    /// Deploy to this real cluster instead of a simulated one.
    pub kubeconfig: Option<PathBuf>,
    /// Context in `kubeconfig` (default: its current context).
    pub context: Option<String>,
    /// Simulated cluster: time until a healthy rollout is available.
    pub rollout_delay: Duration,
    /// Poll interval of the three services.
    pub poll_interval: Duration,
    /// How the services reach the resource repo.
    pub transport: Transport,
    /// `git_timeout` of the three services (their default when `None`).
    pub git_timeout: Option<Duration>,
    /// More lines for the aggregator's config file (YAML keys).
    pub aggregator_config: String,
}

/// How the services reach the resource repo.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// Its path on this machine.
    Local,
    /// Smart HTTP (`git http-backend`) on loopback, with a token.
    SmartHttp,
    /// ssh (OpenSSH's sshd with `git-shell`) on loopback, with a key and a known host key.
    Ssh,
}

/// The server in front of the resource repo, for transports other than [`Transport::Local`].
pub enum RepoServer {
    Http(git_fixture::http::HttpRemote),
    Ssh(git_fixture::ssh::SshRemote),
}

impl RepoServer {
    /// The URL the services use.
    pub fn url(&self) -> String {
        match self {
            RepoServer::Http(r) => r.url(),
            RepoServer::Ssh(r) => r.url(),
        }
    }

    /// Closes the port: connections are refused.
    pub fn stop(&mut self) {
        match self {
            RepoServer::Http(r) => r.stop(),
            RepoServer::Ssh(r) => r.stop(),
        }
    }

    /// Serves again on the same port.
    pub fn start(&mut self) -> std::io::Result<()> {
        match self {
            RepoServer::Http(r) => r.start(),
            RepoServer::Ssh(r) => r.start(),
        }
    }

    /// Accepts connections and never answers (`true`), or answers again.
    pub fn set_hanging(&self, hanging: bool) {
        match self {
            RepoServer::Http(r) => r.set_hanging(hanging),
            RepoServer::Ssh(r) => r.set_hanging(hanging),
        }
    }
}

impl StackOptions {
    /// Options for a stack in `dir` with the default example repo.
    pub fn new(dir: &Path) -> Self {
        StackOptions {
            dir: dir.to_path_buf(),
            example: ExampleRepo::default(),
            ui_path: None,
            kubeconfig: None,
            context: None,
            rollout_delay: Duration::from_secs(2),
            poll_interval: Duration::from_secs(2),
            transport: Transport::Local,
            git_timeout: None,
            aggregator_config: String::new(),
        }
    }
}

/// A running installation. Dropping it stops every process.
pub struct Stack {
    pub repo: git_fixture::BuiltRepo,
    /// The server in front of `repo`, when the services reach it over the network.
    pub server: Option<RepoServer>,
    pub token: String,
    pub sim: Option<SimCluster>,
    pub kubeconfig: PathBuf,
    pub deployer: ServiceProcess,
    pub transitioner: ServiceProcess,
    pub aggregator: ServiceProcess,
    pub dir: PathBuf,
}

/// The keys every service's config has: where the repo is, how to reach it, how often to poll.
pub(crate) struct RepoKeys {
    pub url: String,
    /// `git:` (and `git_timeout:`) lines, each ending in a newline.
    pub git_keys: String,
    pub poll: String,
}

/// Each service listens on a port of its own choosing and announces it.
const BIND: &str = "api_bind: 127.0.0.1:0";

impl RepoKeys {
    fn common(&self, checkout: &Path) -> String {
        format!(
            "versions_url: {}\nversions_checkout_path: {}\n{}{BIND}\npoll_interval: {}\n",
            self.url,
            checkout.display(),
            self.git_keys,
            self.poll
        )
    }

    /// A deployer's config: one cluster connection, then `extra` (YAML lines).
    pub fn deployer(
        &self,
        checkout: &Path,
        cluster: &str,
        kubeconfig: &Path,
        context_line: &str,
        extra: &str,
    ) -> String {
        format!(
            "{}clusters:\n  {cluster}: {{kubeconfig: {}{context_line}}}\n{extra}",
            self.common(checkout),
            kubeconfig.display(),
        )
    }

    /// A transitioner's config, taking runs from holders of `peer_tokens`.
    pub fn transitioner(&self, checkout: &Path, deployer_url: &str, peer_tokens: &Path, extra: &str) -> String {
        format!(
            "{}deployer_url: {deployer_url}\napi_tokens_file: {}\n{extra}",
            self.common(checkout),
            peer_tokens.display(),
        )
    }

    /// An aggregator's config, with the token files [`Stack::start`] writes in `dir`.
    pub fn aggregator(
        &self,
        checkout: &Path,
        deployer_url: &str,
        transitioner_url: &str,
        dir: &Path,
        extra: &str,
    ) -> String {
        format!(
            "{}deployer_url: {deployer_url}\ntransitioner_url: {transitioner_url}\napi_tokens_file: {}\npeer_token_file: {}\n{extra}",
            self.common(checkout),
            dir.join("api-tokens").display(),
            dir.join("transitioner-tokens").display(),
        )
    }
}

/// A duration as the services' config files write it.
pub(crate) fn duration_text(d: Duration) -> String {
    format!("{}ms", d.as_millis())
}

/// The header in which each deployer replica names itself on its cluster
/// requests; the simulated cluster's write log is keyed by it.
pub const REPLICA_HEADER: &str = "x-slipway-replica";

/// What every installation stands on: the repo (and its server), the cluster,
/// the token files, and the repo keys of the services' configs.
pub(crate) struct Ground {
    pub repo: git_fixture::BuiltRepo,
    pub server: Option<RepoServer>,
    pub token: String,
    pub sim: Option<SimCluster>,
    pub kubeconfig: PathBuf,
    /// `, context: C` for the deployer's cluster entry, or empty.
    pub context_line: String,
    pub keys: RepoKeys,
    /// The folder for the services' logs.
    pub logs: PathBuf,
}

impl Ground {
    /// Creates the repo in `opts.dir`, starts its server and the simulated cluster
    /// (unless `opts.kubeconfig` names a real one), and writes the token files.
    pub async fn prepare(opts: &StackOptions) -> anyhow::Result<Ground> {
        let dir = &opts.dir;
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let repo_path = dir.join("resources.git");
        let repo = if repo_path.exists() {
            anyhow::bail!(
                "{} already exists: remove the folder or pass another one",
                repo_path.display()
            );
        } else {
            git_fixture::Fixture::from_yaml(&opts.example.fixture_yaml())?.build(&repo_path)?
        };

        let (sim, kubeconfig, context) = match &opts.kubeconfig {
            Some(path) => (None, path.clone(), opts.context.clone()),
            None => {
                let sim = SimCluster::start(SimConfig {
                    rollout_delay: opts.rollout_delay,
                    writer_header: Some(REPLICA_HEADER.into()),
                    ..SimConfig::default()
                })
                .await
                .map_err(|e| anyhow::anyhow!("cannot start the simulated cluster: {e}"))?;
                let path = dir.join("kubeconfig");
                sim.write_kubeconfig(&path)?;
                (Some(sim), path, None)
            }
        };

        let token = random_name(32);
        std::fs::write(dir.join("api-tokens"), format!("playground:{token}\n"))?;
        // The transitioner takes runs (and the deployer redeploys) only from the aggregator, which
        // sends this token (the same one-line file serves as their tokens and the aggregator's peer token).
        std::fs::write(
            dir.join("transitioner-tokens"),
            format!("aggregator:{}\n", random_name(32)),
        )?;
        let (server, git_keys) = serve_repo(&repo.path, dir, opts.transport)?;
        let url = server.as_ref().map_or_else(|| repo.url(), RepoServer::url);
        let git_keys = match opts.git_timeout {
            Some(t) => format!("{git_keys}git_timeout: {}\n", duration_text(t)),
            None => git_keys,
        };
        let logs = dir.join("logs");
        std::fs::create_dir_all(&logs)?;
        Ok(Ground {
            repo,
            server,
            token,
            sim,
            kubeconfig,
            context_line: context.map(|c| format!(", context: {c}")).unwrap_or_default(),
            keys: RepoKeys {
                url,
                git_keys,
                poll: duration_text(opts.poll_interval),
            },
            logs,
        })
    }
}

impl Stack {
    /// Creates the repo and starts everything; returns once all three services listen.
    pub async fn start(opts: StackOptions) -> anyhow::Result<Stack> {
        let Ground {
            repo,
            server,
            token,
            sim,
            kubeconfig,
            context_line,
            keys: repo_keys,
            logs,
        } = Ground::prepare(&opts).await?;
        let dir = &opts.dir;
        let peer_tokens = dir.join("transitioner-tokens");
        let deployer_cfg = dir.join("deployer.yaml");
        std::fs::write(
            &deployer_cfg,
            repo_keys.deployer(
                &dir.join("checkouts/deployer"),
                &opts.example.cluster,
                &kubeconfig,
                &context_line,
                // Redeploys (POST /deploy) come from the aggregator, with its peer token.
                &format!("api_tokens_file: {}\n", peer_tokens.display()),
            ),
        )?;
        let deployer = ServiceProcess::start("slipway-deployer", &deployer_cfg, &logs.join("deployer.log"))?;
        let deployer_url = deployer.url.clone();

        let transitioner_cfg = dir.join("transitioner.yaml");
        std::fs::write(
            &transitioner_cfg,
            repo_keys.transitioner(&dir.join("checkouts/transitioner"), &deployer_url, &peer_tokens, ""),
        )?;
        let transitioner = ServiceProcess::start(
            "slipway-transitioner",
            &transitioner_cfg,
            &logs.join("transitioner.log"),
        )?;
        let transitioner_url = transitioner.url.clone();

        let aggregator_cfg = dir.join("aggregator.yaml");
        let ui = opts
            .ui_path
            .as_ref()
            .map(|p| format!("ui_path: {}\n", p.display()))
            .unwrap_or_default();
        std::fs::write(
            &aggregator_cfg,
            repo_keys.aggregator(
                &dir.join("checkouts/aggregator"),
                &deployer_url,
                &transitioner_url,
                dir,
                &format!("{ui}{}", opts.aggregator_config),
            ),
        )?;
        let aggregator = ServiceProcess::start("slipway-aggregator", &aggregator_cfg, &logs.join("aggregator.log"))?;
        Ok(Stack {
            repo,
            server,
            token,
            sim,
            kubeconfig,
            deployer,
            transitioner,
            aggregator,
            dir: dir.clone(),
        })
    }

    /// Stops the three services (SIGTERM) and the simulated cluster.
    pub async fn stop(mut self) {
        self.aggregator.stop();
        self.transitioner.stop();
        self.deployer.stop();
        if let Some(sim) = self.sim.take() {
            sim.shutdown().await;
        }
    }
}

/// Starts the server `transport` needs in front of the repo at `repo`, and the
/// `git:` config lines that reach it (credentials written under `dir`).
fn serve_repo(repo: &Path, dir: &Path, transport: Transport) -> anyhow::Result<(Option<RepoServer>, String)> {
    Ok(match transport {
        Transport::Local => (None, String::new()),
        Transport::SmartHttp => {
            let token = random_name(24);
            let token_file = dir.join("git-token");
            std::fs::write(&token_file, format!("{token}\n"))?;
            let server = git_fixture::http::HttpRemote::serve_with_token(repo, &token)
                .context("cannot serve the resource repo over smart HTTP")?;
            let keys = format!("git: {{token_file: {}}}\n", token_file.display());
            (Some(RepoServer::Http(server)), keys)
        }
        Transport::Ssh => {
            let server = git_fixture::ssh::SshRemote::serve(repo).context("cannot serve the resource repo over ssh")?;
            let known_hosts = dir.join("known_hosts");
            std::fs::write(&known_hosts, server.known_hosts_line())?;
            let keys = format!(
                "git: {{ssh_key: {}, known_hosts: {}}}\n",
                server.client_key().display(),
                known_hosts.display()
            );
            (Some(RepoServer::Ssh(server)), keys)
        }
    })
}

/// `len` random lower-case letters and digits (tokens, names that must not collide).
pub fn random_name(len: usize) -> String {
    use rand::Rng as _;
    let mut rng = rand::thread_rng();
    (0..len)
        .map(|_| {
            let n = rng.gen_range(0..36u8);
            char::from(if n < 10 { b'0' + n } else { b'a' + n - 10 })
        })
        .collect()
}
