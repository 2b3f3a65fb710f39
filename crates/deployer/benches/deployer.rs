//! Deployer benchmark: one env with 500 services (a Deployment and a Service
//! each, 1,000 objects) on the simulated cluster, the deployer running as its
//! own process (`slipway-deployer serve`) so its memory can be measured.
//!
//! `cargo bench -p slipway-deployer --bench deployer` prints a table.

use std::io::BufRead;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use k8s_openapi::api::apps::v1::Deployment;
use kube::api::Api;
use slipway_core::status::{DeployerStatus, RolloutStatus};
use slipway_simcluster::{SimCluster, SimConfig};

const SERVICES: usize = 500;

const BASE: &str = r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: ${name}
spec:
  replicas: 1
  selector:
    matchLabels: {app: "${name}"}
  template:
    metadata:
      labels: {app: "${name}"}
    spec:
      containers:
        - name: app
          image: "${image}"
          ports: [{containerPort: 8080}]
---
apiVersion: v1
kind: Service
metadata:
  name: ${name}
spec:
  selector: {app: "${name}"}
  ports: [{port: 80, targetPort: 8080}]
"#;

fn version(name: &str, v: u32) -> String {
    format!("name: {name}\nversion: \"{v}\"\nimage: reg/{name}:{v}\n")
}

struct Killed(Child);
impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn rss_kb(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|n| n.parse().ok()))
        })
        .unwrap_or(0)
}

async fn status(http: &reqwest::Client, url: &str) -> anyhow::Result<DeployerStatus> {
    Ok(http.get(format!("{url}/status")).send().await?.json().await?)
}

