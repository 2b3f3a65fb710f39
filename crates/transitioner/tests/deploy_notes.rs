//! Deploy outcomes recorded as git notes under `refs/notes/slipway/deploys`:
//! written when the deployer reports an env `Clean` or `Failed` at a commit,
//! once each, kept across restarts, never moving the branch.

mod support;

use slipway_core::deploy_outcome::{parse_note, DeployOutcome, OutcomeStatus, DEPLOY_NOTES_REF};
use slipway_core::status::RolloutStatus;
use slipway_repo::{GitAuth, RepoLocation, ResourceRepo};
use support::*;

const NOW: &str = "2026-11-22T10:00:00Z";

const REPO: &str = r#"
commits:
  - message: setup
    files:
      transitions.yaml: "transitions:\n  dev: {source: latest, target: dev}\n"
      latest/version/s1.yaml: "version: '1'\n"
      dev/version/s1.yaml: "version: '1'\n"
  - message: s1 2 in dev
    files:
      dev/version/s1.yaml: "version: '2'\n"
"#;

/// Every outcome in the repo's notes, read by a checkout of its own.
fn outcomes(repo: &TempRepo, checkout: &str) -> Vec<(String, DeployOutcome)> {
    let r = ResourceRepo::open_and_fetch(RepoLocation {
        url: repo.url(),
        checkout_path: repo.scratch(checkout),
        branch: "main".into(),
        auth: GitAuth::default(),
        timeout: slipway_repo::DEFAULT_GIT_TIMEOUT,
        stale_lock_after: slipway_repo::DEFAULT_STALE_LOCK_AFTER,
    })
    .unwrap();
    r.fetch_notes(DEPLOY_NOTES_REF).unwrap();
    let mut out: Vec<(String, DeployOutcome)> = r
        .notes(DEPLOY_NOTES_REF)
        .unwrap()
        .into_iter()
        .flat_map(|(commit, text)| parse_note(&text).into_iter().map(move |o| (commit.clone(), o)))
        .collect();
    out.sort_by_key(|(_, o)| o.at);
    out
}

#[tokio::test]
async fn a_clean_deploy_is_noted_once_and_restarts_lose_none() {
    let repo = repo(REPO);
    let log = repo.log();
    let (second, first) = (log[0].0.clone(), log[1].0.clone());
    let head = repo.head();
    let deployer = FakeDeployer::start().await;
    deployer.set_env("dev", &first, RolloutStatus::Failed, "ProgressDeadlineExceeded", None);

    let t = transitioner(&repo, "checkout", clock(NOW), Some(&deployer)).await;
    assert_eq!(t.record_deploy_outcomes().await.unwrap(), 1);
    assert_eq!(t.record_deploy_outcomes().await.unwrap(), 0, "an outcome is noted once");

    deployer.set_env("dev", &second, RolloutStatus::Clean, "", Some("2026-11-22T10:05:00Z"));
    assert_eq!(t.record_deploy_outcomes().await.unwrap(), 1);
    assert_eq!(repo.head(), head, "notes never move the branch");

    let noted = outcomes(&repo, "reader");
    assert_eq!(noted.len(), 2, "{noted:?}");
    let (on, failed) = &noted[0];
    assert_eq!((on, failed.env.as_str(), &failed.commit), (&first, "dev", &first));
    assert_eq!(failed.status, OutcomeStatus::Failed);
    assert_eq!(failed.at, at(NOW));
    assert_eq!(failed.reason, "ProgressDeadlineExceeded");
    let (on, clean) = &noted[1];
    assert_eq!((on, clean.env.as_str(), &clean.commit), (&second, "dev", &second));
    assert_eq!(
        (clean.status, clean.at),
        (OutcomeStatus::Clean, at("2026-11-22T10:05:00Z"))
    );

    // A restart, with a fresh checkout and with the old one: nothing is noted twice,
    // nothing is lost, and a new outcome is added beside the old ones.
    drop(t);
    for checkout in ["fresh", "checkout"] {
        let t = transitioner(&repo, checkout, clock(NOW), Some(&deployer)).await;
        assert_eq!(t.record_deploy_outcomes().await.unwrap(), 0, "{checkout}");
    }
    deployer.set_env("pp", &second, RolloutStatus::Clean, "", Some("2026-11-22T10:06:00Z"));
    let t = transitioner(&repo, "third", clock(NOW), Some(&deployer)).await;
    assert_eq!(t.record_deploy_outcomes().await.unwrap(), 1);
    let noted = outcomes(&repo, "reader2");
    let keys: Vec<(String, String, OutcomeStatus)> = noted.iter().map(|(_, o)| o.key()).collect();
    assert_eq!(
        keys,
        [
            ("dev".into(), first.clone(), OutcomeStatus::Failed),
            ("dev".into(), second.clone(), OutcomeStatus::Clean),
            ("pp".into(), second.clone(), OutcomeStatus::Clean),
        ]
    );
}

#[tokio::test]
async fn envs_still_rolling_out_and_unknown_commits_are_not_noted() {
    let repo = repo(REPO);
    let head = repo.head().unwrap();
    let deployer = FakeDeployer::start().await;
    deployer.set_env("dev", &head, RolloutStatus::InProgress, "1 of 2 replicas", None);
    deployer.set_env(
        "pp",
        "0123456789012345678901234567890123456789",
        RolloutStatus::Clean,
        "",
        None,
    );
    let t = transitioner(&repo, "checkout", clock(NOW), Some(&deployer)).await;
    t.run_all().await.unwrap();
    assert_eq!(t.record_deploy_outcomes().await.unwrap(), 0);
    assert!(outcomes(&repo, "reader").is_empty());
    // Without a deployer there is nothing to record.
    let alone = transitioner(&repo, "alone", clock(NOW), None).await;
    assert_eq!(alone.record_deploy_outcomes().await.unwrap(), 0);
}
