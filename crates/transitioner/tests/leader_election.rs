//! Two `slipway-transitioner` processes on one repo and one Lease in the
//! simulated cluster: only the leader commits, the follower says who leads and
//! passes runs on to it, and when the leader is SIGKILLed the follower takes over and
//! promotes, with no promotion committed twice.

mod support;

use std::process::Stdio;
use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::Lease;
use serde_json::Value;
use slipway_simcluster::{SimCluster, SimConfig};
use support::*;
use tokio::process::{Child, Command};

const REPO: &str = r#"
commits:
  - message: setup
    files:
      transitions.yaml: "transitions:\n  dev: {source: latest, target: dev}\n"
      latest/version/s1.yaml: "version: '1'\n"
      dev/version/s1.yaml: "version: '1'\n"
"#;

const LEASE_SECONDS: u64 = 3;

struct Replica {
    child: Child,
    url: String,
}

async fn replica(repo: &TempRepo, kubeconfig: &std::path::Path, name: &str) -> Replica {
    let config = repo.scratch(&format!("{name}.yaml"));
    std::fs::write(
        &config,
        format!(
            "versions_url: {url}\nversions_checkout_path: {checkout}\npoll_interval: 200ms\napi_tokens_env: TRANSITIONER_TOKENS\n\
             leader_election:\n  lease_name: slipway-transitioner\n  namespace: default\n  duration: {LEASE_SECONDS}s\n  renew_deadline: 2s\n  retry_period: 200ms\n  kubeconfig: {kubeconfig}\n",
            url = repo.url(),
            checkout = repo.scratch(&format!("checkout-{name}")).display(),
            kubeconfig = kubeconfig.display(),
        ),
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_slipway-transitioner"))
        .args(["serve", "--config"])
        .arg(&config)
        .env("POD_NAME", name)
        .env("TRANSITIONER_TOKENS", "aggregator:secret")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let url = slipway_kit::testing::listening_url(&mut child, "slipway-transitioner").await;
    Replica { child, url }
}

async fn leader_of(r: &Replica) -> Result<Value, String> {
    let status: Value = reqwest::get(format!("{}/status", r.url))
        .await
        .map_err(|e| e.to_string())?
        .json()
        .await
        .map_err(|e| e.to_string())?;
    Ok(status["leader"].clone())
}

fn transitioner_commits(repo: &TempRepo) -> Vec<String> {
    repo.log()
        .into_iter()
        .filter(|(_, author, _)| author == "slipway-transitioner")
        .map(|(_, _, message)| message)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_leader_commits_and_the_follower_takes_over_after_a_sigkill() {
    let sim = SimCluster::start(SimConfig::default()).await.unwrap();
    let repo = repo(REPO);
    let kubeconfig = repo.scratch("kubeconfig");
    sim.write_kubeconfig(&kubeconfig).unwrap();
    let a = replica(&repo, &kubeconfig, "transitioner-a").await;
    let b = replica(&repo, &kubeconfig, "transitioner-b").await;

    // Both agree on one leader.
    let leader = wait_until("both replicas agree on a leader", Duration::from_secs(30), || async {
        let (la, lb) = (leader_of(&a).await?, leader_of(&b).await?);
        let id = la["identity"]
            .as_str()
            .ok_or(format!("no leader yet: {la}"))?
            .to_string();
        if lb["identity"] != la["identity"] || la["me"] == lb["me"] {
            return Err(format!("a: {la}, b: {lb}"));
        }
        Ok(id)
    })
    .await;
    let (mut leader, follower) = if leader == "transitioner-a" { (a, b) } else { (b, a) };
    let seen = leader_of(&follower).await.unwrap();
    assert_eq!(seen["me"], false);
    let metrics = reqwest::get(format!("{}/metrics", follower.url))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("slipway_transitioner_leader 0"), "{metrics}");
    assert!(seen["since"].is_string() && seen["renew_time"].is_string(), "{seen}");
    wait_until(
        "the follower is ready once it has fetched",
        Duration::from_secs(30),
        || async {
            let ready = reqwest::get(format!("{}/ready", follower.url))
                .await
                .map_err(|e| e.to_string())?;
            match ready.status().as_u16() {
                200 => Ok(()),
                code => Err(format!("{code}")),
            }
        },
    )
    .await;

    // A run asked of the follower is passed on to the leader, which answers it.
    let client = reqwest::Client::new();
    let run = |url: &str| client.post(format!("{url}/transitions/dev/run")).bearer_auth("secret");
    let answer = run(&follower.url).send().await.unwrap();
    assert_eq!(answer.status(), 200);
    let body: Value = answer.json().await.unwrap();
    assert_eq!(body["result"], "Skipped", "{body}");
    // Without a token it is refused before anything is passed on.
    let answer = client
        .post(format!("{}/transitions/dev/run", follower.url))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 401);
    // A run that was already passed on once is not passed on again: 503 naming the leader.
    let refused = run(&follower.url)
        .header("x-slipway-passed-on-by", "someone")
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 503);
    assert_eq!(refused.headers()["retry-after"], "2");
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["leader"], leader_of(&leader).await.unwrap()["identity"]);
    assert_eq!(
        leader_of(&follower).await.unwrap()["address"],
        Value::String(leader.url.clone()),
        "the Lease says where the leader answers"
    );

    repo.commit("s1 2", &[("latest/version/s1.yaml", Some("version: '2'\n"))])
        .unwrap();
    wait_until("the promotion of s1 2 into dev", Duration::from_secs(30), || async {
        let dev = repo.read("dev/version/s1.yaml").unwrap_or_default();
        if dev.contains("'2'") {
            Ok(())
        } else {
            Err(dev)
        }
    })
    .await;

    // The leader dies without releasing the Lease.
    let leases: kube::Api<Lease> = kube::Api::namespaced(sim.client().await, "default");
    leader.child.kill().await.unwrap();
    let killed = Instant::now();
    let last_renewal = leases.get("slipway-transitioner").await.unwrap().spec.unwrap();
    repo.commit("s1 3", &[("latest/version/s1.yaml", Some("version: '3'\n"))])
        .unwrap();
    wait_until("the follower promotes s1 3", Duration::from_secs(60), || async {
        let dev = repo.read("dev/version/s1.yaml").unwrap_or_default();
        if dev.contains("'3'") {
            Ok(())
        } else {
            Err(format!(
                "dev: {dev}, leader seen by the follower: {:?}",
                leader_of(&follower).await
            ))
        }
    })
    .await;
    eprintln!(
        "failover: promoted {:.1}s after the SIGKILL (lease duration {LEASE_SECONDS}s, poll 200ms)",
        killed.elapsed().as_secs_f64()
    );

    let taken = leases.get("slipway-transitioner").await.unwrap().spec.unwrap();
    let now_leads = leader_of(&follower).await.unwrap();
    assert_eq!(taken.holder_identity.as_deref(), now_leads["identity"].as_str());
    assert_ne!(taken.holder_identity, last_renewal.holder_identity);
    assert!(
        taken.acquire_time.unwrap().0.as_millisecond()
            >= last_renewal.renew_time.unwrap().0.as_millisecond() + 1000 * LEASE_SECONDS as i64,
        "the follower took over only once the dead leader's claim had expired"
    );
    assert_eq!(leader_of(&follower).await.unwrap()["me"], true);
    let metrics = reqwest::get(format!("{}/metrics", follower.url))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("slipway_transitioner_leader 1"), "{metrics}");

    let commits = transitioner_commits(&repo);
    assert_eq!(commits.len(), 2, "one commit per promotion, none twice: {commits:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_that_does_not_hold_the_lease_decides_but_does_not_commit() {
    use k8s_openapi::api::coordination::v1::LeaseSpec;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
    use slipway_kit::lease::{elect, LeaseSettings};

    let sim = SimCluster::start(SimConfig::default()).await.unwrap();
    let leases: kube::Api<Lease> = kube::Api::namespaced(sim.client().await, "default");
    let now = MicroTime(k8s_openapi::jiff::Timestamp::now());
    let held = Lease {
        metadata: kube::api::ObjectMeta {
            name: Some("slipway-transitioner".into()),
            ..Default::default()
        },
        spec: Some(LeaseSpec {
            holder_identity: Some("other".into()),
            lease_duration_seconds: Some(3600),
            acquire_time: Some(now.clone()),
            renew_time: Some(now),
            ..Default::default()
        }),
    };
    leases.create(&Default::default(), &held).await.unwrap();
    let shutdown = tokio_util::sync::CancellationToken::new();
    let election = elect(
        leases.clone(),
        "slipway-transitioner",
        "me",
        None,
        &LeaseSettings::default(),
        slipway_kit::clock::SystemClock::shared(),
        shutdown.clone(),
    )
    .unwrap();
    let leadership = election.leadership.clone();
    wait_until("the lease has been read", Duration::from_secs(20), || async {
        match leadership.leader().and_then(|l| l.identity) {
            Some(holder) => Ok(holder),
            None => Err("not read yet".to_string()),
        }
    })
    .await;

    let repo = repo(&REPO.replace(
        "latest/version/s1.yaml: \"version: '1'",
        "latest/version/s1.yaml: \"version: '2'",
    ));
    let t = transitioner(
        &repo,
        "checkout",
        std::sync::Arc::new(slipway_transitioner::ManualClock::new(at("2026-01-01T00:00:00Z"))),
        None,
    )
    .await
    .with_leadership(election.leadership.clone());
    let outcomes = t.run_all().await.unwrap();
    let (_, outcome) = &outcomes[0];
    assert_eq!(outcome.commit, None);
    assert!(
        outcome
            .decision
            .reason
            .contains("not committed by this replica: this replica (me) does not lead: other holds the lease"),
        "{}",
        outcome.decision.reason
    );
    assert_eq!(repo.read("dev/version/s1.yaml").unwrap(), "version: '1'\n");
    assert!(transitioner_commits(&repo).is_empty());
    shutdown.cancel();
    election.task.await.unwrap();
    assert_eq!(
        leases
            .get("slipway-transitioner")
            .await
            .unwrap()
            .spec
            .unwrap()
            .holder_identity
            .as_deref(),
        Some("other"),
        "a replica that never held the lease leaves it alone on shutdown"
    );
}
