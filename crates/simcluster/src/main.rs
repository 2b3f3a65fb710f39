//! `slipway-simcluster`: runs the simulated Kubernetes cluster until SIGINT/SIGTERM
//! (the flags are in `cli.rs`).

use std::process::ExitCode;

use clap::Parser as _;
use slipway_simcluster::cli::Args;

#[tokio::main]
async fn main() -> ExitCode {
    // Printed here, not returned: a returned error is printed with its Debug
    // form, which carries a backtrace whenever RUST_BACKTRACE is set.
    match Args::parse().run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
