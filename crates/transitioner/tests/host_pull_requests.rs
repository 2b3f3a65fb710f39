//! `mode: pull_request` with a `git_host`: the pull/merge request on GitHub, GitLab
//! and Gitea, against a fake host API on loopback that answers only requests of
//! the shapes each host documents (method, path under the API base, auth header,
//! JSON fields) and records them.

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{OriginalUri, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use serde_json::{json, Value};
use slipway_core::status::{PromotionState, PullRequestState, PullRequestStatus};
use slipway_transitioner::git_host::{GitHostConfig, HostKind};
use slipway_transitioner::{Config, Transitioner};
use support::*;
use tokio_util::sync::CancellationToken;

const PR_PROD: &str = r#"
commits:
  - message: setup
    files:
      transitions.yaml: "transitions:\n  prod: {source: pp, target: prod, mode: pull_request}\n"
      pp/version/s1.yaml: "version: '2'\n"
      prod/version/s1.yaml: "version: '1'\n"
"#;

const BRANCH: &str = "slipway/promote/prod";
const TOKEN: &str = "t0ken-abc";

/// One request as the fake host saw it.
#[derive(Debug, Clone)]
struct Seen {
    method: Method,
    /// The path as sent, percent-encoding kept.
    path: String,
    query: Vec<(String, String)>,
    body: Option<Value>,
}

impl Seen {
    fn query(&self, key: &str) -> Option<&str> {
        self.query.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }
}

#[derive(Debug, Clone)]
struct FakePr {
    number: u64,
    title: String,
    body: String,
    head: String,
    base: String,
    /// `open`, `closed` or `merged`.
    state: &'static str,
}

#[derive(Default)]
struct Host {
    prs: Vec<FakePr>,
    seen: Vec<Seen>,
    /// Answer this many of the next requests with 502.
    fail_next: usize,
    /// Never answer (a hanging host).
    hang: bool,
}

/// A fake GitHub, GitLab or Gitea API under the base path each is usually served at.
struct FakeHost {
    kind: HostKind,
    addr: std::net::SocketAddr,
    host: Arc<Mutex<Host>>,
    stop: CancellationToken,
}

impl FakeHost {
    async fn start(kind: HostKind) -> Self {
        let host = Arc::new(Mutex::new(Host::default()));
        let app = Router::new().fallback(answer).with_state((kind, host.clone()));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = CancellationToken::new();
        let s = stop.clone();
        tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async move { s.cancelled().await })
                .await
        });
        FakeHost { kind, addr, host, stop }
    }

    /// The API base as configured for a self-hosted instance.
    fn api_url(&self) -> String {
        let base = match self.kind {
            HostKind::Github => "api/v3",
            HostKind::Gitlab => "api/v4",
            HostKind::Gitea => "api/v1",
        };
        format!("http://{}/{base}", self.addr)
    }

    fn seen(&self) -> Vec<Seen> {
        self.host.lock().unwrap().seen.clone()
    }

    /// The requests that change something (not GETs).
    fn writes(&self) -> Vec<Seen> {
        self.seen().into_iter().filter(|s| s.method != Method::GET).collect()
    }

    fn prs(&self) -> Vec<FakePr> {
        self.host.lock().unwrap().prs.clone()
    }

    fn with<T>(&self, f: impl FnOnce(&mut Host) -> T) -> T {
        f(&mut self.host.lock().unwrap())
    }
}

impl Drop for FakeHost {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

fn error(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({"message": message}))).into_response()
}

/// The host's JSON for `pr`.
fn render(kind: HostKind, addr: &str, pr: &FakePr) -> Value {
    match kind {
        HostKind::Gitlab => json!({
            "id": 1000 + pr.number, "iid": pr.number, "title": pr.title, "description": pr.body,
            "state": match pr.state { "open" => "opened", other => other },
            "source_branch": pr.head, "target_branch": pr.base,
            "web_url": format!("http://{addr}/acme/res/-/merge_requests/{}", pr.number),
        }),
        HostKind::Github | HostKind::Gitea => {
            let merged = pr.state == "merged";
            let page = if kind == HostKind::Github { "pull" } else { "pulls" };
            json!({
                "number": pr.number, "title": pr.title, "body": pr.body,
                "state": if pr.state == "open" { "open" } else { "closed" },
                "merged": merged,
                "merged_at": if merged { json!("2026-11-30T10:05:00Z") } else { Value::Null },
                "head": {"ref": pr.head}, "base": {"ref": pr.base},
                "html_url": format!("http://{addr}/acme/res/{page}/{}", pr.number),
            })
        }
    }
}

