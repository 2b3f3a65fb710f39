//! Notifications delivered to receivers on loopback: the documented bodies, the
//! HMAC signature, retries after errors, and targets that are dead or hang.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use slipway_kit::notify::{sign, Event, EventKind, Notifier, NotifyMetrics, TargetConfig, TargetKind};

/// What a receiver got: the status it answered, the body, the signature header.
type Received = Arc<Mutex<Vec<(u16, serde_json::Value, Option<String>)>>>;

/// A receiver that answers the first `failures` requests with 500, then 200;
/// keeps every body and its signature header.
struct Receiver {
    url: String,
    got: Received,
}

async fn receiver(failures: usize) -> Receiver {
    let got: Received = Arc::default();
    let seen = got.clone();
    let app = Router::new().route(
        "/hook",
        post(move |headers: HeaderMap, body: String| {
            let seen = seen.clone();
            async move {
                let mut seen = seen.lock().unwrap();
                let status = if seen.len() < failures { 500 } else { 200 };
                let signature = headers
                    .get("x-slipway-signature-256")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string);
                seen.push((status, serde_json::from_str(&body).unwrap_or_default(), signature));
                StatusCode::from_u16(status).unwrap()
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    Receiver { url, got }
}

fn target(kind: TargetKind, url: &str, events: Option<Vec<EventKind>>) -> TargetConfig {
    TargetConfig {
        kind,
        url: url.to_string(),
        events,
        secret_file: None,
        secret_env: None,
        name: None,
    }
}

fn fast(targets: &[TargetConfig], metrics: NotifyMetrics) -> Notifier {
    Notifier::start_with_backoff(
        "slipway-test",
        targets,
        metrics,
        Duration::from_millis(20),
        Duration::from_millis(100),
    )
    .unwrap()
}

async fn until(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !check() {
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn promoted() -> Event {
    Event::new(EventKind::Promoted, "Promoted dev → pp: web 1.0.0 → 1.1.0")
        .with("transition", "pp")
        .with("commit", "0123abcd")
}

#[tokio::test]
async fn a_receiver_failing_three_times_gets_the_event_once_signed_with_the_documented_body() {
    let r = receiver(3).await;
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("secret");
    std::fs::write(&secret, "hook-secret\n").unwrap();
    let mut t = target(TargetKind::Webhook, &r.url, None);
    t.secret_file = Some(secret);
    let notifier = fast(&[t], NotifyMetrics::default());
    notifier.send(promoted());
    until("a 200", || r.got.lock().unwrap().iter().any(|(s, _, _)| *s == 200)).await;
    let got = r.got.lock().unwrap().clone();
    assert_eq!(got.iter().map(|(s, _, _)| *s).collect::<Vec<_>>(), [500, 500, 500, 200]);
    let (_, body, signature) = &got[3];
    assert_eq!(body["event"], "promoted");
    assert_eq!(body["summary"], "Promoted dev → pp: web 1.0.0 → 1.1.0");
    assert_eq!(body["source"], "slipway-test");
    assert_eq!(body["transition"], "pp");
    assert_eq!(body["commit"], "0123abcd");
    assert!(body["at"].as_str().is_some_and(|a| a.ends_with('Z')), "{body}");
    let bytes = serde_json::to_vec(body).unwrap();
    assert_eq!(
        signature.as_deref(),
        Some(format!("sha256={}", sign(&bytes, "hook-secret")).as_str())
    );
}

#[tokio::test]
async fn slack_targets_get_text_and_only_the_events_they_asked_for() {
    let r = receiver(0).await;
    let notifier = fast(
        &[target(TargetKind::Slack, &r.url, Some(vec![EventKind::LockChanged]))],
        NotifyMetrics::default(),
    );
    notifier.send(promoted());
    notifier.send(Event::new(EventKind::LockChanged, "dev locked: release freeze").with("env", "dev"));
    until("the lock event", || !r.got.lock().unwrap().is_empty()).await;
    // Events are delivered in order per target: had the promotion been sent, it came first.
    let got = r.got.lock().unwrap().clone();
    assert_eq!(
        got[0].1,
        serde_json::json!({"text": "[slipway-test] dev locked: release freeze"})
    );
    assert_eq!(got.len(), 1);
}

#[tokio::test]
async fn a_dead_or_hanging_target_neither_blocks_the_sender_nor_delays_the_others() {
    let live = receiver(0).await;
    // Accepts connections and never answers.
    let hanging = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let hanging_url = format!("http://{}/hook", hanging.local_addr().unwrap());
    // Nothing listens here.
    let dead_url = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}/hook", l.local_addr().unwrap())
    };
    let metrics = NotifyMetrics::default();
    let mut hang = target(TargetKind::Webhook, &hanging_url, None);
    hang.name = Some("hanging".into());
    let mut dead = target(TargetKind::Webhook, &dead_url, None);
    dead.name = Some("dead".into());
    let notifier = fast(
        &[hang, dead, target(TargetKind::Webhook, &live.url, None)],
        metrics.clone(),
    );
    // Far more than a queue holds: sending never waits for the stuck targets.
    for _ in 0..(slipway_kit::notify::QUEUE_LEN * 2) {
        notifier.send(promoted());
    }
    let dropped = |name: &str| {
        metrics
            .dropped
            .get_or_create(&vec![("target".to_string(), name.to_string())])
            .get()
    };
    assert!(
        dropped("hanging") > 0,
        "the hanging target's queue overflowed and was counted"
    );
    until("the live target got events", || live.got.lock().unwrap().len() > 10).await;
    until("the dead target's failures are counted", || {
        metrics
            .failed
            .get_or_create(&vec![("target".to_string(), "dead".to_string())])
            .get()
            > 0
    })
    .await;
    drop(hanging);
}
