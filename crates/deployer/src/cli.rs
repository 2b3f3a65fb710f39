//! The command line of `slipway-deployer`: serve, check, deploy.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use slipway_kit::{load_config, Drain};

use slipway_core::redeploy::{DeployAnswer, DeployRequest};
use slipway_core::tokens::peer_token;

use crate::check::Verdict;
use crate::DeployerConfig;

/// Slipway's deployer: applies each environment of the resource repo to its cluster namespace.
#[derive(Parser)]
#[command(name = "slipway-deployer", version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Reconcile every env of deployers.yaml on every poll and serve the HTTP API.
    Serve {
        /// Deployer config file (YAML; see the README for its keys).
        #[arg(long)]
        config: PathBuf,
    },
    /// Dry run: print what would be created, changed and pruned, per env (exit 0 unless --exit-code).
    Check {
        /// Deployer config file (YAML).
        #[arg(long)]
        config: PathBuf,
        /// Only this env (default: every env of deployers.yaml).
        #[arg(long)]
        env: Option<String>,
        /// Exit status for CI: 0 nothing would change, 3 something would be created, changed,
        /// pruned or released, 4 a service or env would fail (1: the check could not run, 2: usage).
        #[arg(long)]
        exit_code: bool,
    },
    /// Ask the running deployer to redeploy envs now (POST /deploy) and print what
    /// was applied per env; exit non-zero if anything failed or an env is held by
    /// another replica. With --local: reconcile here once, without a running deployer.
    Deploy {
        /// Deployer config file (YAML): with --local, the config to run with;
        /// else the running deployer's URL is taken from its api_bind.
        #[arg(long)]
        config: Option<PathBuf>,
        /// The env to redeploy (repeat for several; none: every env of the deployer asked).
        #[arg(long = "env")]
        envs: Vec<String>,
        /// Apply every object again, even unchanged ones, taking back fields other
        /// field managers changed (server-side apply with force).
        #[arg(long)]
        force: bool,
        /// URL of the running deployer (default: from --config's api_bind, on 127.0.0.1).
        #[arg(long)]
        url: Option<String>,
        /// File holding the API token (scope deploy), or its name:token line;
        /// default: the environment variable SLIPWAY_DEPLOY_TOKEN.
        #[arg(long)]
        token_file: Option<PathBuf>,
        /// Reconcile here once with --config instead of asking a running deployer
        /// (prints each env's status as JSON).
        #[arg(long)]
        local: bool,
    },
}

/// The environment variable `deploy` reads its token from without --token-file.
pub const TOKEN_ENV: &str = "SLIPWAY_DEPLOY_TOKEN";

/// The URL of the deployer that a config's `api_bind` makes listen, as seen from this host.
pub fn url_of_bind(api_bind: &str) -> anyhow::Result<String> {
    let addr: std::net::SocketAddr = api_bind
        .parse()
        .map_err(|e| anyhow::anyhow!("the config's api_bind {api_bind:?} is not an address ({e}); pass --url"))?;
    if addr.port() == 0 {
        anyhow::bail!(
            "the config's api_bind {api_bind} has no fixed port (the deployer logs the one it took); pass --url"
        );
    }
    let host = match addr.ip() {
        ip if ip.is_unspecified() && ip.is_ipv6() => "[::1]".to_string(),
        ip if ip.is_unspecified() => "127.0.0.1".to_string(),
        std::net::IpAddr::V6(ip) => format!("[{ip}]"),
        ip => ip.to_string(),
    };
    Ok(format!("http://{host}:{}", addr.port()))
}

/// `deploy` against a running deployer: posts the request and prints the answer.
async fn ask_to_deploy(url: &str, token: &str, request: &DeployRequest) -> anyhow::Result<ExitCode> {
    let endpoint = format!("{}/deploy", url.trim_end_matches('/'));
    let answer = reqwest::Client::new()
        .post(&endpoint)
        .bearer_auth(token)
        .json(request)
        .send()
        .await
        .with_context(|| format!("cannot reach the deployer at {endpoint}"))?;
    let status = answer.status();
    let text = answer
        .text()
        .await
        .with_context(|| format!("the deployer's answer from {endpoint} was cut off"))?;
    if !status.is_success() {
        let message = serde_json::from_str::<serde_json::Value>(&text)
            .ok()
            .and_then(|v| v["error"].as_str().map(str::to_string))
            .unwrap_or(text);
        anyhow::bail!("the deployer at {endpoint} refused ({status}): {message}");
    }
    let answer: DeployAnswer =
        serde_json::from_str(&text).with_context(|| format!("unreadable answer from {endpoint}"))?;
    print!("{}", answer.summary());
    Ok(if answer.ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn token(file: Option<&Path>) -> anyhow::Result<String> {
    let missing =
        || anyhow::anyhow!("an API token with scope deploy is needed: pass --token-file PATH or set {TOKEN_ENV}");
    match peer_token(file, file.is_none().then_some(TOKEN_ENV)) {
        Ok(Some(token)) => Ok(token),
        Ok(None) | Err(slipway_core::tokens::TokenError::EnvMissing { .. }) => Err(missing()),
        Err(e) => Err(e.into()),
    }
}

fn config(path: &Path) -> anyhow::Result<DeployerConfig> {
    let c: DeployerConfig = load_config(path)?;
    c.validate()
        .map_err(|e| anyhow::anyhow!("invalid config file {}: {e}", path.display()))?;
    Ok(c)
}

impl Cli {
    /// Carries out the command.
    pub async fn run(self) -> anyhow::Result<ExitCode> {
        slipway_kit::init_tracing();
        match self.command {
            Command::Serve { config: path } => {
                crate::serve(config(&path)?, Drain::on_signals()).await?;
                Ok(ExitCode::SUCCESS)
            }
            Command::Check {
                config: path,
                env,
                exit_code,
            } => {
                let deployer = crate::Deployer::new(config(&path)?).await?;
                let checks = deployer.check(env.as_deref()).await.context("check failed")?;
                checks.iter().for_each(|check| print!("{check}"));
                let verdict = exit_code.then(|| Verdict::of(&checks).exit_code());
                Ok(ExitCode::from(verdict.unwrap_or(0)))
            }
            Command::Deploy {
                config: path,
                envs,
                force,
                url,
                token_file,
                local,
            } => {
                if local {
                    let path = path.ok_or_else(|| anyhow::anyhow!("--local needs --config"))?;
                    if envs.is_empty() {
                        anyhow::bail!("--local needs at least one --env");
                    }
                    let deployer = crate::Deployer::new(config(&path)?).await?;
                    let mut ok = true;
                    for env in &envs {
                        let run = deployer.deploy_forced(env, force).await.context("deploy failed")?;
                        println!("{}", serde_json::to_string_pretty(&run.status)?);
                        ok &= run.ok();
                    }
                    return Ok(if ok { ExitCode::SUCCESS } else { ExitCode::FAILURE });
                }
                let url = match (url, path) {
                    (Some(url), _) => url,
                    (None, Some(path)) => url_of_bind(&config(&path)?.api_bind)?,
                    (None, None) => anyhow::bail!("say which deployer to ask: --url URL or --config PATH"),
                };
                let request = DeployRequest {
                    envs: (!envs.is_empty()).then_some(envs),
                    force,
                };
                ask_to_deploy(&url, &token(token_file.as_deref())?, &request).await
            }
        }
    }
}
