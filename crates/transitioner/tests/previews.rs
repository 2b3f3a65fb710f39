//! Preview envs and transitions: a rule that does not name a preview env
//! never promotes into or out of it; one that names it does, like any env.

mod support;

use slipway_core::status::TransitionResult;
use support::*;

const NOW: &str = "2026-11-22T10:00:00Z";

/// latest (s1 2) → dev (s1 1) → pp (s1 1), and the preview env
/// `preview-pr-1` made from dev with s1 at `pr-1`; `transitions` as given.
fn previews_repo(transitions: &str) -> git_fixture::TempRepo {
    repo(&format!(
        r#"
commits:
  - message: setup
    files:
      transitions.yaml: {transitions:?}
      deployers.yaml: "deployers:\n  dev: {{cluster: main, namespace: dev}}\n  pp: {{cluster: main, namespace: pp}}\n  preview-pr-1: {{cluster: main, namespace: preview-pr-1, preview: {{expires: '2030-01-01T00:00:00Z', source: 'pull request #1'}}}}\n"
      latest/version/s1.yaml: "version: '1'\n"
      dev/version/s1.yaml: "version: '1'\n"
      pp/version/s1.yaml: "version: '1'\n"
      preview-pr-1/version/s1.yaml: "version: pr-1\n"
  - message: s1 2
    files:
      latest/version/s1.yaml: "version: '2'\n"
"#
    ))
}

#[tokio::test]
async fn rules_that_do_not_name_a_preview_never_promote_into_or_out_of_it() {
    let repo = previews_repo("transitions:\n  dev: {source: latest, target: dev}\n  pp: {source: dev, target: pp}\n");
    let t = transitioner(&repo, "checkout", clock(NOW), None).await;
    // latest → dev, then dev → pp, then nothing left.
    for _ in 0..3 {
        t.run_all().await.unwrap();
    }
    assert_eq!(repo.read("dev/version/s1.yaml").unwrap(), "version: '2'\n");
    assert_eq!(repo.read("pp/version/s1.yaml").unwrap(), "version: '2'\n");
    assert_eq!(
        repo.read("preview-pr-1/version/s1.yaml").unwrap(),
        "version: pr-1\n",
        "the preview keeps its own version"
    );
    let log = repo.log();
    assert_eq!(log.len(), 4, "two promotions: {log:?}");
    assert!(
        log.iter().all(|(_, _, msg)| !msg.contains("preview-pr-1")),
        "no commit mentions the preview: {log:?}"
    );
}

#[tokio::test]
async fn a_rule_that_names_a_preview_promotes_into_and_out_of_it() {
    let repo = previews_repo(
        "transitions:\n  into: {source: latest, target: preview-pr-1}\n  out: {source: preview-pr-1, target: pp}\n",
    );
    let t = transitioner(&repo, "checkout", clock(NOW), None).await;
    let outcomes = t.run_all().await.unwrap();
    let into = outcomes.iter().find(|(n, _)| n == "into").unwrap();
    assert_eq!(into.1.decision.result, TransitionResult::Success);
    assert_eq!(repo.read("preview-pr-1/version/s1.yaml").unwrap(), "version: '2'\n");
    // Out of it: pp gets the preview's version (now 2).
    for _ in 0..2 {
        t.run_all().await.unwrap();
    }
    assert_eq!(repo.read("pp/version/s1.yaml").unwrap(), "version: '2'\n");
    assert_eq!(
        repo.read("dev/version/s1.yaml").unwrap(),
        "version: '1'\n",
        "dev is not named"
    );
}
