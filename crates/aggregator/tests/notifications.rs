//! `lock_changed` and `rolled_back` reach a loopback receiver with the
//! documented bodies.

mod support;

use slipway_kit::notify::{TargetConfig, TargetKind};
use support::{eventually, Harness, ALICE_TOKEN, REPO};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lock_changes_and_rollbacks_are_notified_with_who_and_what() {
    let (url, got) = slipway_kit::testing::notification_receiver().await;
    let h = Harness::start_with(REPO, |c| {
        c.notifications = vec![TargetConfig {
            kind: TargetKind::Webhook,
            url,
            events: None,
            secret_file: None,
            secret_env: None,
            name: None,
        }]
    })
    .await;
    let first = h.repo.head().unwrap();

    let (code, body) = h
        .send(
            "PUT",
            "/api/locks/dev/s1",
            Some(ALICE_TOKEN),
            Some(serde_json::json!({"reason": "incident 4711"})),
        )
        .await;
    assert_eq!(code, 200, "{body}");
    let lock_commit = body["commit"].as_str().unwrap().to_string();
    let (code, body) = h.post_version("s1", "latest", "2").await;
    assert_eq!(code, 201, "{body}");
    let (code, body) = h
        .send(
            "POST",
            "/api/rollback",
            Some(ALICE_TOKEN),
            Some(serde_json::json!({"env": "latest", "service": "s1", "commit": first})),
        )
        .await;
    assert_eq!(code, 201, "{body}");
    eventually("two notifications", || async { got.lock().unwrap().len() >= 2 }).await;
    let got = got.lock().unwrap().clone();
    assert_eq!(got.len(), 2, "a posted version notifies nothing: {got:?}");
    let lock = &got[0];
    assert_eq!(lock["event"], "lock_changed");
    assert_eq!(lock["env"], "dev");
    assert_eq!(lock["service"], "s1");
    assert_eq!(lock["locked"], true);
    assert_eq!(lock["author"], "alice");
    assert_eq!(lock["commit"], lock_commit.as_str());
    assert_eq!(lock["source"], "slipway-aggregator");
    let rollback = &got[1];
    assert_eq!(rollback["event"], "rolled_back");
    assert_eq!(rollback["env"], "latest");
    assert_eq!(rollback["service"], "s1");
    assert_eq!(rollback["author"], "alice");
    h.stop().await;
}
