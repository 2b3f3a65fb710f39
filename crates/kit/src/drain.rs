//! Graceful shutdown: one [`Drain`] per service. Work that must not be cut off
//! halfway (a reconcile applying to a cluster, a commit being pushed) holds a
//! [`DrainGuard`] while it runs; once the drain begins (the first SIGINT or
//! SIGTERM, or [`Drain::begin`] in tests) loops stop starting new work, and
//! [`Drain::drained`] returns when the last guard is gone.
//!
//! ```text
//!  signal ─▶ begin ─▶ loops stop, HTTP stops taking connections
//!                       │
//!  guards held by work in flight ──dropped──▶ drained ─▶ exit 0
//!  second signal ─────────────────────────────────────▶ exit 130
//! ```

use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};
use tokio_util::task::task_tracker::TaskTrackerToken;
use tokio_util::task::TaskTracker;

/// A service's shutdown: whether it began, and the work in flight it waits for.
/// Clones share it.
#[must_use = "a drain waits for nothing unless the service awaits `drained`"]
#[derive(Clone, Debug, Default)]
pub struct Drain {
    begun: CancellationToken,
    work: TaskTracker,
}

/// Held by one piece of work in flight; [`Drain::drained`] waits until it is dropped.
#[must_use = "the work is waited for only while its guard is held"]
#[derive(Debug)]
pub struct DrainGuard {
    _work: TaskTrackerToken,
}

impl Drain {
    /// A drain that begins when [`Drain::begin`] is called.
    pub fn new() -> Self {
        Drain::default()
    }

    /// A drain that begins on the first SIGINT or SIGTERM; a second signal exits
    /// at once with status 130, for an operator who does not want to wait.
    pub fn on_signals() -> Self {
        let drain = Drain::new();
        let begin = drain.clone();
        tokio::spawn(async move {
            if !wait_for_signal().await {
                tracing::warn!("cannot listen for SIGINT or SIGTERM: the service stops only when killed");
                return;
            }
            tracing::info!("shutting down: finishing the work in flight (a second signal aborts)");
            begin.begin();
            if wait_for_signal().await {
                tracing::warn!("second signal: aborting the work in flight");
                std::process::exit(130);
            }
        });
        drain
    }

    /// Begins the drain: loops stop starting new work.
    pub fn begin(&self) {
        self.begun.cancel();
    }

    /// Whether the drain has begun.
    pub fn is_draining(&self) -> bool {
        self.begun.is_cancelled()
    }

    /// Resolves once the drain has begun (for a loop's `select!`).
    pub fn draining(&self) -> WaitForCancellationFutureOwned {
        self.begun.clone().cancelled_owned()
    }

    /// A guard for one piece of work: the drain waits for it until it is dropped.
    /// Work may start after the drain began (a request already read); it is
    /// waited for as well.
    pub fn guard(&self) -> DrainGuard {
        DrainGuard {
            _work: self.work.token(),
        }
    }

    /// Waits until the drain has begun and every guard is dropped.
    pub async fn drained(self) {
        self.begun.cancelled().await;
        self.work.close();
        if !self.work.is_empty() {
            tracing::info!(in_flight = self.work.len(), "waiting for the work in flight to finish");
        }
        self.work.wait().await;
    }
}

/// Waits for the next SIGINT or SIGTERM; false when signals cannot be listened for.
async fn wait_for_signal() -> bool {
    #[cfg(unix)]
    {
        let Ok(mut term) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) else {
            return tokio::signal::ctrl_c().await.is_ok();
        };
        tokio::select! {
            r = tokio::signal::ctrl_c() => r.is_ok(),
            r = term.recv() => r.is_some(),
        }
    }
    #[cfg(not(unix))]
    {
        tokio::signal::ctrl_c().await.is_ok()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn drained_waits_for_the_drain_to_begin_and_for_every_guard() {
        let drain = Drain::new();
        let first = drain.guard();
        let waiting = tokio::spawn(drain.clone().drained());
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert!(!waiting.is_finished(), "not before the drain begins");
        drain.begin();
        assert!(drain.is_draining());
        // Work that starts during the drain (a request already read) is waited for too.
        let late = drain.guard();
        drop(first);
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert!(!waiting.is_finished(), "a guard is still held");
        drop(late);
        tokio::time::timeout(Duration::from_secs(1), waiting)
            .await
            .expect("drained once the last guard is gone")
            .unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn draining_resolves_when_the_drain_begins() {
        let drain = Drain::new();
        let draining = tokio::spawn(drain.draining());
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert!(!draining.is_finished());
        drain.begin();
        tokio::time::timeout(Duration::from_secs(1), draining)
            .await
            .unwrap()
            .unwrap();
    }
}
