//! Promotions against real git repos built by `git_fixture`.

mod support;

use slipway_core::status::TransitionResult;
use support::*;

const NOW: &str = "2026-11-22T10:00:00Z";

#[tokio::test]
async fn simple_latest_to_dev_promotion() {
    let repo = repo(
        r#"
commits:
  - message: setup
    files:
      transitions.yaml: "transitions:\n  dev: {source: latest, target: dev}\n"
      latest/version/s1.yaml: "version: '41'\n"
      dev/version/s1.yaml: "version: '41'\n"
  - message: "s1 42\n\nFix the login bug"
    author: ci
    files:
      latest/version/s1.yaml: "version: '42'\n"
"#,
    );
    let t = transitioner(&repo, "checkout", clock(NOW), None).await;
    let outcomes = t.run_all().await.unwrap();
    let (name, outcome) = &outcomes[0];
    assert_eq!(name, "dev");
    assert_eq!(outcome.decision.result, TransitionResult::Success);
    let commit = outcome.commit.clone().expect("a promotion commit");
    assert_eq!(repo.head().unwrap(), commit);
    assert_eq!(repo.read("dev/version/s1.yaml").unwrap(), "version: '42'\n");

    let (id, author, msg) = repo.log().remove(0);
    assert_eq!(id, commit);
    assert_eq!(author, "slipway-transitioner");
    assert!(
        msg.starts_with("Promote latest → dev: s1 41 → 42\n\ns1: 41 → 42\n"),
        "{msg}"
    );
    assert!(msg.contains("Changelog of s1:\n"), "{msg}");
    assert!(msg.contains(" s1 42\n\n    Fix the login bug\n"), "{msg}");
    assert!(
        !msg.contains("setup"),
        "the commit of the old version is not in the changelog: {msg}"
    );
    assert!(
        msg.ends_with("Slipway-Action: promotion\nSlipway-Transition: dev\nSlipway-Env: dev\n"),
        "{msg}"
    );

    let status = t.status();
    let dev = &status.transitions[0];
    assert_eq!(dev.result, Some(TransitionResult::Success));
    assert_eq!(dev.recent_runs[0].commit, commit);
    assert_eq!(dev.recent_runs[0].promotions[0].old.as_deref(), Some("41"));
    assert_eq!(status.repo_commit.as_deref(), Some(commit.as_str()));

    // Nothing changed: no commit.
    let again = t.run_all().await.unwrap();
    assert_eq!(again[0].1.decision.result, TransitionResult::Skipped);
    assert_eq!(again[0].1.commit, None);
    assert_eq!(repo.log().len(), 3);
}

#[tokio::test]
async fn three_env_chain_moves_one_step_per_run() {
    let repo = repo(
        r#"
commits:
  - message: setup
    files:
      transitions.yaml: "transitions:\n  dev: {source: latest, target: dev}\n  pp: {source: dev, target: pp}\n"
      latest/version/s1.yaml: "version: '1'\n"
      dev/version/s1.yaml: "version: '1'\n"
      pp/version/s1.yaml: "version: '1'\n"
  - message: s1 2
    files:
      latest/version/s1.yaml: "version: '2'\n"
"#,
    );
    let t = transitioner(&repo, "checkout", clock(NOW), None).await;
    let first = t.run_all().await.unwrap();
    assert_eq!(first[0].1.decision.result, TransitionResult::Success);
    assert_eq!(
        first[1].1.decision.result,
        TransitionResult::Skipped,
        "pp waits for the next run"
    );
    assert_eq!(repo.read("dev/version/s1.yaml").unwrap(), "version: '2'\n");
    assert_eq!(repo.read("pp/version/s1.yaml").unwrap(), "version: '1'\n");

    let second = t.run_all().await.unwrap();
    assert_eq!(second[0].1.decision.result, TransitionResult::Skipped);
    assert_eq!(second[1].1.decision.result, TransitionResult::Success);
    assert_eq!(repo.read("pp/version/s1.yaml").unwrap(), "version: '2'\n");
    let msg = &transitioner_commits(&repo)[0].1;
    assert!(msg.starts_with("Promote dev → pp: s1 1 → 2"), "{msg}");
}

