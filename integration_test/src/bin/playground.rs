//! `cargo run -p integration_test`: the Slipway playground. Starts a simulated
//! cluster, an example resource repo, the deployer, transitioner and aggregator
//! with the web UI, prints where to find them, and stops it all on Ctrl-C.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use clap::Parser;
use integration_test::stack::{Stack, StackOptions};

/// Slipway playground: a whole installation on this machine.
#[derive(Parser)]
#[command(
    version,
    about = "Slipway playground: a simulated cluster, an example resource repo, and the deployer, transitioner and aggregator with the web UI, on this machine"
)]
struct Args {
    /// Folder for the repo, checkouts, configs and logs; removed and recreated at start.
    #[arg(long, default_value = "playground")]
    dir: PathBuf,
    /// The built web UI to serve.
    #[arg(long, default_value = "ui/dist")]
    ui_path: PathBuf,
    /// Deploy to the real cluster of this kubeconfig instead of a simulated one.
    #[arg(long)]
    kubeconfig: Option<PathBuf>,
    /// Context of --kubeconfig (default: its current context).
    #[arg(long, requires = "kubeconfig")]
    context: Option<String>,
    /// Simulated cluster: how long a healthy rollout takes.
    #[arg(long, default_value = "3s", value_parser = humantime::parse_duration)]
    rollout_delay: Duration,
    /// How often the services poll the repo and each other.
    #[arg(long, default_value = "2s", value_parser = humantime::parse_duration)]
    poll_interval: Duration,
    /// Cron schedule (with seconds) of the promotion into prod.
    #[arg(long, default_value = "0 */2 * * * *")]
    prod_schedule: String,
    /// Print one JSON line with the URLs and token once everything is up (for tools and tests).
    #[arg(long)]
    ready_json: bool,
}

#[tokio::main]
async fn main() -> ExitCode {
    slipway_kit::exit_status(run().await.map(|()| ExitCode::SUCCESS))
}

async fn run() -> anyhow::Result<()> {
    let args = Args::parse();
    if args.dir.exists() {
        std::fs::remove_dir_all(&args.dir).with_context(|| format!("cannot clear {}", args.dir.display()))?;
    }
    std::fs::create_dir_all(&args.dir).with_context(|| format!("cannot create {}", args.dir.display()))?;
    let dir = std::fs::canonicalize(&args.dir).with_context(|| format!("cannot resolve {}", args.dir.display()))?;
    let ui_path = std::fs::canonicalize(&args.ui_path).ok();
    if ui_path.is_none() && !args.ready_json {
        eprintln!(
            "note: no built UI at {} (build it with `cd ui && npm ci && npm run build`, or use scripts/playground)",
            args.ui_path.display()
        );
    }
    let mut opts = StackOptions::new(&dir);
    opts.ui_path = ui_path;
    opts.kubeconfig = args.kubeconfig.clone();
    opts.context = args.context.clone();
    opts.rollout_delay = args.rollout_delay;
    opts.poll_interval = args.poll_interval;
    opts.example.last_schedule = Some(args.prod_schedule.clone());
    // Preview envs get hosts of their own (`${preview_host}`): <name>.preview.localhost.
    opts.aggregator_config = "preview_domain: preview.localhost\n".to_string();
    if !args.ready_json {
        eprintln!("starting the playground in {} ...", dir.display());
    }
    let stack = Stack::start(opts).await?;
    let api = &stack.aggregator.url;
    if args.ready_json {
        let ready = serde_json::json!({
            "ui_url": format!("{api}/"),
            "api_url": api,
            "token": stack.token,
            "deployer_url": stack.deployer.url,
            "transitioner_url": stack.transitioner.url,
            "repo": stack.repo.url(),
            "kubeconfig": stack.kubeconfig,
        });
        println!("{ready}");
    } else {
        let sim = stack
            .sim
            .as_ref()
            .map(|s| s.url())
            .unwrap_or_else(|| "(real cluster)".into());
        println!(
            r#"
Slipway playground is running.

  Web UI            {api}/
  Aggregator API    {api}/api/state
  Deployer status   {deployer}/status
  Transitioner      {transitioner}/status
  Cluster           {sim}   (kubectl --kubeconfig {kubeconfig} get deploy -A)
  Resource repo     {repo}  (git clone it, commit, push: Slipway picks it up)
  API token         {token}
  Logs              {dir}/logs/

Post a new version of `web` to `latest`; it moves to dev, then pp, then prod at
the next even minute:

  curl -sS -X POST {api}/api/versions \
    -H 'Authorization: Bearer {token}' -H 'Content-Type: application/json' \
    -d '{{"service":"web","env":"latest","vars":{{"version":"1.1.0","image":"registry.example/web:1.1.0","replicas":2}},"changelog":"Faster start-up"}}'

or with the CLI:

  target/debug/slipway-aggregator post-version --url {api} --token {token} \
    --service web --env latest --var version=1.1.0 --var image=registry.example/web:1.1.0 --var replicas:=2

An image tagged `:broken` never becomes ready: try it to see a promotion stop.
Press Ctrl-C to stop everything."#,
            deployer = stack.deployer.url,
            transitioner = stack.transitioner.url,
            kubeconfig = stack.kubeconfig.display(),
            repo = stack.repo.url(),
            token = stack.token,
            dir = dir.display(),
        );
    }
    wait_for_signal().await;
    if !args.ready_json {
        eprintln!("stopping ...");
    }
    stack.stop().await;
    Ok(())
}

async fn wait_for_signal() {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(s) => s,
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
