//! What a service knows about its fetches of the resource repo: when the first
//! one succeeded (until then `GET /ready` answers 503) and the last error.

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};

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