#[tokio::test]
async fn locked_env_is_skipped_with_the_lock_reasons() {
    let repo = repo(
        r#"
commits:
  - message: setup
    files:
      transitions.yaml: "transitions:\n  prod: {source: pp, target: prod}\n"
      pp/version/s1.yaml: "version: '2'\n"
      prod/version/s1.yaml: "version: '1'\n"
      prod/locks.yaml: "env_lock: {reasons: [release freeze]}\n"
"#,
    );
    let t = transitioner(&repo, "checkout", clock(NOW), None).await;
    let outcome = t.run_all().await.unwrap().remove(0).1;
    assert_eq!(outcome.decision.result, TransitionResult::Skipped);
    assert_eq!(outcome.commit, None);
    assert_eq!(repo.read("prod/version/s1.yaml").unwrap(), "version: '1'\n");
    let status = &t.status().transitions[0];
    assert_eq!(status.reason, "target env prod is locked: release freeze");
    assert_eq!(status.skipped[0].service, "s1");
    assert!(status.skipped[0].reason.contains("release freeze"));
    assert_eq!(status.pending, vec!["s1"]);

    repo.commit("unlock prod", &[("prod/locks.yaml", Some("{}\n"))])
        .unwrap();
    let outcome = t.run_all().await.unwrap().remove(0).1;
    assert_eq!(outcome.decision.result, TransitionResult::Success);
    assert_eq!(repo.read("prod/version/s1.yaml").unwrap(), "version: '2'\n");
}

#[tokio::test]
async fn one_locked_service_stays_while_another_moves() {
    let repo = repo(
        r#"
commits:
  - message: setup
    files:
      transitions.yaml: "transitions:\n  prod: {source: pp, target: prod}\n"
      pp/version/s1.yaml: "version: '2'\n"
      pp/version/s2.yaml: "version: '5'\n"
      prod/version/s1.yaml: "version: '1'\n"
      prod/version/s2.yaml: "version: '4'\n"
      prod/locks.yaml: "resource_locks:\n  s1: {reasons: [incident 4711]}\n"
"#,
    );
    let t = transitioner(&repo, "checkout", clock(NOW), None).await;
    let outcome = t.run_all().await.unwrap().remove(0).1;
    assert_eq!(outcome.decision.result, TransitionResult::Success);
    assert_eq!(repo.read("prod/version/s1.yaml").unwrap(), "version: '1'\n");
    assert_eq!(repo.read("prod/version/s2.yaml").unwrap(), "version: '5'\n");
    let status = &t.status().transitions[0];
    assert_eq!(status.skipped.len(), 1);
    assert_eq!(status.skipped[0].reason, "locked in prod: incident 4711");
    assert_eq!(status.pending, vec!["s1"]);
    let msg = &transitioner_commits(&repo)[0].1;
    assert!(msg.starts_with("Promote pp → prod: s2 4 → 5\n"), "{msg}");
}

#[tokio::test]
async fn service_only_in_the_target_is_left_alone() {
    let repo = repo(
        r#"
commits:
  - message: setup
    files:
      transitions.yaml: "transitions:\n  dev: {source: latest, target: dev}\n"
      latest/version/s1.yaml: "version: '2'\n"
      dev/version/s1.yaml: "version: '1'\n"
      dev/version/legacy.yaml: "version: '9'\n"
"#,
    );
    let t = transitioner(&repo, "checkout", clock(NOW), None).await;
    t.run_all().await.unwrap();
    assert_eq!(repo.read("dev/version/legacy.yaml").unwrap(), "version: '9'\n");
    assert_eq!(repo.read("dev/version/s1.yaml").unwrap(), "version: '2'\n");
    let msg = &transitioner_commits(&repo)[0].1;
    assert!(!msg.contains("legacy"), "{msg}");
}

#[tokio::test]
async fn new_service_is_created_in_the_target() {
    let repo = repo(
        r#"
commits:
  - message: setup
    files:
      transitions.yaml: "transitions:\n  dev: {source: latest, target: dev}\n"
      dev/version/s1.yaml: "version: '1'\n"
      latest/version/s1.yaml: "version: '1'\n"
  - message: "s2 1\n\nFirst release of s2"
    files:
      latest/version/s2.yaml: "version: '1'\nimage: reg/s2:1\n"
"#,
    );
    let t = transitioner(&repo, "checkout", clock(NOW), None).await;
    let outcome = t.run_all().await.unwrap().remove(0).1;
    assert_eq!(outcome.decision.summary(), "s2 (new) → 1");
    assert_eq!(
        repo.read("dev/version/s2.yaml").unwrap(),
        "version: '1'\nimage: reg/s2:1\n"
    );
    let msg = &transitioner_commits(&repo)[0].1;
    assert!(
        msg.starts_with("Promote latest → dev: s2 (new) → 1\n\ns2: (new) → 1\n"),
        "{msg}"
    );
    assert!(msg.contains("First release of s2"), "{msg}");
}

