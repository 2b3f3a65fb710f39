//! Several `slipway-deployer` processes sharing the envs of one repo through
//! env Leases in one simulated cluster: the envs are spread, a SIGKILLed
//! replica's envs are taken over within the lease duration, a replica paused
//! (SIGSTOP) past its renew deadline applies nothing once resumed, and a
//! deployer that deploys itself hands over to its replacement. Also: every
//! request to a cluster names the replica in `x-slipway-replica`.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::{StreamExt as _, TryStreamExt as _};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{WatchEvent, WatchParams};
use kube::Api;
use serde_json::Value;
use slipway_simcluster::{SimCluster, SimConfig};
use tokio::process::{Child, Command};

/// Lease duration of the tests; the renew deadline is 2 s, the retry period 250 ms.
const LEASE: Duration = Duration::from_secs(3);

fn config_map(name: &str, value: &str) -> String {
    format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  value: \"{value}\"\n")
}

/// A repo of `envs` envs (`e0`, `e1`, ...), each a ConfigMap `app` with value `v1`.
fn repo(envs: usize) -> git_fixture::TempRepo {
    let mut files = BTreeMap::new();
    let mut deployers = String::from("deployers:\n");
    for i in 0..envs {
        deployers.push_str(&format!("  e{i}: {{cluster: main, namespace: e{i}}}\n"));
        files.insert(format!("e{i}/deployable/app.yaml"), config_map("app", "v1"));
    }
    files.insert("deployers.yaml".to_string(), deployers);
    fixture(&files)
}

fn fixture(files: &BTreeMap<String, String>) -> git_fixture::TempRepo {
    let mut yaml = String::from("commits:\n  - message: initial\n    files:\n");
    for (path, text) in files {
        yaml.push_str(&format!("      {path}: {}\n", serde_json::to_string(text).unwrap()));
    }
    git_fixture::temp(&yaml).unwrap()
}

struct Replica {
    name: String,
    child: Child,
    url: String,
}

impl Replica {
    fn pid(&self) -> String {
        self.child.id().expect("the replica runs").to_string()
    }

    fn signal(&self, signal: &str) {
        let ok = std::process::Command::new("kill")
            .args([signal, &self.pid()])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill {signal} {}", self.name);
    }

    async fn status(&self) -> Result<Value, String> {
        self.get("/status").await
    }

    async fn get(&self, path: &str) -> Result<Value, String> {
        let answer = reqwest::Client::new()
            .get(format!("{}{path}", self.url))
            .timeout(Duration::from_secs(2))
            .send()
            .await
            .map_err(|e| e.to_string())?;
        answer.json().await.map_err(|e| e.to_string())
    }

    /// The envs this replica owns, by its own `/status`.
    async fn owned(&self) -> Result<BTreeSet<String>, String> {
        let status = self.status().await?;
        Ok(owners(&status)
            .into_iter()
            .filter(|(_, owner)| owner == &self.name)
            .map(|(env, _)| env)
            .collect())
    }

    async fn applied(&self, env: &str) -> u64 {
        self.metric(&format!("slipway_deployer_applied_objects_total{{env=\"{env}\"}}"))
            .await
            .unwrap_or(0)
    }

    /// One series of its `/metrics`.
    async fn metric(&self, series: &str) -> Option<u64> {
        let text = reqwest::get(format!("{}/metrics", self.url))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let series = format!("{series} ");
        text.lines()
            .find_map(|l| l.strip_prefix(&series))
            .map(|n| n.trim().parse().unwrap())
    }

    /// `slipway_deployer_envs_held` and `slipway_deployer_watched_envs`.
    async fn held_and_watched(&self) -> (Option<u64>, Option<u64>) {
        (
            self.metric("slipway_deployer_envs_held").await,
            self.metric("slipway_deployer_watched_envs").await,
        )
    }
}

/// Env → owner identity, from a `/status`.
fn owners(status: &Value) -> BTreeMap<String, String> {
    status["owners"]
        .as_object()
        .map(|o| {
            o.iter()
                .filter_map(|(env, owner)| Some((env.clone(), owner["identity"].as_str()?.to_string())))
                .collect()
        })
        .unwrap_or_default()
}

