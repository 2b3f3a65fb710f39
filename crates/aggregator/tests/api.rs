//! The aggregator's HTTP API against a real (local, bare) resource repo.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};
use support::{eventually, Harness, ALICE_TOKEN, CI_TOKEN, REPO};

#[tokio::test]
async fn bad_inputs_get_their_documented_status_and_commit_nothing() {
    let h = Harness::start(REPO).await;
    let head = h.repo.head();
    let commits = h.repo.log().len();
    let ok = |service: &str, env: &str, vars: Value| json!({"service": service, "env": env, "vars": vars}).to_string();
    let huge = json!({"service": "s1", "env": "latest", "vars": {"version": "9"}, "changelog": "x".repeat(10 << 20)})
        .to_string();
    // (what, token, body, status, field at fault)
    type Case = (&'static str, Option<&'static str>, String, u16, Option<&'static str>);
    let cases: Vec<Case> = vec![
        (
            "malformed JSON",
            Some(CI_TOKEN),
            "{\"service\": ".into(),
            400,
            Some("body"),
        ),
        (
            "missing field",
            Some(CI_TOKEN),
            json!({"service": "s1", "env": "latest"}).to_string(),
            400,
            Some("vars"),
        ),
        (
            "path in service name",
            Some(CI_TOKEN),
            ok("../etc", "latest", json!({"version": "2"})),
            400,
            Some("service"),
        ),
        (
            "upper-case service name",
            Some(CI_TOKEN),
            ok("A", "latest", json!({"version": "2"})),
            400,
            Some("service"),
        ),
        (
            "unknown env",
            Some(CI_TOKEN),
            ok("s1", "staging", json!({"version": "2"})),
            400,
            Some("env"),
        ),
        (
            "nested vars",
            Some(CI_TOKEN),
            ok("s1", "latest", json!({"version": {"major": 2}})),
            400,
            Some("vars.version"),
        ),
        ("no token", None, ok("s1", "latest", json!({"version": "2"})), 401, None),
        (
            "wrong token",
            Some("not-a-token"),
            ok("s1", "latest", json!({"version": "2"})),
            403,
            None,
        ),
        ("10 MiB body", Some(CI_TOKEN), huge, 413, Some("body")),
    ];
    for (name, token, body, status, field) in cases {
        let mut req = h
            .http
            .post(h.url("/api/versions"))
            .body(body)
            .header("content-type", "application/json");
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let response = req.send().await.unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(response.status().as_u16(), status, "{name}");
        let answer: Value = response
            .json()
            .await
            .unwrap_or_else(|e| panic!("{name}: not JSON: {e}"));
        assert!(
            answer["error"].as_str().is_some_and(|e| !e.is_empty()),
            "{name}: {answer}"
        );
        assert_eq!(answer["field"].as_str(), field, "{name}: {answer}");
    }
    assert_eq!(h.repo.head(), head, "nothing was committed");
    assert_eq!(h.repo.log().len(), commits);
    h.stop().await;
}

#[tokio::test]
async fn posted_version_is_committed_with_author_changelog_and_trailers() {
    let h = Harness::start(REPO).await;
    let (status, body) = h
        .send(
            "POST",
            "/api/versions",
            Some(CI_TOKEN),
            Some(json!({"service": "team-a/api", "env": "latest", "vars": {"version": "42", "replicas": 3}, "changelog": "Fix the login page"})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let commit = body["commit"].as_str().unwrap().to_string();
    assert_eq!(
        h.repo.head().as_deref(),
        Some(commit.as_str()),
        "answered only after the push"
    );
    assert_eq!(
        h.repo.read("latest/version/team-a/api.yaml").unwrap(),
        "replicas: 3\nversion: '42'\n"
    );
    let (id, author, message) = h.repo.log().remove(0);
    assert_eq!((id.as_str(), author.as_str()), (commit.as_str(), "ci"));
    assert_eq!(
        message,
        "team-a/api 42 in latest\n\nFix the login page\n\nSlipway-Action: version\nSlipway-Env: latest\nSlipway-Service: team-a/api\n"
    );
    // The state shows it at once, without waiting for a poll.
    let state = h.state().await;
    assert_eq!(state["commit"], commit.as_str());
    let api = state["services"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "team-a/api")
        .unwrap();
    assert_eq!(api["envs"]["latest"]["vars"], json!({"version": "42", "replicas": 3}));

    // Readers may revalidate: the state's entity tag changes only with the state.
    let first = h.http.get(h.url("/api/state")).send().await.unwrap();
    let tag = first.headers()["etag"].to_str().unwrap().to_string();
    let again = h
        .http
        .get(h.url("/api/state"))
        .header("if-none-match", &tag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 304);

    // The same vars again: no commit, the existing head.
    let (status, body) = h
        .send(
            "POST",
            "/api/versions",
            Some(CI_TOKEN),
            Some(json!({"service": "team-a/api", "env": "latest", "vars": {"replicas": 3, "version": "42"}, "changelog": "again"})),
        )
        .await;
    assert_eq!((status, body), (200, json!({"commit": commit, "unchanged": true})));
    assert_eq!(h.repo.head().as_deref(), Some(commit.as_str()));
    h.stop().await;
}

#[tokio::test]
async fn two_hundred_concurrent_posts_are_all_kept_exactly_once() {
    let h = Arc::new(Harness::start(REPO).await);
    let mut clients = Vec::new();
    for client in 0..20 {
        let h = h.clone();
        clients.push(tokio::spawn(async move {
            let mut answers = Vec::new();
            for i in 0..10 {
                let service = format!("c{client}-s{i}");
                let (status, body) = h.post_version(&service, "latest", &format!("{client}.{i}")).await;
                answers.push((service, status, body["commit"].as_str().unwrap_or_default().to_string()));
            }
            answers
        }));
    }
    let mut answers = Vec::new();
    for c in clients {
        answers.extend(c.await.unwrap());
    }
    assert_eq!(answers.len(), 200);
    assert!(answers.iter().all(|(_, status, _)| *status == 201), "{answers:?}");
    let log = h.repo.log();
    for (service, _, commit) in &answers {
        let (client, i) = service[1..].split_once("-s").unwrap();
        assert_eq!(
            h.repo.read(&format!("latest/version/{service}.yaml")).unwrap(),
            format!("version: '{client}.{i}'\n")
        );
        assert_eq!(log.iter().filter(|(id, _, _)| id == commit).count(), 1, "{service}");
        let subject = format!("{service} {client}.{i} in latest\n");
        assert_eq!(
            log.iter().filter(|(_, _, m)| m.starts_with(&subject)).count(),
            1,
            "{service}"
        );
    }
    Arc::try_unwrap(h).ok().unwrap().stop().await;
}

fn head_message(h: &Harness) -> (String, String) {
    let (_, author, message) = h.repo.log().remove(0);
    (author, message)
}

#[tokio::test]
async fn locks_round_trip_through_the_api_as_commits() {
    let h = Harness::start(REPO).await;
    let lock = |path: &'static str, method: &'static str, body: Option<Value>| {
        let h = &h;
        async move { h.send(method, path, Some(ALICE_TOKEN), body).await }
    };
    let (status, body) = lock("/api/locks/dev", "PUT", Some(json!({"reason": "release freeze"}))).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(h.repo.head().as_deref(), body["commit"].as_str());
    let (author, message) = head_message(&h);
    assert_eq!(author, "alice");
    assert!(
        message.starts_with("Lock dev: release freeze\n\nSlipway-Action: lock\nSlipway-Env: dev\n"),
        "{message}"
    );
    assert_eq!(
        lock("/api/locks/dev", "PUT", Some(json!({"reason": "release freeze"})))
            .await
            .1["unchanged"],
        true
    );

    let (status, _) = lock("/api/locks/dev/s1", "PUT", Some(json!({"reason": "incident 4711"}))).await;
    assert_eq!(status, 200);
    let state = h.state().await;
    let dev = state["envs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "dev")
        .unwrap();
    assert_eq!(dev["lock_reasons"], json!(["release freeze"]));
    assert_eq!(
        state["services"][0]["envs"]["dev"]["lock_reasons"],
        json!(["incident 4711"])
    );

    // A version into a locked env is refused.
    let (status, body) = h.post_version("s1", "dev", "2").await;
    assert_eq!(status, 423, "{body}");

    let head = h.repo.head();
    let (status, body) = lock("/api/locks/dev/s1", "DELETE", Some(json!({"reason": "other"}))).await;
    assert_eq!(status, 423, "{body}");
    assert!(body["error"].as_str().unwrap().contains("incident 4711"));
    assert_eq!(h.repo.head(), head);
    assert_eq!(
        lock("/api/locks/dev/s1", "DELETE", Some(json!({"reason": "incident 4711"})))
            .await
            .0,
        200
    );
    assert!(head_message(&h).1.starts_with("Unlock dev/s1: incident 4711\n"));
    assert_eq!(lock("/api/locks/dev", "DELETE", None).await.0, 200);
    assert!(head_message(&h)
        .1
        .starts_with("Unlock dev (all reasons: release freeze)\n"));
    assert_eq!(h.repo.read("dev/locks.yaml"), None, "no locks left, no file");

    assert_eq!(
        lock("/api/locks/nope", "PUT", Some(json!({"reason": "x"}))).await.0,
        404
    );
    assert_eq!(lock("/api/locks/dev", "PUT", Some(json!({}))).await.0, 400);
    assert_eq!(
        lock("/api/locks/dev", "DELETE", Some(json!({"reason": " "}))).await.0,
        400
    );
    assert_eq!(
        h.send("PUT", "/api/locks/dev", None, Some(json!({"reason": "x"})))
            .await
            .0,
        401
    );
    h.stop().await;
}

#[tokio::test]
async fn rollback_restores_an_earlier_version_as_a_new_commit() {
    let h = Harness::start(REPO).await;
    let (_, two) = h.post_version("s1", "dev", "2").await;
    let two = two["commit"].as_str().unwrap().to_string();
    assert_eq!(h.post_version("s1", "dev", "3").await.0, 201);
    let rollback = |commit: &str, service: &str| {
        h.send(
            "POST",
            "/api/rollback",
            Some(ALICE_TOKEN),
            Some(json!({"env": "dev", "service": service, "commit": commit})),
        )
    };
    let (status, body) = rollback(&two[..10], "s1").await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(h.repo.read("dev/version/s1.yaml").unwrap(), "version: '2'\n");
    let (author, message) = head_message(&h);
    assert_eq!(author, "alice");
    assert!(
        message.starts_with(&format!("Roll back s1 in dev to 2 (from {})\n", &two[..7])),
        "{message}"
    );
    assert!(message.contains("Slipway-Action: rollback"));
    assert_eq!(rollback(&two, "s1").await.1["unchanged"], true);

    let head = h.repo.head();
    let initial = h.repo.named("initial").unwrap().to_string();
    let (status, body) = rollback(&initial, "s9").await;
    assert_eq!((status, body["field"].as_str()), (409, Some("commit")), "{body}");
    assert_eq!(rollback("deadbeefdeadbeef", "s1").await.0, 404);
    assert_eq!(rollback("HEAD", "s1").await.0, 400);
    assert_eq!(h.repo.head(), head);

    // History tells the story, newest first, with kinds and versions.
    let (status, hist) = h.send("GET", "/api/history?env=dev&service=s1", None, None).await;
    assert_eq!(status, 200);
    let entries = hist["entries"].as_array().unwrap();
    let summary: Vec<(&str, &str, &str)> = entries
        .iter()
        .map(|e| {
            (
                e["kind"].as_str().unwrap(),
                e["old"].as_str().unwrap_or("-"),
                e["new"].as_str().unwrap_or("-"),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("rollback", "3", "2"),
            ("version", "2", "3"),
            ("version", "1", "2"),
            ("other", "-", "1")
        ]
    );
    assert_eq!(entries[1]["changelog"], "s1 3");
    assert_eq!(entries[1]["author"], "ci");
    let (_, limited) = h.send("GET", "/api/history?limit=2", None, None).await;
    assert_eq!(limited["entries"].as_array().unwrap().len(), 2);
    assert_eq!(h.send("GET", "/api/history?env=nope", None, None).await.0, 404);
    h.stop().await;
}

#[tokio::test]
async fn event_subscriber_hears_of_a_post() {
    let h = Harness::start(REPO).await;
    let mut stream = h.http.get(h.url("/api/events")).send().await.unwrap();
    assert_eq!(stream.status(), 200);
    assert!(stream.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/event-stream"));
    let (_, body) = h.post_version("s1", "latest", "7").await;
    let commit = body["commit"].as_str().unwrap().to_string();
    let mut seen = String::new();
    let received = tokio::time::timeout(Duration::from_secs(5), async {
        while let Some(chunk) = stream.chunk().await.unwrap() {
            seen.push_str(&String::from_utf8_lossy(&chunk));
            if seen.contains(&commit) {
                return;
            }
        }
    })
    .await;
    assert!(received.is_ok(), "no event within 5 s; got {seen:?}");
    assert!(seen.contains("event: state"), "{seen}");
    assert!(
        seen.contains(&format!("data: {{\"commit\":\"{commit}\",\"cause\":\"repo\"}}")),
        "{seen}"
    );
    drop(stream);
    h.stop().await;
}

/// A stand-in for the deployer and transitioner: serves a fixed status and counts refreshes.
async fn fake_peer(status: Value, refreshes: Arc<AtomicUsize>) -> (String, tokio::task::JoinHandle<()>) {
    let router = Router::new()
        .route("/status", get(move || async move { Json(status.clone()) }))
        .route(
            "/refresh",
            post(move || async move {
                refreshes.fetch_add(1, Ordering::SeqCst);
                (axum::http::StatusCode::ACCEPTED, Json(json!({"status": "scheduled"})))
            }),
        )
        .route(
            "/transitions/{name}/run",
            post(|axum::extract::Path(name): axum::extract::Path<String>| async move {
                if name == "dev" {
                    (
                        axum::http::StatusCode::OK,
                        Json(json!({"result": "Skipped", "reason": "nothing to promote", "commit": null})),
                    )
                } else {
                    (
                        axum::http::StatusCode::NOT_FOUND,
                        Json(json!({"error": "unknown transition", "field": "name"})),
                    )
                }
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    (format!("http://{addr}"), task)
}

#[tokio::test]
async fn state_combines_repo_deployer_and_transitioner_and_says_when_stale() {
    let deployer_status = json!({
        "repo_commit": null,
        "envs": {"dev": {"env": "dev", "cluster": "main", "namespace": "dev", "commit": "abc", "status": "InProgress",
            "reason": "1 of 1 services in progress",
            "services": {"s1": {"kind": "service", "phase": "Deploying", "status": "InProgress", "version": "1",
                "reason": "0 of 1 updated replicas available", "resources": []}}}}
    });
    let transitioner_status = json!({"transitions": [{"name": "dev", "source": "latest", "target": "dev",
        "result": "Blocked", "reason": "source latest is InProgress", "pending": ["s1"]}]});
    let deployer_refreshes = Arc::new(AtomicUsize::new(0));
    let transitioner_refreshes = Arc::new(AtomicUsize::new(0));
    let (deployer_url, deployer) = fake_peer(deployer_status, deployer_refreshes.clone()).await;
    let (transitioner_url, _transitioner) = fake_peer(transitioner_status, transitioner_refreshes.clone()).await;
    let h = Harness::start_with(REPO, |c| {
        c.deployer_url = Some(deployer_url);
        c.transitioner_url = Some(transitioner_url);
    })
    .await;
    eventually("peer status in the state", || async {
        let s = h.state().await;
        s["transitions"][0]["result"] == "Blocked" && s["services"][0]["envs"]["dev"]["phase"] == "Deploying"
    })
    .await;
    let state = h.state().await;
    assert_eq!(state["stale"], false);
    let names: Vec<&str> = state["envs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["latest", "dev"]);
    assert_eq!(state["envs"][1]["status"], "InProgress");
    assert_eq!(state["envs"][0]["deployed"], false);
    assert_eq!(
        state["services"][0]["envs"]["dev"]["reason"],
        "0 of 1 updated replicas available"
    );

    // Writes nudge both peers.
    let before = (
        deployer_refreshes.load(Ordering::SeqCst),
        transitioner_refreshes.load(Ordering::SeqCst),
    );
    assert_eq!(h.post_version("s1", "latest", "2").await.0, 201);
    eventually("both peers asked to refresh", || async {
        deployer_refreshes.load(Ordering::SeqCst) > before.0 && transitioner_refreshes.load(Ordering::SeqCst) > before.1
    })
    .await;
    let state = h.state().await;
    assert_eq!(
        state["services"][0]["envs"]["dev"]["upstream"],
        json!({"env": "latest", "version": "2"})
    );

    // Runs are forwarded, answers passed through.
    let (status, body) = h
        .send("POST", "/api/transitions/dev/run", Some(ALICE_TOKEN), None)
        .await;
    assert_eq!((status, body["result"].as_str()), (200, Some("Skipped")));
    assert_eq!(
        h.send("POST", "/api/transitions/prod/run", Some(ALICE_TOKEN), None)
            .await
            .0,
        404
    );
    assert_eq!(h.send("POST", "/api/transitions/dev/run", None, None).await.0, 401);

    // The deployer goes away: the state still answers, from memory, and says it is stale.
    deployer.abort();
    let _ = deployer.await;
    eventually("stale state", || async { h.state().await["stale"] == true }).await;
    let state = h.state().await;
    assert!(
        state["stale_reasons"][0]
            .as_str()
            .unwrap()
            .starts_with("deployer unreachable"),
        "{state}"
    );
    assert_eq!(
        state["services"][0]["envs"]["dev"]["phase"], "Deploying",
        "last known status kept"
    );
    h.stop().await;
}

#[tokio::test]
async fn unreachable_repo_refuses_writes_with_502_and_reads_say_stale() {
    let h = Harness::start(REPO).await;
    let origin = h.repo.path.clone();
    let moved = origin.with_extension("moved");
    std::fs::rename(&origin, &moved).unwrap();
    let (status, body) = h.post_version("s1", "latest", "2").await;
    assert_eq!(status, 502, "{body}");
    let state = h.state().await;
    assert_eq!(state["stale"], true);
    assert_eq!(
        state["services"][0]["envs"]["latest"]["version"], "1",
        "last known state"
    );
    std::fs::rename(&moved, &origin).unwrap();
    assert_eq!(h.post_version("s1", "latest", "2").await.0, 201);
    assert_eq!(h.state().await["stale"], false);
    h.stop().await;
}

#[tokio::test]
async fn reads_need_a_token_only_when_configured_and_the_rest_is_the_ui() {
    let h = Harness::start_with(REPO, |c| c.read_requires_token = true).await;
    assert_eq!(h.send("GET", "/api/state", None, None).await.0, 401);
    assert_eq!(h.send("GET", "/api/state", Some(CI_TOKEN), None).await.0, 200);
    assert_eq!(h.send("GET", "/api/history", Some("nope"), None).await.0, 403);
    // EventSource cannot send headers: the event stream also takes the token as a parameter.
    assert_eq!(h.send("GET", "/api/events", None, None).await.0, 401);
    let events = h
        .http
        .get(h.url(&format!("/api/events?access_token={CI_TOKEN}")))
        .send()
        .await
        .unwrap();
    assert_eq!(events.status(), 200);
    drop(events);
    assert_eq!(
        h.send("GET", "/health", None, None).await,
        (200, json!({"status": "ok"}))
    );
    let metrics = h
        .http
        .get(h.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    // The family is registered from the start: only the counted series prove the refusals were counted.
    let series = |name: &str| {
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(name).map(str::trim))
            .unwrap_or_else(|| panic!("no series {name}: {metrics}"))
            .to_string()
    };
    assert_eq!(
        series("slipway_aggregator_rejected_requests_total{status=\"401\"}"),
        "2"
    );
    assert_eq!(
        series("slipway_aggregator_rejected_requests_total{status=\"403\"}"),
        "1"
    );
    let (status, body) = h.send("GET", "/api/nope", None, None).await;
    assert_eq!((status, body["error"].is_string()), (404, true));
    let page = h
        .http
        .get(h.url("/services/s1"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("npm run build"), "{page}");
    h.stop().await;
}

#[tokio::test]
async fn history_tells_promotions_and_hand_made_commits_apart() {
    let h = Harness::start(REPO).await;
    h.repo
        .commit(
            "Promote latest → dev: s1 1 → 2\n\ns1: 1 → 2\n\nSlipway-Action: promotion\nSlipway-Transition: dev\nSlipway-Env: dev\n",
            &[("dev/version/s1.yaml", Some("version: '2'\n"))],
        )
        .unwrap();
    h.repo
        .commit("bump replicas by hand", &[("dev/base/s1.yaml", Some("kind: x\n"))])
        .unwrap();
    // A commit from someone else shows up after a fetch (poll_interval is short in tests).
    eventually("the new head is fetched", || async {
        h.state().await["commit"].as_str() == h.repo.head().as_deref()
    })
    .await;
    let (status, hist) = h.send("GET", "/api/history?env=dev", None, None).await;
    assert_eq!(status, 200);
    let entries = hist["entries"].as_array().unwrap();
    assert_eq!(entries[0]["kind"], "other");
    assert_eq!(entries[0]["author"], "fixture");
    assert_eq!(entries[1]["kind"], "promotion");
    assert_eq!(entries[1]["env"], "dev");
    assert_eq!(entries[1]["changelog"], "s1: 1 → 2");
    let (_, hist) = h.send("GET", "/api/history?env=dev&service=s1", None, None).await;
    let first = &hist["entries"][0];
    assert_eq!(
        (first["kind"].as_str(), first["old"].as_str(), first["new"].as_str()),
        (Some("promotion"), Some("1"), Some("2"))
    );
    let (_, hist) = h.send("GET", "/api/history?service=s1", None, None).await;
    assert_eq!(
        hist["entries"].as_array().unwrap().len(),
        2,
        "initial and the promotion: {hist}"
    );
    h.stop().await;
}

/// A transitioner that takes runs only with `token`, and keeps the body of each run it took.
async fn guarded_transitioner(token: &'static str) -> (String, Arc<std::sync::Mutex<Vec<Value>>>) {
    let bodies = Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = bodies.clone();
    let router = Router::new().route(
        "/transitions/{name}/run",
        post(
            move |headers: axum::http::HeaderMap, body: axum::body::Bytes| async move {
                let expected = format!("Bearer {token}");
                if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some(expected.as_str()) {
                    return (
                        axum::http::StatusCode::UNAUTHORIZED,
                        Json(json!({"error": "this API token is not accepted", "field": null})),
                    );
                }
                seen.lock()
                    .unwrap()
                    .push(serde_json::from_slice(&body).unwrap_or(Value::Null));
                (
                    axum::http::StatusCode::OK,
                    Json(json!({"result": "Success", "reason": "promoted", "commit": "abc"})),
                )
            },
        ),
    );
    // Verdicts: approve is refused as the transitioner refuses a person (four eyes), reject recorded.
    let (approvals, rejections) = (bodies.clone(), bodies.clone());
    let router = router
        .route(
            "/transitions/{name}/approve",
            post(move |body: axum::body::Bytes| async move {
                approvals
                    .lock()
                    .unwrap()
                    .push(serde_json::from_slice(&body).unwrap_or(Value::Null));
                (
                    axum::http::StatusCode::FORBIDDEN,
                    Json(json!({"error": "alice posted s1 2 and may not approve its promotion (four eyes)", "field": null})),
                )
            }),
        )
        .route(
            "/transitions/{name}/reject",
            post(move |body: axum::body::Bytes| async move {
                rejections
                    .lock()
                    .unwrap()
                    .push(serde_json::from_slice(&body).unwrap_or(Value::Null));
                (
                    axum::http::StatusCode::OK,
                    Json(json!({"state": "AwaitingApproval", "commit": "def"})),
                )
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    (format!("http://{addr}"), bodies)
}

#[tokio::test]
async fn verdicts_are_forwarded_naming_the_caller_and_refusals_about_the_person_are_passed_on() {
    let (url, bodies) = guarded_transitioner("peer-secret").await;
    let h = Harness::start_with(REPO, |c| {
        let file = c.repo.versions_checkout_path.with_file_name("peer-token");
        std::fs::write(&file, "aggregator:peer-secret\n").unwrap();
        c.peer_token_file = Some(file);
        c.transitioner_url = Some(url.clone());
    })
    .await;
    let (status, body) = h
        .send(
            "POST",
            "/api/transitions/dev/approve",
            Some(ALICE_TOKEN),
            Some(json!({"reason": "ok"})),
        )
        .await;
    assert_eq!(status, 403, "{body}");
    assert!(body["error"].as_str().unwrap().contains("four eyes"), "{body}");
    let (status, body) = h
        .send(
            "POST",
            "/api/transitions/dev/reject",
            Some(ALICE_TOKEN),
            Some(json!({"reason": "not yet"})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        *bodies.lock().unwrap(),
        vec![
            json!({"reason": "ok", "author": "alice"}),
            json!({"reason": "not yet", "author": "alice"})
        ]
    );
    let (status, _) = h
        .send(
            "POST",
            "/api/transitions/dev/reject",
            Some(ALICE_TOKEN),
            Some(json!({"author": "mallory", "reason": "x"})),
        )
        .await;
    assert_eq!(status, 400, "the author is always the caller");
    assert_eq!(h.send("POST", "/api/transitions/dev/approve", None, None).await.0, 401);
    assert_eq!(bodies.lock().unwrap().len(), 2);
    h.stop().await;
}

#[tokio::test]
async fn runs_are_forwarded_with_the_peer_token_naming_the_caller() {
    let (url, bodies) = guarded_transitioner("peer-secret").await;
    let h = Harness::start_with(REPO, |c| {
        // Next to the aggregator's checkout, in the fixture's scratch folder.
        let file = c.repo.versions_checkout_path.with_file_name("peer-token");
        std::fs::write(&file, "aggregator:peer-secret\n").unwrap();
        c.peer_token_file = Some(file);
        c.transitioner_url = Some(url.clone());
    })
    .await;
    let (status, body) = h
        .send("POST", "/api/transitions/dev/run", Some(ALICE_TOKEN), None)
        .await;
    assert_eq!((status, body["result"].as_str()), (200, Some("Success")), "{body}");
    assert_eq!(*bodies.lock().unwrap(), vec![json!({"author": "alice"})]);
    // Break-glass fields are passed on; the caller's name still wins over any author.
    let (status, body) = h
        .send(
            "POST",
            "/api/transitions/dev/run",
            Some(ALICE_TOKEN),
            Some(json!({"override_windows": true, "reason": "incident 4711"})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        bodies.lock().unwrap()[1],
        json!({"override_windows": true, "reason": "incident 4711", "author": "alice"})
    );
    let (status, body) = h
        .send(
            "POST",
            "/api/transitions/dev/run",
            Some(ALICE_TOKEN),
            Some(json!({"author": "mallory"})),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(
        bodies.lock().unwrap().len(),
        2,
        "refused before reaching the transitioner"
    );
    h.stop().await;

    // Without the peer token the transitioner refuses; that is the aggregator's setup, not the caller's token.
    let h = Harness::start_with(REPO, |c| c.transitioner_url = Some(url)).await;
    let (status, body) = h
        .send("POST", "/api/transitions/dev/run", Some(ALICE_TOKEN), None)
        .await;
    assert_eq!(status, 502, "{body}");
    assert!(body["error"].as_str().unwrap().contains("peer_token_file"), "{body}");
    assert_eq!(bodies.lock().unwrap().len(), 2, "nothing was run");
    h.stop().await;
}
