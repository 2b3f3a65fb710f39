//! `POST /refresh` of every service. It stays open to anyone (a git host's webhook
//! points at it, and it only asks for a look at the repo now), so it is
//! rate-limited: at most one nudge per [`MIN_INTERVAL`] is acted on. A nudge that
//! comes sooner is coalesced into one that is acted on when the interval has
//! passed, so none is lost (a push right after another is still seen at once)
//! and a flood of requests costs one fetch per interval.
//!
//! ```text
//!  nudge ─▶ decide(now) ─┬─ Now      ─▶ act at once                    202 "scheduled"
//!                        ├─ Later(d) ─▶ act once after d (one pending)  202 "coalesced"
//!                        └─ Pending  ─▶ merged into the pending one     202 "coalesced"
//! ```

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};

/// The shortest time between two nudges that are acted on.
pub const MIN_INTERVAL: Duration = Duration::from_secs(1);

/// What to do with one nudge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Act now.
    Now,
    /// Act once after this long; later nudges merge into it.
    Later(Duration),
    /// A deferred nudge is already waiting: this one is merged into it.
    Pending,
}

/// The limiter's memory: when a nudge was last acted on, and whether one waits.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Window {
    last_acted: Option<DateTime<Utc>>,
    pending: bool,
}

impl Window {
    /// Decides on a nudge at `now` (pure: the caller carries the decision out).
    pub fn decide(&mut self, now: DateTime<Utc>, min_interval: Duration) -> Decision {
        if self.pending {
            return Decision::Pending;
        }
        let since = self
            .last_acted
            // A clock that went back counts as no time passed.
            .map(|last| (now - last).to_std().unwrap_or(Duration::ZERO));
        match since {
            Some(since) if since < min_interval => {
                self.pending = true;
                Decision::Later(min_interval - since)
            }
            _ => {
                self.last_acted = Some(now);
                Decision::Now
            }
        }
    }

    /// The deferred nudge is acted on at `now`.
    pub fn acted_later(&mut self, now: DateTime<Utc>) {
        self.pending = false;
        self.last_acted = Some(now);
    }
}

/// A time source (the service's injected clock).
pub type Now = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

/// What became of one nudge, as `POST /refresh` answers it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nudge {
    /// Acted on at once.
    Scheduled,
    /// Merged into a nudge that is acted on when the interval has passed.
    Coalesced,
}

impl IntoResponse for Nudge {
    fn into_response(self) -> Response {
        let status = match self {
            Nudge::Scheduled => "scheduled",
            Nudge::Coalesced => "coalesced",
        };
        (StatusCode::ACCEPTED, axum::Json(serde_json::json!({"status": status}))).into_response()
    }
}

/// The rate limiter of one service's `POST /refresh`: runs `act` at most once per
/// [`MIN_INTERVAL`] (by `now`).
#[derive(Clone)]
pub struct RefreshGate {
    window: Arc<Mutex<Window>>,
    now: Now,
    act: Arc<dyn Fn() + Send + Sync>,
}

impl RefreshGate {
    /// A gate that calls `act` (e.g. wake the poll loop) for the nudges it lets through.
    pub fn new(now: Now, act: impl Fn() + Send + Sync + 'static) -> Self {
        RefreshGate {
            window: Arc::default(),
            now,
            act: Arc::new(act),
        }
    }

    fn window(&self) -> std::sync::MutexGuard<'_, Window> {
        // Two plain fields, consistent after any panic.
        self.window.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Takes one nudge (call it inside the runtime: a deferred nudge is a timer task).
    pub fn nudge(&self) -> Nudge {
        let decision = self.window().decide((self.now)(), MIN_INTERVAL);
        match decision {
            Decision::Now => {
                (self.act)();
                Nudge::Scheduled
            }
            Decision::Later(after) => {
                let gate = self.clone();
                tokio::spawn(async move {
                    tokio::time::sleep(after).await;
                    gate.window().acted_later((gate.now)());
                    (gate.act)();
                });
                Nudge::Coalesced
            }
            Decision::Pending => Nudge::Coalesced,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: i64) -> DateTime<Utc> {
        DateTime::<Utc>::UNIX_EPOCH + chrono::Duration::milliseconds(ms)
    }

    #[test]
    fn a_burst_is_acted_on_once_now_and_once_after_the_interval() {
        let mut w = Window::default();
        let second = Duration::from_secs(1);
        assert_eq!(w.decide(at(0), second), Decision::Now);
        assert_eq!(w.decide(at(100), second), Decision::Later(Duration::from_millis(900)));
        for ms in [200, 500, 999, 5000] {
            assert_eq!(w.decide(at(ms), second), Decision::Pending, "{ms}");
        }
        w.acted_later(at(1000));
        assert_eq!(
            w.decide(at(1500), second),
            Decision::Later(Duration::from_millis(500)),
            "the deferred nudge opened a new interval"
        );
        w.acted_later(at(2000));
        assert_eq!(w.decide(at(3000), second), Decision::Now);
    }

    #[test]
    fn a_clock_that_goes_back_defers_instead_of_acting() {
        let mut w = Window::default();
        assert_eq!(w.decide(at(10_000), MIN_INTERVAL), Decision::Now);
        assert_eq!(w.decide(at(0), MIN_INTERVAL), Decision::Later(MIN_INTERVAL));
    }

    #[tokio::test]
    async fn coalesced_nudges_are_acted_on_once_after_the_interval() {
        let acted = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = acted.clone();
        // A clock that stands still: every nudge falls into the first interval.
        let gate = RefreshGate::new(Arc::new(|| at(0)), move || {
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        });
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
}
