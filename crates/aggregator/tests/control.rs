//! Promotion control at the API: holds placed by rollbacks, locks only on what
//! exists, scoped tokens, and the pre-flight of posted versions.

mod support;

use std::sync::{Arc, Mutex};

use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Value};
use support::{Harness, ALICE_TOKEN, CI_TOKEN, REPO};

/// The dev lock reasons of `service` in the state.
async fn service_locks(h: &Harness, service: &str, env: &str) -> Value {
    let state = h.state().await;
    state["services"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == service)
        .map(|s| s["envs"][env]["lock_reasons"].clone())
        .unwrap_or(Value::Null)
}

#[tokio::test]
async fn a_rollback_places_a_hold_in_the_same_commit_and_unlocking_releases_it() {
    let h = Harness::start(REPO).await;
    let (_, two) = h.post_version("s1", "dev", "2").await;
    let two = two["commit"].as_str().unwrap().to_string();
    assert_eq!(h.post_version("s1", "dev", "3").await.0, 201);
    let before = h.repo.log().len();
    let (status, body) = h
        .send(
            "POST",
            "/api/rollback",
            Some(ALICE_TOKEN),
            Some(json!({"env": "dev", "service": "s1", "commit": two})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(
        h.repo.log().len(),
        before + 1,
        "one commit for the version and the hold"
    );
    let commit = body["commit"].as_str().unwrap();
    assert_eq!(h.repo.read_at(commit, "dev/version/s1.yaml").unwrap(), "version: '2'\n");
    assert!(
        h.repo
            .read_at(commit, "dev/locks.yaml")
            .unwrap()
            .contains("rolled back from 3 to 2 by alice"),
        "the hold is in the rollback's own commit"
    );
    assert_eq!(
        service_locks(&h, "s1", "dev").await,
        json!(["rolled back from 3 to 2 by alice"])
    );
    let state = h.state().await;
    assert_eq!(
        state["services"][0]["envs"]["dev"]["holds"],
        json!(["rolled back from 3 to 2 by alice"]),
        "{state}"
    );
    // A held service takes no version, as any lock.
    assert_eq!(h.post_version("s1", "dev", "4").await.0, 423);

    let (status, body) = h.send("DELETE", "/api/locks/dev/s1", Some(ALICE_TOKEN), None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(service_locks(&h, "s1", "dev").await, json!([]));
    assert_eq!(h.repo.read("dev/locks.yaml"), None);
    h.stop().await;
}

#[tokio::test]
async fn a_rollback_with_hold_false_places_no_hold() {
    let h = Harness::start(REPO).await;
    let (_, two) = h.post_version("s1", "dev", "2").await;
    let two = two["commit"].as_str().unwrap().to_string();
    assert_eq!(h.post_version("s1", "dev", "3").await.0, 201);
    let (status, body) = h
        .send(
            "POST",
            "/api/rollback",
            Some(ALICE_TOKEN),
            Some(json!({"env": "dev", "service": "s1", "commit": two, "hold": false})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(h.repo.read("dev/version/s1.yaml").unwrap(), "version: '2'\n");
    assert_eq!(h.repo.read("dev/locks.yaml"), None);
    let (status, body) = h
        .send(
            "POST",
            "/api/rollback",
            Some(ALICE_TOKEN),
            Some(json!({"env": "dev", "service": "s1", "commit": two, "hold": "no"})),
        )
        .await;
    assert_eq!((status, body["field"].as_str()), (400, Some("hold")), "{body}");
    h.stop().await;
}

#[tokio::test]
async fn locks_on_an_unknown_env_or_service_are_404_naming_the_known_ones_and_commit_nothing() {
    let h = Harness::start(REPO).await;
    let head = h.repo.head();
    let lock = json!({"reason": "incident"});
    let (status, body) = h
        .send("PUT", "/api/locks/dev/nosuch", Some(ALICE_TOKEN), Some(lock.clone()))
        .await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["known_services"], json!(["s1"]));
    assert!(body["error"].as_str().unwrap().contains("\"nosuch\""), "{body}");
    let (status, body) = h
        .send("PUT", "/api/locks/nope", Some(ALICE_TOKEN), Some(lock.clone()))
        .await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["known_envs"], json!(["dev", "latest"]));
    let (status, _) = h.send("PUT", "/api/locks/nope/s1", Some(ALICE_TOKEN), Some(lock)).await;
    assert_eq!(status, 404);
    let (status, _) = h.send("DELETE", "/api/locks/dev/nosuch", Some(ALICE_TOKEN), None).await;
    assert_eq!(status, 404);
    assert_eq!(h.repo.head(), head, "nothing committed");
    h.stop().await;
}

/// A repo where a version posted to `latest` reaches `dev` and then `pp`, whose base needs `replicas`.
const DOWNSTREAM: &str = r#"
commits:
  - message: initial
    files:
      transitions.yaml: |
        transitions:
          dev: {source: latest, target: dev}
          pp: {source: dev, target: pp, preconditions: [SourceClean]}
      deployers.yaml: |
        deployers:
          dev: {cluster: main, namespace: dev}
          pp: {cluster: main, namespace: pp}
      latest/version/s1.yaml: "version: '1'\nreplicas: 2\n"
      dev/version/s1.yaml: "version: '1'\nreplicas: 2\n"
      dev/base/s1.yaml: |
        apiVersion: v1
        kind: ConfigMap
        metadata: {name: s1}
        data: {version: "${version}"}
      pp/version/s1.yaml: "version: '1'\nreplicas: 2\n"
      pp/base/s1.yaml: |
        apiVersion: apps/v1
        kind: Deployment
        metadata: {name: s1}
        spec:
          replicas: ${replicas}
"#;

#[tokio::test]
async fn a_post_missing_a_variable_that_a_downstream_base_needs_is_422_unless_forced() {
    let h = Harness::start(DOWNSTREAM).await;
    let head = h.repo.head();
    let (status, body) = h.post_version("s1", "latest", "2").await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(
        (
            body["env"].as_str(),
            body["file"].as_str(),
            body["line"].as_u64(),
            body["variable"].as_str(),
            body["field"].as_str()
        ),
        (
            Some("pp"),
            Some("pp/base/s1.yaml"),
            Some(5),
            Some("replicas"),
            Some("vars")
        ),
        "{body}"
    );
    let message = body["error"].as_str().unwrap();
    assert!(message.contains("pp/base/s1.yaml line 5"), "{message}");
    assert!(message.contains("\"force\": true"), "{message}");
    assert_eq!(h.repo.head(), head, "nothing committed");

    let forced = json!({"service": "s1", "env": "latest", "vars": {"version": "2"}, "force": true});
    let (status, body) = h.send("POST", "/api/versions", Some(CI_TOKEN), Some(forced)).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(h.repo.read("latest/version/s1.yaml").unwrap(), "version: '2'\n");

    let complete = json!({"service": "s1", "env": "latest", "vars": {"version": "3", "replicas": 1}});
    let (status, body) = h.send("POST", "/api/versions", Some(CI_TOKEN), Some(complete)).await;
    assert_eq!(status, 201, "{body}");
    h.stop().await;
}

const SCOPED: &[(&str, &str)] = &[
    ("admin", "admin-token"),
    ("ci", "ci-token:versions=latest"),
    ("ops", "ops-token:locks=dev,rollback=dev,run=dev"),
    ("viewer", "viewer-token:read"),
    ("oncall", "oncall-token:run,override=dev"),
];

/// A transitioner that takes every run and keeps the bodies.
async fn fake_transitioner() -> (String, Arc<Mutex<Vec<Value>>>) {
    let bodies = Arc::new(Mutex::new(Vec::new()));
    let seen = bodies.clone();
    let router = Router::new().route(
        "/transitions/{name}/run",
        post(move |body: axum::body::Bytes| async move {
            seen.lock()
                .unwrap()
                .push(serde_json::from_slice(&body).unwrap_or(Value::Null));
            Json(json!({"result": "Success", "reason": "promoted", "commit": "abc"}))
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    (format!("http://{addr}"), bodies)
}

async fn scoped_harness(read_requires_token: bool) -> (Harness, Arc<Mutex<Vec<Value>>>) {
    let (url, bodies) = fake_transitioner().await;
    let h = Harness::start_with(REPO, |c| {
        let file = c.repo.versions_checkout_path.with_file_name("scoped-tokens");
        let lines: String = SCOPED.iter().map(|(n, t)| format!("{n}:{t}\n")).collect();
        std::fs::write(&file, lines).unwrap();
        c.api_tokens_file = Some(file);
        let peer = c.repo.versions_checkout_path.with_file_name("peer-token");
        std::fs::write(&peer, "aggregator:peer\n").unwrap();
        c.peer_token_file = Some(peer);
        c.transitioner_url = Some(url);
        c.read_requires_token = read_requires_token;
    })
    .await;
    (h, bodies)
}

#[tokio::test]
async fn each_write_endpoint_refuses_a_token_without_its_scope_naming_it_and_accepts_one_with_it() {
    let (h, runs) = scoped_harness(false).await;
    let initial = h.repo.named("initial").unwrap().to_string();
    let version = |env: &str, v: &str| json!({"service": "s1", "env": env, "vars": {"version": v}});
    let reason = json!({"reason": "incident"});
    let rollback = json!({"env": "dev", "service": "s1", "commit": initial});
    let run = "/api/transitions/dev/run";
    let override_run = json!({"override_windows": true, "reason": "hotfix"});
    // (method, path, refused token, body, missing scope, accepted token, accepted status)
    type Case = (
        &'static str,
        &'static str,
        &'static str,
        Option<Value>,
        &'static str,
        &'static str,
        u16,
    );
    let cases: Vec<Case> = vec![
        (
            "POST",
            "/api/versions",
            "viewer-token",
            Some(version("latest", "2")),
            "versions=latest",
            "ci-token",
            201,
        ),
        (
            "POST",
            "/api/versions",
            "ci-token",
            Some(version("dev", "2")),
            "versions=dev",
            "admin-token",
            201,
        ),
        (
            "PUT",
            "/api/locks/dev",
            "ci-token",
            Some(reason.clone()),
            "locks=dev",
            "ops-token",
            200,
        ),
        (
            "DELETE",
            "/api/locks/dev",
            "viewer-token",
            None,
            "locks=dev",
            "ops-token",
            200,
        ),
        (
            "PUT",
            "/api/locks/dev/s1",
            "ci-token",
            Some(reason.clone()),
            "locks=dev",
            "ops-token",
            200,
        ),
        (
            "DELETE",
            "/api/locks/dev/s1",
            "ci-token",
            None,
            "locks=dev",
            "ops-token",
            200,
        ),
        (
            "POST",
            "/api/rollback",
            "ci-token",
            Some(rollback),
            "rollback=dev",
            "ops-token",
            201,
        ),
        ("POST", run, "ci-token", None, "run=dev", "ops-token", 200),
        (
            "POST",
            run,
            "ops-token",
            Some(override_run),
            "override=dev",
            "oncall-token",
            200,
        ),
    ];
    for (method, path, refused, body, scope, accepted, ok) in cases {
        let head = h.repo.head();
        let (status, answer) = h.send(method, path, Some(refused), body.clone()).await;
        assert_eq!(status, 403, "{method} {path} with {refused}: {answer}");
        assert_eq!(answer["missing_scope"], scope, "{method} {path}: {answer}");
        assert!(
            answer["error"]
                .as_str()
                .unwrap()
                .contains(&format!("lacks scope {scope}")),
            "{answer}"
        );
        assert_eq!(h.repo.head(), head, "{method} {path}: nothing committed");
        let runs_before = runs.lock().unwrap().len();
        let (status, answer) = h.send(method, path, Some(accepted), body).await;
        assert_eq!(status, ok, "{method} {path} with {accepted}: {answer}");
        if path == run {
            assert_eq!(runs.lock().unwrap().len(), runs_before + 1, "the run was forwarded");
        }
    }
    // The break-glass run is passed on with who asked and why.
    assert_eq!(
        runs.lock().unwrap().last().unwrap(),
        &json!({"author": "oncall", "override_windows": true, "reason": "hotfix"})
    );
    // The rollback by ops placed a hold in ops' name.
    assert_eq!(h.repo.log()[0].1, "ops");
    h.stop().await;
}

#[tokio::test]
async fn a_read_only_token_reads_when_reads_need_a_token_and_writes_nothing() {
    let (h, _) = scoped_harness(true).await;
    assert_eq!(h.send("GET", "/api/state", None, None).await.0, 401);
    assert_eq!(h.send("GET", "/api/state", Some("viewer-token"), None).await.0, 200);
    assert_eq!(h.send("GET", "/api/history", Some("ci-token"), None).await.0, 200);
    let (status, body) = h
        .send(
            "PUT",
            "/api/locks/dev",
            Some("viewer-token"),
            Some(json!({"reason": "x"})),
        )
        .await;
    assert_eq!((status, body["missing_scope"].as_str()), (403, Some("locks=dev")));
    h.stop().await;
}
