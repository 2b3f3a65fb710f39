//! `slipway-deployer`: serve, check, deploy (the commands are in `cli.rs`).

use std::process::ExitCode;

use clap::Parser as _;
use slipway_deployer::cli::Cli;

/// mimalloc: the deployer makes many small short-lived allocations (JSON trees,
/// keys, status strings); with it a reconcile that finds nothing to do takes
/// well under half the time it takes with the system allocator. Its version 2
/// (see Cargo.toml) keeps less memory resident than version 3.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

// One thread is plenty for an I/O-bound reconciler and keeps its memory small;
// git runs on tokio's blocking threads.
#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    slipway_kit::exit_status(Cli::parse().run().await)
}
