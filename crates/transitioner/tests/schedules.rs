//! Scheduled transitions: the next due time lives in `transition_state.yaml`.

mod support;

use slipway_core::status::{RolloutStatus, TransitionResult};
use slipway_core::transitions::TransitionState;
use support::*;

fn state(repo: &TempRepo) -> TransitionState {
    TransitionState::parse(&repo.read("transition_state.yaml").unwrap_or_default()).unwrap()
}

fn next_due(repo: &TempRepo) -> Option<chrono::DateTime<chrono::Utc>> {
    state(repo).transitions.get("prod").and_then(|s| s.next_due)
}

const SCHEDULED: &str = r#"
commits:
  - message: setup
    files:
      transitions.yaml: "transitions:\n  prod:\n    source: pp\n    target: prod\n    schedule: \"0 0 9 * * *\"\n"
      pp/version/s1.yaml: "version: '2'\n"
      prod/version/s1.yaml: "version: '1'\n"
"#;

#[tokio::test]
async fn timed_transition_without_state_waits_for_its_time_then_runs_once() {
    let repo = repo(SCHEDULED);
    let clock = clock("2026-11-22T08:00:00Z");
    let t = transitioner(&repo, "checkout", clock.clone(), None).await;

    // No state yet and a change waits: the next due time is computed and committed
    // (so a restart past it still runs it), nothing is promoted.
    let outcome = t.run_all().await.unwrap().remove(0).1;
    assert_eq!(outcome.decision.result, TransitionResult::Skipped);
    assert!(outcome.commit.is_some(), "the schedule state is committed");
    assert_eq!(next_due(&repo), Some(at("2026-11-22T09:00:00Z")));
    assert_eq!(
        state(&repo).transitions["prod"].schedule.as_deref(),
        Some("0 0 9 * * *")
    );
    assert_eq!(repo.read("prod/version/s1.yaml").unwrap(), "version: '1'\n");
    let status = &t.status().transitions[0];
    assert_eq!(status.next_scheduled, Some(at("2026-11-22T09:00:00Z")));
    assert_eq!(status.reason, "not due: next run at 2026-11-22T09:00:00Z; waiting: s1");

    // Before its time: nothing, not even a commit.
    clock.set(at("2026-11-22T08:59:59Z"));
    let outcome = t.run_all().await.unwrap().remove(0).1;
    assert_eq!(outcome.decision.result, TransitionResult::Skipped);
    assert_eq!(outcome.commit, None);

    // At its time: promotes, and the entry goes in the same commit (nothing waits now).
    clock.set(at("2026-11-22T09:00:00Z"));
    let outcome = t.run_all().await.unwrap().remove(0).1;
    assert_eq!(outcome.decision.result, TransitionResult::Success);
    let commit = outcome.commit.unwrap();
    assert_eq!(repo.read_at(&commit, "prod/version/s1.yaml").unwrap(), "version: '2'\n");
    assert_eq!(next_due(&repo), None);
    assert_eq!(repo.head().unwrap(), commit, "promotion and state are one commit");
    assert_eq!(
        t.status().transitions[0].next_scheduled,
        Some(at("2026-11-23T09:00:00Z"))
    );

    // After its time, with a new version waiting: not due again until tomorrow.
    repo.commit("s1 3", &[("pp/version/s1.yaml", Some("version: '3'\n"))])
        .unwrap();
    clock.set(at("2026-11-22T09:00:30Z"));
    let outcome = t.run_all().await.unwrap().remove(0).1;
    assert_eq!(outcome.decision.result, TransitionResult::Skipped);
    assert_eq!(outcome.decision.pending, vec!["s1"]);
    assert_eq!(repo.read("prod/version/s1.yaml").unwrap(), "version: '2'\n");
}

#[tokio::test]
async fn timed_transition_with_state_runs_a_missed_time_once() {
    let repo = repo(SCHEDULED);
    repo.commit(
        "state",
        &[(
            "transition_state.yaml",
            Some("transitions:\n  prod:\n    next_due: 2026-11-22T09:00:00Z\n    schedule: 0 0 9 * * *\n"),
        )],
    )
    .unwrap();
    // Before its time, with the stored state: nothing.
    let clock = clock("2026-11-22T08:30:00Z");
    let t = transitioner(&repo, "checkout", clock.clone(), None).await;
    assert_eq!(t.run_all().await.unwrap()[0].1.commit, None);
    // Down over the scheduled time, up at 15:00: the missed run happens once.
    clock.set(at("2026-11-22T15:00:00Z"));
    let outcome = t.run_all().await.unwrap().remove(0).1;
    assert_eq!(outcome.decision.result, TransitionResult::Success);
    assert_eq!(next_due(&repo), None);
    clock.set(at("2026-11-22T15:01:00Z"));
    assert_eq!(t.run_all().await.unwrap()[0].1.commit, None);
    assert_eq!(transitioner_commits(&repo).len(), 1);
}

