//! Changelog lineage: a promotion carries the original changelogs of the
//! versions it moves (from the env they entered first), never the text of
//! earlier promotions.

mod support;

use slipway_core::status::TransitionResult;
use support::*;

const NOW: &str = "2026-11-22T10:00:00Z";

const CHAIN: &str = r#"
commits:
  - message: setup
    files:
      transitions.yaml: "transitions:\n  dev: {source: latest, target: dev}\n  pp: {source: dev, target: pp}\n  prod: {source: pp, target: prod}\n"
      latest/version/web.yaml: "version: '1'\n"
      dev/version/web.yaml: "version: '1'\n"
      pp/version/web.yaml: "version: '1'\n"
      prod/version/web.yaml: "version: '1'\n"
"#;

fn post(repo: &TempRepo, version: &str, changelog: &str) -> String {
    repo.commit(
        &format!("web {version} in latest\n\n{changelog}\n\nSlipway-Action: version\nSlipway-Env: latest\nSlipway-Service: web\n"),
        &[("latest/version/web.yaml", Some(&format!("version: '{version}'\n")))],
    )
    .unwrap()
}

/// The message of the last promotion into `env`.
fn last_promotion(repo: &TempRepo, env: &str) -> String {
    transitioner_commits(repo)
        .into_iter()
        .map(|(_, msg)| msg)
        .find(|msg| msg.contains(&format!("Slipway-Env: {env}\n")))
        .unwrap_or_else(|| panic!("a promotion into {env}"))
}

#[tokio::test]
async fn prod_promotion_carries_the_original_changelog_once_and_no_earlier_promotion() {
    let repo = repo(CHAIN);
    let origin = post(&repo, "2", "Faster start-up");
    let t = transitioner(&repo, "checkout", clock(NOW), None).await;
    // One step per run: dev, then pp, then prod.
    for _ in 0..3 {
        let outcomes = t.run_all().await.unwrap();
        assert!(outcomes
            .iter()
            .any(|(_, o)| o.decision.result == TransitionResult::Success));
    }
    assert_eq!(repo.read("prod/version/web.yaml").unwrap(), "version: '2'\n");

    let prod = last_promotion(&repo, "prod");
    assert!(prod.starts_with("Promote pp → prod: web 1 → 2\n"), "{prod}");
    assert_eq!(prod.matches("Faster start-up").count(), 1, "{prod}");
    assert!(
        prod.contains(&format!("  {} web 2 in latest\n", &origin[..10])),
        "{prod}"
    );
    for earlier in ["Promote latest → dev", "Promote dev → pp"] {
        assert!(!prod.contains(earlier), "{earlier} is not repeated: {prod}");
    }
    assert_eq!(prod.matches("Slipway-Action").count(), 1, "{prod}");
    let pp = last_promotion(&repo, "pp");
    assert_eq!(pp.matches("Faster start-up").count(), 1, "{pp}");
    assert!(!pp.contains("Promote latest → dev"), "{pp}");
}

#[tokio::test]
async fn versions_posted_between_two_promotions_all_appear_in_order() {
    let repo = repo(CHAIN);
    post(&repo, "2", "Change two");
    let t = transitioner(&repo, "checkout", clock(NOW), None).await;
    t.run_all().await.unwrap();
    assert_eq!(repo.read("dev/version/web.yaml").unwrap(), "version: '2'\n");
    let c3 = post(&repo, "3", "Change three");
    let c4 = post(&repo, "4", "Change four");
    let c5 = post(&repo, "5", "Change five");
    t.run_all().await.unwrap();
    assert_eq!(repo.read("dev/version/web.yaml").unwrap(), "version: '5'\n");

    let dev = last_promotion(&repo, "dev");
    assert!(
        !dev.contains("Change two"),
        "the version dev had is not carried again: {dev}"
    );
    let positions: Vec<usize> = ["Change three", "Change four", "Change five"]
        .iter()
        .map(|text| {
            assert_eq!(dev.matches(text).count(), 1, "{text} once: {dev}");
            dev.find(text).unwrap()
        })
        .collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "oldest first: {dev}");
    for c in [&c3, &c4, &c5] {
        assert!(dev.contains(&c[..10]), "origin commit {c} named: {dev}");
    }

    // Dev skipped versions 3 and 4 (it went 2 → 5 in one step): pp 2 → 5 and
    // prod 2 → 5 still carry every version that entered latest after 2.
    t.run_all().await.unwrap();
    t.run_all().await.unwrap();
    assert_eq!(repo.read("prod/version/web.yaml").unwrap(), "version: '5'\n");
    for env in ["pp", "prod"] {
        let msg = last_promotion(&repo, env);
        assert!(msg.contains(": web 2 → 5\n"), "{msg}");
        assert!(!msg.contains("Change two"), "{msg}");
        for text in ["Change three", "Change four", "Change five"] {
            assert_eq!(msg.matches(text).count(), 1, "{text} once: {msg}");
        }
        assert_eq!(msg.matches("Promote ").count(), 1, "only its own subject: {msg}");
    }
}
