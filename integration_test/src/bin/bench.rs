//! `cargo run --release -p integration_test --bin bench`: how fast and how small
//! Slipway is, measured with real processes against a simulated cluster (or a
//! real one), side by side with `kubectl apply --server-side`. Prints one table
//! (or `--json`).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use clap::Parser;
use integration_test::client::{service_env, wait_for, Api};
use integration_test::example::ExampleRepo;
use integration_test::process::kubectl;
use integration_test::stack::{random_name, Stack, StackOptions};
use serde_json::{json, Value};
use slipway_core::status::{DeployerStatus, RolloutStatus};
use slipway_simcluster::{SimCluster, SimConfig};

/// Slipway benchmark suite.
#[derive(Parser)]
#[command(about)]
struct Args {
    /// Services in the generated repo (each a Deployment and a Service per env).
    #[arg(long, default_value_t = 500)]
    services: usize,
    /// Deployed environments (after the source env `latest`); default 3, or 20 for `--scenario scale`.
    #[arg(long)]
    envs: Option<usize>,
    /// Simulated cluster: time until a healthy rollout is available.
    #[arg(long, default_value = "100ms", value_parser = humantime::parse_duration)]
    rollout_delay: Duration,
    /// Runs of the end-to-end latency measurement.
    #[arg(long, default_value_t = 20)]
    latency_runs: usize,
    /// Requests of the `GET /api/state` measurement.
    #[arg(long, default_value_t = 200)]
    state_requests: usize,
    /// Measure (1)-(3) and (7) against the cluster of this kubeconfig instead of a
    /// simulated one, in namespaces of its own (slipway-bench-<random>-e0, ...)
    /// that are deleted at the end.
    #[arg(long, value_name = "KUBECONFIG")]
    real_cluster: Option<PathBuf>,
    /// Context of the --real-cluster kubeconfig (default: its current context).
    #[arg(long, requires = "real_cluster")]
    context: Option<String>,
    /// With --real-cluster: keep the bench's namespaces instead of deleting them at the end.
    #[arg(long, requires = "real_cluster")]
    keep_namespaces: bool,
    /// Image every service runs (default: a made-up name the simulated cluster
    /// accepts; with --real-cluster, registry.k8s.io/pause:3.10).
    #[arg(long)]
    image: Option<String>,
    /// Replicas of each service's Deployment.
    #[arg(long, default_value_t = 2)]
    replicas: u32,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
    /// What to measure: `all` (the table below); `group-commit`: posts at
    /// --post-rate for --post-duration against a smart-HTTP remote while the
    /// transitioner promotes every commit, with batching off and on; `scale`:
    /// --envs (20) × --services (500) over --deployers replicas sharded through
    /// Leases (first sync, no-op round, one-service bump, memory, failover).
    #[arg(long, default_value = "all")]
    scenario: String,
    /// scale: deployer replicas (more than 1 shards the envs through Leases).
    #[arg(long, default_value_t = 3)]
    deployers: usize,
    /// group-commit: posts per second.
    #[arg(long, default_value_t = 50)]
    post_rate: u32,
    /// group-commit: how long posts are sent.
    #[arg(long, default_value = "60s", value_parser = humantime::parse_duration)]
    post_duration: Duration,
}