/// Checks a request against the host's documented shapes and answers it.
async fn answer(
    State((kind, host)): State<(HostKind, Arc<Mutex<Host>>)>,
    method: Method,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let hang = host.lock().unwrap().hang;
    if hang {
        tokio::time::sleep(Duration::from_secs(3600)).await;
    }
    let query: Vec<(String, String)> = url_pairs(uri.query().unwrap_or_default());
    let json_body: Option<Value> = if body.is_empty() {
        None
    } else {
        let is_json = headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/json"));
        if !is_json {
            return error(StatusCode::UNSUPPORTED_MEDIA_TYPE, "send JSON");
        }
        match serde_json::from_slice(&body) {
            Ok(v) => Some(v),
            Err(_) => return error(StatusCode::BAD_REQUEST, "unreadable JSON"),
        }
    };
    let mut h = host.lock().unwrap();
    h.seen.push(Seen {
        method: method.clone(),
        path: uri.path().to_string(),
        query: query.clone(),
        body: json_body.clone(),
    });
    if h.fail_next > 0 {
        h.fail_next -= 1;
        return error(StatusCode::BAD_GATEWAY, "try again");
    }
    // Each host's documented token header.
    let (header, expected) = match kind {
        HostKind::Github => ("authorization", format!("Bearer {TOKEN}")),
        HostKind::Gitlab => ("private-token", TOKEN.to_string()),
        HostKind::Gitea => ("authorization", format!("token {TOKEN}")),
    };
    if headers.get(header).and_then(|v| v.to_str().ok()) != Some(expected.as_str()) {
        return error(StatusCode::UNAUTHORIZED, "Bad credentials");
    }
    if kind == HostKind::Github
        && headers.get("accept").and_then(|v| v.to_str().ok()) != Some("application/vnd.github+json")
    {
        return error(StatusCode::NOT_ACCEPTABLE, "Accept: application/vnd.github+json");
    }
    let collection = match kind {
        HostKind::Github => "/api/v3/repos/acme/res/pulls",
        HostKind::Gitlab => "/api/v4/projects/acme%2Fres/merge_requests",
        HostKind::Gitea => "/api/v1/repos/acme/res/pulls",
    };
    let Some(rest) = uri.path().strip_prefix(collection) else {
        return error(StatusCode::NOT_FOUND, "Not Found");
    };
    let addr = headers
        .get("host")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let field = |name: &str| {
        json_body
            .as_ref()
            .and_then(|b| b.get(name))
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    let q = |key: &str| query.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone());
    if rest.is_empty() || rest == "/" {
        match method {
            Method::GET => {
                let listed: Vec<Value> = h
                    .prs
                    .iter()
                    .filter(|p| match kind {
                        HostKind::Github => {
                            q("state").as_deref() == Some("open")
                                && p.state == "open"
                                && q("head") == Some(format!("acme:{}", p.head))
                                && q("base").is_none_or(|b| b == p.base)
                        }
                        HostKind::Gitlab => {
                            q("state").as_deref() == Some("opened")
                                && p.state == "open"
                                && q("source_branch").as_deref() == Some(p.head.as_str())
                                && q("target_branch").is_none_or(|b| b == p.base)
                        }
                        // Gitea filters by state only; the client picks the branch.
                        HostKind::Gitea => q("state").as_deref() == Some("open") && p.state == "open",
                    })
                    .map(|p| render(kind, &addr, p))
                    .collect();
                Json(listed).into_response()
            }
            Method::POST => {
                let (head, base, body_key) = match kind {
                    HostKind::Gitlab => ("source_branch", "target_branch", "description"),
                    _ => ("head", "base", "body"),
                };
                let (Some(head), Some(base), Some(title)) = (field(head), field(base), field("title")) else {
                    return error(StatusCode::UNPROCESSABLE_ENTITY, "missing required fields");
                };
                if h.prs
                    .iter()
                    .any(|p| p.head == head && p.base == base && p.state == "open")
                {
                    return error(StatusCode::UNPROCESSABLE_ENTITY, "A pull request already exists");
                }
                let pr = FakePr {
                    number: h.prs.len() as u64 + 1,
                    title,
                    body: field(body_key).unwrap_or_default(),
                    head,
                    base,
                    state: "open",
                };
                h.prs.push(pr.clone());
                (StatusCode::CREATED, Json(render(kind, &addr, &pr))).into_response()
            }
            _ => error(StatusCode::METHOD_NOT_ALLOWED, "no"),
        }
    } else {
        let Some(number) = rest.strip_prefix('/').and_then(|n| n.parse::<u64>().ok()) else {
            return error(StatusCode::NOT_FOUND, "Not Found");
        };
        let Some(pr) = h.prs.iter_mut().find(|p| p.number == number) else {
            return error(StatusCode::NOT_FOUND, "Not Found");
        };
        let update = match kind {
            HostKind::Gitlab => Method::PUT,
            _ => Method::PATCH,
        };
        if method == Method::GET {
            return Json(render(kind, &addr, pr)).into_response();
        }
        if method != update {
            return error(StatusCode::METHOD_NOT_ALLOWED, "no");
        }
        let close = match kind {
            HostKind::Gitlab => field("state_event").as_deref() == Some("close"),
            _ => field("state").as_deref() == Some("closed"),
        };
        if close {
            if pr.state == "merged" {
                return error(StatusCode::UNPROCESSABLE_ENTITY, "merged");
            }
            pr.state = "closed";
        }
        if let Some(title) = field("title") {
            pr.title = title;
        }
        let body_key = if kind == HostKind::Gitlab {
            "description"
        } else {
            "body"
        };
        if let Some(body) = field(body_key) {
            pr.body = body;
        }
        Json(render(kind, &addr, pr)).into_response()
    }
}

