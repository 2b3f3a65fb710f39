//! `GET /api/history` returns the original changelogs of each entry: a
//! promotion's are those of the versions it carried, from the env they entered
//! first, not the text of earlier promotions.

mod support;

use serde_json::{json, Value};
use support::*;

const CHAIN: &str = r#"
commits:
  - message: initial
    files:
      transitions.yaml: |
        transitions:
          dev: {source: latest, target: dev}
          pp: {source: dev, target: pp}
      latest/version/web.yaml: "version: '1'\n"
      dev/version/web.yaml: "version: '1'\n"
      pp/version/web.yaml: "version: '1'\n"
"#;

fn promotion(source: &str, target: &str, name: &str, old: &str, new: &str) -> String {
    format!(
        "Promote {source} → {target}: web {old} → {new}\n\nweb: {old} → {new}\n\nChangelog of web:\n  0123456789 an earlier text\n\nSlipway-Action: promotion\nSlipway-Transition: {name}\nSlipway-Env: {target}\n"
    )
}

async fn post(h: &Harness, version: &str, changelog: &str) -> String {
    let body = json!({"service": "web", "env": "latest", "vars": {"version": version}, "changelog": changelog});
    let (status, answer) = h.send("POST", "/api/versions", Some(CI_TOKEN), Some(body)).await;
    assert_eq!(status, 201, "{answer}");
    answer["commit"].as_str().unwrap().to_string()
}

fn changelogs(entry: &Value) -> Vec<(String, String)> {
    entry["changelogs"]
        .as_array()
        .unwrap_or_else(|| panic!("changelogs in {entry}"))
        .iter()
        .map(|o| {
            (
                o["commit"].as_str().unwrap().to_string(),
                o["changelog"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[tokio::test]
async fn history_shows_the_original_changelogs_of_every_version_a_promotion_carried() {
    let h = Harness::start(CHAIN).await;
    let two = post(&h, "2", "Faster start-up").await;
    let three = post(&h, "3", "Smaller image").await;
    let version = |v: &str| format!("version: '{v}'\n");
    h.repo
        .commit(
            &promotion("latest", "dev", "dev", "1", "3"),
            &[("dev/version/web.yaml", Some(&version("3")))],
        )
        .unwrap();
    let four = post(&h, "4", "Fix the login bug").await;
    h.repo
        .commit(
            &promotion("latest", "dev", "dev", "3", "4"),
            &[("dev/version/web.yaml", Some(&version("4")))],
        )
        .unwrap();
    h.repo
        .commit(
            &promotion("dev", "pp", "pp", "1", "4"),
            &[("pp/version/web.yaml", Some(&version("4")))],
        )
        .unwrap();
    eventually("the new head is fetched", || async {
        h.state().await["commit"].as_str() == h.repo.head().as_deref()
    })
    .await;

    let expected = vec![
        (two.clone(), "Faster start-up".to_string()),
        (three.clone(), "Smaller image".to_string()),
        (four.clone(), "Fix the login bug".to_string()),
    ];
    let (status, hist) = h.send("GET", "/api/history?env=pp&service=web", None, None).await;
    assert_eq!(status, 200, "{hist}");
    assert_eq!(hist["entries"][0]["kind"], "promotion");
    assert_eq!(changelogs(&hist["entries"][0]), expected, "pp 1 → 4 carries 2, 3 and 4");
    assert_eq!(hist["entries"][0]["changelogs"][0]["env"], "latest");
    assert_eq!(hist["entries"][0]["changelogs"][0]["subject"], "web 2 in latest");
    // Without a service, the promotion's body names what moved.
    let (_, hist) = h.send("GET", "/api/history?env=pp", None, None).await;
    assert_eq!(changelogs(&hist["entries"][0]), expected);

    let (_, hist) = h.send("GET", "/api/history?env=dev&service=web", None, None).await;
    assert_eq!(
        changelogs(&hist["entries"][0]),
        vec![(four.clone(), "Fix the login bug".to_string())]
    );
    assert_eq!(changelogs(&hist["entries"][1]), expected[..2].to_vec());
    // A CI post is its own origin.
    let (_, hist) = h.send("GET", "/api/history?env=latest&service=web", None, None).await;
    assert_eq!(
        changelogs(&hist["entries"][0]),
        vec![(four, "Fix the login bug".to_string())]
    );
    h.stop().await;
}
