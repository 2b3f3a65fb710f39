//! The aggregator against a resource repo served over https by a host with a
//! private CA: `git.ca_file` makes it trusted; with another CA every write is
//! refused, saying why, and nothing is pushed.

mod support;

use git_fixture::http::HttpRemote;
use slipway_repo::GitAuth;
use support::*;

fn over_https(
    repo: &git_fixture::TempRepo,
    remote: &HttpRemote,
    ca_file: std::path::PathBuf,
) -> slipway_aggregator::AggregatorConfig {
    let token_file = repo.scratch("git-token");
    std::fs::write(&token_file, "s3cret\n").unwrap();
    let mut c = support::config(repo);
    c.repo.versions_url = remote.url();
    c.repo.git = GitAuth {
        token_file: Some(token_file),
        ca_file: Some(ca_file),
        ..GitAuth::default()
    };
    c
}

fn post_body() -> serde_json::Value {
    serde_json::json!({"service": "s1", "env": "latest", "vars": {"version": "2"}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn posts_are_pushed_over_https_to_a_host_signed_by_the_configured_ca() {
    let repo = git_fixture::temp(REPO).unwrap();
    let remote = HttpRemote::serve_tls_with_token(&repo.path, "s3cret").unwrap();
    let c = over_https(&repo, &remote, remote.ca_file().unwrap());
    let h = Harness::start_on(repo, c).await;
    let (status, body) = h.send("POST", "/api/versions", Some(CI_TOKEN), Some(post_body())).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(h.repo.head().as_deref(), body["commit"].as_str());
    assert!(remote.served_requests() > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_signed_by_another_ca_is_refused_and_nothing_is_pushed() {
    let repo = git_fixture::temp(REPO).unwrap();
    let remote = HttpRemote::serve_tls_with_token(&repo.path, "s3cret").unwrap();
    let c = over_https(&repo, &remote, remote.other_ca_file().unwrap());
    let h = Harness::start_on(repo, c).await;
    let before = h.repo.head();
    let (status, body) = h.send("POST", "/api/versions", Some(CI_TOKEN), Some(post_body())).await;
    assert!(status >= 500, "{status} {body}");
    assert!(body.to_string().contains("TLS certificate is not trusted"), "{body}");
    assert_eq!(h.repo.head(), before);
    let state = h.state().await;
    assert_eq!(state["stale"], true, "{state}");
    assert!(state.to_string().contains("not trusted"), "{state}");
}