struct Row {
    what: &'static str,
    value: String,
    target: &'static str,
    ok: Option<bool>,
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

async fn deployer_status(http: &reqwest::Client, url: &str) -> anyhow::Result<DeployerStatus> {
    Ok(http.get(format!("{url}/status")).send().await?.json().await?)
}

/// Waits until every env is reconciled to `commit` and none is `Outdated`; then
/// (if `clean`) until all are `Clean`.
async fn wait_synced(http: &reqwest::Client, url: &str, commit: &str, envs: usize, clean: bool) -> anyhow::Result<()> {
    wait_for(Duration::from_secs(600), "deployer sync", || async {
        let s = deployer_status(http, url).await?;
        let done = s.envs.len() == envs
            && s.envs.values().all(|e| {
                e.commit.as_deref() == Some(commit)
                    && if clean {
                        e.status == RolloutStatus::Clean
                    } else {
                        e.status != RolloutStatus::Outdated
                    }
            });
        Ok(if done {
            Ok(())
        } else {
            Err(format!(
                "{:?}",
                s.envs
                    .values()
                    .map(|e| (e.env.clone(), e.status, e.commit.clone()))
                    .collect::<Vec<_>>()
            ))
        })
    })
    .await
}

/// The time from `start` until `end` (the deployer's clock; same machine).
fn since(start: chrono::DateTime<chrono::Utc>, end: Option<chrono::DateTime<chrono::Utc>>) -> Duration {
    end.and_then(|e| (e - start).to_std().ok()).unwrap_or(Duration::MAX)
}

/// Waits until the deployer has not reconciled for a while (the last rollout
/// checks and watch wake-ups after a change are over).
async fn wait_quiet(http: &reqwest::Client, url: &str) -> anyhow::Result<()> {
    let quiet = chrono::Duration::milliseconds(500);
    wait_for(Duration::from_secs(60), "the deployer to settle", || async {
        let s = deployer_status(http, url).await?;
        let last = s.envs.values().filter_map(|e| e.last_reconcile).max();
        Ok(match last {
            Some(t) if chrono::Utc::now() - t < quiet => Err("reconciling".into()),
            _ => Ok(()),
        })
    })
    .await
}

/// Writes so far: every write request the simulated cluster answered, or on a
/// real cluster the objects the deployer applied and pruned (its metrics).
async fn writes(http: &reqwest::Client, stack: &Stack) -> Option<u64> {
    if let Some(sim) = &stack.sim {
        return Some(sim.counters().writes());
    }
    let text = http
        .get(format!("{}/metrics", stack.deployer.url))
        .send()
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    Some(counted_writes(&text))
}

/// The sum of the deployer's applied and pruned object counters in its metrics text.
fn counted_writes(metrics: &str) -> u64 {
    metrics
        .lines()
        .filter(|l| {
            l.starts_with("slipway_deployer_applied_objects_total")
                || l.starts_with("slipway_deployer_pruned_objects_total")
        })
        .filter_map(|l| l.rsplit_once(' ').and_then(|(_, n)| n.parse::<f64>().ok()))
        .sum::<f64>() as u64
}

fn count(w: Option<u64>) -> String {
    w.map(|w| w.to_string()).unwrap_or("?".into())
}

#[tokio::main]
async fn main() -> ExitCode {
    slipway_kit::exit_status(run().await.map(|()| ExitCode::SUCCESS))
}

async fn run() -> anyhow::Result<()> {
    let mut args = Args::parse();
    let scale = args.scenario == "scale";
    let envs = args.envs.unwrap_or(if scale { 20 } else { 3 });
    args.envs = Some(envs);
    if args.deployers == 0 {
        bail!("--deployers must be at least 1");
    }
    if scale && args.real_cluster.is_some() {
        bail!("--scenario scale runs on the simulated cluster only (it reads its write log and Leases)");
    }
    // Before anything starts: a missing kubeconfig would otherwise surface as
    // a deployer that does not come up, after the repo has been generated.
    if let Some(kubeconfig) = &args.real_cluster {
        if !kubeconfig.is_file() {
            bail!("--real-cluster: no kubeconfig at {}", kubeconfig.display());
        }
    }
    let real = args.real_cluster.is_some();
    let example = ExampleRepo {
        services: (0..args.services).map(|i| format!("s{i:04}")).collect(),
        envs: (0..envs).map(|i| format!("e{i}")).collect(),
        with_deployable: false,
        progress_deadline_secs: 600,
        last_schedule: None,
        cluster: "bench".into(),
        // A real cluster may hold other runs' namespaces: each run has its own.
        namespace_prefix: if real {
            format!("slipway-bench-{}-", random_name(6))
        } else {
            "bench-".into()
        },
        image: args
            .image
            .clone()
            .or_else(|| real.then(|| "registry.k8s.io/pause:3.10".to_string())),
        replicas: args.replicas,
    };
    let objects = args.services * envs * 2;
    let measured = match args.scenario.as_str() {
        "all" => measure(&args, &example).await,
        "group-commit" => group_commit::measure(&args).await,
        "scale" => scale::measure(&args, &example).await,
        other => bail!("--scenario {other}: expected all, group-commit or scale"),
    };
    if let (Some(kubeconfig), false) = (&args.real_cluster, args.keep_namespaces) {
        delete_namespaces(kubeconfig, args.context.as_deref(), &example);
    }
    let rows = measured?;

    if args.json {
        let out: Vec<Value> = rows
            .iter()
            .map(|r| json!({"measure": r.what, "value": r.value, "target": r.target, "met": r.ok}))
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(
                &json!({"services": args.services, "envs": envs, "objects": objects, "results": out})
            )?
        );
    } else {
        if scale {
            println!(
                "\nSlipway benchmark, scale: {} services × {envs} envs = {objects} objects over {} deployer replica(s), simulated cluster, rollout delay {:?}\n",
                args.services, args.deployers, args.rollout_delay
            );
        } else if args.scenario == "group-commit" {
            println!(
                "\nSlipway benchmark, group commit: {} posts/s for {:?} to 20 services over smart HTTP, transitioner promoting latest → dev\n",
                args.post_rate, args.post_duration
            );
        } else {
            println!(
                "\nSlipway benchmark: {} services × {} envs = {objects} objects, {}\n",
                args.services,
                envs,
                match &args.real_cluster {
                    Some(k) => format!("the cluster of {}", k.display()),
                    None => format!("simulated cluster, rollout delay {:?}", args.rollout_delay),
                }
            );
        }
        println!("| measure | result | target | met |\n|---|---|---|---|");
        for r in &rows {
            let met = match r.ok {
                Some(true) => "yes",
                Some(false) => "NO",
                None => "?",
            };
            println!("| {} | {} | {} | {met} |", r.what, r.value, r.target);
        }
        let missed: Vec<&str> = rows.iter().filter(|r| r.ok == Some(false)).map(|r| r.what).collect();
        if missed.is_empty() {
            println!("\nEvery target with a verdict is met.");
        } else {
            println!("\nMissed targets: {}", missed.join("; "));
        }
    }
    Ok(())
}

