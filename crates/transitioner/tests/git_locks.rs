//! Lock files a killed process left in the transitioner's own checkout do not stop
//! it from fetching: all are removed at start, and one appearing while it runs is
//! removed once older than `git_stale_lock_after`.

mod support;

use std::time::Duration;

use slipway_core::status::TransitionerStatus;
use slipway_kit::Drain;
use slipway_transitioner::{Config, Transitioner};

const REPO: &str = r#"
commits:
  - message: initial
    files:
      transitions.yaml: |
        transitions:
          dev: {source: latest, target: dev}
      latest/version/s1.yaml: "version: '1'\n"
      dev/version/s1.yaml: "version: '1'\n"
"#;

fn config(repo: &git_fixture::TempRepo) -> Config {
    let mut config = Config::new(repo.url(), repo.scratch("checkout"));
    config.poll_interval = Duration::from_millis(100);
    config.repo.git_stale_lock_after = Duration::from_secs(1);
    config
}

async fn status_until(t: &Transitioner, done: impl Fn(&TransitionerStatus) -> bool) -> TransitionerStatus {
    support::wait_until("the expected transitioner status", Duration::from_secs(10), || async {
        let status = t.status();
        if done(&status) {
            Ok(status)
        } else {
            Err(format!("{status:?}"))
        }
    })
    .await
}

/// A commit the transition leaves alone (it only touches files it does not promote).
fn bump(repo: &git_fixture::TempRepo) -> String {
    repo.commit("notes", &[("notes.md", Some("unrelated\n"))]).unwrap()
}

#[tokio::test]
async fn a_stale_tracking_ref_lock_in_the_checkout_does_not_stop_the_first_fetch() {
    let repo = git_fixture::temp(REPO).unwrap();
    let config = config(&repo);
    // An earlier run fetched, then was killed while updating the tracking ref.
    drop(slipway_repo::ResourceRepo::open_and_fetch(config.repo.location()).unwrap());
    let lock = config.repo.versions_checkout_path.join("refs/remotes/origin/main.lock");
    std::fs::write(&lock, "").unwrap();
    let head = bump(&repo);
    let shutdown = Drain::new();
    let clock = support::clock("2026-01-05T10:00:00Z");
    let running = slipway_transitioner::start(&config, clock, shutdown.clone())
        .await
        .unwrap();
    // The first poll's fetch decides: it brings the new head, without an error.
    let status = status_until(&running.transitioner, |s| {
        s.repo_commit.is_some() || s.last_error.is_some()
    })
    .await;
    assert_eq!(status.repo_commit, Some(head), "{status:?}");
    assert!(status.last_error.is_none(), "{status:?}");
    assert!(!lock.exists());
    shutdown.begin();
    running.task.await.unwrap().unwrap();
}

#[tokio::test]
async fn a_lock_file_appearing_while_running_is_cleared_after_the_bound_and_fetching_resumes() {
    let repo = git_fixture::temp(REPO).unwrap();
    let config = config(&repo);
    let lock = config.repo.versions_checkout_path.join("refs/remotes/origin/main.lock");
    let shutdown = Drain::new();
    let clock = support::clock("2026-01-05T10:00:00Z");
    let running = slipway_transitioner::start(&config, clock, shutdown.clone())
        .await
        .unwrap();
    status_until(&running.transitioner, |s| s.repo_commit.is_some()).await;
    std::fs::write(&lock, "").unwrap();
    let head = bump(&repo);
    // Fetches fail while the lock is younger than the bound; once it is removed, a
    // poll fetches the new head and its run clears the error.
    status_until(&running.transitioner, |s| {
        s.repo_commit.as_ref() == Some(&head) && s.last_error.is_none()
    })
    .await;
    assert!(!lock.exists());
    shutdown.begin();
    running.task.await.unwrap().unwrap();
}
