//! Input that git or a reader would choke on is the client's error: refused at the
//! edge with the JSON error, nothing committed, and the state never marked stale.

mod support;

use serde_json::{json, Value};
use support::{Harness, CI_TOKEN, REPO};

/// Sends `body` as-is with `content_type` (none if `None`); returns status and JSON answer.
async fn raw(
    h: &Harness,
    method: &str,
    path: &str,
    content_type: Option<&str>,
    body: impl Into<reqwest::Body>,
) -> (u16, Value) {
    let mut req = h
        .http
        .request(method.parse().unwrap(), h.url(path))
        .bearer_auth(CI_TOKEN)
        .body(body);
    if let Some(t) = content_type {
        req = req.header("content-type", t);
    }
    let response = req.send().await.unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    let answer = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{method} {path}: not JSON ({e}): {text}"));
    (status, answer)
}

/// The repo head did not move and `/api/state` does not say the repo is down.
async fn assert_untouched(h: &Harness, head: &Option<String>, what: &str) {
    assert_eq!(&h.repo.head(), head, "{what}: nothing was committed");
    let state = h.state().await;
    assert_eq!(state["stale"], false, "{what}: {}", state["stale_reasons"]);
}

#[tokio::test]
async fn control_characters_in_any_field_are_400_naming_it_and_leave_repo_and_state_alone() {
    let h = Harness::start(REPO).await;
    let head = h.repo.head();
    let version = |vars: Value, changelog: &str| {
        json!({"service": "s1", "env": "latest", "vars": vars, "changelog": changelog}).to_string()
    };
    // (what, method, path, body, field at fault)
    let cases = [
        (
            "NUL byte in a changelog",
            "POST",
            "/api/versions",
            version(json!({"version": "2"}), "fix\u{0}"),
            "changelog",
        ),
        (
            "terminal escape in a changelog",
            "POST",
            "/api/versions",
            version(json!({"version": "2"}), "\u{1b}[2Jgone"),
            "changelog",
        ),
        (
            "lone carriage return in a changelog",
            "POST",
            "/api/versions",
            version(json!({"version": "2"}), "a\rb"),
            "changelog",
        ),
        (
            "NUL byte in a variable",
            "POST",
            "/api/versions",
            version(json!({"version": "2\u{0}"}), ""),
            "vars.version",
        ),
        (
            "NUL byte in a lock reason",
            "PUT",
            "/api/locks/latest",
            json!({"reason": "freeze\u{0}"}).to_string(),
            "reason",
        ),
        (
            "DEL in an unlock reason",
            "DELETE",
            "/api/locks/latest/s1",
            json!({"reason": "x\u{7f}"}).to_string(),
            "reason",
        ),
        (
            "NUL byte in a rollback commit",
            "POST",
            "/api/rollback",
            json!({"env": "latest", "service": "s1", "commit": "abcd\u{0}"}).to_string(),
            "commit",
        ),
    ];
    for (what, method, path, body, field) in cases {
        let (status, answer) = raw(&h, method, path, Some("application/json"), body).await;
        assert_eq!(status, 400, "{what}: {answer}");
        assert_eq!(answer["field"], field, "{what}: {answer}");
        let error = answer["error"].as_str().unwrap_or_default();
        assert!(error.contains("control character"), "{what}: {error}");
        assert_untouched(&h, &head, what).await;
    }
    // Line ends a person writes are text: \r\n in a changelog is kept as \n.
    let (status, answer) = raw(
        &h,
        "POST",
        "/api/versions",
        Some("application/json"),
        version(json!({"version": "2"}), "Fix login\r\n\r\n\tdetails"),
    )
    .await;
    assert_eq!(status, 201, "{answer}");
    let message = h.repo.log()[0].2.clone();
    assert!(message.contains("Fix login\n\n\tdetails"), "{message:?}");
    h.stop().await;
}