/// Runs every measurement and returns the table's rows.
async fn measure(args: &Args, example: &ExampleRepo) -> anyhow::Result<Vec<Row>> {
    let http = reqwest::Client::new();
    let dir = tempfile::Builder::new().prefix("slipway-bench-").tempdir()?;
    let envs = example.envs.len();
    let objects = args.services * envs * 2;
    let mut rows = Vec::new();
    eprintln!(
        "generating {} services × {envs} envs ({objects} objects) ...",
        args.services
    );

    let mut opts = StackOptions::new(&dir.path().join("stack"));
    opts.example = example.clone();
    opts.rollout_delay = args.rollout_delay;
    opts.poll_interval = Duration::from_secs(3600); // only explicit refreshes drive the services
    opts.kubeconfig = args.real_cluster.clone();
    opts.context = args.context.clone();
    let started = Instant::now();
    let stack = Stack::start(opts).await?;
    let head = stack.repo.head().context("repo has a head")?;
    let dep = stack.deployer.url.clone();
    // What `writes` counts.
    let writes_are = if stack.sim.is_some() {
        "API writes"
    } else {
        "objects written"
    };

    // (1) first full sync
    wait_synced(&http, &dep, &head, envs, false).await?;
    let first_sync = started.elapsed();
    let per_1000 = first_sync.as_secs_f64() * 1000.0 / objects as f64;
    rows.push(Row {
        what: "1. first full sync",
        value: format!(
            "{:.2} s ({per_1000:.2} s per 1,000 objects), {} {writes_are}",
            first_sync.as_secs_f64(),
            count(writes(&http, &stack).await)
        ),
        target: "< 10 s per 1,000 objects",
        ok: Some(per_1000 < 10.0),
    });
    wait_synced(&http, &dep, &head, envs, true).await?;

    // (2) no-op reconcile: from the refresh until the last env's reconcile
    // ended, by the deployer's own `last_reconcile` times (the status is polled
    // far more coarsely than that), once the rollout's last checks are over;
    // the median of 5.
    let w0 = writes(&http, &stack).await;
    let mut noops = Vec::new();
    for _ in 0..5 {
        wait_quiet(&http, &dep).await?;
        // `POST /refresh` acts on one nudge per interval when nothing new came: measure the
        // reconcile, not the rate limit.
        tokio::time::sleep(slipway_core::refresh::MIN_INTERVAL).await;
        let before = deployer_status(&http, &dep).await?;
        let sent = chrono::Utc::now();
        http.post(format!("{dep}/refresh")).send().await?;
        let after = wait_for(Duration::from_secs(60), "a reconcile after refresh", || async {
            let s = deployer_status(&http, &dep).await?;
            let newer = s
                .envs
                .iter()
                .all(|(k, e)| e.last_reconcile > before.envs.get(k).and_then(|b| b.last_reconcile));
            Ok(if newer { Ok(s) } else { Err("waiting".into()) })
        })
        .await?;
        noops.push(since(sent, after.envs.values().filter_map(|e| e.last_reconcile).max()));
    }
    noops.sort();
    let noop = noops[noops.len() / 2];
    let noop_writes = writes(&http, &stack).await.zip(w0).map(|(a, b)| a - b);
    rows.push(Row {
        what: "2. no-op reconcile",
        value: format!("{:.0} ms (median of 5), {} {writes_are}", ms(noop), count(noop_writes)),
        target: "< 100 ms, 0 writes",
        ok: Some(ms(noop) < 100.0 && noop_writes.unwrap_or(0) == 0),
    });

    // (3) one-service version bump, committed directly to the first env
    let env0 = &example.envs[0];
    let service = &example.services[0];
    let w0 = writes(&http, &stack).await;
    tokio::time::sleep(slipway_core::refresh::MIN_INTERVAL).await;
    let committed = chrono::Utc::now();
    let commit = stack.repo.commit(
        "bench: bump one service",
        &[(
            &format!("{env0}/version/{service}.yaml"),
            Some(&example.version_file(service, "1.0.1")),
        )],
    )?;
    http.post(format!("{dep}/refresh")).send().await?;
    let clean = wait_for(Duration::from_secs(120), "the bumped service Clean", || async {
        let s = deployer_status(&http, &dep).await?;
        let e = s.envs.get(env0.as_str()).cloned();
        Ok(match e {
            Some(e) if e.commit.as_deref() == Some(commit.as_str()) && e.status == RolloutStatus::Clean => {
                Ok(e.clean_since)
            }
            other => Err(format!("{:?}", other.map(|e| (e.status, e.commit)))),
        })
    })
    .await?;
    let bump = since(committed, clean);
    let bump_writes = writes(&http, &stack).await.zip(w0).map(|(a, b)| a - b);
    rows.push(Row {
        what: "3. one-service bump",
        value: format!(
            "{} {writes_are}, {:.0} ms from commit to Clean",
            count(bump_writes),
            ms(bump)
        ),
        target: "only that service's changed objects (≤ 2)",
        ok: bump_writes.map(|w| w <= 2),
    });

    if args.real_cluster.is_none() {
        // (4) end-to-end latency: POST to latest → first downstream env Clean with it
        let api = Api::new(&stack.aggregator.url, &stack.token);
        let mut lat = Vec::new();
        for run in 0..args.latency_runs {
            let svc = &example.services[(run + 1) % example.services.len()];
            let version = format!("2.0.{run}");
            wait_quiet(&http, &dep).await?;
            let posted = chrono::Utc::now();
            let (code, body) = api.post_version("latest", svc, &version, "bench").await?;
            if code != 201 {
                bail!("post answered {code}: {body}");
            }
            // Until the env is Clean with the version; when that was is the
            // env's `clean_since` (its first Clean reconcile after the write).
            let clean = wait_for(
                Duration::from_secs(60),
                "the posted version Clean downstream",
                || async {
                    let s = deployer_status(&http, &dep).await?;
                    let Some(e) = s.envs.get(env0.as_str()) else {
                        return Ok(Err("no env yet".into()));
                    };
                    let ok = e.status == RolloutStatus::Clean
                        && e.services.get(svc.as_str()).is_some_and(|s| {
                            s.version.as_deref() == Some(version.as_str()) && s.status == RolloutStatus::Clean
                        });
                    Ok(if ok { Ok(e.clean_since) } else { Err("waiting".into()) })
                },
            )
            .await?;
            lat.push(ms(since(posted, clean)));
        }
        lat.sort_by(f64::total_cmp);
        let median = percentile(&lat, 0.5);
        rows.push(Row {
            what: "4. end-to-end latency",
            value: format!(
                "median {median:.0} ms, p95 {:.0} ms ({} runs)",
                percentile(&lat, 0.95),
                lat.len()
            ),
            target: "median < 1 s",
            ok: Some(median < 1000.0),
        });

        // (5) GET /api/state
        let mut times = Vec::new();
        for _ in 0..args.state_requests {
            let t = Instant::now();
            let v: Value = http
                .get(format!("{}/api/state", stack.aggregator.url))
                .send()
                .await?
                .json()
                .await?;
            times.push(ms(t.elapsed()));
            if service_env(&v, service, env0).is_none() {
                bail!("state lacks {service} in {env0}");
            }
        }
        times.sort_by(f64::total_cmp);
        let median = percentile(&times, 0.5);
        rows.push(Row {
            what: "5. GET /api/state",
            value: format!("median {median:.1} ms, p95 {:.1} ms", percentile(&times, 0.95)),
            target: "< 20 ms",
            ok: Some(median < 20.0),
        });

        // (6) peak resident memory
        for (what, p) in [
            ("6. peak RSS deployer", &stack.deployer),
            ("6. peak RSS transitioner", &stack.transitioner),
            ("6. peak RSS aggregator", &stack.aggregator),
        ] {
            let rss = p.peak_rss().unwrap_or(0) as f64 / 1024.0 / 1024.0;
            rows.push(Row {
                what,
                value: format!("{rss:.1} MB"),
                target: "< 60 MB",
                ok: Some(rss < 60.0),
            });
        }
    }

    // (7) the same manifests with kubectl apply --server-side, one call per env
    let snapshot = {
        let files: Vec<(String, Vec<u8>)> = stack
            .repo
            .paths()
            .into_iter()
            .filter_map(|p| stack.repo.read_at(&head, &p).map(|t| (p, t.into_bytes())))
            .collect();
        slipway_core::RepoSnapshot::from_files(&head, files)
    };
    stack.stop().await;
    let kubectl_dir = dir.path().join("kubectl");
    let kubectl_time = kubectl_apply(
        &snapshot,
        example,
        &kubectl_dir,
        args.rollout_delay,
        args.real_cluster.as_deref().map(|k| (k, args.context.as_deref())),
    )
    .await?;
    let ratio = first_sync.as_secs_f64() / kubectl_time.as_secs_f64();
    rows.push(Row {
        what: "7. kubectl apply --server-side",
        value: format!("{:.2} s; Slipway / kubectl = {ratio:.2}", kubectl_time.as_secs_f64()),
        target: "ratio ≤ 1",
        ok: Some(ratio <= 1.0),
    });
    Ok(rows)
}

