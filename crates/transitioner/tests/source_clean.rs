//! `SourceClean` and `min_clean` against a deployer status server the test controls.

mod support;

use std::sync::atomic::Ordering;

use slipway_core::status::{RolloutStatus, TransitionResult};
use support::*;

const PP: &str = r#"
commits:
  - message: setup
    files:
      transitions.yaml: "transitions:\n  pp: {source: dev, target: pp, preconditions: [SourceClean]}\n"
      dev/version/s1.yaml: "version: '1'\n"
      pp/version/s1.yaml: "version: '1'\n"
  - message: s1 2
    name: promoted
    files:
      dev/version/s1.yaml: "version: '2'\n"
"#;

#[tokio::test]
async fn source_clean_blocks_on_in_progress_and_fails_on_failed() {
    let repo = repo(PP);
    let promoted = repo.named("promoted").unwrap().to_string();
    let deployer = FakeDeployer::start().await;
    let t = transitioner(&repo, "checkout", clock("2026-11-22T10:00:00Z"), Some(&deployer)).await;

    deployer.set_env(
        "dev",
        &promoted,
        RolloutStatus::InProgress,
        "1 of 3 updated replicas available",
        None,
    );
    let outcome = t.run_all().await.unwrap().remove(0).1;
    assert_eq!(outcome.decision.result, TransitionResult::Blocked);
    assert_eq!(
        outcome.decision.reason,
        "source dev is InProgress: 1 of 3 updated replicas available"
    );
    assert_eq!(outcome.commit, None);

    deployer.set_env(
        "dev",
        &promoted,
        RolloutStatus::Failed,
        "ProgressDeadlineExceeded: s1",
        None,
    );
    let outcome = t.run_all().await.unwrap().remove(0).1;
    assert_eq!(outcome.decision.result, TransitionResult::CheckFailed);
    assert_eq!(
        outcome.decision.reason,
        "source dev is Failed: ProgressDeadlineExceeded: s1"
    );
    assert_eq!(t.status().transitions[0].result, Some(TransitionResult::CheckFailed));
    assert_eq!(repo.read("pp/version/s1.yaml").unwrap(), "version: '1'\n");

    deployer.set_env("dev", &promoted, RolloutStatus::Clean, "", Some("2026-11-22T09:00:00Z"));
    let outcome = t.run_all().await.unwrap().remove(0).1;
    assert_eq!(outcome.decision.result, TransitionResult::Success);
    assert_eq!(repo.read("pp/version/s1.yaml").unwrap(), "version: '2'\n");
}

#[tokio::test]
async fn source_clean_waits_until_the_deployer_reaches_the_promoted_commit() {
    let repo = repo(PP);
    let promoted = repo.named("promoted").unwrap().to_string();
    let deployer = FakeDeployer::start().await;
    let t = transitioner(&repo, "checkout", clock("2026-11-22T10:00:00Z"), Some(&deployer)).await;
    let before = repo.log()[1].0.clone();

    deployer.set_env("dev", &before, RolloutStatus::Clean, "", Some("2026-11-22T09:00:00Z"));
    let outcome = t.run_all().await.unwrap().remove(0).1;
    assert_eq!(outcome.decision.result, TransitionResult::Blocked);
    assert!(
        outcome.decision.reason.contains(&promoted[..10]),
        "{}",
        outcome.decision.reason
    );

    // Past the promoted commit (an unrelated later commit) counts as at it.
    let later = repo.commit("docs", &[(".notes/readme.md", Some("hi"))]).unwrap();
    deployer.set_env("dev", &later, RolloutStatus::Clean, "", Some("2026-11-22T09:00:00Z"));
    let outcome = t.run_all().await.unwrap().remove(0).1;
    assert_eq!(outcome.decision.result, TransitionResult::Success);
}

#[tokio::test]
async fn min_clean_waits_for_the_soak_time() {
    let repo = repo(
        r#"
commits:
  - message: setup
    files:
      transitions.yaml: "transitions:\n  pp: {source: dev, target: pp, min_clean: 10m}\n"
      dev/version/s1.yaml: "version: '2'\n"
      pp/version/s1.yaml: "version: '1'\n"
"#,
    );
    let deployer = FakeDeployer::start().await;
    let clock = clock("2026-11-22T10:05:00Z");
    let t = transitioner(&repo, "checkout", clock.clone(), Some(&deployer)).await;
    deployer.set_env(
        "dev",
        &repo.head().unwrap(),
        RolloutStatus::Clean,
        "",
        Some("2026-11-22T10:00:00Z"),
    );

    let outcome = t.run_all().await.unwrap().remove(0).1;
    assert_eq!(outcome.decision.result, TransitionResult::Blocked);
    assert_eq!(
        outcome.decision.reason,
        "source dev has been Clean for 5m, needs 10m (min_clean)"
    );

    clock.set(at("2026-11-22T10:10:00Z"));
    let outcome = t.run_all().await.unwrap().remove(0).1;
    assert_eq!(outcome.decision.result, TransitionResult::Success);
}

#[tokio::test]
async fn unreachable_deployer_fails_only_the_transitions_that_need_it() {
    let repo = repo(
        r#"
commits:
  - message: setup
    files:
      transitions.yaml: "transitions:\n  dev: {source: latest, target: dev}\n  pp: {source: dev, target: pp, preconditions: [SourceClean]}\n"
      latest/version/s1.yaml: "version: '3'\n"
      dev/version/s1.yaml: "version: '2'\n"
      pp/version/s1.yaml: "version: '1'\n"
"#,
    );
    let t = transitioner_with_deployer_at(
        &repo,
        "checkout",
        clock("2026-11-22T10:00:00Z"),
        Some(closed_port_url()),
    )
    .await;
    let outcomes = t.run_all().await.unwrap();
    assert_eq!(outcomes[0].1.decision.result, TransitionResult::Success);
    assert_eq!(outcomes[1].1.decision.result, TransitionResult::CheckFailed);
    assert!(
        outcomes[1]
            .1
            .decision
            .reason
            .starts_with("cannot check that source dev is clean: deployer unreachable"),
        "{}",
        outcomes[1].1.decision.reason
    );
}

#[tokio::test]
async fn deployer_is_asked_to_refresh_after_a_promotion() {
    let repo = repo(PP);
    let deployer = FakeDeployer::start().await;
    deployer.set_env("dev", &repo.head().unwrap(), RolloutStatus::Clean, "", None);
    let t = transitioner(&repo, "checkout", clock("2026-11-22T10:00:00Z"), Some(&deployer)).await;
    assert!(t.run_all().await.unwrap()[0].1.commit.is_some());
    wait_until(
        "the deployer to be asked to refresh",
        std::time::Duration::from_secs(5),
        || async {
            match deployer.refreshes.load(Ordering::SeqCst) {
                0 => Err("no POST /refresh yet".to_string()),
                _ => Ok(()),
            }
        },
    )
    .await;
}