#[tokio::test]
async fn target_changed_by_hand_is_overwritten_by_the_newer_source() {
    let repo = repo(
        r#"
commits:
  - message: setup
    files:
      transitions.yaml: "transitions:\n  dev: {source: latest, target: dev}\n"
      latest/version/s1.yaml: "version: '41'\n"
      dev/version/s1.yaml: "version: '41'\n"
"#,
    );
    let t = transitioner(&repo, "checkout", clock(NOW), None).await;
    assert_eq!(t.run_all().await.unwrap()[0].1.commit, None);
    repo.commit(
        "hotfix by hand",
        &[("dev/version/s1.yaml", Some("version: '41-hotfix'\n"))],
    )
    .unwrap();
    repo.commit("s1 42", &[("latest/version/s1.yaml", Some("version: '42'\n"))])
        .unwrap();
    let outcome = t.run_all().await.unwrap().remove(0).1;
    assert_eq!(outcome.decision.summary(), "s1 41-hotfix → 42");
    assert_eq!(repo.read("dev/version/s1.yaml").unwrap(), "version: '42'\n");
    let msg = &transitioner_commits(&repo)[0].1;
    assert!(msg.starts_with("Promote latest → dev: s1 41-hotfix → 42\n"), "{msg}");
    assert!(msg.contains("s1 42"), "{msg}");
}

#[tokio::test]
async fn services_in_subfolders_are_promoted() {
    let repo = repo(
        r#"
commits:
  - message: setup
    files:
      transitions.yaml: "transitions:\n  dev: {source: latest, target: dev}\n"
      latest/version/team-a/api.yaml: "version: '3'\n"
      latest/version/team-a/web.yaml: "version: '1'\n"
      dev/version/team-a/api.yaml: "version: '2'\n"
      dev/version/team-a/web.yaml: "version: '1'\n"
      dev/locks.yaml: "{}\n"
"#,
    );
    let t = transitioner(&repo, "checkout", clock(NOW), None).await;
    let outcome = t.run_all().await.unwrap().remove(0).1;
    assert_eq!(outcome.decision.summary(), "team-a/api 2 → 3");
    assert_eq!(repo.read("dev/version/team-a/api.yaml").unwrap(), "version: '3'\n");
    let runs = &t.status().transitions[0].recent_runs;
    assert_eq!(runs[0].promotions[0].service, "team-a/api");
}

#[tokio::test]
async fn two_transitions_into_different_targets_run_in_one_poll() {
    let repo = repo(
        r#"
commits:
  - message: setup
    files:
      transitions.yaml: "transitions:\n  dev: {source: latest, target: dev}\n  qa: {source: latest, target: qa}\n"
      latest/version/s1.yaml: "version: '2'\n"
      dev/version/s1.yaml: "version: '1'\n"
      qa/version/s1.yaml: "version: '1'\n"
"#,
    );
    let t = transitioner(&repo, "checkout", clock(NOW), None).await;
    let outcomes = t.run_all().await.unwrap();
    assert!(outcomes
        .iter()
        .all(|(_, o)| o.decision.result == TransitionResult::Success));
    assert_eq!(repo.read("dev/version/s1.yaml").unwrap(), "version: '2'\n");
    assert_eq!(repo.read("qa/version/s1.yaml").unwrap(), "version: '2'\n");
    let commits = transitioner_commits(&repo);
    assert_eq!(commits.len(), 2, "one commit per transition");
    assert!(commits[1].1.contains("Slipway-Transition: dev"));
    assert!(commits[0].1.contains("Slipway-Transition: qa"));
    let names: Vec<_> = t.status().transitions.iter().map(|s| s.name.clone()).collect();
    assert_eq!(names, ["dev", "qa"], "status keeps the file order");
}

