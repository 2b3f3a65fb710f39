//! When a scheduled transition is due, kept in `transition_state.yaml` so that a
//! restart neither skips nor repeats a scheduled promotion.
//!
//! An entry exists only while a change waits for its scheduled time, so a tick
//! with nothing to promote writes nothing:
//!
//! ```text
//!   nothing waits to move        ──▶ no entry (none is written)
//!   a change waits, no entry     ──▶ next_due = first time after now   (written once, so a
//!                                    restart past that time still runs it)
//!   now <  next_due              ──▶ not due: "next run at ..."
//!   now >= next_due              ──▶ due: runs; Success or Skipped ──▶ entry removed (in the promotion's commit)
//!                                         Blocked or CheckFailed ──▶ keeps next_due (pending)
//! ```

use chrono::{DateTime, Utc};
use slipway_core::status::TransitionResult;
use slipway_core::transitions::{ScheduleState, Transition, TransitionState};

/// Whether a transition may run now, as far as its schedule is concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Due {
    /// No schedule, or the run was asked for by hand: the schedule does not apply.
    Unscheduled,
    /// The scheduled time `since` has come.
    Due { since: DateTime<Utc> },
    /// Not yet; the next run is at `next`.
    NotDue { next: DateTime<Utc> },
    /// The cron expression has no future times (e.g. a date in the past).
    Never,
}

/// The state entry this transition should have before its run: none while nothing
/// `waiting` to move; else the stored one when it belongs to the current schedule text,
/// else a fresh one due at the first time after `now`. `None` for a transition without
/// schedule (or a manual one, whose schedule is ignored).
pub fn current_entry(
    transition: &Transition,
    state: &TransitionState,
    now: DateTime<Utc>,
    waiting: bool,
) -> Option<ScheduleState> {
    let text = transition.schedule_text.as_ref()?;
    if transition.manual || !waiting {
        return None;
    }
    if let Some(entry) = state.transitions.get(&transition.name) {
        if entry.schedule.as_deref() == Some(text.as_str()) && entry.next_due.is_some() {
            return Some(entry.clone());
        }
    }
    Some(ScheduleState {
        next_due: transition.next_after(now),
        schedule: Some(text.clone()),
    })
}

/// Whether a run at `now` is due, given the entry from [`current_entry`].
pub fn due(entry: Option<&ScheduleState>, now: DateTime<Utc>) -> Due {
    match entry {
        None => Due::Unscheduled,
        Some(ScheduleState { next_due: None, .. }) => Due::Never,
        Some(ScheduleState {
            next_due: Some(next), ..
        }) if now >= *next => Due::Due { since: *next },
        Some(ScheduleState {
            next_due: Some(next), ..
        }) => Due::NotDue { next: *next },
    }
}

/// The entry after a run that was due: a run that happened (Success, or Skipped
/// because there was nothing to do) needs none any more; a blocked one stays pending.
pub fn after_due_run(entry: ScheduleState, result: TransitionResult) -> Option<ScheduleState> {
    match result {
        TransitionResult::Success | TransitionResult::Skipped => None,
        TransitionResult::Blocked | TransitionResult::CheckFailed => Some(entry),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use slipway_core::transitions::parse_transitions;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().expect("test timestamps are valid RFC 3339")
    }

    fn prod(schedule: &str) -> Transition {
        let yaml = format!("transitions:\n  prod: {{source: pp, target: prod, schedule: \"{schedule}\"}}\n");
        parse_transitions(&yaml).unwrap().remove(0)
    }

    #[test]
    fn without_entry_the_first_time_after_now_is_due_next() {
        let t = prod("0 0 9 * * *");
        let entry = current_entry(&t, &TransitionState::default(), at("2026-11-22T10:00:00Z"), true).unwrap();
        assert_eq!(entry.next_due, Some(at("2026-11-23T09:00:00Z")));
        assert_eq!(entry.schedule.as_deref(), Some("0 0 9 * * *"));
        assert_eq!(
            due(Some(&entry), at("2026-11-22T10:00:00Z")),
            Due::NotDue {
                next: at("2026-11-23T09:00:00Z")
            }
        );
    }

    #[test]
    fn stored_entry_is_kept_and_due_from_its_time_on() {
        let t = prod("0 0 9 * * *");
        let mut state = TransitionState::default();
        let stored = ScheduleState {
            next_due: Some(at("2026-11-22T09:00:00Z")),
            schedule: Some("0 0 9 * * *".into()),
        };
        state.transitions.insert("prod".into(), stored.clone());
        let entry = current_entry(&t, &state, at("2026-11-22T08:59:59Z"), true).unwrap();
        assert_eq!(entry, stored);
        assert!(matches!(
            due(Some(&entry), at("2026-11-22T08:59:59Z")),
            Due::NotDue { .. }
        ));
        assert_eq!(
            due(Some(&entry), at("2026-11-22T09:00:00Z")),
            Due::Due {
                since: at("2026-11-22T09:00:00Z")
            }
        );
        assert!(matches!(due(Some(&entry), at("2026-11-25T00:00:00Z")), Due::Due { .. }));
    }

    #[test]
    fn changed_schedule_starts_afresh() {
        let t = prod("0 0 18 * * *");
        let mut state = TransitionState::default();
        state.transitions.insert(
            "prod".into(),
            ScheduleState {
                next_due: Some(at("2026-11-20T09:00:00Z")),
                schedule: Some("0 0 9 * * *".into()),
            },
        );
        let entry = current_entry(&t, &state, at("2026-11-22T10:00:00Z"), true).unwrap();
        assert_eq!(entry.next_due, Some(at("2026-11-22T18:00:00Z")));
    }

    #[test]
    fn runs_that_happened_drop_the_entry_and_blocked_ones_stay_pending() {
        let entry = ScheduleState {
            next_due: Some(at("2026-11-22T09:00:00Z")),
            schedule: Some("0 0 9 * * *".into()),
        };
        for result in [TransitionResult::Success, TransitionResult::Skipped] {
            assert_eq!(after_due_run(entry.clone(), result), None);
        }
        for result in [TransitionResult::Blocked, TransitionResult::CheckFailed] {
            assert_eq!(after_due_run(entry.clone(), result), Some(entry.clone()));
        }
    }

    #[test]
    fn no_entry_while_nothing_waits() {
        let t = prod("0 0 9 * * *");
        let mut state = TransitionState::default();
        state.transitions.insert(
            "prod".into(),
            ScheduleState {
                next_due: Some(at("2026-11-22T09:00:00Z")),
                schedule: Some("0 0 9 * * *".into()),
            },
        );
        assert_eq!(current_entry(&t, &state, at("2026-11-22T10:00:00Z"), false), None);
        assert_eq!(
            current_entry(&t, &TransitionState::default(), at("2026-11-22T10:00:00Z"), false),
            None
        );
    }

    #[test]
    fn unscheduled_and_manual_transitions_have_no_entry() {
        let plain = parse_transitions("transitions:\n  dev: {source: latest, target: dev}\n").unwrap();
        assert_eq!(
            current_entry(&plain[0], &TransitionState::default(), Utc::now(), true),
            None
        );
        let manual = parse_transitions(
            "transitions:\n  prod: {source: pp, target: prod, manual: true, schedule: \"0 0 9 * * *\"}\n",
        )
        .unwrap();
        assert_eq!(
            current_entry(&manual[0], &TransitionState::default(), Utc::now(), true),
            None
        );
        assert_eq!(due(None, Utc::now()), Due::Unscheduled);
    }
}
