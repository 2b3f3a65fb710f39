//! What a service knows about its fetches of the resource repo: when the first
//! one succeeded (until then `GET /ready` answers 503) and the last error; and
//! the loop that fetches at `poll_interval` and when `POST /refresh` wakes it.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::clock::SharedClock;

/// When a fetch loop wakes: every `every`, when `now` is notified (the refresh
/// gate), and never again once `shutdown` is cancelled.
#[derive(Clone)]
pub struct Wakeups {
    pub every: Duration,
    pub now: Arc<Notify>,
    pub shutdown: CancellationToken,
}

impl Wakeups {
    /// Waits for the next poll or nudge; false once shutting down.
    pub async fn next(&self) -> bool {
        tokio::select! {
            _ = self.shutdown.cancelled() => false,
            _ = tokio::time::sleep(self.every) => true,
            _ = self.now.notified() => true,
        }
    }
}

/// Runs `step` (a fetch and what the service does with it) now and on every
/// wakeup until shutdown, recording each outcome in `record`. A new error is
/// logged once as a warning, its repeats only at debug level: the same failure
/// every poll would hide new ones. Shutdown only ends the wait between steps,
/// so a step in flight (a push, a transition run) always finishes.
pub async fn fetch_loop<F, Fut>(what: &str, wakeups: Wakeups, record: FetchRecord, clock: SharedClock, mut step: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<(), String>>,
{
    loop {
        match step().await {
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
pub struct FetchRecord(Arc<Mutex<Record>>);

#[derive(Debug, Default)]
struct Record {
    first_success: Option<DateTime<Utc>>,
    last_error: Option<String>,
}

impl FetchRecord {
    fn record(&self) -> std::sync::MutexGuard<'_, Record> {
        // Two plain fields, consistent after any panic.
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A fetch succeeded at `at`; clears the last error.
    pub fn succeeded(&self, at: DateTime<Utc>) {
        let mut record = self.record();
        record.first_success.get_or_insert(at);
        record.last_error = None;
    }

    /// A fetch failed; returns whether the error is new (worth a log line: the
    /// same failure every poll would only hide new ones).
    pub fn failed(&self, error: impl Into<String>) -> bool {
        let error = error.into();
        let mut record = self.record();
        let new = record.last_error.as_deref() != Some(error.as_str());
        record.last_error = Some(error);
        new
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
            shutdown: CancellationToken::new(),
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
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert_eq!((seen(), record.last_error().as_deref()), (1, Some("down")));
        wakeups.now.notify_one();
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert_eq!(seen(), 2, "a nudge steps at once");
        assert_eq!(record.readiness(), Ok(()));
        tokio::time::sleep(Duration::from_secs(30)).await;
        assert_eq!(seen(), 3, "and so does the interval");
        wakeups.shutdown.cancel();
        task.await.unwrap();
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
