//! The rate-limit decision of every service's `POST /refresh` (pure; the gate
//! that carries it out is `slipway_kit::refresh`). The endpoint stays open to anyone (a git host's webhook
//! points at it, and it only asks for a look at the repo now), so it is
//! rate-limited: a nudge is acted on at once when [`MIN_INTERVAL`] has passed
//! since the last one that was, or when that last one brought a new commit (so
//! pushes in quick succession, such as a version and the promotion it causes,
//! are each seen at once). Any other nudge is coalesced into one that is acted
//! on when the interval has passed, or (the gate watches the head meanwhile) as
//! soon as the head moves: none is lost, and a flood that brings nothing new
//! costs one fetch per interval.
//!
//! ```text
//!  nudge ─▶ decide(now, head) ─┬─ Now      ─▶ act at once                    202 "scheduled"
//!                              ├─ Later(d) ─▶ act once after d (one pending)  202 "coalesced"
//!                              └─ Pending  ─▶ merged into the pending one     202 "coalesced"
//! ```

use std::time::Duration;

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

/// The limiter's memory: when a nudge was last acted on and the repo head the
/// service had then, and whether a deferred one waits.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Window {
    last_acted: Option<(DateTime<Utc>, Option<String>)>,
    pending: bool,
}

impl Window {
    /// Decides on a nudge at `now`, when the service's last fetched head is `head`
    /// (pure: the caller carries the decision out).
    pub fn decide(&mut self, now: DateTime<Utc>, head: Option<&str>, min_interval: Duration) -> Decision {
        let since = match &self.last_acted {
            None => None,
            // The last nudge acted on brought a new commit: something is moving, look again.
            Some((_, seen)) if seen.as_deref() != head => None,
            // A clock that went back counts as no time passed.
            Some((last, _)) => Some((now - *last).to_std().unwrap_or(Duration::ZERO)),
        };
        match since {
            Some(since) if since < min_interval => {
                if self.pending {
                    return Decision::Pending;
                }
                self.pending = true;
                Decision::Later(min_interval - since)
            }
            _ => {
                self.last_acted = Some((now, head.map(str::to_string)));
                Decision::Now
            }
        }
    }

    /// The deferred nudge is acted on at `now`, with the service at `head`.
    pub fn acted_later(&mut self, now: DateTime<Utc>, head: Option<&str>) {
        self.pending = false;
        self.last_acted = Some((now, head.map(str::to_string)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: i64) -> DateTime<Utc> {
        DateTime::<Utc>::UNIX_EPOCH + chrono::Duration::milliseconds(ms)
    }

    const SECOND: Duration = Duration::from_secs(1);

    #[test]
    fn a_burst_is_acted_on_once_now_and_once_after_the_interval() {
        let mut w = Window::default();
        let h = Some("c1");
        assert_eq!(w.decide(at(0), h, SECOND), Decision::Now);
        assert_eq!(
            w.decide(at(100), h, SECOND),
            Decision::Later(Duration::from_millis(900))
        );
        for ms in [200, 500, 999] {
            assert_eq!(w.decide(at(ms), h, SECOND), Decision::Pending, "{ms}");
        }
        w.acted_later(at(1000), h);
        assert_eq!(
            w.decide(at(1500), h, SECOND),
            Decision::Later(Duration::from_millis(500)),
            "the deferred nudge opened a new interval"
        );
        w.acted_later(at(2000), h);
        assert_eq!(w.decide(at(3000), h, SECOND), Decision::Now);
    }

    #[test]
    fn a_nudge_after_one_that_brought_a_new_commit_is_acted_on_at_once() {
        let mut w = Window::default();
        assert_eq!(w.decide(at(0), Some("c1"), SECOND), Decision::Now);
        // That nudge's fetch brought c2 (a push, then the promotion it caused).
        assert_eq!(w.decide(at(100), Some("c2"), SECOND), Decision::Now);
        assert_eq!(w.decide(at(150), Some("c3"), SECOND), Decision::Now);
        // A flood that brings nothing new is held to the interval again.
        assert_eq!(
            w.decide(at(200), Some("c3"), SECOND),
            Decision::Later(Duration::from_millis(950))
        );
        assert_eq!(w.decide(at(300), Some("c3"), SECOND), Decision::Pending);
        // The deferred one still waits, but a new commit is looked at without waiting.
        assert_eq!(w.decide(at(400), Some("c4"), SECOND), Decision::Now);
    }

    #[test]
    fn a_clock_that_goes_back_defers_instead_of_acting() {
        let mut w = Window::default();
        assert_eq!(w.decide(at(10_000), None, MIN_INTERVAL), Decision::Now);
        assert_eq!(w.decide(at(0), None, MIN_INTERVAL), Decision::Later(MIN_INTERVAL));
    }
}