async fn replica(repo: &git_fixture::TempRepo, sim: &SimCluster, name: &str, extra: &str) -> Replica {
    polling_replica(repo, sim, name, extra, "300ms").await
}

/// A replica that fetches the repo every `poll` (and on refresh).
async fn polling_replica(
    repo: &git_fixture::TempRepo,
    sim: &SimCluster,
    name: &str,
    extra: &str,
    poll: &str,
) -> Replica {
    // One per replica: a file another replica is reading is never rewritten.
    let kubeconfig = repo.scratch(&format!("{name}.kubeconfig"));
    sim.write_kubeconfig(&kubeconfig).unwrap();
    let config = repo.scratch(&format!("{name}.yaml"));
    std::fs::write(
        &config,
        format!(
            "versions_url: {url}\nversions_checkout_path: {checkout}\npoll_interval: {poll}\nretry_min_delay: 5ms\nretry_max_delay: 50ms\n\
             clusters:\n  main: {{kubeconfig: {kubeconfig}}}\n\
             sharding:\n  namespace: default\n  duration: {lease}s\n  renew_deadline: 2s\n  retry_period: 250ms\n  kubeconfig: {kubeconfig}\n{extra}",
            url = repo.url(),
            checkout = repo.scratch(&format!("checkout-{name}")).display(),
            kubeconfig = kubeconfig.display(),
            lease = LEASE.as_secs(),
        ),
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_slipway-deployer"))
        .args(["serve", "--config"])
        .arg(&config)
        .env("POD_NAME", name)
        .env_remove("POD_NAMESPACE")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let url = slipway_kit::testing::listening_url(&mut child, "slipway-deployer").await;
    Replica {
        name: name.to_string(),
        child,
        url,
    }
}

/// Polls `check` every 50 ms until it answers `Ok`, at most `within`.
async fn wait_until<T, F, Fut>(what: &str, within: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, String>>,
{
    let deadline = Instant::now() + within;
    loop {
        match check().await {
            Ok(v) => return v,
            Err(seen) => assert!(
                Instant::now() < deadline,
                "timed out after {within:?} waiting for {what}; last seen: {seen}"
            ),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn value_in(sim: &SimCluster, env: &str) -> Option<String> {
    let api: Api<ConfigMap> = Api::namespaced(sim.client().await, env);
    api.get_opt("app").await.ok()??.data?.get("value").cloned()
}

/// Waits until every replica's `/status` names one owner per env, all alike,
/// and returns replica → envs.
async fn agreed_owners(replicas: &[&Replica], envs: usize, within: Duration) -> BTreeMap<String, BTreeSet<String>> {
    wait_until("the replicas agree on one owner per env", within, || async {
        let mut seen = Vec::new();
        for r in replicas {
            seen.push(owners(&r.status().await?));
        }
        if seen.iter().any(|o| o.len() != envs || *o != seen[0]) {
            return Err(format!("{seen:?}"));
        }
        let mut by_replica: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (env, owner) in &seen[0] {
            by_replica.entry(owner.clone()).or_default().insert(env.clone());
        }
        Ok(by_replica)
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn envs_are_spread_and_a_killed_replicas_envs_are_taken_over_within_the_lease_duration() {
    let sim = SimCluster::start(SimConfig::default()).await.unwrap();
    let repo = repo(6);
    let a = replica(&repo, &sim, "deployer-a", "").await;
    let b = replica(&repo, &sim, "deployer-b", "").await;
    let c = replica(&repo, &sim, "deployer-c", "").await;

    // Spread fairly: 6 envs over 3 replicas, 2 each, every replica's /status
    // naming the same owners.
    let spread = wait_until("2 envs per replica", Duration::from_secs(30), || async {
        let by = agreed_owners(&[&a, &b, &c], 6, Duration::from_secs(20)).await;
        match by.values().all(|e| e.len() == 2) && by.len() == 3 {
            true => Ok(by),
            false => Err(format!("{by:?}")),
        }
    })
    .await;
    for i in 0..6 {
        let env = format!("e{i}");
        wait_until("every env applied", Duration::from_secs(20), || async {
            (value_in(&sim, &env).await.as_deref() == Some("v1"))
                .then_some(())
                .ok_or(format!("{env} not applied"))
        })
        .await;
    }
    // Each replica reports the envs it holds (`local=true`), and `/status`
    // on any replica shows every env, each from its owner.
    for r in [&a, &b, &c] {
        let local = r.get("/status?local=true").await.unwrap();
        assert_eq!(local["replica"], r.name.as_str());
        let reported: BTreeSet<String> = local["envs"].as_object().unwrap().keys().cloned().collect();
        assert!(reported.is_subset(&spread[&r.name]), "{}: {local}", r.name);
        let all = wait_until("every env in /status", Duration::from_secs(10), || async {
            let status = r.status().await?;
            let clean = (0..6).all(|i| status["envs"][format!("e{i}")]["status"] == "Clean");
            clean.then_some(status.clone()).ok_or(status.to_string())
        })
        .await;
        let status = &all;
        for (env, owner) in status["owners"].as_object().unwrap() {
            assert_eq!(owner["me"], owner["identity"] == r.name.as_str(), "{env}: {owner}");
        }
    }

    // SIGKILL c: a and b take its envs once its Leases expire.
    let mut c = c;
    let orphans = spread["deployer-c"].clone();
    c.child.kill().await.unwrap();
    let killed = Instant::now();
    let by = wait_until("c's envs taken over", 2 * LEASE, || async {
        let by = agreed_owners(&[&a, &b], 6, 2 * LEASE).await;
        match by.contains_key("deployer-c") {
            false => Ok(by),
            true => Err(format!("{by:?}")),
        }
    })
    .await;
    let failover = killed.elapsed();
    println!("failover after SIGKILL: {failover:?}");
    assert!(failover < 2 * LEASE, "took over in {failover:?}");
    assert_eq!(by.values().map(BTreeSet::len).collect::<Vec<_>>(), [3, 3], "{by:?}");
    // The new owners apply to the envs they took: a change in one is deployed.
    let env = orphans.iter().next().unwrap().clone();
    repo.commit(
        "change",
        &[(&format!("{env}/deployable/app.yaml"), Some(&config_map("app", "v2")))],
    )
    .unwrap();
    wait_until(
        "the change applied by the new owner",
        Duration::from_secs(10),
        || async {
            (value_in(&sim, &env).await.as_deref() == Some("v2"))
                .then_some(())
                .ok_or("still v1".to_string())
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_paused_past_its_deadline_applies_nothing_after_resuming_until_it_holds_the_env_again() {
    let sim = SimCluster::start(SimConfig::default()).await.unwrap();
    let repo = repo(2);
    let a = replica(&repo, &sim, "deployer-a", "").await;
    let b = replica(&repo, &sim, "deployer-b", "").await;
    let by = wait_until("one env each", Duration::from_secs(30), || async {
        let by = agreed_owners(&[&a, &b], 2, Duration::from_secs(20)).await;
        (by.len() == 2).then_some(by.clone()).ok_or(format!("{by:?}"))
    })
    .await;
    let env = by["deployer-a"].iter().next().unwrap().clone();
    wait_until("a applied its env", Duration::from_secs(20), || async {
        (value_in(&sim, &env).await.as_deref() == Some("v1"))
            .then_some(())
            .ok_or("not yet".to_string())
    })
    .await;
    let applied_before = a.applied(&env).await;
    assert!(applied_before >= 1);

    // Pause a past the lease duration; b takes a's env over and applies a change.
    a.signal("-STOP");
    wait_until("b owns both envs", 3 * LEASE, || async {
        let owned = b.owned().await?;
        (owned.len() == 2).then_some(()).ok_or(format!("{owned:?}"))
    })
    .await;
    repo.commit(
        "change",
        &[(&format!("{env}/deployable/app.yaml"), Some(&config_map("app", "v2")))],
    )
    .unwrap();
    wait_until("b applied the change", Duration::from_secs(10), || async {
        (value_in(&sim, &env).await.as_deref() == Some("v2"))
            .then_some(())
            .ok_or("still v1".to_string())
    })
    .await;

    // Resumed, a still has the old commit and sees the change as drift; but its
    // renewal is past the deadline, so it applies nothing, and then learns that b holds the env.
    a.signal("-CONT");
    wait_until("a sees b as the env's owner", Duration::from_secs(5), || async {
        let status = a.status().await?;
        match owners(&status).get(&env).map(String::as_str) {
            Some("deployer-b") if status["owners"][&env]["me"] == false => Ok(()),
            _ => Err(status.to_string()),
        }
    })
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        a.applied(&env).await,
        applied_before,
        "a applied to {env} after resuming"
    );
    assert_eq!(value_in(&sim, &env).await.as_deref(), Some("v2"));
    // The rebalance gives a one env back in time, and what it applies is the head.
    let settled = agreed_owners(&[&a, &b], 2, 4 * LEASE).await;
    assert!(settled.values().all(|e| e.len() <= 2), "{settled:?}");
}

fn deployment(name: &str, image: &str) -> String {
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {name}\nspec:\n  replicas: 1\n  selector:\n    matchLabels: {{app: {name}}}\n  template:\n    metadata:\n      labels: {{app: {name}}}\n    spec:\n      containers:\n        - name: app\n          image: {image}\n"
    )
}

/// Writes of the deployers' objects, not counting their Leases.
fn object_writes(sim: &SimCluster) -> u64 {
    let c = sim.counters();
    let leases = ["create", "update", "patch", "delete"]
        .iter()
        .map(|v| c.get(v, "leases"))
        .sum::<u64>();
    c.writes() - leases
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deployer_that_deploys_itself_applies_its_own_deployment_last_and_its_replacement_finds_nothing_to_do() {
    let sim = SimCluster::start(SimConfig {
        rollout_delay: Duration::from_millis(200),
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let files = BTreeMap::from([
        (
            "deployers.yaml".to_string(),
            "deployers:\n  ops: {cluster: main, namespace: slipway}\n".to_string(),
        ),
        (
            "ops/deployable/deployer.yaml".to_string(),
            deployment("slipway-deployer", "slipway/deployer:1"),
        ),
        ("ops/deployable/web.yaml".to_string(), deployment("web", "web:1")),
        ("ops/deployable/api.yaml".to_string(), deployment("api", "api:1")),
    ]);
    let repo = fixture(&files);
    let own = "self: {namespace: slipway, deployment: slipway-deployer}\n";
    let old = replica(&repo, &sim, "slipway-deployer-5d8f7c9b4-aaaaa", own).await;
    let clean = |r: &Replica, commit: String| {
        let url = r.url.clone();
        move || {
            let (url, commit) = (url.clone(), commit.clone());
            async move {
                let status: Value = reqwest::get(format!("{url}/status"))
                    .await
                    .map_err(|e| e.to_string())?
                    .json()
                    .await
                    .map_err(|e| e.to_string())?;
                let ops = &status["envs"]["ops"];
                (ops["status"] == "Clean" && ops["commit"] == commit.as_str())
                    .then_some(status.clone())
                    .ok_or(ops.to_string())
            }
        }
    };
    wait_until("ops Clean", Duration::from_secs(30), clean(&old, repo.head().unwrap())).await;

    // A new image for every Deployment, the deployer's own among them; a watch
    // from before the commit sees the order in which the new images arrive.
    let deployments: Api<Deployment> = Api::namespaced(sim.client().await, "slipway");
    let from = deployments
        .list(&Default::default())
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap();
    let mut events = deployments.watch(&WatchParams::default(), &from).await.unwrap().boxed();
    repo.commit(
        "new images",
        &[
            (
                "ops/deployable/deployer.yaml",
                Some(&deployment("slipway-deployer", "slipway/deployer:2")),
            ),
            ("ops/deployable/web.yaml", Some(&deployment("web", "web:2"))),
            ("ops/deployable/api.yaml", Some(&deployment("api", "api:2"))),
        ],
    )
    .unwrap();
    let image = |d: &Deployment| {
        d.spec.as_ref().unwrap().template.spec.as_ref().unwrap().containers[0]
            .image
            .clone()
            .unwrap()
    };
    let mut order = Vec::new();
    while order.len() < 3 {
        let event = tokio::time::timeout(Duration::from_secs(15), events.try_next())
            .await
            .expect("the new images are applied")
            .unwrap()
            .expect("the watch goes on");
        if let WatchEvent::Modified(d) = event {
            let name = d.metadata.name.clone().unwrap();
            if image(&d).ends_with(":2") && !order.contains(&name) {
                order.push(name);
            }
        }
    }
    assert_eq!(order.last().map(String::as_str), Some("slipway-deployer"), "{order:?}");

    // Its rollout replaces the old pod: SIGTERM, it gives its Leases up, and the
    // new pod takes the env over at once.
    let head = repo.head().unwrap();
    wait_until(
        "ops Clean at the new commit",
        Duration::from_secs(15),
        clean(&old, head.clone()),
    )
    .await;
    old.signal("-TERM");
    let mut old = old;
    let exit = tokio::time::timeout(Duration::from_secs(10), old.child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(exit.success(), "{exit}");
    let writes_before = object_writes(&sim);
    let taken = Instant::now();
    let new = replica(&repo, &sim, "slipway-deployer-6a7b8c9d5-bbbbb", own).await;
    let status = wait_until(
        "the replacement reports ops Clean",
        Duration::from_secs(15),
        clean(&new, head),
    )
    .await;
    assert!(
        taken.elapsed() < LEASE,
        "a released env is taken over at once, not after the lease expires: {:?}",
        taken.elapsed()
    );
    assert_eq!(status["owners"]["ops"]["identity"], new.name.as_str());
    // The replacement's reconciles write nothing: the old one finished the env.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(new.applied("ops").await, 0);
    assert_eq!(
        object_writes(&sim),
        writes_before,
        "the replacement wrote to the cluster"
    );
}

/// A replica that gives envs up to a new one stops watching them, its gauges
/// say how many envs it holds and watches, and `POST /refresh` on one replica
/// reconciles the envs of the others (which poll only once an hour here).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn given_up_envs_are_no_longer_watched_and_a_refresh_on_one_replica_reaches_the_others() {
    let sim = SimCluster::start(SimConfig::default()).await.unwrap();
    let repo = repo(4);
    let a = polling_replica(&repo, &sim, "deployer-a", "", "1h").await;
    agreed_owners(&[&a], 4, Duration::from_secs(30)).await;
    for i in 0..4 {
        let env = format!("e{i}");
        wait_until("every env applied", Duration::from_secs(30), || async {
            (value_in(&sim, &env).await.as_deref() == Some("v1"))
                .then_some(())
                .ok_or(format!("{env} not applied"))
        })
        .await;
    }
    wait_until("a holds and watches 4 envs", Duration::from_secs(30), || async {
        let seen = a.held_and_watched().await;
        (seen == (Some(4), Some(4))).then_some(()).ok_or(format!("{seen:?}"))
    })
    .await;

    // b joins: a gives it half, and stops watching those.
    let b = polling_replica(&repo, &sim, "deployer-b", "", "1h").await;
    let by = wait_until("2 envs each", Duration::from_secs(30), || async {
        let by = agreed_owners(&[&a, &b], 4, Duration::from_secs(30)).await;
        (by.len() == 2 && by.values().all(|e| e.len() == 2))
            .then_some(by.clone())
            .ok_or(format!("{by:?}"))
    })
    .await;
    for r in [&a, &b] {
        wait_until("each holds and watches 2 envs", Duration::from_secs(30), || async {
            let seen = r.held_and_watched().await;
            (seen == (Some(2), Some(2)))
                .then_some(())
                .ok_or(format!("{}: {seen:?}", r.name))
        })
        .await;
    }

    // A change to one of b's envs, and a refresh on a only: b fetches and applies it.
    let env = by["deployer-b"].iter().next().unwrap().clone();
    repo.commit(
        "change",
        &[(&format!("{env}/deployable/app.yaml"), Some(&config_map("app", "v2")))],
    )
    .unwrap();
    let answer = reqwest::Client::new()
        .post(format!("{}/refresh", a.url))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 202);
    wait_until(
        "the change applied by b after a refresh on a",
        Duration::from_secs(30),
        || async {
            (value_in(&sim, &env).await.as_deref() == Some("v2"))
                .then_some(())
                .ok_or("still v1".to_string())
        },
    )
    .await;
    assert!(b.applied(&env).await > 0);
}

/// Every request of the deployer's cluster clients carries `x-slipway-replica`.
#[tokio::test]
async fn every_cluster_request_names_the_replica() {
    let seen: Arc<Mutex<Vec<Option<String>>>> = Arc::default();
    let record = seen.clone();
    let app = axum::Router::new().fallback(move |headers: axum::http::HeaderMap| {
        let record = record.clone();
        async move {
            let replica = headers
                .get(slipway_deployer::cluster::REPLICA_HEADER)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            record.lock().unwrap().push(replica);
            axum::Json(serde_json::json!({"major": "1", "minor": "33", "gitVersion": "v1.33.0"}))
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kubeconfig");
    std::fs::write(&path, slipway_simcluster::kubeconfig(&url)).unwrap();
    let cluster = slipway_deployer::config::ClusterConfig {
        kubeconfig: Some(path),
        context: None,
        in_cluster: false,
    };
    let client =
        slipway_deployer::cluster::client_for("main", &cluster, "deployer-7f9c-x2", Duration::from_secs(5), None)
            .await
            .unwrap();
    client.apiserver_version().await.unwrap();
    client.apiserver_version().await.unwrap();
    assert_eq!(*seen.lock().unwrap(), vec![Some("deployer-7f9c-x2".to_string()); 2]);
    server.abort();
}

/// A preview env removed from the repo while no replica ran is torn down once
/// the replicas are back, by one of them only: its namespace is deleted once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_preview_removed_while_the_replicas_were_down_is_torn_down_by_one_of_them() {
    let sim = SimCluster::start(SimConfig {
        writer_header: Some(slipway_deployer::cluster::REPLICA_HEADER.into()),
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let mut files = BTreeMap::new();
    files.insert(
        "deployers.yaml".to_string(),
        "deployers:\n  e0: {cluster: main, namespace: e0}\n  preview-p: {cluster: main, namespace: preview-p, preview: {expires: \"2030-01-01T00:00:00Z\", source: manual}}\n"
            .to_string(),
    );
    files.insert("e0/deployable/app.yaml".to_string(), config_map("app", "v1"));
    files.insert("preview-p/deployable/app.yaml".to_string(), config_map("app", "v1"));
    let repo = fixture(&files);
    {
        let a = replica(&repo, &sim, "deployer-a", "").await;
        let b = replica(&repo, &sim, "deployer-b", "").await;
        agreed_owners(&[&a, &b], 2, Duration::from_secs(30)).await;
        for env in ["e0", "preview-p"] {
            wait_until("both envs applied", Duration::from_secs(30), || async {
                (value_in(&sim, env).await.as_deref() == Some("v1"))
                    .then_some(())
                    .ok_or(format!("{env} not applied"))
            })
            .await;
        }
        // Both replicas are killed here.
    }
    repo.commit(
        "Remove preview p",
        &[
            ("preview-p/deployable/app.yaml", None),
            (
                "deployers.yaml",
                Some("deployers:\n  e0: {cluster: main, namespace: e0}\n"),
            ),
        ],
    )
    .unwrap();
    sim.reset_counters();
    sim.reset_writes();
    let a = replica(&repo, &sim, "deployer-a2", "").await;
    let b = replica(&repo, &sim, "deployer-b2", "").await;
    let namespaces: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(sim.client().await);
    wait_until("the preview's namespace gone", Duration::from_secs(60), || async {
        match namespaces.get_opt("preview-p").await {
            Ok(None) => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    // Both have had their rounds since; only one deleted the namespace.
    agreed_owners(&[&a, &b], 1, Duration::from_secs(30)).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(sim.counters().get("delete", "namespaces"), 1, "{:?}", sim.counters());
    let tearing: BTreeSet<String> = sim
        .writes()
        .writes
        .iter()
        .filter(|w| {
            w.namespace == "preview-p" || (w.resource == "namespaces" && w.name.as_deref() == Some("preview-p"))
        })
        .map(|w| w.writer.clone())
        .collect();
    assert_eq!(tearing.len(), 1, "one replica tears it down: {tearing:?}");
    assert_eq!(value_in(&sim, "e0").await.as_deref(), Some("v1"), "e0 is untouched");
}
