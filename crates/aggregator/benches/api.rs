//! Benchmark of the aggregator's API against a local bare repo, printing a table.
//!
//!     cargo bench -p slipway-aggregator --bench api
//!
//! - `GET /api/state` with 500 services × 4 envs (target: median under 20 ms)
//! - `POST /api/versions` sustained, one client and eight concurrent clients (target: ≥ 20/s)
//! - `GET /api/dora` over a history of 10,000 commits with deploy notes (target: median under 200 ms)

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};
use slipway_aggregator::AggregatorConfig;
use slipway_kit::Drain;

const SERVICES: usize = 500;
const ENVS: [&str; 4] = ["latest", "dev", "pp", "prod"];
const TOKEN: &str = "bench-token";

fn fixture() -> String {
    let commit = json!({"message": "initial", "files": fixture_files()});
    serde_yaml::to_string(&json!({"commits": [commit]})).expect("fixture serializes")
}

/// Times the pure state computation: everything from scratch, and again after one version changed.
fn compute_breakdown() -> (Duration, Duration) {
    let files = fixture_files();
    let snapshot = slipway_core::RepoSnapshot::from_files(
        "c1",
        files.iter().map(|(k, v)| {
            (
                k.as_str().unwrap_or_default().to_string(),
                v.as_str().unwrap_or_default().as_bytes().to_vec(),
            )
        }),
    );
    let deployer: Arc<slipway_core::status::DeployerStatus> =
        Arc::new(serde_json::from_value(deployer_status()).expect("status"));
    let mut encoder = slipway_aggregator::state::StateEncoder::default();
    let now = chrono::Utc::now();
    let t = Instant::now();
    encoder
        .encode(&snapshot, Some(&deployer), None, &[], now)
        .expect("encodes");
    let full = t.elapsed();
    let mut changed = snapshot.clone();
    changed.commit = "c2".into();
    changed
        .files
        .insert("latest/version/svc-3.yaml".into(), b"version: '999'\n"[..].into());
    let t = Instant::now();
    encoder
        .encode(&changed, Some(&deployer), None, &[], now)
        .expect("encodes");
    (full, t.elapsed())
}

fn fixture_files() -> serde_yaml::Mapping {
    let mut files = serde_yaml::Mapping::new();
    let mut put = |path: String, text: String| {
        files.insert(path.into(), text.into());
    };
    put(
        "transitions.yaml".into(),
        "transitions:\n  dev: {source: latest, target: dev}\n  pp: {source: dev, target: pp, preconditions: [SourceClean]}\n  prod: {source: pp, target: prod, preconditions: [SourceClean]}\n".into(),
    );
    put(
        "deployers.yaml".into(),
        "deployers:\n  dev: {cluster: main, namespace: dev}\n  pp: {cluster: main, namespace: pp}\n  prod: {cluster: main, namespace: prod}\n".into(),
    );
    for (e, env) in ENVS.iter().enumerate() {
        for s in 0..SERVICES {
            let version = 100 + s + 3 - e;
            put(
                format!("{env}/version/svc-{s}.yaml"),
                format!("version: '{version}'\nimage: registry.example.com/svc-{s}:{version}\nreplicas: 2\n"),
            );
            if *env != "latest" {
                put(
                    format!("{env}/base/svc-{s}.yaml"),
                    "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\n".into(),
                );
            }
        }
        put(
            format!("{env}/locks.yaml"),
            "resource_locks:\n  svc-499: {reasons: [incident]}\n".into(),
        );
    }
    files
}

