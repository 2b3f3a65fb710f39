use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use slipway_aggregator::client::{post_version, PostVersionArgs};
use slipway_aggregator::AggregatorConfig;

/// Slipway's aggregator: the API for CI and people, and the web UI.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the API and the UI
    Serve {
        /// Config file (YAML), see the README for its keys
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
    },
    /// Post a new version of a service (for CI); exit codes: 0 ok, 1 local problem, 2 usage, 3 refused, 4 unavailable
    PostVersion(PostVersionArgs),
}

#[tokio::main]
async fn main() -> ExitCode {
    slipway_kit::exit_status(run().await)
}

async fn run() -> anyhow::Result<ExitCode> {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve { config } => {
            slipway_kit::init_tracing();
            let config: AggregatorConfig = slipway_kit::load_config(&config)?;
            slipway_aggregator::serve(config, slipway_kit::Drain::on_signals()).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::PostVersion(args) => Ok(ExitCode::from(post_version(args).await)),
    }
}
