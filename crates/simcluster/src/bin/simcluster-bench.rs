//! `simcluster-bench`: times 1,000 server-side applies of distinct Deployments
//! through a `kube` client and reports the process's memory with 10,000
//! Deployments stored. Run it in release mode:
//! `cargo run --release -p slipway-simcluster --bin simcluster-bench`.

use std::time::{Duration, Instant};

use anyhow::Context;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, ListParams, Patch, PatchParams};
use serde_json::json;
use slipway_simcluster::{SimCluster, SimConfig};

fn deployment(i: usize) -> serde_json::Value {
    let name = format!("app-{i:05}");
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "labels": {"app": name, "app.kubernetes.io/managed-by": "slipway", "slipway.dev/env": "bench"}},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": name}},
                 "template": {"metadata": {"labels": {"app": name}},
                              "spec": {"containers": [{"name": "app", "image": format!("registry.example/app:{i}"),
                                                       "ports": [{"containerPort": 8080}],
                                                       "env": [{"name": "MODE", "value": "bench"}]}]}}}
    })
}

/// (VmRSS, VmHWM) in MiB from /proc/self/status.
fn memory_mib() -> (f64, f64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<f64>().ok())
            .map_or(0.0, |kb| kb / 1024.0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

async fn apply_range(api: &Api<Deployment>, range: std::ops::Range<usize>) -> anyhow::Result<()> {
    let pp = PatchParams::apply("slipway").force();
    for i in range {
        let body = deployment(i);
        let name = body["metadata"]["name"].as_str().unwrap_or_default().to_string();
        api.patch(&name, &pp, &Patch::Apply(&body))
            .await
            .with_context(|| format!("apply {name}"))?;
    }
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let sim = SimCluster::start(SimConfig {
        rollout_delay: Duration::from_millis(200),
        ..SimConfig::default()
    })
    .await?;
    let client = sim.client().await;
    let ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "bench"}});
    Api::<Namespace>::all(client.clone())
        .patch("bench", &PatchParams::apply("slipway"), &Patch::Apply(&ns))
        .await?;
    let api: Api<Deployment> = Api::namespaced(client.clone(), "bench");
    let (rss0, _) = memory_mib();

    let t = Instant::now();
    apply_range(&api, 0..1000).await?;
    let create_1000 = t.elapsed();

    tokio::time::sleep(Duration::from_millis(500)).await;
    let t = Instant::now();
    apply_range(&api, 0..1000).await?;
    let noop_1000 = t.elapsed();

    apply_range(&api, 1000..10_000).await?;
    // Let every rollout settle (status writes, ReplicaSets) before measuring.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let objects = sim.object_count();
    let (rss, hwm) = memory_mib();

    let t = Instant::now();
    let all = api.list(&ListParams::default()).await?;
    let list_all = t.elapsed();
    let t = Instant::now();
    let raw = http::Request::get("/apis/apps/v1/namespaces/bench/deployments").body(Vec::new())?;
    let text = client.request_text(raw).await?;
    let list_untyped = t.elapsed();
    let t = Instant::now();
    let one = api.list(&ListParams::default().labels("app=app-00042")).await?;
    let list_selected = t.elapsed();
    anyhow::ensure!(
        all.items.len() == 10_000 && one.items.len() == 1,
        "unexpected list sizes"
    );
    let t = Instant::now();
    for i in 0..1000 {
        api.get(&format!("app-{i:05}")).await?;
    }
    let get_1000 = t.elapsed();

    println!("| measurement                                         | result     | target   |");
    println!("|-----------------------------------------------------|------------|----------|");
    println!(
        "| 1,000 server-side applies creating Deployments      | {:>7.2} s  | < 2 s    |",
        create_1000.as_secs_f64()
    );
    println!(
        "| 1,000 identical re-applies (no-op)                  | {:>7.2} s  |          |",
        noop_1000.as_secs_f64()
    );
    println!("| objects stored (10,000 Deployments + ReplicaSets)   | {objects:>10} |          |");
    println!("| VmRSS with those objects (whole process)            | {rss:>7.1} MiB | < 150 MB |");
    println!("| VmHWM (peak)                                        | {hwm:>7.1} MiB |          |");
    println!(
        "| list of all 10,000 Deployments                      | {:>7.2} s  |          |",
        list_all.as_secs_f64()
    );
    println!(
        "| the same list as text (no typed decoding, {:>3} MB)    | {:>7.2} s  |          |",
        text.len() / 1_000_000,
        list_untyped.as_secs_f64()
    );
    println!(
        "| list with a label selector matching 1 of 10,000     | {:>7.2} s  |          |",
        list_selected.as_secs_f64()
    );
    println!(
        "| 1,000 gets                                          | {:>7.2} s  |          |",
        get_1000.as_secs_f64()
    );
    println!("| VmRSS before the first apply                        | {rss0:>7.1} MiB |          |");
    sim.shutdown().await;
    Ok(())
}
