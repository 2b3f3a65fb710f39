//! What a service knows about its fetches of the resource repo: when the first
//! one succeeded (until then `GET /ready` answers 503) and the last error; and
//! the loop that fetches at `poll_interval` and when `POST /refresh` wakes it.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::Notify;

use crate::clock::SharedClock;
use crate::drain::Drain;

/// When a fetch loop wakes: every `every`, when `now` is notified (the refresh
/// gate), and never again once the drain has begun.
#[derive(Clone)]
pub struct Wakeups {
    pub every: Duration,
    pub now: Arc<Notify>,
    pub drain: Drain,
}

impl Wakeups {
    /// Waits for the next poll or nudge; false once shutting down.
    pub async fn next(&self) -> bool {
        if self.drain.is_draining() {
            return false;
        }
        tokio::select! {
            _ = self.drain.draining() => false,
            _ = tokio::time::sleep(self.every) => true,
            _ = self.now.notified() => true,
        }
    }
}

/// Runs `step` (a fetch and what the service does with it) now and on every
/// wakeup until shutdown, recording each outcome in `record`. A new error is
/// logged once as a warning, its repeats only at debug level: the same failure
/// every poll would hide new ones. Each step holds a guard of the drain, and
/// the drain only ends the wait between steps, so a step in flight (a fetch and
/// what follows it: a push, a transition run) always finishes.
pub async fn fetch_loop<F, Fut>(what: &str, wakeups: Wakeups, record: FetchRecord, clock: SharedClock, mut step: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<(), String>>,
{
    loop {
        let guard = wakeups.drain.guard();
        let outcome = step().await;
        drop(guard);
        match outcome {
            Ok(()) => {
                if record.last_error().is_some() {
                    tracing::info!("{what} works again");
                }
                record.succeeded(clock.now());
            }
            Err(e) if record.failed(e.clone()) => tracing::warn!("{what} failed, retrying every poll: {e}"),
            Err(e) => tracing::debug!("{what} still failing: {e}"),
        }
        if !wakeups.next().await {
            return;
        }
    }
}

/// The record of one service's fetches, shared by its fetch loop and `/ready`.
#[derive(Debug, Clone, Default)]
pub struct FetchRecord {
    record: Arc<Mutex<Record>>,
    /// Notified on every outcome.
    outcome: Arc<Notify>,
}

#[derive(Debug, Default)]
struct Record {
    first_success: Option<DateTime<Utc>>,
    last_error: Option<String>,
    /// Whether any fetch has ended, well or not.
    settled: bool,
}

impl FetchRecord {
    fn record(&self) -> std::sync::MutexGuard<'_, Record> {
        // Plain fields, consistent after any panic.
        self.record.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A fetch succeeded at `at`; clears the last error.
    pub fn succeeded(&self, at: DateTime<Utc>) {
        {
            let mut record = self.record();
            record.first_success.get_or_insert(at);
            record.last_error = None;
            record.settled = true;
        }
        self.outcome.notify_waiters();
    }

    /// A fetch failed; returns whether the error is new (worth a log line: the
    /// same failure every poll would only hide new ones).
    pub fn failed(&self, error: impl Into<String>) -> bool {
        let error = error.into();
        let new = {
            let mut record = self.record();
            let new = record.last_error.as_deref() != Some(error.as_str());
            record.last_error = Some(error);
            record.settled = true;
            new
        };
        self.outcome.notify_waiters();
        new
    }

    /// Waits until a fetch has ended, well or not (at once if one has): a
    /// service that serves its first state from the repo waits for it.
    pub async fn settled(&self) {
        loop {
            // Made before the check, so an outcome recorded in between still wakes it.
            let outcome = self.outcome.notified();
            if self.record().settled {
                return;
            }
            outcome.await;
        }
    }

    /// When the first fetch succeeded, if one has.
    pub fn first_success(&self) -> Option<DateTime<Utc>> {
        self.record().first_success
    }

    /// The error of the last fetch, if it failed.
    pub fn last_error(&self) -> Option<String> {
        self.record().last_error.clone()
    }

    /// Ready once a fetch has succeeded; else why not, for `GET /ready`.
    pub fn readiness(&self) -> Result<(), String> {
        let record = self.record();
        match (&record.first_success, &record.last_error) {
            (Some(_), _) => Ok(()),
            (None, Some(e)) => Err(format!("the resource repo has not been fetched yet: {e}")),
            (None, None) => Err("the resource repo has not been fetched yet".to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;

    #[tokio::test(start_paused = true)]
    async fn the_loop_steps_at_once_on_each_nudge_and_interval_and_records_the_outcome() {
        let wakeups = Wakeups {
            every: Duration::from_secs(30),
            now: Arc::new(Notify::new()),
            drain: Drain::new(),
        };
        let record = FetchRecord::default();
        let steps = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counted = steps.clone();
        let task = tokio::spawn(fetch_loop(
            "fetch",
            wakeups.clone(),
            record.clone(),
            Arc::new(ManualClock::new(DateTime::<Utc>::UNIX_EPOCH)),
            move || {
                let n = counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                async move {
                    if n == 0 {
                        Err("down".to_string())
                    } else {
                        Ok(())
                    }
                }
            },
        ));
        let seen = || steps.load(std::sync::atomic::Ordering::SeqCst);
        tokio::time::timeout(Duration::from_secs(1), record.settled())
            .await
            .expect("the first step settles the record");
        assert_eq!((seen(), record.last_error().as_deref()), (1, Some("down")));
        wakeups.now.notify_one();
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert_eq!(seen(), 2, "a nudge steps at once");
        assert_eq!(record.readiness(), Ok(()));
        tokio::time::sleep(Duration::from_secs(30)).await;
        assert_eq!(seen(), 3, "and so does the interval");
        wakeups.drain.begin();
        task.await.unwrap();
        assert_eq!(seen(), 3, "no step after the drain began");
    }

    #[tokio::test(start_paused = true)]
    async fn a_step_in_flight_holds_the_drain_until_it_ends() {
        let drain = Drain::new();
        let wakeups = Wakeups {
            every: Duration::from_secs(30),
            now: Arc::new(Notify::new()),
            drain: drain.clone(),
        };
        let (started_tx, started) = tokio::sync::oneshot::channel::<()>();
        let mut started_tx = Some(started_tx);
        let finished = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let done = finished.clone();
        tokio::spawn(fetch_loop(
            "fetch",
            wakeups,
            FetchRecord::default(),
            Arc::new(ManualClock::new(DateTime::<Utc>::UNIX_EPOCH)),
            move || {
                let started_tx = started_tx.take();
                let done = done.clone();
                async move {
                    if let Some(tx) = started_tx {
                        let _ = tx.send(());
                    }
                    tokio::time::sleep(Duration::from_secs(5)).await;
                    done.store(true, std::sync::atomic::Ordering::SeqCst);
                    Ok(())
                }
            },
        ));
        started.await.unwrap();
        drain.begin();
        drain.drained().await;
        assert!(
            finished.load(std::sync::atomic::Ordering::SeqCst),
            "the drain waited for the step in flight"
        );
    }

    #[test]
    fn ready_only_after_a_success_and_stays_ready_when_later_fetches_fail() {
        let record = FetchRecord::default();
        assert!(record.readiness().is_err());
        assert!(record.failed("no such repo"));
        assert!(!record.failed("no such repo"), "the same error again is not new");
        assert!(record.readiness().unwrap_err().contains("no such repo"));
        record.succeeded(DateTime::<Utc>::UNIX_EPOCH);
        assert_eq!(record.last_error(), None);
        assert!(record.failed("host down"));
        assert_eq!(record.readiness(), Ok(()));
        assert_eq!(record.first_success(), Some(DateTime::<Utc>::UNIX_EPOCH));
    }
}