#[tokio::test]
async fn changelog_over_64_kib_is_413_saying_the_limit_and_commits_nothing() {
    let h = Harness::start(REPO).await;
    let head = h.repo.head();
    let body =
        json!({"service": "s1", "env": "latest", "vars": {"version": "2"}, "changelog": "x".repeat(64 * 1024 + 1)});
    let (status, answer) = raw(&h, "POST", "/api/versions", Some("application/json"), body.to_string()).await;
    assert_eq!(status, 413, "{answer}");
    assert_eq!(answer["field"], "changelog");
    assert!(answer["error"].as_str().unwrap().contains("64 KiB"), "{answer}");
    assert_untouched(&h, &head, "long changelog").await;

    let reason = json!({"reason": "r".repeat(301)}).to_string();
    let (status, answer) = raw(&h, "PUT", "/api/locks/latest", Some("application/json"), reason).await;
    assert_eq!(status, 413, "{answer}");
    assert_eq!(answer["field"], "reason");
    assert!(answer["error"].as_str().unwrap().contains("300 characters"), "{answer}");
    assert_untouched(&h, &head, "long reason").await;
    h.stop().await;
}

#[tokio::test]
async fn bodies_not_sent_as_json_are_415_and_bodyless_requests_still_work() {
    let h = Harness::start(REPO).await;
    let head = h.repo.head();
    let version = json!({"service": "s1", "env": "latest", "vars": {"version": "2"}}).to_string();
    let lock = json!({"reason": "freeze"}).to_string();
    let rollback = json!({"env": "latest", "service": "s1", "commit": "abcdef0"}).to_string();
    let form = Some("application/x-www-form-urlencoded");
    let cases = [
        ("POST", "/api/versions", Some("text/plain"), version.clone()),
        ("POST", "/api/versions", form, version.clone()),
        ("POST", "/api/versions", None, version.clone()),
        ("POST", "/api/versions", Some("application/jsonp"), version.clone()),
        ("PUT", "/api/locks/latest", Some("text/plain"), lock.clone()),
        ("PUT", "/api/locks/latest/s1", form, lock.clone()),
        ("DELETE", "/api/locks/latest", Some("text/plain"), lock.clone()),
        ("POST", "/api/rollback", Some("text/plain"), rollback.clone()),
        ("POST", "/api/transitions/dev/run", Some("text/plain"), "{}".to_string()),
    ];
    for (method, path, content_type, body) in cases {
        let what = format!("{method} {path} as {content_type:?}");
        let (status, answer) = raw(&h, method, path, content_type, body).await;
        assert_eq!(status, 415, "{what}: {answer}");
        assert!(
            answer["error"]
                .as_str()
                .unwrap()
                .contains("Content-Type: application/json"),
            "{what}: {answer}"
        );
        assert_untouched(&h, &head, &what).await;
    }

    // JSON with a charset parameter is JSON.
    let (status, answer) = raw(
        &h,
        "PUT",
        "/api/locks/latest",
        Some("application/json; charset=utf-8"),
        lock,
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    // Requests without a body need no content type: unlock everything, run a transition.
    let (status, answer) = raw(&h, "DELETE", "/api/locks/latest", None, "").await;
    assert_eq!((status, answer["unchanged"].as_bool()), (200, None), "{answer}");
    let (status, answer) = raw(&h, "POST", "/api/transitions/dev/run", None, "").await;
    assert_eq!(
        status, 503,
        "past the body checks, to the missing transitioner_url: {answer}"
    );
    h.stop().await;
}

#[tokio::test]
async fn refresh_is_open_and_answers_202_to_every_nudge_of_a_burst() {
    let h = Harness::start(REPO).await;
    let answers = futures::future::join_all((0..10).map(|_| h.http.post(h.url("/refresh")).send())).await;
    let mut statuses = Vec::new();
    for answer in answers {
        let answer = answer.unwrap();
        assert_eq!(answer.status().as_u16(), 202);
        let body: Value = answer.json().await.unwrap();
        statuses.push(body["status"].as_str().unwrap_or_default().to_string());
    }
    // The first nudge of a fresh service is always acted on; how the rest split
    // depends on the wall clock (the exact counts are tested on the transitioner's clock).
    assert!(statuses.iter().any(|s| s == "scheduled"), "{statuses:?}");
    assert!(
        statuses.iter().all(|s| s == "scheduled" || s == "coalesced"),
        "{statuses:?}"
    );
    h.stop().await;
}