#[tokio::test]
async fn manual_transition_runs_only_when_asked() {
    let repo = repo(
        r#"
commits:
  - message: setup
    files:
      transitions.yaml: "transitions:\n  prod: {source: pp, target: prod, manual: true}\n"
      pp/version/s1.yaml: "version: '2'\n"
      prod/version/s1.yaml: "version: '1'\n"
"#,
    );
    let t = transitioner(&repo, "checkout", clock(NOW), None).await;
    let outcome = t.run_all().await.unwrap().remove(0).1;
    assert_eq!(outcome.decision.result, TransitionResult::Skipped);
    assert!(
        outcome.decision.reason.starts_with("manual"),
        "{}",
        outcome.decision.reason
    );
    assert_eq!(repo.read("prod/version/s1.yaml").unwrap(), "version: '1'\n");
    assert_eq!(t.status().transitions[0].pending, vec!["s1"]);

    let outcome = t.run_now("prod").await.unwrap();
    assert_eq!(outcome.decision.result, TransitionResult::Success);
    assert_eq!(repo.read("prod/version/s1.yaml").unwrap(), "version: '2'\n");
    assert!(matches!(
        t.run_now("nope").await,
        Err(slipway_transitioner::Error::UnknownTransition { .. })
    ));
}

#[tokio::test]
async fn restart_keeps_recent_runs_and_does_not_promote_again() {
    let repo = repo(
        r#"
commits:
  - message: setup
    files:
      transitions.yaml: "transitions:\n  dev: {source: latest, target: dev}\n"
      latest/version/s1.yaml: "version: '2'\n"
      dev/version/s1.yaml: "version: '1'\n"
"#,
    );
    let first = transitioner(&repo, "checkout", clock(NOW), None).await;
    let commit = first.run_all().await.unwrap().remove(0).1.commit.unwrap();
    drop(first);
    // Same checkout (a restart) and a fresh one (a new pod): neither promotes again.
    for checkout in ["checkout", "fresh"] {
        let again = transitioner(&repo, checkout, clock(NOW), None).await;
        let outcome = again.run_all().await.unwrap().remove(0).1;
        assert_eq!(outcome.commit, None);
        let runs = &again.status().transitions[0].recent_runs;
        assert_eq!(runs.len(), 1);
        assert_eq!(runs[0].commit, commit);
        assert_eq!(runs[0].promotions[0].new, "2");
    }
    assert_eq!(transitioner_commits(&repo).len(), 1);
}

#[tokio::test]
async fn push_race_with_another_writer_keeps_both_commits() {
    let repo = repo(
        r#"
commits:
  - message: setup
    files:
      transitions.yaml: "transitions:\n  dev: {source: latest, target: dev}\n"
      latest/version/s1.yaml: "version: '0'\n"
      dev/version/s1.yaml: "version: '0'\n"
"#,
    );
    let t = transitioner(&repo, "checkout", clock(NOW), None).await;
    // Another writer (like the aggregator taking CI versions) pushes as fast as it can.
    let writer_repo = repo.repo.clone();
    let writer = std::thread::spawn(move || {
        for i in 1..=40 {
            writer_repo
                .commit(
                    &format!("s1 {i}"),
                    &[("latest/version/s1.yaml", Some(&format!("version: '{i}'\n")))],
                )
                .unwrap();
        }
    });
    let mut promotions = 0;
    while !writer.is_finished() {
        promotions += t
            .run_all()
            .await
            .unwrap()
            .iter()
            .filter(|(_, o)| o.commit.is_some())
            .count();
    }
    writer.join().unwrap();
    promotions += t.run_all().await.unwrap()[0].1.commit.is_some() as usize;
    assert_eq!(repo.read("dev/version/s1.yaml").unwrap(), "version: '40'\n");
    let log = repo.log();
    assert_eq!(
        log.iter().filter(|(_, a, _)| a == "fixture").count(),
        41,
        "every writer commit is kept"
    );
    assert_eq!(transitioner_commits(&repo).len(), promotions, "every promotion is kept");
    // Each promotion says what dev had right before it.
    let mut previous = "0".to_string();
    for (id, msg) in transitioner_commits(&repo).iter().rev() {
        let first = msg.lines().next().unwrap();
        assert!(
            first.starts_with(&format!("Promote latest → dev: s1 {previous} → ")),
            "{first}"
        );
        previous = repo.read_at(id, "dev/version/s1.yaml").unwrap()["version: '".len()..]
            .trim_end()
            .trim_end_matches('\'')
            .to_string();
    }
}

