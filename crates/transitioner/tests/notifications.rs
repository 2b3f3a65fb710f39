//! The transitioner's notifications reach a loopback receiver with the
//! documented bodies, and a target that never answers does not hold up a promotion.

mod support;

use slipway_core::status::{RolloutStatus, TransitionResult};
use slipway_kit::notify::{TargetConfig, TargetKind};
use slipway_kit::peer::PeerClient;
use slipway_transitioner::config::Config;
use slipway_transitioner::transitioner::Transitioner;
use support::*;

const NOW: &str = "2026-11-22T10:00:00Z";

const REPO: &str = r#"
commits:
  - message: setup
    files:
      transitions.yaml: "transitions:\n  dev: {source: latest, target: dev}\n  pp: {source: dev, target: pp, preconditions: [SourceClean]}\n"
      latest/version/s1.yaml: "version: '41'\n"
      dev/version/s1.yaml: "version: '41'\n"
      pp/version/s1.yaml: "version: '40'\n"
  - message: "s1 42"
    files:
      latest/version/s1.yaml: "version: '42'\n"
"#;

fn webhook(url: &str) -> TargetConfig {
    TargetConfig {
        kind: TargetKind::Webhook,
        url: url.to_string(),
        events: None,
        secret_file: None,
        secret_env: None,
        name: None,
    }
}

async fn transitioner_notifying(repo: &git_fixture::TempRepo, targets: &[TargetConfig]) -> Transitioner {
    let config = Config::new(repo.url(), repo.scratch("checkout"));
    // No deployer: SourceClean cannot be checked, so pp is blocked.
    Transitioner::new(&config.repo, None, clock(NOW))
        .await
        .unwrap()
        .with_notifications(targets)
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn promoted_and_promotion_blocked_reach_the_receiver_with_their_fields_once() {
    let repo = repo(REPO);
    let (url, got) = slipway_kit::testing::notification_receiver().await;
    let t = transitioner_notifying(&repo, &[webhook(&url)]).await;
    let outcomes = t.run_all().await.unwrap();
    assert_eq!(outcomes[0].1.decision.result, TransitionResult::Success);
    let commit = outcomes[0].1.commit.clone().unwrap();
    // The next poll finds pp blocked again for the same reason: told once.
    t.run_all().await.unwrap();
    wait_until("both events", std::time::Duration::from_secs(10), || async {
        let n = got.lock().unwrap().len();
        if n >= 2 {
            Ok(())
        } else {
            Err(format!("{n} events"))
        }
    })
    .await;
    let got = got.lock().unwrap().clone();
    let promoted = got.iter().find(|b| b["event"] == "promoted").expect("promoted");
    assert_eq!(promoted["transition"], "dev");
    assert_eq!(promoted["source_env"], "latest");
    assert_eq!(promoted["target_env"], "dev");
    assert_eq!(promoted["commit"], commit.as_str());
    assert_eq!(
        promoted["services"],
        serde_json::json!([{"service": "s1", "from": "41", "to": "42"}])
    );
    assert_eq!(promoted["summary"], "Promote latest → dev: s1 41 → 42");
    assert_eq!(promoted["source"], "slipway-transitioner");
    let blocked: Vec<_> = got.iter().filter(|b| b["event"] == "promotion_blocked").collect();
    assert_eq!(blocked.len(), 1, "{got:?}");
    assert_eq!(blocked[0]["transition"], "pp");
    assert!(blocked[0]["reason"].as_str().is_some_and(|r| !r.is_empty()), "{got:?}");
    assert_eq!(blocked[0]["pending"], serde_json::json!(["s1"]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_target_that_never_answers_does_not_hold_up_the_promotion() {
    let repo = repo(REPO);
    // Accepts connections and never answers.
    let hanging = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hook", hanging.local_addr().unwrap());
    let (live, got) = slipway_kit::testing::notification_receiver().await;
    let t = transitioner_notifying(&repo, &[webhook(&url), webhook(&live)]).await;
    let outcomes = t.run_all().await.unwrap();
    let commit = outcomes[0].1.commit.clone().expect("promoted although a target hangs");
    assert_eq!(repo.head(), Some(commit));
    wait_until(
        "the live target's events",
        std::time::Duration::from_secs(10),
        || async {
            if got.lock().unwrap().is_empty() {
                Err("none".to_string())
            } else {
                Ok(())
            }
        },
    )
    .await;
    drop(hanging);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deploy_failed_and_deploy_recovered_follow_the_deployer_status() {
    let repo = repo(REPO);
    let (url, got) = slipway_kit::testing::notification_receiver().await;
    let deployer = FakeDeployer::start().await;
    let head = repo.head().unwrap();
    deployer.set_env(
        "dev",
        &head,
        RolloutStatus::Failed,
        "s1: ProgressDeadlineExceeded",
        None,
    );
    let config = Config::new(repo.url(), repo.scratch("checkout"));
    let client = PeerClient::new("deployer", &deployer.url(), std::time::Duration::from_secs(2), None).unwrap();
    let t = Transitioner::new(&config.repo, Some(client), clock(NOW))
        .await
        .unwrap()
        .with_notifications(&[webhook(&url)])
        .unwrap();
    t.run_all().await.unwrap();
    deployer.set_env("dev", &head, RolloutStatus::Clean, "", Some(NOW));
    t.run_all().await.unwrap();
    let kinds = || -> Vec<String> {
        got.lock()
            .unwrap()
            .iter()
            .map(|b| b["event"].as_str().unwrap_or_default().to_string())
            .collect()
    };
    wait_until("failed and recovered", std::time::Duration::from_secs(10), || async {
        let k = kinds();
        if k.contains(&"deploy_failed".to_string()) && k.contains(&"deploy_recovered".to_string()) {
            Ok(())
        } else {
            Err(format!("{k:?}"))
        }
    })
    .await;
    let got = got.lock().unwrap().clone();
    let failed = got.iter().find(|b| b["event"] == "deploy_failed").unwrap();
    assert_eq!(failed["env"], "dev");
    assert_eq!(failed["reason"], "s1: ProgressDeadlineExceeded");
    assert_eq!(failed["commit"], head.as_str());
    let recovered = got.iter().find(|b| b["event"] == "deploy_recovered").unwrap();
    assert_eq!(recovered["env"], "dev");
}