#[tokio::test]
async fn ten_ticks_with_nothing_to_promote_make_no_commit() {
    let repo = repo(SCHEDULED);
    repo.commit("same", &[("prod/version/s1.yaml", Some("version: '2'\n"))])
        .unwrap();
    let head = repo.head().unwrap();
    let clock = clock("2026-11-22T08:55:00Z");
    let t = transitioner(&repo, "checkout", clock.clone(), None).await;
    // Ten ticks two minutes apart, across the 09:00 run.
    for tick in 0..10 {
        clock.set(at("2026-11-22T08:55:00Z") + chrono::Duration::minutes(2 * tick));
        let outcome = t.run_all().await.unwrap().remove(0).1;
        assert_eq!(outcome.decision.result, TransitionResult::Skipped);
        assert_eq!(outcome.commit, None, "tick {tick}");
    }
    assert_eq!(repo.head().unwrap(), head, "0 commits");
    assert_eq!(
        t.status().transitions[0].next_scheduled,
        Some(at("2026-11-23T09:00:00Z"))
    );
}

#[tokio::test]
async fn a_stored_due_time_with_nothing_left_to_promote_is_dropped_once() {
    let repo = repo(SCHEDULED);
    repo.commit("same", &[("prod/version/s1.yaml", Some("version: '2'\n"))])
        .unwrap();
    repo.commit(
        "state",
        &[(
            "transition_state.yaml",
            Some("transitions:\n  prod:\n    next_due: 2026-11-22T09:00:00Z\n    schedule: 0 0 9 * * *\n"),
        )],
    )
    .unwrap();
    let clock = clock("2026-11-22T09:00:01Z");
    let t = transitioner(&repo, "checkout", clock.clone(), None).await;
    let outcome = t.run_all().await.unwrap().remove(0).1;
    assert_eq!(outcome.decision.result, TransitionResult::Skipped);
    assert_eq!(next_due(&repo), None);
    let msg = &transitioner_commits(&repo)[0].1;
    assert!(
        msg.starts_with("Schedule prod: nothing waits for a scheduled run"),
        "{msg}"
    );
    assert!(msg.contains("Slipway-Action: schedule"), "{msg}");
    clock.set(at("2026-11-22T09:02:00Z"));
    assert_eq!(t.run_all().await.unwrap()[0].1.commit, None);
    assert_eq!(transitioner_commits(&repo).len(), 1);
}

#[tokio::test]
async fn blocked_due_run_stays_pending_until_it_can_run() {
    let repo = repo(
        r#"
commits:
  - message: setup
    files:
      transitions.yaml: "transitions:\n  prod:\n    source: pp\n    target: prod\n    preconditions: [SourceClean]\n    schedule: \"0 0 9 * * *\"\n"
      transition_state.yaml: "transitions:\n  prod:\n    next_due: 2026-11-22T09:00:00Z\n    schedule: 0 0 9 * * *\n"
      pp/version/s1.yaml: "version: '2'\n"
      prod/version/s1.yaml: "version: '1'\n"
"#,
    );
    let head = repo.head().unwrap();
    let deployer = FakeDeployer::start().await;
    deployer.set_env(
        "pp",
        &head,
        RolloutStatus::InProgress,
        "1 of 3 updated replicas available",
        None,
    );
    let clock = clock("2026-11-22T09:00:00Z");
    let t = transitioner(&repo, "checkout", clock.clone(), Some(&deployer)).await;

    let outcome = t.run_all().await.unwrap().remove(0).1;
    assert_eq!(outcome.decision.result, TransitionResult::Blocked);
    assert_eq!(outcome.commit, None, "nothing to write: the due time stays");
    assert_eq!(next_due(&repo), Some(at("2026-11-22T09:00:00Z")));
    let status = &t.status().transitions[0];
    assert!(
        status
            .reason
            .starts_with("scheduled run due since 2026-11-22T09:00:00Z is pending: source pp is InProgress"),
        "{}",
        status.reason
    );
    assert_eq!(status.next_scheduled, Some(at("2026-11-22T09:00:00Z")));
    assert_eq!(status.pending, vec!["s1"]);

    // Hours later the source is clean: the pending run happens, then waits for tomorrow.
    clock.set(at("2026-11-22T11:30:00Z"));
    deployer.set_env("pp", &head, RolloutStatus::Clean, "", Some("2026-11-22T11:00:00Z"));
    let outcome = t.run_all().await.unwrap().remove(0).1;
    assert_eq!(outcome.decision.result, TransitionResult::Success);
    assert_eq!(repo.read("prod/version/s1.yaml").unwrap(), "version: '2'\n");
    assert_eq!(next_due(&repo), None, "nothing waits any more");
}

