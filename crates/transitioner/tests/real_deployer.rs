//! `SourceClean` against the real deployer reconciling into the simulated cluster.

mod support;

use std::time::Duration;

use slipway_core::status::TransitionResult;
use slipway_deployer::config::ClusterConfig;
use slipway_deployer::DeployerConfig;
use slipway_kit::Drain;
use slipway_simcluster::{SimCluster, SimConfig};
use support::*;

const BASE: &str = r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: s1
spec:
  replicas: 2
  progressDeadlineSeconds: 1
  selector:
    matchLabels: {app: s1}
  template:
    metadata:
      labels: {app: s1}
    spec:
      containers:
        - name: app
          image: "${image}"
"#;

/// Runs the transition until its result is `want` (at most 20 s); returns every result seen.
async fn run_until(t: &slipway_transitioner::Transitioner, want: TransitionResult) -> Vec<TransitionResult> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let mut seen = Vec::new();
    loop {
        let outcome = t.run_all().await.unwrap().remove(0).1;
        if seen.last() != Some(&outcome.decision.result) {
            seen.push(outcome.decision.result);
        }
        if outcome.decision.result == want {
            return seen;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "never {want:?}; saw {seen:?}, last reason: {}",
            outcome.decision.reason
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn source_clean_follows_the_real_deployer_blocked_then_success_or_check_failed() {
    let sim = SimCluster::start(SimConfig {
        rollout_delay: Duration::from_millis(300),
        fail_image_pattern: "*:broken".into(),
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let repo = repo(&format!(
        r#"
commits:
  - message: setup
    files:
      deployers.yaml: "deployers:\n  dev: {{cluster: main, namespace: dev}}\n"
      transitions.yaml: "transitions:\n  pp: {{source: dev, target: pp, preconditions: [SourceClean]}}\n"
      dev/base/s1.yaml: {base}
      dev/version/s1.yaml: "version: '1'\nimage: reg/s1:1\n"
      pp/version/s1.yaml: "version: '1'\nimage: reg/s1:1\n"
"#,
        base = serde_json::to_string(BASE).unwrap()
    ));
    let kubeconfig = repo.scratch("main.kubeconfig");
    sim.write_kubeconfig(&kubeconfig).unwrap();
    let mut config = DeployerConfig::new(repo.url(), repo.scratch("deployer"));
    config.clusters.insert(
        "main".into(),
        ClusterConfig {
            kubeconfig: Some(kubeconfig),
            context: None,
            in_cluster: false,
        },
    );
    config.poll_interval = Duration::from_millis(100);
    let shutdown = Drain::new();
    let deployer = slipway_deployer::start(config, shutdown.clone()).await.unwrap();
    let t = transitioner_with_deployer_at(
        &repo,
        "transitioner",
        clock("2026-11-22T10:00:00Z"),
        Some(format!("http://{}", deployer.addr)),
    )
    .await;

    // A good version: blocked while the deployer rolls it out, then promoted.
    repo.commit(
        "s1 2",
        &[("dev/version/s1.yaml", Some("version: '2'\nimage: reg/s1:2\n"))],
    )
    .unwrap();
    let seen = run_until(&t, TransitionResult::Success).await;
    assert_eq!(seen.first(), Some(&TransitionResult::Blocked), "{seen:?}");
    assert_eq!(
        repo.read("pp/version/s1.yaml").unwrap(),
        "version: '2'\nimage: reg/s1:2\n"
    );

    // A broken image: blocked while rolling out, then the check fails and nothing moves.
    repo.commit(
        "s1 3",
        &[("dev/version/s1.yaml", Some("version: '3'\nimage: reg/s1:broken\n"))],
    )
    .unwrap();
    let seen = run_until(&t, TransitionResult::CheckFailed).await;
    assert_eq!(seen.first(), Some(&TransitionResult::Blocked), "{seen:?}");
    let status = &t.status().transitions[0];
    assert!(status.reason.starts_with("source dev is Failed"), "{}", status.reason);
    assert_eq!(
        repo.read("pp/version/s1.yaml").unwrap(),
        "version: '2'\nimage: reg/s1:2\n"
    );

    shutdown.begin();
    let _ = deployer.task.await;
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_version_promoted_into_pp_is_rolled_back_within_verify_for_and_held() {
    let sim = SimCluster::start(SimConfig {
        rollout_delay: Duration::from_millis(200),
        fail_image_pattern: "*:broken".into(),
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let repo = repo(&format!(
        r#"
commits:
  - message: setup
    files:
      deployers.yaml: "deployers:\n  pp: {{cluster: main, namespace: pp}}\n"
      transitions.yaml: "transitions:\n  pp: {{source: dev, target: pp, on_failure: rollback, verify_for: 10m}}\n"
      pp/base/s1.yaml: {base}
      dev/version/s1.yaml: "version: '1'\nimage: reg/s1:1\n"
      pp/version/s1.yaml: "version: '1'\nimage: reg/s1:1\n"
"#,
        base = serde_json::to_string(BASE).unwrap()
    ));
    let kubeconfig = repo.scratch("main.kubeconfig");
    sim.write_kubeconfig(&kubeconfig).unwrap();
    let mut config = DeployerConfig::new(repo.url(), repo.scratch("deployer"));
    config.clusters.insert(
        "main".into(),
        ClusterConfig {
            kubeconfig: Some(kubeconfig),
            context: None,
            in_cluster: false,
        },
    );
    config.poll_interval = Duration::from_millis(100);
    let shutdown = Drain::new();
    let deployer = slipway_deployer::start(config, shutdown.clone()).await.unwrap();
    // Promotion commits carry the real time: the clock must agree for verify_for.
    let now = chrono::Utc::now().to_rfc3339();
    let t = transitioner_with_deployer_at(
        &repo,
        "transitioner",
        clock(&now),
        Some(format!("http://{}", deployer.addr)),
    )
    .await;

    repo.commit(
        "s1 2",
        &[("dev/version/s1.yaml", Some("version: '2'\nimage: reg/s1:broken\n"))],
    )
    .unwrap();
    assert_eq!(
        t.run_all().await.unwrap()[0].1.decision.result,
        TransitionResult::Success
    );
    assert_eq!(
        repo.read("pp/version/s1.yaml").unwrap(),
        "version: '2'\nimage: reg/s1:broken\n"
    );

    let locks = wait_until("the rollback", Duration::from_secs(30), || async {
        t.run_all().await.unwrap();
        match repo.read("pp/locks.yaml") {
            Some(locks) if repo.read("pp/version/s1.yaml").as_deref() == Some("version: '1'\nimage: reg/s1:1\n") => {
                Ok(locks)
            }
            other => Err(format!("locks {other:?}, pp at {:?}", repo.read("pp/version/s1.yaml"))),
        }
    })
    .await;
    assert!(locks.contains("rolled back from 2 to 1"), "{locks}");
    assert!(locks.contains("ProgressDeadlineExceeded"), "{locks}");
    let (_, author, message) = repo.log().remove(0);
    assert_eq!(author, "slipway-transitioner");
    assert!(message.starts_with("Roll back pp: s1 2 → 1"), "{message}");
    assert!(message.contains("Slipway-Action: rollback"), "{message}");

    // The hold keeps the broken version out.
    let outcome = t.run_all().await.unwrap().remove(0).1;
    assert_eq!(outcome.commit, None);
    assert!(outcome.decision.holds[0].reason.contains("ProgressDeadlineExceeded"));
    assert_eq!(
        repo.read("pp/version/s1.yaml").unwrap(),
        "version: '1'\nimage: reg/s1:1\n"
    );

    shutdown.begin();
    let _ = deployer.task.await;
    sim.shutdown().await;
}
