//! `GET /api/history` filtered by author, kind of change and free text, and each
//! entry's link on the git host when `commit_url_template` is configured.

mod support;

use support::{eventually, Harness, REPO};

#[tokio::test]
async fn history_filters_by_author_kind_and_text_and_links_commits_to_the_git_host() {
    let h = Harness::start_with(REPO, |c| {
        c.commit_url_template = Some("https://github.com/org/resources/commit/{sha}".into());
    })
    .await;
    h.repo
        .commit(
            "Promote latest → dev: s1 1 → 2\n\ns1: 1 → 2\n\nSlipway-Action: promotion\nSlipway-Transition: dev\nSlipway-Env: dev\n",
            &[("dev/version/s1.yaml", Some("version: '2'\n"))],
        )
        .unwrap();
    h.repo
        .commit(
            "bump replicas by hand for the sale",
            &[("dev/base/s1.yaml", Some("kind: x\n"))],
        )
        .unwrap();
    eventually("the new head is fetched", || async {
        h.state().await["commit"].as_str() == h.repo.head().as_deref()
    })
    .await;
    let kinds = |hist: &serde_json::Value| -> Vec<String> {
        hist["entries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["kind"].as_str().unwrap().to_string())
            .collect()
    };

    let (status, hist) = h.send("GET", "/api/history?kind=promotion", None, None).await;
    assert_eq!(status, 200, "{hist}");
    assert_eq!(kinds(&hist), ["promotion"]);
    let (_, hist) = h
        .send("GET", "/api/history?kind=promotion,other&limit=1", None, None)
        .await;
    assert_eq!(kinds(&hist), ["other"], "newest first, limit after the filter");
    let (_, hist) = h.send("GET", "/api/history?q=SALE%20replicas", None, None).await;
    let entries = hist["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 1, "{hist}");
    assert_eq!(entries[0]["message"], "bump replicas by hand for the sale");
    let sha = entries[0]["commit"].as_str().unwrap();
    assert_eq!(
        entries[0]["commit_url"],
        format!("https://github.com/org/resources/commit/{sha}")
    );
    let (_, hist) = h.send("GET", "/api/history?author=FIXTURE&env=dev", None, None).await;
    assert!(!kinds(&hist).is_empty());
    assert!(hist["entries"]
        .as_array()
        .unwrap()
        .iter()
        .all(|e| e["author"] == "fixture"));
    let (_, hist) = h.send("GET", "/api/history?author=nobody", None, None).await;
    assert_eq!(kinds(&hist).len(), 0);

    let (status, body) = h.send("GET", "/api/history?kind=deploy", None, None).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["field"], "kind");
    assert!(
        body["error"].as_str().unwrap().contains("unknown kind \"deploy\""),
        "{body}"
    );
    h.stop().await;
}

#[tokio::test]
async fn history_has_no_links_without_a_template() {
    let h = Harness::start(REPO).await;
    let (_, hist) = h.send("GET", "/api/history", None, None).await;
    let first = &hist["entries"][0];
    assert!(first.get("commit_url").is_none(), "{first}");
    h.stop().await;
}