fn deployer_status() -> Value {
    let mut envs = serde_json::Map::new();
    for (e, env) in ENVS.iter().enumerate().skip(1) {
        let mut services = serde_json::Map::new();
        for s in 0..SERVICES {
            let version = 100 + s + 3 - e;
            services.insert(
                format!("svc-{s}"),
                json!({"kind": "service", "phase": "Deployed", "status": "Clean", "reason": "", "version": version.to_string(),
                       "resources": [{"api_version": "apps/v1", "kind": "Deployment", "name": format!("svc-{s}"), "namespace": env, "status": "Clean", "reason": "2 of 2 updated replicas available"}]}),
            );
        }
        envs.insert(
            env.to_string(),
            json!({"env": env, "cluster": "main", "namespace": env, "status": "Clean", "reason": "", "services": services}),
        );
    }
    json!({"envs": envs})
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

async fn posts(http: &reqwest::Client, base: &str, clients: usize, per_client: usize, tag: &str) -> (usize, Duration) {
    let start = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..clients {
        let http = http.clone();
        let url = format!("{base}/api/versions");
        let tag = tag.to_string();
        tasks.push(tokio::spawn(async move {
            let mut ok = 0;
            for i in 0..per_client {
                let body = json!({"service": format!("svc-{}", (c * per_client + i) % (SERVICES - 1)), "env": "latest",
                                  "vars": {"version": format!("{tag}-{c}-{i}")}, "changelog": "bench"});
                let r = http
                    .post(&url)
                    .bearer_auth(TOKEN)
                    .json(&body)
                    .send()
                    .await
                    .expect("post answered");
                if r.status().as_u16() == 201 {
                    ok += 1;
                }
            }
            ok
        }));
    }
    let mut ok = 0;
    for t in tasks {
        ok += t.await.expect("client task");
    }
    (ok, start.elapsed())
}

/// Commits in the history of the `GET /api/dora` row.
const DORA_COMMITS: usize = 10_000;

/// Prints the `GET /api/dora` row: a history of [`DORA_COMMITS`] commits (posts into
/// `latest` and promotions through dev, pp and prod, five services, one commit a
/// minute up to now) with a `Clean` deploy note on every promotion. Returns the median.
async fn dora_row(http: &reqwest::Client) -> Duration {
    use slipway_core::deploy_outcome::{add_to_note, parse_note, DeployOutcome, OutcomeStatus, DEPLOY_NOTES_REF};
    eprintln!("building a history of {DORA_COMMITS} commits with deploy notes ...");
    let repo = git_fixture::temp(
        "commits:\n  - message: setup\n    files:\n      transitions.yaml: \"transitions:\\n  dev: {source: latest, target: dev}\\n  pp: {source: dev, target: pp}\\n  prod: {source: pp, target: prod}\\n\"\n",
    )
    .expect("fixture repo");
    let now = chrono::Utc::now().timestamp();
    let envs = ["latest", "dev", "pp", "prod"];
    let mut promotions = Vec::new();
    for i in 1..DORA_COMMITS {
        let env = envs[i % 4];
        let service = format!("svc-{}", (i / 4) % 5);
        let version = i / 4;
        let action = if env == "latest" { "version" } else { "promotion" };
        let message = format!(
            "{service} {version} in {env}\n\nchange {version}\n\nSlipway-Action: {action}\nSlipway-Env: {env}\n"
        );
        let at = now - (DORA_COMMITS - i) as i64 * 60;
        let files = [(
            format!("{env}/version/{service}.yaml"),
            Some(format!("version: '{version}'\n")),
        )];
        let id = repo.commit_at("bench", &message, &files, Some(at)).expect("commit");
        if env != "latest" {
            promotions.push((id, env, service, at + 30));
        }
    }
    let writer = slipway_repo::ResourceRepo::open_and_fetch(slipway_repo::RepoLocation {
        url: repo.url(),
        checkout_path: repo.scratch("notes-writer"),
        branch: "main".into(),
        auth: slipway_repo::GitAuth::default(),
        timeout: slipway_repo::DEFAULT_GIT_TIMEOUT,
        stale_lock_after: slipway_repo::DEFAULT_STALE_LOCK_AFTER,
    })
    .expect("writer checkout");
    let additions: Vec<(slipway_repo::CommitId, String)> = promotions
        .iter()
        .map(|(id, env, service, at)| {
            let outcome = DeployOutcome {
                env: env.to_string(),
                commit: id.clone(),
                status: OutcomeStatus::Clean,
                at: chrono::DateTime::from_timestamp(*at, 0).expect("time"),
                services: [(service.clone(), OutcomeStatus::Clean)].into(),
                reason: String::new(),
            };
            (id.parse().expect("commit id"), outcome.to_line())
        })
        .collect();
    writer
        .add_notes(
            &slipway_repo::Author::named("bench"),
            DEPLOY_NOTES_REF,
            &additions,
            |existing, line| add_to_note(existing, &parse_note(line).pop()?),
        )
        .expect("notes");
    let mut config = AggregatorConfig::new(repo.url(), repo.scratch("dora-checkout"));
    let tokens = repo.scratch("tokens");
    std::fs::write(&tokens, format!("bench:{TOKEN}\n")).expect("tokens file");
    config.api_tokens_file = Some(tokens);
    config.ui_path = repo.scratch("ui");
    let shutdown = Drain::new();
    let running = slipway_aggregator::start(config, shutdown.clone())
        .await
        .expect("aggregator starts");
    let url = format!("http://{}/api/dora?env=prod&since=30d", running.addr);
    let mut samples = Vec::new();
    let mut deploys = 0;
    for _ in 0..40 {
        let t = Instant::now();
        let r = http.get(&url).send().await.expect("dora");
        let ok = r.status().is_success();
        let body: Value = r.json().await.expect("json");
        if !ok || body["deploys"].as_u64().unwrap_or(0) == 0 {
            // The first fetch has not finished yet.
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        }
        samples.push(t.elapsed());
        deploys = body["deploys"].as_u64().unwrap_or(0);
        if samples.len() == 15 {
            break;
        }
    }
    shutdown.begin();
    let _ = running.task.await;
    samples.sort();
    if samples.is_empty() {
        println!(
            "| GET /api/dora?env=prod&since=30d, {DORA_COMMITS} commits | no answer with deploys | median < 200 ms |"
        );
        return Duration::MAX;
    }
    let median = percentile(&samples, 0.5);
    println!(
        "| GET /api/dora?env=prod&since=30d, {DORA_COMMITS} commits, {} notes ({} requests, {deploys} deploys) | median {}, max {} | median < 200 ms |",
        promotions.len(),
        samples.len(),
        ms(median),
        ms(samples.last().copied().unwrap_or_default())
    );
    median
}

#[tokio::main]
async fn main() {
    eprintln!("building a repo with {SERVICES} services × {} envs ...", ENVS.len());
    let repo = git_fixture::temp(&fixture()).expect("fixture repo");
    let status = deployer_status();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let deployer_url = format!("http://{}", listener.local_addr().expect("addr"));
    let deployer = Router::new().route("/status", get(move || async move { Json(status.clone()) }));
    tokio::spawn(async move { axum::serve(listener, deployer).await });

    let tokens = repo.scratch("tokens");
    std::fs::write(&tokens, format!("bench:{TOKEN}\n")).expect("tokens file");
    let mut config = AggregatorConfig::new(repo.url(), repo.scratch("checkout"));
    config.api_tokens_file = Some(tokens);
    config.deployer_url = Some(deployer_url);
    config.ui_path = repo.scratch("ui");
    let shutdown = Drain::new();
    let running = slipway_aggregator::start(config, shutdown.clone())
        .await
        .expect("aggregator starts");
    let base = format!("http://{}", running.addr);
    let http = reqwest::Client::new();

    // Wait until the deployer's status is in.
    let state_url = format!("{base}/api/state");
    for _ in 0..200 {
        let s: Value = http
            .get(&state_url)
            .send()
            .await
            .expect("state")
            .json()
            .await
            .expect("json");
        if s["services"][0]["envs"]["dev"]["phase"] == "Deployed" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let mut samples = Vec::new();
    let mut size = 0;
    for _ in 0..300 {
        let t = Instant::now();
        let body = http
            .get(&state_url)
            .send()
            .await
            .expect("state")
            .bytes()
            .await
            .expect("body");
        samples.push(t.elapsed());
        size = body.len();
    }
    samples.sort();
    let median = percentile(&samples, 0.5);

    let (ok1, t1) = posts(&http, &base, 1, 100, "seq").await;
    let (ok8, t8) = posts(&http, &base, 8, 25, "par").await;
    let rate1 = ok1 as f64 / t1.as_secs_f64();
    let rate8 = ok8 as f64 / t8.as_secs_f64();

    // The first read after each change pays for computing the state again.
    let mut after_change = Vec::new();
    for i in 0..30 {
        let body = json!({"service": "svc-1", "env": "latest", "vars": {"version": format!("fresh-{i}")}});
        let r = http
            .post(format!("{base}/api/versions"))
            .bearer_auth(TOKEN)
            .json(&body)
            .send()
            .await
            .expect("post");
        assert_eq!(r.status().as_u16(), 201);
        let t = Instant::now();
        http.get(&state_url)
            .send()
            .await
            .expect("state")
            .bytes()
            .await
            .expect("body");
        after_change.push(t.elapsed());
    }
    after_change.sort();

    // State reads while posts are running.
    let writer = {
        let (http, base) = (http.clone(), base.clone());
        tokio::spawn(async move { posts(&http, &base, 4, 25, "mixed").await })
    };
    let mut busy = Vec::new();
    while !writer.is_finished() {
        let t = Instant::now();
        http.get(&state_url)
            .send()
            .await
            .expect("state")
            .bytes()
            .await
            .expect("body");
        busy.push(t.elapsed());
    }
    let _ = writer.await;
    busy.sort();

    println!();
    println!(
        "slipway-aggregator API benchmark: {SERVICES} services × {} envs, local bare repo",
        ENVS.len()
    );
    println!();
    println!("| measurement | result | target |");
    println!("|---|---|---|");
    println!(
        "| GET /api/state, idle ({} requests, {} KiB) | median {}, p95 {}, max {} | median < 20 ms |",
        samples.len(),
        size / 1024,
        ms(median),
        ms(percentile(&samples, 0.95)),
        ms(*samples.last().expect("samples"))
    );
    println!(
        "| GET /api/state, first read after a post ({} requests) | median {}, p95 {} | median < 20 ms |",
        after_change.len(),
        ms(percentile(&after_change, 0.5)),
        ms(percentile(&after_change, 0.95))
    );
    if !busy.is_empty() {
        println!(
            "| GET /api/state, while 4 clients post ({} requests) | median {}, p95 {} | median < 20 ms |",
            busy.len(),
            ms(percentile(&busy, 0.5)),
            ms(percentile(&busy, 0.95))
        );
    }
    let (full, one) = compute_breakdown();
    println!(
        "| state encoding, pure: from scratch / after one version changed | {} / {} | |",
        ms(full),
        ms(one)
    );
    println!("| POST /api/versions, 1 client ({ok1} × 201) | {rate1:.1} posts/s | ≥ 20/s |");
    println!("| POST /api/versions, 8 concurrent clients ({ok8} × 201) | {rate8:.1} posts/s | ≥ 20/s |");
    println!();
    shutdown.begin();
    let _ = running.task.await;
    let dora = dora_row(&http).await;
    println!();
    let failed = dora > Duration::from_millis(200)
        || median > Duration::from_millis(20)
        || percentile(&after_change, 0.5) > Duration::from_millis(20)
        || rate1 < 20.0
        || rate8 < 20.0;
    if failed {
        println!("below target");
    }
}