/// `(sum, count)` of the env's reconcile duration histogram.
async fn reconcile_metric(http: &reqwest::Client, url: &str) -> anyhow::Result<(f64, u64)> {
    let text = http.get(format!("{url}/metrics")).send().await?.text().await?;
    let value = |name: &str| {
        text.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    Ok((
        value("slipway_deployer_reconcile_duration_seconds_sum{env=\"bench\"}"),
        value("slipway_deployer_reconcile_duration_seconds_count{env=\"bench\"}") as u64,
    ))
}

async fn wait<F, Fut>(what: &str, limit: Duration, mut done: F) -> anyhow::Result<Duration>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<bool>>,
{
    let start = Instant::now();
    loop {
        if done().await.unwrap_or(false) {
            return Ok(start.elapsed());
        }
        if start.elapsed() > limit {
            bail!("{what}: not done within {limit:?}");
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let sim = SimCluster::start(SimConfig {
        rollout_delay: Duration::from_millis(500),
        ..SimConfig::default()
    })
    .await?;
    let repo = git_fixture::temp("commits: []\n")?;
    let mut files: Vec<(String, String)> = vec![(
        "deployers.yaml".into(),
        "deployers:\n  bench: {cluster: sim, namespace: bench}\n".into(),
    )];
    for i in 0..SERVICES {
        let name = format!("svc-{i:03}");
        files.push((format!("bench/base/{name}.yaml"), BASE.to_string()));
        files.push((format!("bench/version/{name}.yaml"), version(&name, 1)));
    }
    let file_refs: Vec<(String, Option<String>)> = files.into_iter().map(|(p, t)| (p, Some(t))).collect();
    repo.commit_as("bench", "500 services", &file_refs)?;

    let kubeconfig = repo.scratch("sim.kubeconfig");
    sim.write_kubeconfig(&kubeconfig)?;
    let more = format!(
        "poll_interval: 1h\nclusters:\n  sim: {{kubeconfig: {}}}\n",
        kubeconfig.display()
    );
    let config_path = repo.service_config("deployer.yaml", &repo.url(), &more)?;

    let started = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_slipway-deployer"))
        .args(["serve", "--config"])
        .arg(&config_path)
        .env("RUST_LOG", std::env::var("BENCH_LOG").unwrap_or_else(|_| "warn".into()))
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .context("starting slipway-deployer")?;
    let stdout = child.stdout.take().context("no stdout")?;
    let pid = child.id();
    let _guard = Killed(child);
    let mut line = String::new();
    std::io::BufReader::new(stdout).read_line(&mut line)?;
    let url = line
        .trim()
        .rsplit_once(" on ")
        .map(|(_, u)| u.to_string())
        .context("no listening line")?;
    let http = reqwest::Client::new();
    let head = repo.head().unwrap_or_default();

    // 1. First full sync: every object applied (the env reconciled to the head).
    let first_sync = wait("first sync", Duration::from_secs(120), || async {
        let s = status(&http, &url).await?;
        Ok(s.envs
            .get("bench")
            .is_some_and(|e| e.commit.as_deref() == Some(head.as_str())))
    })
    .await?;
    let first_sync_total = started.elapsed();
    let objects_after_sync = sim.object_count();
    let clean = wait("clean", Duration::from_secs(120), || async {
        http.post(format!("{url}/refresh")).send().await?;
        tokio::time::sleep(Duration::from_millis(100)).await;
        let s = status(&http, &url).await?;
        Ok(s.envs.get("bench").is_some_and(|e| e.status == RolloutStatus::Clean))
    })
    .await?;

    // 2. No-op reconcile: nothing changed. The deployer's own histogram gives the
    // reconcile time; the wall time from refresh until it is counted adds the fetch.
    let mut noop_times = Vec::new();
    let mut noop_walls = Vec::new();
    sim.reset_counters();
    for _ in 0..5 {
        // `POST /refresh` acts on one nudge per interval when nothing new came: measure the
        // reconcile, not the rate limit.
        tokio::time::sleep(slipway_core::refresh::MIN_INTERVAL).await;
        let (sum0, count0) = reconcile_metric(&http, &url).await?;
        let t = Instant::now();
        http.post(format!("{url}/refresh")).send().await?;
        let after = loop {
            let now = reconcile_metric(&http, &url).await?;
            if now.1 > count0 {
                break now;
            }
            if t.elapsed() > Duration::from_secs(30) {
                bail!("no-op reconcile: not done within 30 s");
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        };
        noop_walls.push(t.elapsed());
        noop_times.push(Duration::from_secs_f64((after.0 - sum0) / (after.1 - count0) as f64));
    }
    let noop_writes = sim.counters().writes();
    noop_times.sort();
    noop_walls.sort();
    let noop = noop_times[noop_times.len() / 2];
    let noop_wall = noop_walls[noop_walls.len() / 2];

    // 3. One service changed: time from refresh until the new image is in the cluster.
    repo.commit(
        "bump svc-042",
        &[("bench/version/svc-042.yaml", Some(&version("svc-042", 2)))],
    )?;
    let deployments = Api::<Deployment>::namespaced(sim.client().await, "bench");
    sim.reset_counters();
    tokio::time::sleep(slipway_core::refresh::MIN_INTERVAL).await;
    let t = Instant::now();
    http.post(format!("{url}/refresh")).send().await?;
    let deployments = &deployments;
    wait("one-service change", Duration::from_secs(30), || async move {
        let d = deployments.get("svc-042").await?;
        let image = d
            .spec
            .and_then(|s| s.template.spec)
            .and_then(|s| s.containers.first().and_then(|c| c.image.clone()));
        Ok(image.as_deref() == Some("reg/svc-042:2"))
    })
    .await?;
    let change = t.elapsed();
    // The change's own reconcile must be over before counting its writes.
    wait("change recorded", Duration::from_secs(30), || async {
        let s = status(&http, &url).await?;
        Ok(s.envs["bench"].commit == repo.head())
    })
    .await?;
    let change_writes = sim.counters().writes();

    // For reference: one label-selected list of the 500 Deployments straight from the
    // simulated cluster (HTTP + JSON parse), the floor of a reconcile that reads them.
    let client = sim.client().await;
    let mut list_times = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        let request = kube::core::Request::new("/apis/apps/v1/namespaces/bench/deployments")
            .list(&kube::api::ListParams::default().labels("slipway.dev/env=bench"))?;
        let list: serde_json::Value = client.request(request).await?;
        anyhow::ensure!(list["items"].as_array().map(Vec::len) == Some(SERVICES));
        list_times.push(t.elapsed());
    }
    list_times.sort();
    let list_time = list_times[list_times.len() / 2];
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let load = load.split_whitespace().next().unwrap_or("?").to_string();
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0);

    let rss = rss_kb(pid, "VmRSS:");
    let peak = rss_kb(pid, "VmHWM:");

    println!();
    println!(
        "slipway-deployer benchmark: 1 env, {SERVICES} services, {objects_after_sync} objects in the simulated cluster"
    );
    println!("| measurement                                   | result      | target   |");
    println!("|-----------------------------------------------|-------------|----------|");
    println!(
        "| first full sync (all objects applied)          | {:>8.2} s  | < 10 s   |",
        first_sync.as_secs_f64()
    );
    println!(
        "|   incl. process start                          | {:>8.2} s  |          |",
        first_sync_total.as_secs_f64()
    );
    println!(
        "|   until env Clean (rollout delay 500 ms)       | {:>8.2} s  |          |",
        (first_sync + clean).as_secs_f64()
    );
    println!(
        "| no-op reconcile (median of 5)                  | {:>8.1} ms | < 100 ms |",
        noop.as_secs_f64() * 1000.0
    );
    println!(
        "|   refresh → reconciled, incl. fetch            | {:>8.1} ms |          |",
        noop_wall.as_secs_f64() * 1000.0
    );
    println!("| writes during 5 no-op reconciles               | {noop_writes:>8}    | 0        |");
    println!(
        "| one-service change applied after /refresh      | {:>8.1} ms | < 200 ms |",
        change.as_secs_f64() * 1000.0
    );
    println!("| writes for the one-service change              | {change_writes:>8}    | 1        |");
    println!(
        "| reference: list 500 Deployments from the sim   | {:>8.1} ms |          |",
        list_time.as_secs_f64() * 1000.0
    );
    println!(
        "| deployer resident memory (now / peak)          | {:>4.0}/{:<4.0} MB | < 60 MB  |",
        rss as f64 / 1024.0,
        peak as f64 / 1024.0
    );
    println!("(machine: {cores} cores, load average {load} at the end of the run)");
    sim.shutdown().await;
    Ok(())
}
