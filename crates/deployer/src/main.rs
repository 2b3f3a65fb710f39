//! `slipway-deployer`: serve, check, deploy.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use slipway_deployer::check::Verdict;
use slipway_deployer::DeployerConfig;
use slipway_kit::{init_tracing, load_config, shutdown_on_signals};

/// mimalloc: the deployer makes many small short-lived allocations (JSON trees,
/// keys, status strings); with it a reconcile that finds nothing to do takes
/// well under half the time it takes with the system allocator.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Slipway's deployer: applies each environment of the resource repo to its cluster namespace.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
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

fn config(path: &std::path::Path) -> anyhow::Result<DeployerConfig> {
    let c: DeployerConfig = load_config(path)?;
    c.validate()
        .map_err(|e| anyhow::anyhow!("invalid config file {}: {e}", path.display()))?;
    Ok(c)
}

// One thread is plenty for an I/O-bound reconciler and keeps its memory small;
// git runs on tokio's blocking threads.
#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    // Printed here, not returned: a returned error is printed with its Debug
    // form, which carries a backtrace whenever RUST_BACKTRACE is set.
    run().await.unwrap_or_else(|e| {
        eprintln!("error: {e:#}");
        ExitCode::FAILURE
    })
}

async fn run() -> anyhow::Result<ExitCode> {
    init_tracing();
    match Cli::parse().command {
        Command::Serve { config: path } => {
            slipway_deployer::serve(config(&path)?, shutdown_on_signals()).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Check {
            config: path,
            env,
            exit_code,
        } => {
            let deployer = slipway_deployer::Deployer::new(config(&path)?).await?;
            let checks = deployer.check(env.as_deref()).await.context("check failed")?;
            checks.iter().for_each(|check| print!("{check}"));
            let verdict = exit_code.then(|| Verdict::of(&checks).exit_code());
            Ok(ExitCode::from(verdict.unwrap_or(0)))
        }
        Command::Deploy { config: path, env } => {
            let deployer = slipway_deployer::Deployer::new(config(&path)?).await?;
            let run = deployer.deploy(&env).await.context("deploy failed")?;
            println!("{}", serde_json::to_string_pretty(&run.status)?);
            Ok(if run.ok() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
        }
    }
}