/// Deletes the namespaces a run made in a real cluster (without waiting for them to go).
fn delete_namespaces(kubeconfig: &Path, context: Option<&str>, example: &ExampleRepo) {
    let namespaces: Vec<String> = example
        .envs
        .iter()
        .flat_map(|env| {
            let ns = format!("{}{env}", example.namespace_prefix);
            [kubectl_namespace(example, env), ns]
        })
        .collect();
    eprintln!("deleting namespaces {} ...", namespaces.join(" "));
    let mut cmd = kubectl(kubeconfig, context);
    cmd.args(["delete", "namespace", "--ignore-not-found", "--wait=false"])
        .args(&namespaces);
    match cmd.output() {
        Ok(out) if out.status.success() => {}
        Ok(out) => eprintln!(
            "could not delete the bench's namespaces (delete them by hand): {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ),
        Err(e) => eprintln!("could not run kubectl to delete the bench's namespaces: {e}"),
    }
}

/// The namespace the `kubectl` comparison applies an env to.
fn kubectl_namespace(example: &ExampleRepo, env: &str) -> String {
    format!("{}{env}-kubectl", example.namespace_prefix)
}

/// Renders every env as the deployer would (without its labels) and applies each
/// env with one `kubectl apply --server-side` call against a fresh cluster.
async fn kubectl_apply(
    snapshot: &slipway_core::RepoSnapshot,
    example: &ExampleRepo,
    dir: &Path,
    rollout_delay: Duration,
    real_cluster: Option<(&Path, Option<&str>)>,
) -> anyhow::Result<Duration> {
    std::fs::create_dir_all(dir)?;
    let (sim, kubeconfig, context) = match real_cluster {
        Some((k, context)) => (None, k.to_path_buf(), context.map(str::to_string)),
        None => {
            let sim = SimCluster::start(SimConfig {
                rollout_delay,
                ..SimConfig::default()
            })
            .await
            .map_err(|e| anyhow::anyhow!("cannot start the simulated cluster: {e}"))?;
            let path = dir.join("kubeconfig");
            sim.write_kubeconfig(&path)?;
            (Some(sim), path, None)
        }
    };
    let mut files = Vec::new();
    for env in &example.envs {
        let ns = kubectl_namespace(example, env);
        let mut text = format!("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {ns}\n");
        for unit in snapshot.render_env(env) {
            for mut doc in unit.result.map_err(|e| anyhow::anyhow!("{e}"))? {
                doc["metadata"]["namespace"] = serde_yaml::Value::from(ns.clone());
                text.push_str("---\n");
                text.push_str(&serde_yaml::to_string(&doc)?);
            }
        }
        let path = dir.join(format!("{env}.yaml"));
        std::fs::write(&path, text)?;
        files.push(path);
    }
    let t = Instant::now();
    for file in &files {
        let mut cmd = kubectl(&kubeconfig, context.as_deref());
        cmd.args(["apply", "--server-side", "-f"]).arg(file);
        let out = tokio::task::spawn_blocking(move || cmd.output()).await??;
        if !out.status.success() {
            bail!("kubectl apply failed: {}", String::from_utf8_lossy(&out.stderr));
        }
    }
    let elapsed = t.elapsed();
    if let Some(sim) = sim {
        sim.shutdown().await;
    }
    Ok(elapsed)
}

/// The write path under a steady stream of posts, with group commit off and on.
mod group_commit {
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    use anyhow::Context as _;
    use integration_test::client::Api;
    use integration_test::example::ExampleRepo;
    use integration_test::stack::{Stack, StackOptions, Transport};

    use super::{ms, percentile, Args, Row};

    struct Figures {
        posts: usize,
        acknowledged: usize,
        lost: usize,
        errors: usize,
        /// Errors by kind (`status 504`, `no answer`).
        error_kinds: std::collections::BTreeMap<String, usize>,
        p50: f64,
        p99: f64,
        promotions_per_min: f64,
        max_promotion_gap: u64,
    }

    pub async fn measure(args: &Args) -> anyhow::Result<Vec<Row>> {
        let mut rows = Vec::new();
        let runs = [
            ("group commit: before (version_batch_max: 1)", 1),
            ("group commit: after (version_batch_max: 64)", 64),
        ];
        for (what, batch) in runs {
            eprintln!("{what}: {} posts/s for {:?} ...", args.post_rate, args.post_duration);
            let f = run(args, batch).await?;
            rows.push(Row {
                what,
                value: format!(
                    "{} posts, {} × 201, {} lost, {} errors {:?}; 201 latency p50 {:.0} ms, p99 {:.0} ms; {:.1} promotions/min, longest gap between promotions {} s",
                    f.posts, f.acknowledged, f.lost, f.errors, f.error_kinds, f.p50, f.p99, f.promotions_per_min, f.max_promotion_gap
                ),
                target: "0 lost, p99 < 2 s, gap ≤ 5 s",
                ok: Some(f.lost == 0 && f.errors == 0 && f.p99 < 2000.0 && f.max_promotion_gap <= 5),
            });
        }
        Ok(rows)
    }

    async fn run(args: &Args, batch: usize) -> anyhow::Result<Figures> {
        let dir = tempfile::Builder::new().prefix("slipway-bench-gc-").tempdir()?;
        let mut opts = StackOptions::new(&dir.path().join("stack"));
        opts.example = ExampleRepo {
            services: (0..20).map(|i| format!("s{i:02}")).collect(),
            envs: vec!["dev".into()],
            with_deployable: false,
            progress_deadline_secs: 600,
            last_schedule: None,
            cluster: "bench".into(),
            namespace_prefix: "bench-".into(),
            image: None,
            replicas: 1,
        };
        opts.rollout_delay = args.rollout_delay;
        opts.poll_interval = Duration::from_millis(500);
        opts.transport = Transport::SmartHttp;
        opts.aggregator_config = format!("version_batch_max: {batch}\n");
        let stack = Stack::start(opts).await?;
        let api = Arc::new(Api::new(&stack.aggregator.url, &stack.token));
        let every = Duration::from_secs_f64(1.0 / f64::from(args.post_rate.max(1)));
        let started = Instant::now();
        let start_time = chrono::Utc::now().timestamp();
        let mut tasks = Vec::new();
        let mut ticker = tokio::time::interval(every);
        let mut i = 0usize;
        while started.elapsed() < args.post_duration {
            ticker.tick().await;
            let api = api.clone();
            let service = format!("s{:02}", i % 20);
            let version = format!("9.{i}");
            i += 1;
            tasks.push(tokio::spawn(async move {
                let sent = Instant::now();
                let answer = api.post_version("latest", &service, &version, "bench").await;
                (sent.elapsed(), answer)
            }));
        }
        let mut latencies = Vec::new();
        let mut acknowledged = Vec::new();
        let mut errors = 0;
        let mut error_kinds = std::collections::BTreeMap::new();
        for task in tasks {
            let (took, answer) = task.await.context("a post task failed")?;
            match answer {
                Ok((201, body)) => {
                    latencies.push(ms(took));
                    acknowledged.push(body["commit"].as_str().unwrap_or_default().to_string());
                }
                Ok((code, _)) => {
                    errors += 1;
                    *error_kinds.entry(format!("status {code}")).or_insert(0) += 1;
                }
                Err(_) => {
                    errors += 1;
                    *error_kinds.entry("no answer in 30 s".to_string()).or_insert(0) += 1;
                }
            }
        }
        let end_time = chrono::Utc::now().timestamp();
        // Let the transitioner catch up with the last posts.
        tokio::time::sleep(Duration::from_secs(3)).await;
        let log = commit_log(&stack.repo.path)?;
        let lost = acknowledged
            .iter()
            .filter(|c| !log.iter().any(|(id, _, _)| id == *c))
            .count();
        let mut promotions: Vec<i64> = log
            .iter()
            .filter(|(_, t, subject)| subject.starts_with("Promote latest → dev") && *t >= start_time && *t <= end_time)
            .map(|(_, t, _)| *t)
            .collect();
        promotions.sort_unstable();
        let mut edges = vec![start_time];
        edges.extend(&promotions);
        edges.push(end_time);
        let max_gap = edges.windows(2).map(|w| (w[1] - w[0]).max(0) as u64).max().unwrap_or(0);
        latencies.sort_by(f64::total_cmp);
        let minutes = (end_time - start_time).max(1) as f64 / 60.0;
        stack.stop().await;
        Ok(Figures {
            posts: i,
            acknowledged: acknowledged.len(),
            lost,
            errors,
            error_kinds,
            p50: percentile(&latencies, 0.5),
            p99: percentile(&latencies, 0.99),
            promotions_per_min: promotions.len() as f64 / minutes,
            max_promotion_gap: max_gap,
        })
    }

    /// `(commit, commit time in seconds, subject)` of every commit of the repo.
    fn commit_log(repo: &std::path::Path) -> anyhow::Result<Vec<(String, i64, String)>> {
        let out = std::process::Command::new("git")
            .arg("--git-dir")
            .arg(repo)
            .args(["log", "--format=%H %ct %s", "main"])
            .output()
            .context("git log")?;
        Ok(String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| {
                let mut parts = l.splitn(3, ' ');
                Some((
                    parts.next()?.to_string(),
                    parts.next()?.parse().ok()?,
                    parts.next()?.to_string(),
                ))
            })
            .collect())
    }
}

