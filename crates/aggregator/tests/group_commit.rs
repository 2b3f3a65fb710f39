//! Group commit of `POST /api/versions`: concurrent posts are committed one
//! commit each and pushed together; each is answered 201 only after the push that
//! carries it, and a failed push acknowledges none of its posts.

mod support;

use git_fixture::http::HttpRemote;
use support::{eventually, Harness, REPO};

/// The counter `name` of the aggregator's `/metrics`.
async fn metric(h: &Harness, name: &str) -> u64 {
    let text = h
        .http
        .get(h.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.trim().parse().ok())
        .unwrap_or_else(|| panic!("{name} not in /metrics:\n{text}"))
}

async fn post_many(h: &Harness, count: usize) -> Vec<(u16, serde_json::Value, String)> {
    let posts = (0..count).map(|i| async move {
        let version = format!("2.{i}");
        let (code, body) = h.post_version("s1", "latest", &version).await;
        (code, body, version)
    });
    futures::future::join_all(posts).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_posts_are_pushed_in_fewer_pushes_than_posts_and_every_201_is_in_the_repo() {
    let repo = git_fixture::temp(REPO).unwrap();
    // Over smart HTTP a push takes long enough for posts to queue behind it.
    let remote = HttpRemote::serve(&repo.path).unwrap();
    let mut c = support::config(&repo);
    c.repo.versions_url = remote.url();
    let h = Harness::start_on(repo, c).await;
    let pushes_before = metric(&h, "slipway_aggregator_version_pushes_total").await;

    let answers = post_many(&h, 40).await;
    let log = h.repo.log();
    for (code, body, version) in &answers {
        assert_eq!(*code, 201, "{version}: {body}");
        let commit = body["commit"].as_str().unwrap();
        let (_, author, message) = log
            .iter()
            .find(|(id, _, _)| id == commit)
            .unwrap_or_else(|| panic!("the commit of {version} is on the branch"));
        assert_eq!(author, "ci");
        assert!(message.starts_with(&format!("s1 {version} in latest")), "{message}");
    }
    assert_eq!(log.len(), 41, "one commit per post, on the initial one");
    let pushes = metric(&h, "slipway_aggregator_version_pushes_total").await - pushes_before;
    assert!(pushes < 40, "{pushes} pushes for 40 posts");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_failed_push_answers_every_post_in_it_with_the_error_and_acknowledges_none() {
    let repo = git_fixture::temp(REPO).unwrap();
    let mut remote = HttpRemote::serve(&repo.path).unwrap();
    let mut c = support::config(&repo);
    c.repo.versions_url = remote.url();
    let h = Harness::start_on(repo, c).await;
    let before = h.repo.head();
    remote.stop();

    let answers = post_many(&h, 10).await;
    for (code, body, version) in &answers {
        assert_eq!(*code, 502, "{version}: {body}");
        assert!(
            body["error"].as_str().unwrap().contains("nothing was committed"),
            "{body}"
        );
    }
    assert_eq!(h.repo.head(), before, "nothing was pushed");

    remote.start().unwrap();
    let answers = post_many(&h, 5).await;
    assert!(answers.iter().all(|(code, _, _)| *code == 201), "{answers:?}");
    eventually("the state shows a posted version", || async {
        h.state().await["commit"].as_str() == h.repo.head().as_deref()
    })
    .await;
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_refused_post_in_a_batch_is_refused_alone() {
    let yaml = format!(
        "{REPO}  - message: lock s2\n    files:\n      latest/version/s2.yaml: \"version: '1'\\n\"\n      latest/locks.yaml: |\n        resource_locks:\n          s2: {{reasons: [\"freeze\"]}}\n"
    );
    let h = Harness::start_with(&yaml, |c| c.version_batch_max = 64).await;
    let posts = (0..20).map(|i| {
        let h = &h;
        async move {
            let service = if i % 2 == 0 { "s1" } else { "s2" };
            (service, h.post_version(service, "latest", &format!("3.{i}")).await)
        }
    });
    let answers = futures::future::join_all(posts).await;
    for (service, (code, body)) in answers {
        match service {
            "s1" => assert_eq!(code, 201, "{body}"),
            _ => {
                assert_eq!(code, 423, "{body}");
                assert!(body["error"].as_str().unwrap().contains("freeze"), "{body}");
            }
        }
    }
    assert_eq!(h.repo.log().len(), 2 + 10);
    h.stop().await;
}