#[tokio::test]
async fn restart_in_a_scheduled_window_does_not_run_twice() {
    let repo = repo(SCHEDULED);
    repo.commit(
        "state",
        &[(
            "transition_state.yaml",
            Some("transitions:\n  prod:\n    next_due: 2026-11-22T09:00:00Z\n    schedule: 0 0 9 * * *\n"),
        )],
    )
    .unwrap();
    let first = transitioner(&repo, "checkout", clock("2026-11-22T09:00:00Z"), None).await;
    assert_eq!(
        first.run_all().await.unwrap()[0].1.decision.result,
        TransitionResult::Success
    );
    drop(first);
    // A newer version arrives; the transitioner restarts within the same minute.
    repo.commit("s1 3", &[("pp/version/s1.yaml", Some("version: '3'\n"))])
        .unwrap();
    let restarted = transitioner(&repo, "checkout", clock("2026-11-22T09:00:20Z"), None).await;
    let outcome = restarted.run_all().await.unwrap().remove(0).1;
    assert_eq!(outcome.decision.result, TransitionResult::Skipped);
    assert_eq!(repo.read("prod/version/s1.yaml").unwrap(), "version: '2'\n");
    // The new version waits for tomorrow's run; that is all the restart writes.
    assert_eq!(next_due(&repo), Some(at("2026-11-23T09:00:00Z")));
    let promotions = transitioner_commits(&repo)
        .into_iter()
        .filter(|(_, msg)| msg.contains("Slipway-Action: promotion"))
        .count();
    assert_eq!(promotions, 1);
    assert_eq!(restarted.status().transitions[0].recent_runs.len(), 1);
}

#[tokio::test]
async fn manual_run_of_a_scheduled_transition_ignores_the_schedule() {
    let repo = repo(SCHEDULED);
    let t = transitioner(&repo, "checkout", clock("2026-11-22T08:00:00Z"), None).await;
    t.run_all().await.unwrap();
    let outcome = t.run_now("prod").await.unwrap();
    assert_eq!(outcome.decision.result, TransitionResult::Success);
    assert_eq!(repo.read("prod/version/s1.yaml").unwrap(), "version: '2'\n");
    assert_eq!(next_due(&repo), None, "nothing waits for the 09:00 run any more");
    assert_eq!(outcome.decision.next_scheduled(), Some(at("2026-11-22T09:00:00Z")));
}

#[tokio::test]
async fn removing_the_schedule_removes_its_state_and_the_transition_runs_freely() {
    let repo = repo(SCHEDULED);
    let t = transitioner(&repo, "checkout", clock("2026-11-22T08:00:00Z"), None).await;
    t.run_all().await.unwrap();
    assert!(next_due(&repo).is_some());
    repo.commit(
        "no more schedule",
        &[(
            "transitions.yaml",
            Some("transitions:\n  prod: {source: pp, target: prod}\n"),
        )],
    )
    .unwrap();
    let outcome = t.run_all().await.unwrap().remove(0).1;
    assert_eq!(outcome.decision.result, TransitionResult::Success);
    assert_eq!(outcome.decision.next_scheduled(), None);
    assert!(
        !state(&repo).transitions.contains_key("prod"),
        "the stale entry is removed with the promotion"
    );
    assert_eq!(repo.read("prod/version/s1.yaml").unwrap(), "version: '2'\n");
}

#[tokio::test]
async fn a_held_service_is_not_promoted_at_its_scheduled_time_nor_by_a_run_on_request() {
    let repo = repo(SCHEDULED);
    repo.commit(
        "Roll back s1 in prod",
        &[(
            "prod/locks.yaml",
            Some("resource_locks:\n  s1: {reasons: [rolled back from 2 to 1 by alice]}\n"),
        )],
    )
    .unwrap();
    let clock = clock("2026-11-22T08:00:00Z");
    let t = transitioner(&repo, "checkout", clock.clone(), None).await;
    t.run_all().await.unwrap();
    clock.set(at("2026-11-22T09:00:00Z"));
    let outcome = t.run_all().await.unwrap().remove(0).1;
    assert_eq!(outcome.decision.promotions, vec![], "{}", outcome.decision.reason);
    assert_eq!(
        outcome.decision.skipped[0].reason,
        "locked in prod: rolled back from 2 to 1 by alice"
    );
    let outcome = t.run_now("prod").await.unwrap();
    assert_eq!(outcome.decision.promotions, vec![], "{}", outcome.decision.reason);
    assert_eq!(repo.read("prod/version/s1.yaml").unwrap(), "version: '1'\n");
}
