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

/// Only `dev → pp` reads the deployer (`SourceClean` on dev); `pp` and `prod` are
/// read by no transition, and their deploys are told all the same.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deploy_failed_and_deploy_recovered_are_told_for_every_env_the_deployer_reports() {
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
    deployer.set_env("pp", &head, RolloutStatus::Clean, "", Some(NOW));
    deployer.set_env("prod", &head, RolloutStatus::Failed, "s1: CrashLoopBackOff", None);
    let config = Config::new(repo.url(), repo.scratch("checkout"));
    let client = PeerClient::new("deployer", &deployer.url(), std::time::Duration::from_secs(2), None).unwrap();
    let t = Transitioner::new(&config.repo, Some(client), clock(NOW))
        .await
        .unwrap()
        .with_notifications(&[webhook(&url)])
        .unwrap();
    t.observe_deploys().await.unwrap();
    deployer.set_env("dev", &head, RolloutStatus::Clean, "", Some(NOW));
    deployer.set_env("pp", &head, RolloutStatus::Failed, "s1: ImagePullBackOff", None);
    deployer.set_env("prod", &head, RolloutStatus::Clean, "", Some(NOW));
    t.observe_deploys().await.unwrap();
    // Seen again unchanged: told once.
    t.observe_deploys().await.unwrap();
    let told = || -> Vec<(String, String)> {
        let mut told: Vec<(String, String)> = got
            .lock()
            .unwrap()
            .iter()
            .map(|b| {
                let field = |k: &str| b[k].as_str().unwrap_or_default().to_string();
                (field("event"), field("env"))
            })
            .collect();
        told.sort();
        told
    };
    let expected: Vec<(String, String)> = [
        ("deploy_failed", "dev"),
        ("deploy_failed", "pp"),
        ("deploy_failed", "prod"),
        ("deploy_recovered", "dev"),
        ("deploy_recovered", "prod"),
    ]
    .iter()
    .map(|(e, env)| (e.to_string(), env.to_string()))
    .collect();
    wait_until("five deploy events", std::time::Duration::from_secs(10), || async {
        let now = told();
        if now.len() >= expected.len() {
            Ok(())
        } else {
            Err(format!("{now:?}"))
        }
    })
    .await;
    // Late duplicates would show up here.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(told(), expected);
    let got = got.lock().unwrap().clone();
    let failed = got
        .iter()
        .find(|b| b["event"] == "deploy_failed" && b["env"] == "prod")
        .unwrap();
    assert_eq!(failed["reason"], "s1: CrashLoopBackOff");
    assert_eq!(failed["commit"], head.as_str());
    let failed = got
        .iter()
        .find(|b| b["event"] == "deploy_failed" && b["env"] == "pp")
        .unwrap();
    assert_eq!(failed["reason"], "s1: ImagePullBackOff");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transition_run_alone_tells_no_deploy_events() {
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
    // The run reads dev for SourceClean; telling deploys is the observation's job,
    // so a status is told once per poll whatever the transitions read.
    t.run_all().await.unwrap();
    wait_until("the run's own events", std::time::Duration::from_secs(10), || async {
        if got.lock().unwrap().is_empty() {
            Err("none".to_string())
        } else {
            Ok(())
        }
    })
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let events: Vec<String> = got.lock().unwrap().iter().map(|b| b["event"].to_string()).collect();
    assert!(!events.iter().any(|e| e.contains("deploy_")), "{events:?}");
    t.observe_deploys().await.unwrap();
    wait_until("deploy_failed", std::time::Duration::from_secs(10), || async {
        let n = got
            .lock()
            .unwrap()
            .iter()
            .filter(|b| b["event"] == "deploy_failed")
            .count();
        if n == 1 {
            Ok(())
        } else {
            Err(format!("{n}"))
        }
    })
    .await;
}
