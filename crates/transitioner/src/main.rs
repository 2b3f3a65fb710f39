//! `slipway-transitioner`: promotes versions between environments by the rules in `transitions.yaml`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "slipway-transitioner",
    version,
    about = "Promotes versions between environments of a Slipway resource repo"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the HTTP API and evaluate every transition on each poll.
    Serve {
        /// Path of the YAML config file (see the README for its keys).
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
    },
    /// Print what each transition would do now (promotions, locks, preconditions,
    /// schedule) without writing anything.
    Check {
        /// Path of the YAML config file (see the README for its keys).
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
    },
    /// Print what the next promotion of one transition ships: per service old → new
    /// vars and the changelogs it carries, and the field-level difference of the
    /// target env's rendered manifests. Writes nothing.
    Preview {
        /// Name of the transition in transitions.yaml.
        name: String,
        /// Path of the YAML config file (see the README for its keys).
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
        /// Print JSON (the answer of the aggregator's GET /api/transitions/{name}/preview).
        #[arg(long)]
        json: bool,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    slipway_kit::exit_status(run().await.map(|()| ExitCode::SUCCESS))
}

async fn run() -> anyhow::Result<()> {
    let cli = Cli::parse();
    slipway_kit::init_tracing();
    match cli.command {
        Command::Serve { config } => slipway_transitioner::serve(slipway_kit::load_config(&config)?).await,
        Command::Preview { name, config, json } => {
            slipway_transitioner::preview(slipway_kit::load_config(&config)?, &name, json, &mut std::io::stdout()).await
        }
        Command::Check { config } => {
            slipway_transitioner::check(slipway_kit::load_config(&config)?, &mut std::io::stdout()).await
        }
    }
}
