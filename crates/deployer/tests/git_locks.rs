//! Lock files a killed process left in the deployer's own checkout do not stop it
//! from fetching: all are removed at start, and one appearing while it runs is
//! removed once older than `git_stale_lock_after`.

use std::time::Duration;

use slipway_core::status::DeployerStatus;
use slipway_deployer::DeployerConfig;
use slipway_kit::Drain;

/// A repo with no env to deploy: only fetching is under test, no cluster is needed.
const REPO: &str = "commits:\n  - message: initial\n    files:\n      deployers.yaml: \"deployers: {}\\n\"\n";

fn config(repo: &git_fixture::TempRepo) -> DeployerConfig {
    let mut config = DeployerConfig::new(repo.url(), repo.scratch("checkout"));
    config.poll_interval = Duration::from_millis(100);
    config.repo.git_stale_lock_after = Duration::from_secs(1);
    config
}

async fn status_until(deployer: &slipway_deployer::Deployer, done: impl Fn(&DeployerStatus) -> bool) -> DeployerStatus {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let status = deployer.status();
        if done(&status) {
            return status;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "condition not reached: {status:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn bump(repo: &git_fixture::TempRepo) -> String {
    repo.commit("bump", &[("deployers.yaml", Some("deployers: {}\n# bumped\n"))])
        .unwrap()
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
    let running = slipway_deployer::start(config, shutdown.clone()).await.unwrap();
    // The first poll's fetch decides: it brings the new head, without an error.
    let status = status_until(&running.deployer, |s| {
        s.repo_commit.is_some() || s.last_fetch_error.is_some()
    })
    .await;
    assert_eq!(status.repo_commit, Some(head), "{status:?}");
    assert!(status.last_fetch_error.is_none(), "{status:?}");
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
    let running = slipway_deployer::start(config, shutdown.clone()).await.unwrap();
    status_until(&running.deployer, |s| s.repo_commit == repo.head()).await;
    std::fs::write(&lock, "").unwrap();
    let head = bump(&repo);
    // Fetches fail while the lock is younger than the bound; once it is removed, a
    // poll fetches the new head and clears the error.
    status_until(&running.deployer, |s| {
        s.repo_commit.as_ref() == Some(&head) && s.last_fetch_error.is_none()
    })
    .await;
    assert!(!lock.exists());
    shutdown.begin();
    running.task.await.unwrap().unwrap();
}