fn url_pairs(query: &str) -> Vec<(String, String)> {
    let url = reqwest::Url::parse(&format!("http://fake/?{query}")).unwrap();
    url.query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

fn host_config(fake: &FakeHost, repo: &TempRepo, token: &str) -> GitHostConfig {
    let token_file = repo.scratch("host-token");
    std::fs::write(&token_file, format!("{token}\n")).unwrap();
    GitHostConfig {
        kind: fake.kind,
        api_url: Some(fake.api_url()),
        repo: "acme/res".to_string(),
        token_file: Some(token_file),
        token_env: None,
        timeout: Duration::from_secs(5),
        attempts: 3,
        retry_wait: Duration::from_millis(10),
    }
}

async fn with_host(repo: &TempRepo, checkout: &str, host: &GitHostConfig) -> Transitioner {
    let config = Config::new(repo.url(), repo.scratch(checkout));
    Transitioner::new(&config.repo, None, clock("2026-11-30T10:00:00Z"))
        .await
        .unwrap()
        .with_git_host(host.client().unwrap())
}

/// Runs every transition, waits for the host to be in step, and gives prod's request.
async fn run(t: &Transitioner) -> Option<PullRequestStatus> {
    t.run_all().await.unwrap();
    t.pull_requests_settled().await;
    let status = t.status();
    status
        .transitions
        .iter()
        .find(|s| s.name == "prod")
        .unwrap()
        .pull_request
        .clone()
}

fn prod_state(t: &Transitioner) -> PromotionState {
    t.status()
        .transitions
        .iter()
        .find(|s| s.name == "prod")
        .unwrap()
        .state
        .unwrap()
}

/// The journey on one host: opened with what it ships, left alone while nothing
/// changes, updated when the source moves, closed when the pending set is gone.
async fn open_update_close(kind: HostKind) {
    let fake = FakeHost::start(kind).await;
    // Someone else's open request that the transitioner must leave alone.
    fake.with(|h| {
        h.prs.push(FakePr {
            number: 1,
            title: "feature".into(),
            body: String::new(),
            head: "feature/x".into(),
            base: "main".into(),
            state: "open",
        })
    });
    let repo = repo(PR_PROD);
    let host = host_config(&fake, &repo, TOKEN);
    let t = with_host(&repo, "checkout", &host).await;

    let pr = run(&t).await.expect("a pull request is shown");
    assert_eq!(prod_state(&t), PromotionState::AwaitingMerge);
    assert_eq!(
        (pr.host.as_str(), pr.number, pr.state),
        (kind.name(), Some(2), Some(PullRequestState::Open))
    );
    assert_eq!(pr.error, None);
    assert!(pr.url.as_deref().unwrap().ends_with("/2"), "{pr:?}");
    let opened = fake.prs()[1].clone();
    assert_eq!((opened.head.as_str(), opened.base.as_str()), (BRANCH, "main"));
    assert_eq!(opened.title, "Promote pp → prod: s1 1 → 2");
    assert!(opened.body.contains("s1: 1 → 2"), "{}", opened.body);
    assert!(opened.body.contains("transition `prod`"), "{}", opened.body);
    assert!(
        !opened.body.contains("Slipway-Action"),
        "no trailers in the body: {}",
        opened.body
    );
    let writes = fake.writes();
    assert_eq!(writes.len(), 1, "{writes:?}");
    assert_eq!(writes[0].method, Method::POST);
    let body = writes[0].body.clone().unwrap();
    match kind {
        HostKind::Gitlab => {
            assert_eq!(writes[0].path, "/api/v4/projects/acme%2Fres/merge_requests");
            assert_eq!(
                (body["source_branch"].as_str(), body["target_branch"].as_str()),
                (Some(BRANCH), Some("main"))
            );
            assert!(body["description"].as_str().unwrap().contains("s1: 1 → 2"));
        }
        _ => {
            assert!(writes[0].path.ends_with("/repos/acme/res/pulls"), "{}", writes[0].path);
            assert_eq!(
                (body["head"].as_str(), body["base"].as_str()),
                (Some(BRANCH), Some("main"))
            );
            assert!(body["body"].as_str().unwrap().contains("s1: 1 → 2"));
        }
    }
    let lookup = &fake.seen()[0];
    assert_eq!(lookup.method, Method::GET);
    match kind {
        HostKind::Github => assert_eq!(lookup.query("head"), Some("acme:slipway/promote/prod")),
        HostKind::Gitlab => assert_eq!(lookup.query("source_branch"), Some(BRANCH)),
        HostKind::Gitea => assert_eq!(lookup.query("limit"), Some("50")),
    }

    // Nothing changed: its state is read, nothing is written.
    let pr = run(&t).await.unwrap();
    assert_eq!(pr.state, Some(PullRequestState::Open));
    assert_eq!(fake.writes().len(), 1, "{:?}", fake.writes());
    assert_eq!(fake.seen().last().unwrap().method, Method::GET);

    // A newer version in the source: the same request gets the new text.
    repo.commit("s1 3", &[("pp/version/s1.yaml", Some("version: '3'\n"))])
        .unwrap();
    let pr = run(&t).await.unwrap();
    assert_eq!((pr.number, pr.state), (Some(2), Some(PullRequestState::Open)));
    let update = fake.writes().pop().unwrap();
    let update_method = if kind == HostKind::Gitlab {
        Method::PUT
    } else {
        Method::PATCH
    };
    assert_eq!(update.method, update_method);
    assert!(update.path.ends_with("/2"), "{}", update.path);
    assert_eq!(update.body.as_ref().unwrap()["title"], "Promote pp → prod: s1 1 → 3");
    assert_eq!(fake.prs()[1].title, "Promote pp → prod: s1 1 → 3");
    assert!(fake.prs()[1].body.contains("s1: 1 → 3"), "{}", fake.prs()[1].body);
    assert_eq!(fake.prs().len(), 2, "no second request");

    // The source goes back to what prod has: nothing to ship, the request is closed.
    repo.commit("s1 back", &[("pp/version/s1.yaml", Some("version: '1'\n"))])
        .unwrap();
    let pr = run(&t).await.unwrap();
    assert_eq!(prod_state(&t), PromotionState::UpToDate);
    assert_eq!((pr.number, pr.state), (Some(2), Some(PullRequestState::Closed)));
    let close = fake.writes().pop().unwrap();
    assert_eq!(close.method, update_method);
    let expected = match kind {
        HostKind::Gitlab => json!({"state_event": "close"}),
        _ => json!({"state": "closed"}),
    };
    assert_eq!(close.body, Some(expected));
    assert_eq!(fake.prs()[1].state, "closed");
    assert_eq!(fake.prs()[0].state, "open", "the other request is left alone");

    // Done with: later polls ask the host nothing.
    let asked = fake.seen().len();
    assert_eq!(run(&t).await.unwrap().state, Some(PullRequestState::Closed));
    assert_eq!(fake.seen().len(), asked);
}

#[tokio::test]
async fn github_pull_request_is_opened_updated_and_closed() {
    open_update_close(HostKind::Github).await;
}

#[tokio::test]
async fn gitlab_merge_request_is_opened_updated_and_closed() {
    open_update_close(HostKind::Gitlab).await;
}

#[tokio::test]
async fn gitea_pull_request_is_opened_updated_and_closed() {
    open_update_close(HostKind::Gitea).await;
}

/// A request merged on the host: its state is read as merged, and once the
/// versions are on the main branch nothing is closed or opened again.
async fn merged_on_the_host(kind: HostKind) {
    let fake = FakeHost::start(kind).await;
    let repo = repo(PR_PROD);
    let host = host_config(&fake, &repo, TOKEN);
    let t = with_host(&repo, "checkout", &host).await;
    assert_eq!(run(&t).await.unwrap().state, Some(PullRequestState::Open));

    // The host merges it: the request says merged, and main gets the branch's content.
    fake.with(|h| h.prs[0].state = "merged");
    let pr = run(&t).await.unwrap();
    assert_eq!(
        pr.state,
        Some(PullRequestState::Merged),
        "read before git shows the merge"
    );
    repo.commit(
        "Merge pull request",
        &[("prod/version/s1.yaml", Some("version: '2'\n"))],
    )
    .unwrap();
    let pr = run(&t).await.unwrap();
    assert_eq!(prod_state(&t), PromotionState::UpToDate);
    assert_eq!((pr.number, pr.state), (Some(1), Some(PullRequestState::Merged)));
    assert!(
        fake.writes().iter().all(|w| w.method == Method::POST),
        "only the one create: {:?}",
        fake.writes()
    );
    assert_eq!(fake.prs().len(), 1);
}

#[tokio::test]
async fn github_merged_state_is_read() {
    merged_on_the_host(HostKind::Github).await;
}

#[tokio::test]
async fn gitlab_merged_state_is_read() {
    merged_on_the_host(HostKind::Gitlab).await;
}

#[tokio::test]
async fn gitea_merged_state_is_read() {
    merged_on_the_host(HostKind::Gitea).await;
}

#[tokio::test]
async fn an_open_request_is_adopted_after_a_restart_not_opened_twice() {
    let fake = FakeHost::start(HostKind::Github).await;
    let repo = repo(PR_PROD);
    let host = host_config(&fake, &repo, TOKEN);
    let first = with_host(&repo, "checkout-1", &host).await;
    run(&first).await.unwrap();
    drop(first);

    let second = with_host(&repo, "checkout-2", &host).await;
    let pr = run(&second).await.unwrap();
    assert_eq!((pr.number, pr.state), (Some(1), Some(PullRequestState::Open)));
    assert_eq!(fake.prs().len(), 1);
    assert_eq!(fake.writes().len(), 1, "{:?}", fake.writes());
}

#[tokio::test]
async fn a_request_closed_by_a_person_stays_closed_until_the_set_changes() {
    let fake = FakeHost::start(HostKind::Gitea).await;
    let repo = repo(PR_PROD);
    let host = host_config(&fake, &repo, TOKEN);
    let t = with_host(&repo, "checkout", &host).await;
    run(&t).await.unwrap();
    fake.with(|h| h.prs[0].state = "closed");
    assert_eq!(run(&t).await.unwrap().state, Some(PullRequestState::Closed));
    assert_eq!(fake.prs().len(), 1, "not opened again for the same set");

    repo.commit("s1 3", &[("pp/version/s1.yaml", Some("version: '3'\n"))])
        .unwrap();
    let pr = run(&t).await.unwrap();
    assert_eq!((pr.number, pr.state), (Some(2), Some(PullRequestState::Open)));
}

#[tokio::test]
async fn host_errors_are_in_the_status_and_do_not_hold_the_promotion_back() {
    let fake = FakeHost::start(HostKind::Github).await;
    let repo = repo(PR_PROD);
    let t = with_host(&repo, "checkout", &host_config(&fake, &repo, "wrong-token")).await;
    let pr = run(&t).await.unwrap();
    let error = pr.error.unwrap();
    assert!(error.contains("github API answered 401"), "{error}");
    assert!(error.contains("Bad credentials"), "the host's own words: {error}");
    assert_eq!(pr.number, None);
    assert_eq!(
        prod_state(&t),
        PromotionState::AwaitingMerge,
        "the branch is pushed all the same"
    );
    assert_eq!(fake.seen().len(), 1, "a 401 is not retried");

    // Two 502s, then an answer: retried within the same sync.
    let t = with_host(&repo, "checkout-2", &host_config(&fake, &repo, TOKEN)).await;
    fake.with(|h| h.fail_next = 2);
    let pr = run(&t).await.unwrap();
    assert_eq!((pr.state, pr.error), (Some(PullRequestState::Open), None));
}

#[tokio::test]
async fn a_hanging_host_delays_no_transition() {
    let fake = FakeHost::start(HostKind::Gitlab).await;
    fake.with(|h| h.hang = true);
    let repo = repo(
        r#"
commits:
  - message: setup
    files:
      transitions.yaml: "transitions:\n  prod: {source: pp, target: prod, mode: pull_request}\n  dev: {source: latest, target: dev}\n"
      pp/version/s1.yaml: "version: '2'\n"
      prod/version/s1.yaml: "version: '1'\n"
      latest/version/s1.yaml: "version: '5'\n"
"#,
    );
    let mut host = host_config(&fake, &repo, TOKEN);
    (host.timeout, host.attempts) = (Duration::from_millis(300), 1);
    let t = with_host(&repo, "checkout", &host).await;
    let outcomes = tokio::time::timeout(Duration::from_secs(20), t.run_all())
        .await
        .expect("the run does not wait for the host")
        .unwrap();
    assert_eq!(outcomes.len(), 2);
    assert_eq!(repo.read("dev/version/s1.yaml").as_deref(), Some("version: '5'\n"));
    let pr = wait_until("the host's timeout in the status", Duration::from_secs(10), || async {
        let status = t.status();
        let pr = status
            .transitions
            .iter()
            .find(|s| s.name == "prod")
            .unwrap()
            .pull_request
            .clone();
        match pr.and_then(|p| p.error) {
            Some(e) => Ok(e),
            None => Err("no error yet".to_string()),
        }
    })
    .await;
    assert!(pr.contains("gitlab API unreachable"), "{pr}");
}

#[tokio::test]
async fn the_served_status_links_the_pull_request() {
    let fake = FakeHost::start(HostKind::Gitea).await;
    let repo = repo(PR_PROD);
    let mut config = Config::new(repo.url(), repo.scratch("served"));
    config.poll_interval = Duration::from_millis(100);
    config.git_host = Some(host_config(&fake, &repo, TOKEN));
    let drain = slipway_kit::drain::Drain::new();
    let running = slipway_transitioner::start(&config, clock("2026-11-30T10:00:00Z"), drain.clone())
        .await
        .unwrap();
    let url = format!("http://{}/status", running.addr);
    let pr = wait_until("the pull request in GET /status", Duration::from_secs(10), || async {
        let status: Value = reqwest::get(&url)
            .await
            .map_err(|e| e.to_string())?
            .json()
            .await
            .map_err(|e| e.to_string())?;
        let pr = status["transitions"][0]["pull_request"].clone();
        if pr["state"] == "open" {
            Ok(pr)
        } else {
            Err(status.to_string())
        }
    })
    .await;
    assert_eq!(pr["host"], "gitea");
    assert_eq!(pr["number"], 1);
    assert!(pr["url"].as_str().unwrap().ends_with("/acme/res/pulls/1"), "{pr}");
    drain.begin();
    running.task.await.unwrap().unwrap();
}
