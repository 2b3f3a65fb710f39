//! `POST /api/deploy`: scopes, unknown envs, and passing the redeploy on to the
//! deployer replica that holds each env (two fake replicas: the one at
//! `deployer_url` holds dev and names the other as the owner of pp).

mod support;

use std::sync::{Arc, Mutex};

use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Value};
use support::{Harness, ALICE_TOKEN};

const REPO: &str = r#"
commits:
  - message: initial
    files:
      deployers.yaml: "deployers:\n  dev: {cluster: main, namespace: dev}\n  pp: {cluster: main, namespace: pp}\n"
      dev/version/s1.yaml: "version: '1'\n"
      pp/version/s1.yaml: "version: '1'\n"
"#;

type Seen = Arc<Mutex<Vec<(String, Value)>>>;

fn applied(env: &str) -> Value {
    json!({"result": "applied", "commit": "abc", "status": "Clean", "created": 0, "changed": 0,
           "reapplied": 2, "unchanged": 0, "pruned": 0, "failed": 0,
           "objects": [{"object": format!("ConfigMap {env}/s1"), "action": "reapplied"},
                       {"object": format!("ConfigMap {env}/app"), "action": "reapplied"}]})
}

/// A fake deployer replica that holds `held` and names `owner` (at `address`) for the rest.
async fn replica(name: &'static str, held: &'static [&'static str], address: Arc<Mutex<String>>, seen: Seen) -> String {
    let router = Router::new().route(
        "/deploy",
        post(move |headers: axum::http::HeaderMap, Json(body): Json<Value>| async move {
            if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some("Bearer peer-secret") {
                return (
                    axum::http::StatusCode::UNAUTHORIZED,
                    Json(json!({"error": "this API token is not accepted"})),
                );
            }
            seen.lock().unwrap().push((name.to_string(), body.clone()));
            let mut envs = serde_json::Map::new();
            for env in body["envs"].as_array().unwrap() {
                let env = env.as_str().unwrap();
                let answer = if held.contains(&env) {
                    applied(env)
                } else {
                    json!({"result": "not_held", "owner": "replica-b", "owner_address": address.lock().unwrap().clone(),
                           "error": format!("env {env} is applied by replica replica-b")})
                };
                envs.insert(env.to_string(), answer);
            }
            (
                axum::http::StatusCode::OK,
                Json(json!({"force": body["force"], "envs": envs})),
            )
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    url
}

#[tokio::test]
async fn redeploys_go_to_the_replica_holding_each_env_and_need_the_deploy_scope() {
    let seen: Seen = Arc::default();
    let address = Arc::new(Mutex::new(String::new()));
    let b = replica("b", &["pp"], address.clone(), seen.clone()).await;
    *address.lock().unwrap() = b;
    let a = replica("a", &["dev"], address.clone(), seen.clone()).await;
    let h = Harness::start_with(REPO, |c| {
        let dir = c.repo.versions_checkout_path.parent().unwrap().to_path_buf();
        let peer = dir.join("peer-token");
        std::fs::write(&peer, "aggregator:peer-secret\n").unwrap();
        c.peer_token_file = Some(peer);
        let tokens = c.api_tokens_file.clone().unwrap();
        let mut text = std::fs::read_to_string(&tokens).unwrap();
        text.push_str("dev-only:dev-secret:deploy=dev\nreader:read-secret:read\n");
        std::fs::write(&tokens, text).unwrap();
        c.deployer_url = Some(a);
    })
    .await;

    let (status, body) = h
        .send(
            "POST",
            "/api/deploy",
            Some(ALICE_TOKEN),
            Some(json!({"envs": ["dev", "pp"], "force": true})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["force"], true);
    assert_eq!(body["envs"]["dev"]["result"], "applied", "{body}");
    assert_eq!(body["envs"]["pp"]["result"], "applied", "{body}");
    assert_eq!(body["envs"]["pp"]["objects"][0]["object"], "ConfigMap pp/s1");
    assert_eq!(
        *seen.lock().unwrap(),
        vec![
            ("a".to_string(), json!({"envs": ["dev", "pp"], "force": true})),
            ("b".to_string(), json!({"envs": ["pp"], "force": true})),
        ]
    );

    // Tokens: none → 401, no deploy scope → 403, a scope for other envs → 403.
    let before = seen.lock().unwrap().len();
    let (status, body) = h
        .send("POST", "/api/deploy", None, Some(json!({"envs": ["dev"]})))
        .await;
    assert_eq!(status, 401, "{body}");
    let (status, body) = h
        .send(
            "POST",
            "/api/deploy",
            Some("read-secret"),
            Some(json!({"envs": ["dev"]})),
        )
        .await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["missing_scope"], "deploy=dev");
    let (status, body) = h
        .send("POST", "/api/deploy", Some("dev-secret"), Some(json!({"envs": ["pp"]})))
        .await;
    assert_eq!(status, 403, "{body}");
    let (status, _) = h.send("POST", "/api/deploy", Some("dev-secret"), None).await;
    assert_eq!(status, 403, "every env needs the scope for every env");
    // Unknown env → 404 naming the known ones.
    let (status, body) = h
        .send(
            "POST",
            "/api/deploy",
            Some(ALICE_TOKEN),
            Some(json!({"envs": ["dev", "qa"]})),
        )
        .await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["known"], json!(["dev", "pp"]));
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("qa not in deployers.yaml; its envs are: dev, pp"),
        "{body}"
    );
    let (status, body) = h
        .send(
            "POST",
            "/api/deploy",
            Some(ALICE_TOKEN),
            Some(json!({"namespaces": ["dev"]})),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(
        seen.lock().unwrap().len(),
        before,
        "refused before reaching the deployer"
    );

    let (status, body) = h
        .send(
            "POST",
            "/api/deploy",
            Some("dev-secret"),
            Some(json!({"envs": ["dev"]})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["envs"]["dev"]["reapplied"], 2);
    h.stop().await;
}
