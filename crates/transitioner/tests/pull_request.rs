//! `mode: pull_request`: the promotion goes to `slipway/promote/<transition>`, a
//! person merges it with plain git, and the transitioner sees it done by content.

mod support;

use std::path::Path;
use std::process::Command;

use slipway_core::status::PromotionState;
use support::*;

const PR_PROD: &str = r#"
commits:
  - message: setup
    files:
      transitions.yaml: "transitions:\n  prod: {source: pp, target: prod, mode: pull_request}\n"
      pp/version/s1.yaml: "version: '2'\n"
      prod/version/s1.yaml: "version: '1'\n"
"#;

const BRANCH: &str = "slipway/promote/prod";

/// Runs git in `dir`, failing the test with git's output when it fails.
fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(["-c", "user.name=ops", "-c", "user.email=ops@example.com"])
        .args(args)
        .current_dir(dir)
        .output()
        .expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A clone of the fixture repo, as a person has it.
fn clone(repo: &TempRepo) -> std::path::PathBuf {
    let dir = repo.scratch("person");
    let out = Command::new("git")
        .args(["clone", "--quiet", &repo.url()])
        .arg(&dir)
        .output()
        .expect("git runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    dir
}

/// The branch's copy of a file on the remote, `None` when the branch is missing.
fn on_branch(person: &Path, path: &str) -> Option<String> {
    git(person, &["fetch", "--quiet", "--prune", "origin"]);
    let listed = git(person, &["branch", "-r", "--list", &format!("origin/{BRANCH}")]);
    if listed.trim().is_empty() {
        return None;
    }
    Some(git(person, &["show", &format!("origin/{BRANCH}:{path}")]))
}

#[tokio::test]
async fn the_promotion_is_pushed_to_its_branch_and_awaits_a_merge() {
    let repo = repo(PR_PROD);
    let person = clone(&repo);
    let t = transitioner(&repo, "checkout", clock("2026-11-30T10:00:00Z"), None).await;
    let outcome = t.run_all().await.unwrap().remove(0).1;
    assert_eq!(outcome.decision.state, PromotionState::AwaitingMerge);
    assert_eq!(
        repo.read("prod/version/s1.yaml").unwrap(),
        "version: '1'\n",
        "main is not promoted"
    );
    assert_eq!(
        on_branch(&person, "prod/version/s1.yaml").as_deref(),
        Some("version: '2'\n")
    );
    let message = git(&person, &["log", "-1", "--format=%B", &format!("origin/{BRANCH}")]);
    assert!(message.starts_with("Promote pp → prod: s1 1 → 2"), "{message}");

    // Nothing changed: the branch stays as it is and nothing is written.
    let head = repo.head();
    let outcome = t.run_all().await.unwrap().remove(0).1;
    assert_eq!(outcome.decision.state, PromotionState::AwaitingMerge);
    assert_eq!(outcome.commit, None);
    assert_eq!(repo.head(), head);

    // A newer version in the source: the branch is updated.
    repo.commit("s1 3", &[("pp/version/s1.yaml", Some("version: '3'\n"))])
        .unwrap();
    t.run_all().await.unwrap();
    assert_eq!(
        on_branch(&person, "prod/version/s1.yaml").as_deref(),
        Some("version: '3'\n")
    );
    assert_eq!(repo.read("prod/version/s1.yaml").unwrap(), "version: '1'\n");
}

#[tokio::test]
async fn a_squash_merge_done_with_plain_git_makes_it_up_to_date() {
    let repo = repo(PR_PROD);
    let person = clone(&repo);
    let t = transitioner(&repo, "checkout", clock("2026-11-30T10:00:00Z"), None).await;
    t.run_all().await.unwrap();

    git(&person, &["fetch", "--quiet", "origin"]);
    git(&person, &["checkout", "--quiet", "main"]);
    git(&person, &["pull", "--quiet", "--ff-only", "origin", "main"]);
    git(&person, &["merge", "--squash", &format!("origin/{BRANCH}")]);
    git(&person, &["commit", "--quiet", "-m", "Promote s1 2 to prod (squashed)"]);
    git(&person, &["push", "--quiet", "origin", "main"]);
    assert_eq!(repo.read("prod/version/s1.yaml").unwrap(), "version: '2'\n");

    let outcome = t.run_all().await.unwrap().remove(0).1;
    assert_eq!(
        outcome.decision.state,
        PromotionState::UpToDate,
        "{}",
        outcome.decision.reason
    );
    assert_eq!(
        on_branch(&person, "prod/version/s1.yaml"),
        None,
        "the merged branch is deleted"
    );
    let outcome = t.run_all().await.unwrap().remove(0).1;
    assert_eq!(outcome.commit, None, "nothing more to write");
}

#[tokio::test]
async fn deleting_the_branch_unmerged_returns_it_to_pending() {
    let repo = repo(PR_PROD);
    let person = clone(&repo);
    let t = transitioner(&repo, "checkout", clock("2026-11-30T10:00:00Z"), None).await;
    t.run_all().await.unwrap();
    assert!(on_branch(&person, "prod/version/s1.yaml").is_some());

    git(&person, &["push", "--quiet", "origin", "--delete", BRANCH]);
    let outcome = t.run_all().await.unwrap().remove(0).1;
    assert_eq!(outcome.decision.state, PromotionState::Pending);
    assert!(
        outcome.decision.reason.contains("deleted unmerged"),
        "{}",
        outcome.decision.reason
    );
    assert_eq!(
        on_branch(&person, "prod/version/s1.yaml"),
        None,
        "not pushed again by a poll"
    );
    assert_eq!(repo.read("prod/version/s1.yaml").unwrap(), "version: '1'\n");

    // Asked for, it is pushed again.
    let outcome = t.run_now("prod").await.unwrap();
    assert_eq!(outcome.decision.state, PromotionState::AwaitingMerge);
    assert_eq!(
        on_branch(&person, "prod/version/s1.yaml").as_deref(),
        Some("version: '2'\n")
    );
}