/// 20 envs × 500 services over several deployer replicas sharded through Leases.
mod scale {
    use std::time::{Duration, Instant};

    use anyhow::Context as _;
    use integration_test::client::wait_for;
    use integration_test::example::ExampleRepo;
    use integration_test::ha::{leases_to_take_over, taken_over, HaOptions, HaStack, LeaseTiming, Role};
    use integration_test::stack::Transport;
    use slipway_core::status::RolloutStatus;

    use super::{deployer_status, ms, since, wait_quiet, wait_synced, Args, Row};

    /// Lease timing of the sharded deployers: a dead replica's envs are free
    /// `duration` after its last renewal.
    const LEASE: LeaseTiming = LeaseTiming {
        duration: Duration::from_secs(10),
        renew_deadline: Duration::from_secs(7),
        retry_period: Duration::from_secs(1),
    };

    /// Writes in the simulated cluster's write log (Lease renewals are not in it).
    fn writes(stack: &HaStack) -> usize {
        stack.sim.writes().writes.len()
    }

    /// Asks every deployer replica to reconcile the envs it holds.
    async fn refresh_all(http: &reqwest::Client, stack: &HaStack) -> anyhow::Result<()> {
        for r in stack.of(Role::Deployer) {
            http.post(format!("{}/refresh", r.process.url)).send().await?;
        }
        Ok(())
    }

