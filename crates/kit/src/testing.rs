//! Checks of what every service serves through the kit (`/live`, `/ready`, the
//! JSON error shape), for the services' own tests against a real listener.
//! Only with the `testing` feature, which the services enable for their tests.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;

/// `GET url`: the status and the JSON body (`Null` when the body is not JSON).
pub async fn get_json(url: &str) -> (u16, Value) {
    let response = reqwest::get(url).await.unwrap_or_else(|e| panic!("GET {url}: {e}"));
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Asserts that the service at `base`, whose repo does not exist yet, is live
/// but not ready (503, saying the repo has not been fetched); then calls
/// `create_repo` and waits up to 10 s for `/ready` to answer 200, and `/live`
/// still 200.
pub async fn assert_ready_only_after_the_first_fetch(base: &str, create_repo: impl FnOnce()) {
    assert_eq!(get_json(&format!("{base}/live")).await.0, 200);
    let (status, body) = get_json(&format!("{base}/ready")).await;
    assert_eq!(status, 503, "{body}");
    let error = body["error"].as_str().unwrap_or_default();
    assert!(error.contains("not been fetched"), "{body}");
    create_repo();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let seen = get_json(&format!("{base}/ready")).await;
        if seen.0 == 200 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "/ready never answered 200: {seen:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(get_json(&format!("{base}/live")).await.0, 200);
}

/// Asserts that the service at `base` answers `unknown_path` with 404 and a
/// wrong method with 405, each with the JSON error shape naming what was asked.
pub async fn assert_json_errors_for_unknown_paths_and_methods(base: &str, unknown_path: &str) {
    let (status, body) = get_json(&format!("{base}{unknown_path}")).await;
    assert_eq!(status, 404, "{body}");
    let error = body["error"].as_str().unwrap_or_default();
    assert!(error.contains(&format!("endpoint: {unknown_path}")), "{body}");
    let (status, body) = get_json(&format!("{base}/refresh")).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (405, Some("method GET is not allowed on /refresh")),
        "{body}"
    );
    let response = reqwest::Client::new()
        .delete(format!("{base}/live"))
        .send()
        .await
        .unwrap_or_else(|e| panic!("DELETE {base}/live: {e}"));
    assert_eq!(response.status(), 405);
    let body: Value = response.json().await.unwrap_or(Value::Null);
    assert!(body["error"].is_string(), "{body}");
}

/// A notification receiver on loopback: the URL to configure as a `webhook`
/// target, and every JSON body POSTed to it so far (a body that is not JSON is
/// kept as `Null`).
pub async fn notification_receiver() -> (String, Arc<Mutex<Vec<Value>>>) {
    let got: Arc<Mutex<Vec<Value>>> = Arc::default();
    let seen = got.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |body: String| {
            let seen = seen.clone();
            async move {
                seen.lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push(serde_json::from_str(&body).unwrap_or_default());
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a loopback port for the receiver");
    let url = format!("http://{}/hook", listener.local_addr().expect("its address"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, got)
}

/// Reads the first line a service started with piped stdout prints,
/// `<program> listening on <url>`, and answers the URL.
pub async fn listening_url(child: &mut tokio::process::Child, program: &str) -> String {
    use tokio::io::AsyncBufReadExt as _;
    let stdout = child.stdout.take().expect("stdout is piped");
    let mut line = String::new();
    tokio::io::BufReader::new(stdout)
        .read_line(&mut line)
        .await
        .unwrap_or_else(|e| panic!("reading {program}'s stdout: {e}"));
    line.trim()
        .strip_prefix(&format!("{program} listening on "))
        .unwrap_or_else(|| panic!("unexpected first line of {program}: {line:?}"))
        .to_string()
}
