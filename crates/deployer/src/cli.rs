//! The command line of `slipway-deployer`: serve, check, deploy.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use slipway_kit::{load_config, Drain};

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
    /// Reconcile one env once; exit non-zero if anything failed.
    Deploy {
        /// Deployer config file (YAML).
        #[arg(long)]
        config: PathBuf,
        /// The env to deploy.
        #[arg(long)]
        env: String,
    },
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
            Command::Deploy { config: path, env } => {
                let deployer = crate::Deployer::new(config(&path)?).await?;
                let run = deployer.deploy(&env).await.context("deploy failed")?;
                println!("{}", serde_json::to_string_pretty(&run.status)?);
                Ok(if run.ok() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
            }
        }
    }
}