    pub async fn measure(args: &Args, example: &ExampleRepo) -> anyhow::Result<Vec<Row>> {
        let http = reqwest::Client::new();
        let dir = tempfile::Builder::new().prefix("slipway-bench-scale-").tempdir()?;
        let envs = example.envs.len();
        let objects = args.services * envs * 2;
        eprintln!(
            "generating {} services × {envs} envs ({objects} objects), {} deployer replica(s) ...",
            args.services, args.deployers
        );
        let mut opts = HaOptions::new(&dir.path().join("stack"), example.clone());
        opts.stack.rollout_delay = args.rollout_delay;
        opts.stack.poll_interval = Duration::from_secs(3600); // only explicit refreshes drive the deployers
        opts.stack.transport = Transport::Local;
        opts.deployers = args.deployers;
        opts.transitioners = 0;
        opts.aggregators = 0;
        opts.sharded = args.deployers > 1;
        opts.lease = LEASE;
        let started = Instant::now();
        let mut stack = HaStack::start(opts).await?;
        let head = stack.repo.head().context("repo has a head")?;
        let dep = stack.deployers.url();
        let mut rows = Vec::new();

        // S1. first sync of every env, over all replicas
        wait_synced(&http, &dep, &head, envs, false).await?;
        let first_sync = started.elapsed();
        rows.push(Row {
            what: "S1. first sync",
            value: format!("{:.2} s, {} API writes", first_sync.as_secs_f64(), writes(&stack)),
            target: "≤ 30 s",
            ok: Some(first_sync <= Duration::from_secs(30)),
        });
        wait_synced(&http, &dep, &head, envs, true).await?;

        // S2. no-op round: every replica reconciles the envs it holds; until the last env's reconcile ended
        wait_quiet(&http, &dep).await?;
        tokio::time::sleep(slipway_core::refresh::MIN_INTERVAL).await;
        let before = deployer_status(&http, &dep).await?;
        let w0 = writes(&stack);
        let sent = chrono::Utc::now();
        refresh_all(&http, &stack).await?;
        let after = wait_for(Duration::from_secs(120), "a no-op round over every env", || async {
            let s = deployer_status(&http, &dep).await?;
            let newer = s.envs.len() == envs
                && s.envs
                    .iter()
                    .all(|(k, e)| e.last_reconcile > before.envs.get(k).and_then(|b| b.last_reconcile));
            Ok(if newer { Ok(s) } else { Err("waiting".into()) })
        })
        .await?;
        let noop = since(sent, after.envs.values().filter_map(|e| e.last_reconcile).max());
        let noop_writes = writes(&stack) - w0;
        rows.push(Row {
            what: "S2. no-op round over all envs",
            value: format!("{:.0} ms, {noop_writes} API writes", ms(noop)),
            target: "≤ 500 ms, 0 writes",
            ok: Some(noop <= Duration::from_millis(500) && noop_writes == 0),
        });

        // S3. one-service bump to Clean
        let (env0, service) = (&example.envs[0], &example.services[0]);
        wait_quiet(&http, &dep).await?;
        tokio::time::sleep(slipway_core::refresh::MIN_INTERVAL).await;
        let w0 = writes(&stack);
        let committed = chrono::Utc::now();
        let commit = stack.repo.commit(
            "bench: bump one service",
            &[(
                &format!("{env0}/version/{service}.yaml"),
                Some(&example.version_file(service, "1.0.1")),
            )],
        )?;
        refresh_all(&http, &stack).await?;
        let clean = wait_for(Duration::from_secs(120), "the bumped service Clean", || async {
            let s = deployer_status(&http, &dep).await?;
            Ok(match s.envs.get(env0.as_str()) {
                Some(e) if e.commit.as_deref() == Some(commit.as_str()) && e.status == RolloutStatus::Clean => {
                    Ok(e.clean_since)
                }
                other => Err(format!("{:?}", other.map(|e| (e.status, e.commit.clone())))),
            })
        })
        .await?;
        let bump = since(committed, clean);
        rows.push(Row {
            what: "S3. one-service bump to Clean",
            value: format!("{:.0} ms, {} API writes", ms(bump), writes(&stack) - w0),
            target: "≤ 1 s",
            ok: Some(bump <= Duration::from_secs(1)),
        });

        // S4. peak memory of each replica
        let rss: Vec<(String, f64)> = stack
            .of(Role::Deployer)
            .map(|r| {
                let mb = r.process.peak_rss().unwrap_or(0) as f64 / 1024.0 / 1024.0;
                (r.identity(), mb)
            })
            .collect();
        let max = rss.iter().map(|(_, mb)| *mb).fold(0.0, f64::max);
        rows.push(Row {
            what: "S4. peak RSS per deployer replica",
            value: format!(
                "max {max:.1} MB ({})",
                rss.iter()
                    .map(|(id, mb)| format!("{id} {mb:.1} MB"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            target: "≤ 120 MB",
            ok: Some(max <= 120.0),
        });

        // S5. failover: a replica holding envs is killed; until others hold its Leases
        if args.deployers > 1 {
            let sim_url = stack.sim.url();
            let mut victim = None;
            for (i, r) in stack
                .replicas
                .iter()
                .enumerate()
                .filter(|(_, r)| r.role == Role::Deployer)
            {
                let held = leases_to_take_over(&sim_url, &r.identity()).await?;
                if !held.is_empty() {
                    victim = Some((i, held));
                    break;
                }
            }
            let (value, ok) = match victim {
                Some((i, held)) => {
                    let dead = stack.replicas[i].identity();
                    let t = Instant::now();
                    stack.replicas[i].kill();
                    match taken_over(&sim_url, &dead, &held, t, LEASE.duration * 4).await {
                        Some(d) => (
                            format!(
                                "{:.2} s for {} Leases of {dead} (lease duration {:?})",
                                d.as_secs_f64(),
                                held.len(),
                                LEASE.duration
                            ),
                            Some(d <= Duration::from_secs(15)),
                        ),
                        None => (
                            format!(
                                "{dead}'s {} Leases not taken over in {:?}",
                                held.len(),
                                LEASE.duration * 4
                            ),
                            Some(false),
                        ),
                    }
                }
                None => (
                    "no replica holds a Lease: are the deployers sharded?".to_string(),
                    Some(false),
                ),
            };
            rows.push(Row {
                what: "S5. failover",
                value,
                target: "≤ 15 s",
                ok,
            });
        } else {
            rows.push(Row {
                what: "S5. failover",
                value: "n/a (one replica; --deployers 3 shards the envs)".into(),
                target: "≤ 15 s",
                ok: None,
            });
        }
        stack.stop().await;
        Ok(rows)
    }
}
