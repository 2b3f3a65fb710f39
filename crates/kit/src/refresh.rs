//! The gate each service's `POST /refresh` handler asks: it carries out the
//! pure rate-limit decision of `slipway_core::refresh` (act now, once later, or
//! merge into the nudge already waiting) and answers with what became of the nudge.

use std::sync::{Arc, Mutex};

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use slipway_core::refresh::{Decision, Window, MIN_INTERVAL};

use crate::clock::SharedClock;

impl IntoResponse for Nudge {
    fn into_response(self) -> Response {
        let status = match self {
            Nudge::Scheduled => "scheduled",
            Nudge::Coalesced => "coalesced",
        };
        (StatusCode::ACCEPTED, axum::Json(serde_json::json!({"status": status}))).into_response()
    }
}

/// The service's last fetched repo head (cheap: it is read on every nudge).
pub type Head = Arc<dyn Fn() -> Option<String> + Send + Sync>;

/// The rate limiter of one service's `POST /refresh`: runs `act` for the nudges
/// that [`Window::decide`] lets through.
#[derive(Clone)]
pub struct RefreshGate {
    window: Arc<Mutex<Window>>,
    clock: SharedClock,
    head: Head,
    act: Arc<dyn Fn() + Send + Sync>,
}

impl RefreshGate {
    /// A gate on `clock` and the service's `head` that calls `act` (e.g.
    /// wake the poll loop) for the nudges it lets through.
    pub fn new(clock: SharedClock, head: Head, act: impl Fn() + Send + Sync + 'static) -> Self {
        RefreshGate {
            window: Arc::default(),
            clock,
            head,
            act: Arc::new(act),
        }
    }

    fn window(&self) -> std::sync::MutexGuard<'_, Window> {
        // Two plain fields, consistent after any panic.
        self.window.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Takes one nudge (call it inside the runtime: a deferred nudge is a timer task).
    pub fn nudge(&self) -> Nudge {
        let head = (self.head)();
        let decision = self.window().decide(self.clock.now(), head.as_deref(), MIN_INTERVAL);
        match decision {
            Decision::Now => {
                (self.act)();
                Nudge::Scheduled
            }
            Decision::Later(after) => {
                let gate = self.clone();
                tokio::spawn(async move {
                    gate.wait_for_interval_or_new_head(after, head).await;
                    let head = (gate.head)();
                    gate.window().acted_later(gate.clock.now(), head.as_deref());
                    (gate.act)();
                });
                Nudge::Coalesced
            }
            Decision::Pending => Nudge::Coalesced,
        }
    }
}

/// How often a deferred nudge looks whether the service's head moved.
const HEAD_CHECK: std::time::Duration = std::time::Duration::from_millis(20);

impl RefreshGate {
    /// Waits `after`, or less when the service's head moves away from `seen`
    /// meanwhile: the fetch in flight when the nudge came brought a new commit,
    /// and a nudge after a new commit is acted on at once (as
    /// [`Window::decide`] does), so a push right after another one (a version,
    /// then the promotion it causes) is not held for the rest of the interval.
    async fn wait_for_interval_or_new_head(&self, after: std::time::Duration, seen: Option<String>) {
        let until = tokio::time::Instant::now() + after;
        while tokio::time::Instant::now() < until {
            if (self.head)() != seen {
                return;
            }
            tokio::time::sleep(HEAD_CHECK.min(until - tokio::time::Instant::now())).await;
        }
    }
}

/// What became of one nudge, as `POST /refresh` answers it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nudge {
    /// Acted on at once.
    Scheduled,
    /// Merged into a nudge that is acted on when the interval has passed.
    Coalesced,
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use chrono::{DateTime, Utc};

    use super::*;
    use crate::clock::ManualClock;

    #[tokio::test]
    async fn coalesced_nudges_are_acted_on_once_after_the_interval() {
        use std::sync::Arc;
        let acted = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = acted.clone();
        // A clock that stands still and a head that does not move: every nudge falls into the first interval.
        let gate = RefreshGate::new(
            Arc::new(ManualClock::new(DateTime::<Utc>::UNIX_EPOCH)),
            Arc::new(|| Some("c1".to_string())),
            move || {
                counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            },
        );
        let answers: Vec<Nudge> = (0..10).map(|_| gate.nudge()).collect();
        assert_eq!(answers[0], Nudge::Scheduled);
        assert!(answers[1..].iter().all(|a| *a == Nudge::Coalesced), "{answers:?}");
        assert_eq!(acted.load(std::sync::atomic::Ordering::SeqCst), 1);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while acted.load(std::sync::atomic::Ordering::SeqCst) < 2 {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the coalesced nudge was never acted on"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(gate.nudge(), Nudge::Coalesced, "still within the interval by the clock");
    }

    #[tokio::test(start_paused = true)]
    async fn a_deferred_nudge_is_acted_on_as_soon_as_the_head_moves() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let acted = Arc::new(AtomicUsize::new(0));
        let counter = acted.clone();
        let head = Arc::new(Mutex::new("c1".to_string()));
        let read = head.clone();
        let gate = RefreshGate::new(
            Arc::new(ManualClock::new(DateTime::<Utc>::UNIX_EPOCH)),
            Arc::new(move || Some(read.lock().unwrap().clone())),
            move || {
                counter.fetch_add(1, Ordering::SeqCst);
            },
        );
        let start = tokio::time::Instant::now();
        assert_eq!(gate.nudge(), Nudge::Scheduled);
        // Nudged again while the first fetch is still in flight: deferred.
        assert_eq!(gate.nudge(), Nudge::Coalesced);
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(
            acted.load(Ordering::SeqCst),
            1,
            "not acted on while the head stands still"
        );
        // The fetch brought a new commit.
        *head.lock().unwrap() = "c2".to_string();
        while acted.load(Ordering::SeqCst) < 2 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert!(
            start.elapsed() < MIN_INTERVAL / 2,
            "acted on {:?} after the first nudge, not at the end of the interval",
            start.elapsed()
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_deferred_nudge_waits_out_the_interval_when_nothing_moves() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let acted = Arc::new(AtomicUsize::new(0));
        let counter = acted.clone();
        let gate = RefreshGate::new(
            Arc::new(ManualClock::new(DateTime::<Utc>::UNIX_EPOCH)),
            Arc::new(|| Some("c1".to_string())),
            move || {
                counter.fetch_add(1, Ordering::SeqCst);
            },
        );
        let start = tokio::time::Instant::now();
        gate.nudge();
        gate.nudge();
        while acted.load(Ordering::SeqCst) < 2 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert!(start.elapsed() >= MIN_INTERVAL, "acted on after {:?}", start.elapsed());
    }
}