#[tokio::test]
async fn invalid_rules_are_reported_and_nothing_is_written() {
    let repo = repo(
        r#"
commits:
  - message: setup
    files:
      transitions.yaml: "transitions:\n  dev: {source: latest, target: dev}\n  pp: {source: dev, taget: pp}\n"
      latest/version/s1.yaml: "version: '2'\n"
"#,
    );
    let t = transitioner(&repo, "checkout", clock(NOW), None).await;
    let err = t.run_all().await.unwrap_err().to_string();
    assert!(err.contains("transitions.yaml:3") && err.contains("taget"), "{err}");
    let status = t.status();
    assert!(status.last_error.unwrap().message.contains("taget"));
    assert!(transitioner_commits(&repo).is_empty());

    repo.commit(
        "fix",
        &[(
            "transitions.yaml",
            Some("transitions:\n  dev: {source: latest, target: dev}\n"),
        )],
    )
    .unwrap();
    t.run_all().await.unwrap();
    assert_eq!(t.status().last_error, None);
    assert_eq!(repo.read("dev/version/s1.yaml").unwrap(), "version: '2'\n");
}

#[tokio::test]
async fn failed_push_after_the_local_commit_is_redone_once_on_the_next_run() {
    let repo = repo(
        r#"
commits:
  - message: setup
    files:
      transitions.yaml: "transitions:\n  dev: {source: latest, target: dev}\n"
      latest/version/s1.yaml: "version: '2'\n"
      dev/version/s1.yaml: "version: '1'\n"
"#,
    );
    let t = transitioner(&repo, "checkout", clock(NOW), None).await;
    // The branch is locked on the server: the commit is made locally, its push never lands.
    let lock = repo.path.join("refs/heads/main.lock");
    std::fs::write(&lock, "held by another writer").unwrap();
    let err = t.run_all().await.unwrap_err();
    assert!(
        err.to_string().contains("refs/heads/main is locked on the remote"),
        "{err}"
    );
    let status = t.status();
    assert!(status.last_error.is_some());
    assert_eq!(status.transitions[0].result, Some(TransitionResult::CheckFailed));
    assert!(
        status.transitions[0].reason.contains("is locked on the remote"),
        "{}",
        status.transitions[0].reason
    );
    assert!(transitioner_commits(&repo).is_empty());

    std::fs::remove_file(&lock).unwrap();
    let outcome = t.run_all().await.unwrap().remove(0).1;
    assert_eq!(outcome.decision.summary(), "s1 1 → 2");
    assert_eq!(transitioner_commits(&repo).len(), 1);
    assert_eq!(t.run_all().await.unwrap()[0].1.commit, None);
    assert_eq!(transitioner_commits(&repo).len(), 1, "promoted exactly once");
}

#[tokio::test]
async fn three_versions_posted_during_a_freeze_are_one_promotion_with_the_newest_when_it_opens() {
    let repo = repo(
        r#"
commits:
  - message: setup
    files:
      transitions.yaml: "transitions:\n  prod:\n    source: pp\n    target: prod\n    windows: [{deny: \"0 0 18 * * Fri\", duration: 64h, reason: weekend freeze}]\n"
      pp/version/s1.yaml: "version: '1'\n"
      prod/version/s1.yaml: "version: '1'\n"
"#,
    );
    // Saturday: inside the freeze.
    let clock = clock("2026-11-28T12:00:00Z");
    let t = transitioner(&repo, "checkout", clock.clone(), None).await;
    for v in ["2", "3", "4"] {
        repo.commit(
            &format!("s1 {v}"),
            &[("pp/version/s1.yaml", Some(&format!("version: '{v}'\n")))],
        )
        .unwrap();
        let outcome = t.run_all().await.unwrap().remove(0).1;
        assert_eq!(outcome.decision.state, slipway_core::status::PromotionState::Frozen);
        assert_eq!(outcome.commit, None);
    }
    assert_eq!(repo.read("prod/version/s1.yaml").unwrap(), "version: '1'\n");

    // Monday 10:00 UTC the freeze ends.
    clock.set(at("2026-11-30T10:00:00Z"));
    let outcome = t.run_all().await.unwrap().remove(0).1;
    assert_eq!(outcome.decision.result, TransitionResult::Success);
    assert_eq!(outcome.decision.summary(), "s1 1 → 4");
    assert_eq!(repo.read("prod/version/s1.yaml").unwrap(), "version: '4'\n");
    assert_eq!(transitioner_commits(&repo).len(), 1, "one promotion commit");
}
