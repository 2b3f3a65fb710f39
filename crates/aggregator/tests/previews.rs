//! Preview envs through the API: created from a template in one commit, listed
//! with their URL, extended, removed in one commit, expired by the clock, and
//! driven by pull request events.

mod support;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use slipway_aggregator::previews::FromPullRequests;
use slipway_aggregator::webhooks::{sign, SecretSource, GENERIC_SIGNATURE_HEADER};
use slipway_kit::clock::ManualClock;
use support::{eventually, Harness, ALICE_TOKEN, CI_TOKEN};

const SECRET: &str = "preview-webhook-secret";
const LOCKER_TOKEN: &str = "locker-secret-token";

const REPO: &str = r#"
commits:
  - message: initial
    files:
      deployers.yaml: |
        # deployed envs
        deployers:
          dev: {cluster: main, namespace: dev}
      latest/version/web.yaml: "version: '1'\n"
      dev/version/web.yaml: "version: '1'\nimage: registry/web:1\n"
      dev/vars.yaml: "preview_host: dev.example.com\n"
      dev/base/web.yaml: |
        apiVersion: networking.k8s.io/v1
        kind: Ingress
        metadata: {name: web}
        spec:
          rules:
            - host: "${preview_host}"
      dev/locks.yaml: "env_lock: {reasons: [freeze]}\n"
"#;

fn now() -> chrono::DateTime<chrono::Utc> {
    "2026-12-02T12:00:00Z".parse().unwrap()
}

async fn start(clock: Arc<ManualClock>) -> Harness {
    let repo = git_fixture::temp(REPO).unwrap();
    let mut c = support::config(&repo);
    let tokens = repo.scratch("preview-tokens");
    std::fs::write(
        &tokens,
        format!("ci:{CI_TOKEN}\nalice:{ALICE_TOKEN}\nlocker:{LOCKER_TOKEN}:locks\n"),
    )
    .unwrap();
    c.api_tokens_file = Some(tokens);
    let secret = repo.scratch("preview-secret");
    std::fs::write(&secret, SECRET).unwrap();
    let source = Some(SecretSource {
        secret_file: Some(secret),
        secret_env: None,
    });
    c.webhooks.generic = source.clone();
    c.webhooks.github = source;
    c.preview_domain = Some("preview.example.com".into());
    c.previews.expiry_check_interval = Duration::from_millis(50);
    c.previews.from_pull_requests = Some(FromPullRequests {
        template: "dev".into(),
        name: "pr-${number}".into(),
        services: BTreeMap::from([(
            "web".to_string(),
            BTreeMap::from([
                ("version".to_string(), "pr-${number}-${short_sha}".to_string()),
                (
                    "image".to_string(),
                    "registry/web:pr-${number}-${short_sha}".to_string(),
                ),
            ]),
        )]),
        ttl: None,
    });
    Harness::start_on_clock(repo, c, clock).await
}

fn clock() -> Arc<ManualClock> {
    Arc::new(ManualClock::new(now()))
}

async fn previews(h: &Harness) -> Vec<Value> {
    let (status, body) = h.send("GET", "/api/previews", None, None).await;
    assert_eq!(status, 200, "{body}");
    body["previews"].as_array().unwrap().clone()
}

