//! Push webhooks: a verified push makes the aggregator fetch (and ask its peers
//! to refresh) at once; a bad signature is refused and does nothing.

mod support;

use std::time::Duration;

use slipway_aggregator::webhooks::{sign, SecretSource, GENERIC_SIGNATURE_HEADER};
use support::{eventually, Harness, REPO};

const SECRET: &str = "webhook-secret";

async fn start() -> Harness {
    let repo = git_fixture::temp(REPO).unwrap();
    let secret = repo.scratch("webhook-secret");
    std::fs::write(&secret, format!("{SECRET}\n")).unwrap();
    std::env::set_var("SLIPWAY_TEST_GITLAB_SECRET", SECRET);
    let mut c = support::config(&repo);
    // Only webhooks make it fetch during the test.
    c.poll_interval = Duration::from_secs(3600);
    let file = Some(SecretSource {
        secret_file: Some(secret),
        secret_env: None,
    });
    c.webhooks.github = file.clone();
    c.webhooks.gitea = file.clone();
    c.webhooks.generic = file;
    c.webhooks.gitlab = Some(SecretSource {
        secret_file: None,
        secret_env: Some("SLIPWAY_TEST_GITLAB_SECRET".into()),
    });
    Harness::start_on(repo, c).await
}

async fn metric(h: &Harness, line_start: &str) -> u64 {
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
        .find_map(|l| l.strip_prefix(line_start)?.trim().parse().ok())
        .unwrap_or(0)
}

async fn deliver(h: &Harness, host: &str, headers: &[(&str, String)], body: &str) -> (u16, serde_json::Value) {
    let mut req = h
        .http
        .post(h.url(&format!("/api/webhooks/{host}")))
        .body(body.to_string());
    for (k, v) in headers {
        req = req.header(*k, v);
    }
    let response = req.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or_default())
}

fn push_body(h: &Harness, reference: &str) -> String {
    serde_json::json!({"ref": reference, "repository": {"clone_url": h.repo.url()}}).to_string()
}

async fn state_commit(h: &Harness) -> String {
    h.state().await["commit"].as_str().unwrap_or_default().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_signature_is_refused_without_a_fetch_and_a_good_one_fetches_at_once() {
    let h = start().await;
    let new = h
        .repo
        .commit("by hand", &[("latest/version/s1.yaml", Some("version: '7'\n"))])
        .unwrap();
    let fetches = metric(&h, "slipway_aggregator_repo_fetches_total").await;
    let body = push_body(&h, "refs/heads/main");

    let forged = format!("sha256={}", sign(body.as_bytes(), "not-the-secret"));
    let (code, answer) = deliver(
        &h,
        "github",
        &[("x-github-event", "push".into()), ("x-hub-signature-256", forged)],
        &body,
    )
    .await;
    assert_eq!(code, 401, "{answer}");
    assert!(
        answer["error"].as_str().unwrap().contains("X-Hub-Signature-256"),
        "{answer}"
    );
    let (code, _) = deliver(&h, "github", &[("x-github-event", "push".into())], &body).await;
    assert_eq!(code, 401);
    assert_eq!(metric(&h, "slipway_aggregator_repo_fetches_total").await, fetches);

    let signed = format!("sha256={}", sign(body.as_bytes(), SECRET));
    let (code, answer) = deliver(
        &h,
        "github",
        &[("x-github-event", "push".into()), ("x-hub-signature-256", signed)],
        &body,
    )
    .await;
    assert_eq!((code, answer["status"].as_str()), (202, Some("refreshing")), "{answer}");
    eventually("the state shows the pushed commit", || async {
        state_commit(&h).await == new
    })
    .await;
    assert_eq!(
        metric(&h, "slipway_aggregator_repo_fetches_total").await,
        fetches + 1,
        "one fetch, for the verified webhook only"
    );
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_host_verifies_its_own_way_and_other_branches_are_ignored() {
    let h = start().await;
    let body = push_body(&h, "refs/heads/main");
    let hex = sign(body.as_bytes(), SECRET);
    let cases: [(&str, Vec<(&str, String)>); 3] = [
        (
            "gitea",
            vec![("x-gitea-event", "push".into()), ("x-gitea-signature", hex.clone())],
        ),
        (
            "gitlab",
            vec![
                ("x-gitlab-event", "Push Hook".into()),
                ("x-gitlab-token", SECRET.into()),
            ],
        ),
        ("generic", vec![(GENERIC_SIGNATURE_HEADER, format!("sha256={hex}"))]),
    ];
    for (host, headers) in cases {
        let (code, answer) = deliver(&h, host, &headers, &body).await;
        assert_eq!(
            (code, answer["status"].as_str()),
            (202, Some("refreshing")),
            "{host}: {answer}"
        );
    }
    let (code, answer) = deliver(&h, "gitlab", &[("x-gitlab-token", "wrong".into())], &body).await;
    assert_eq!(code, 401, "{answer}");

    let other = push_body(&h, "refs/heads/feature");
    let signed = format!("sha256={}", sign(other.as_bytes(), SECRET));
    let (code, answer) = deliver(
        &h,
        "github",
        &[("x-github-event", "push".into()), ("x-hub-signature-256", signed)],
        &other,
    )
    .await;
    assert_eq!(code, 202);
    assert!(
        answer["status"]
            .as_str()
            .unwrap()
            .starts_with("ignored: a push to refs/heads/feature"),
        "{answer}"
    );

    let (code, answer) = deliver(&h, "bitbucket", &[], "{}").await;
    assert_eq!(code, 404, "{answer}");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_are_rate_limited() {
    let h = start().await;
    let body = push_body(&h, "refs/heads/main");
    let headers = [("x-github-event", "push".to_string())];
    let answers = futures::future::join_all((0..40).map(|_| deliver(&h, "github", &headers, &body))).await;
    assert!(answers.iter().any(|(code, _)| *code == 429), "{answers:?}");
    assert!(
        answers.iter().all(|(code, _)| *code == 429 || *code == 401),
        "{answers:?}"
    );
    h.stop().await;
}