#[tokio::test]
async fn a_preview_is_created_listed_extended_and_removed_each_in_one_commit() {
    let h = start(clock()).await;
    let commits = h.repo.log().len();
    let (status, body) = h
        .send(
            "POST",
            "/api/previews",
            Some(ALICE_TOKEN),
            Some(json!({"name": "pr-42", "from": "dev", "services": {"web": {"version": "pr-42"}}, "ttl": "3d", "source": "https://git.example.com/shop/pull/42"})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(h.repo.log().len(), commits + 1, "one commit");
    assert_eq!(h.repo.log()[0].1, "alice", "the acting token is the author");
    let version = h.repo.read("preview-pr-42/version/web.yaml").unwrap();
    assert!(
        version.contains("pr-42") && version.contains("registry/web:1"),
        "{version}"
    );
    assert!(h.repo.read("preview-pr-42/base/web.yaml").is_some());
    assert!(h.repo.read("preview-pr-42/locks.yaml").is_none());
    let vars = h.repo.read("preview-pr-42/vars.yaml").unwrap();
    assert!(vars.contains("preview_host: pr-42.preview.example.com"), "{vars}");
    let deployers = h.repo.read("deployers.yaml").unwrap();
    assert!(deployers.starts_with("# deployed envs\n"), "{deployers}");

    let listed = previews(&h).await;
    assert_eq!(listed.len(), 1);
    let p = &listed[0];
    assert_eq!(p["name"], "pr-42");
    assert_eq!(p["env"], "preview-pr-42");
    assert_eq!(p["url"], "https://pr-42.preview.example.com/");
    assert_eq!(p["expires"], "2026-12-05T12:00:00Z");
    assert_eq!(p["source"], "https://git.example.com/shop/pull/42");
    assert_eq!(p["services"]["web"], "pr-42");
    assert_eq!(p["expired"], false);

    // The same name again is a clash, with or without the prefix.
    for name in ["pr-42", "preview-pr-42"] {
        let (status, body) = h
            .send(
                "POST",
                "/api/previews",
                Some(ALICE_TOKEN),
                Some(json!({"name": name, "from": "dev"})),
            )
            .await;
        assert_eq!(status, 409, "{body}");
    }
    let (status, body) = h
        .send(
            "POST",
            "/api/previews",
            Some(ALICE_TOKEN),
            Some(json!({"name": "pr-43", "from": "latest"})),
        )
        .await;
    assert_eq!((status, body["field"].as_str()), (400, Some("from")), "{body}");
    let (status, body) = h
        .send(
            "POST",
            "/api/previews",
            Some(LOCKER_TOKEN),
            Some(json!({"name": "pr-44", "from": "dev"})),
        )
        .await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["missing_scope"], "previews=preview-pr-44");

    let (status, body) = h
        .send(
            "PATCH",
            "/api/previews/pr-42",
            Some(ALICE_TOKEN),
            Some(json!({"ttl": "7d"})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(previews(&h).await[0]["expires"], "2026-12-09T12:00:00Z");

    // Only previews can be deleted this way.
    let (status, body) = h.send("DELETE", "/api/previews/dev", Some(ALICE_TOKEN), None).await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["known_previews"], json!(["pr-42"]));

    let before = h.repo.log().len();
    let (status, body) = h.send("DELETE", "/api/previews/pr-42", Some(ALICE_TOKEN), None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(h.repo.log().len(), before + 1, "one commit");
    assert!(h.repo.paths().iter().all(|p| !p.starts_with("preview-pr-42/")));
    assert_eq!(
        h.repo.read("deployers.yaml").unwrap(),
        "# deployed envs\ndeployers:\n  dev: {cluster: main, namespace: dev}\n"
    );
    assert!(previews(&h).await.is_empty());
    let (status, _) = h.send("DELETE", "/api/previews/pr-42", Some(ALICE_TOKEN), None).await;
    assert_eq!(status, 404);
    h.stop().await;
}

#[tokio::test]
async fn an_expired_preview_is_removed_by_a_commit_once_the_clock_passes_its_expiry() {
    let clock = clock();
    let h = start(clock.clone()).await;
    let (status, body) = h
        .send(
            "POST",
            "/api/previews",
            Some(ALICE_TOKEN),
            Some(json!({"name": "short", "from": "dev", "ttl": "1h"})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    // Checked every 50 ms, but not due yet.
    clock.advance(Duration::from_secs(59 * 60));
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(h.repo.read("preview-short/vars.yaml").is_some(), "not expired yet");
    clock.advance(Duration::from_secs(60));
    eventually("the expired preview is removed", || async {
        h.repo.read("preview-short/vars.yaml").is_none()
    })
    .await;
    let (_, author, subject) = h.repo.log()[0].clone();
    assert_eq!(author, "slipway-previews");
    assert!(subject.starts_with("Remove preview short (expired"), "{subject}");
    assert!(!h.repo.read("deployers.yaml").unwrap().contains("preview-short"));
    h.stop().await;
}

async fn send_event(h: &Harness, event: Value, signed: bool) -> (u16, Value) {
    let body = event.to_string();
    let mut req = h
        .http
        .post(h.url("/api/previews/events"))
        .header("content-type", "application/json")
        .body(body.clone());
    req = if signed {
        req.header(
            GENERIC_SIGNATURE_HEADER,
            format!("sha256={}", sign(body.as_bytes(), SECRET)),
        )
    } else {
        req.bearer_auth(CI_TOKEN)
    };
    let response = req.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or_default())
}

#[tokio::test]
async fn pull_request_events_create_update_and_remove_a_preview() {
    let h = start(clock()).await;
    let opened = json!({"action": "opened", "number": 7, "branch": "feature", "head_sha": "aaaaaaa111"});
    let (status, body) = send_event(&h, opened.clone(), false).await;
    assert_eq!((status, body["action"].as_str()), (201, Some("created")), "{body}");
    assert_eq!(previews(&h).await[0]["services"]["web"], "pr-7-aaaaaaa");
    assert_eq!(previews(&h).await[0]["source"], "pull request #7 (feature)");
    // A redelivered event changes nothing.
    let (status, body) = send_event(&h, opened, true).await;
    assert_eq!((status, body["action"].as_str()), (200, Some("unchanged")), "{body}");

    let pushed = json!({"action": "synchronize", "number": 7, "branch": "feature", "head_sha": "bbbbbbb222"});
    let (status, body) = send_event(&h, pushed, true).await;
    assert_eq!((status, body["action"].as_str()), (200, Some("updated")), "{body}");
    let version = h.repo.read("preview-pr-7/version/web.yaml").unwrap();
    assert!(version.contains("registry/web:pr-7-bbbbbbb"), "{version}");

    let closed = json!({"action": "closed", "number": 7, "branch": "feature", "head_sha": "bbbbbbb222"});
    let (status, body) = send_event(&h, closed.clone(), false).await;
    assert_eq!((status, body["action"].as_str()), (200, Some("removed")), "{body}");
    assert!(h.repo.read("preview-pr-7/vars.yaml").is_none());
    let (status, body) = send_event(&h, closed, false).await;
    assert_eq!((status, body["action"].as_str()), (200, Some("unchanged")), "{body}");

    // Neither token nor signature, or a wrong signature: refused, nothing committed.
    let commits = h.repo.log().len();
    let response = h
        .http
        .post(h.url("/api/previews/events"))
        .header("content-type", "application/json")
        .header(GENERIC_SIGNATURE_HEADER, "sha256=00")
        .body(r#"{"action": "opened", "number": 8, "branch": "b", "head_sha": "c"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 401);
    let (status, body) = h
        .send("POST", "/api/previews/events", None, Some(json!({"action": "opened"})))
        .await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(h.repo.log().len(), commits);
    h.stop().await;
}

#[tokio::test]
async fn a_github_pull_request_webhook_opens_a_preview() {
    let h = start(clock()).await;
    let body = json!({
        "action": "opened",
        "number": 9,
        "pull_request": {"head": {"ref": "fix", "sha": "ccccccc333"}, "html_url": "https://github.com/o/r/pull/9"}
    })
    .to_string();
    let response = h
        .http
        .post(h.url("/api/webhooks/github"))
        .header("x-github-event", "pull_request")
        .header(
            "x-hub-signature-256",
            format!("sha256={}", sign(body.as_bytes(), SECRET)),
        )
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 201);
    let listed = previews(&h).await;
    assert_eq!(listed[0]["name"], "pr-9");
    assert_eq!(listed[0]["source"], "https://github.com/o/r/pull/9");
    assert_eq!(h.repo.log()[0].1, "github-webhook");
    h.stop().await;
}
