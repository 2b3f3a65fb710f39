//! When each env is checked again without a fetch: after a reconcile that left
//! a rollout in progress, first soon, then at doubling intervals up to
//! `rollout_check_interval`, so that a fast rollout is reported `Clean` (or
//! `Failed`) soon after it happens and a slow one costs few reads. A settled
//! env waits for the next poll, refresh or watch event instead.
//!
//! ```text
//! reconcile ends ──▶ next_check(status, previous) ──▶ Scheduler::schedule(env, after)
//! run loop ◀── Scheduler::due() (the envs whose check time came)
//! ```

use std::collections::BTreeMap;
use std::time::Duration;

use slipway_core::status::RolloutStatus;
use tokio::time::Instant;

/// The bounds of the rollout checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Checks {
    /// The first check after a reconcile that left a rollout in progress.
    pub first: Duration,
    /// The longest wait between two checks (`rollout_check_interval`).
    pub max: Duration,
}

/// How long after a reconcile that left the env in `status` it is checked
/// again, given the wait before this check (`None` when the env was not
/// being checked) and whether this reconcile wrote something (a new rollout
/// starts over from the first, short wait). `None`: only the next poll,
/// refresh or watch event reconciles it.
pub fn next_check(status: RolloutStatus, previous: Option<Duration>, wrote: bool, checks: Checks) -> Option<Duration> {
    match status {
        RolloutStatus::InProgress | RolloutStatus::Outdated => {
            let after = match previous {
                Some(previous) if !wrote => previous.saturating_mul(2),
                _ => checks.first,
            };
            Some(after.min(checks.max))
        }
        RolloutStatus::Clean | RolloutStatus::Failed => None,
    }
}

/// The envs waiting for a check, each with its time and the wait it was scheduled with.
#[derive(Debug, Default)]
pub struct Scheduler {
    due: BTreeMap<String, (Instant, Duration)>,
}

impl Scheduler {
    /// Records the reconcile of `env` that ended at `now` in `status`.
    pub fn reconciled(&mut self, env: &str, status: RolloutStatus, wrote: bool, checks: Checks, now: Instant) {
        let previous = self.due.get(env).map(|(_, after)| *after);
        match next_check(status, previous, wrote, checks) {
            Some(after) => {
                self.due.insert(env.to_string(), (now + after, after));
            }
            None => {
                self.due.remove(env);
            }
        }
    }

    /// Keeps only the envs `keep` says (the others left `deployers.yaml`).
    pub fn retain(&mut self, keep: impl Fn(&str) -> bool) {
        self.due.retain(|env, _| keep(env));
    }

    /// The earliest check time, if any env waits for one.
    pub fn next_due(&self) -> Option<Instant> {
        self.due.values().map(|(at, _)| *at).min()
    }

    /// The envs whose check time has come by `now` (they stay scheduled
    /// until their reconcile reports again, so their waits keep doubling).
    pub fn due(&mut self, now: Instant) -> Vec<String> {
        let mut due = Vec::new();
        for (env, (at, after)) in self.due.iter_mut() {
            if *at <= now {
                due.push(env.clone());
                // Not checked again before its reconcile reports (or after the longest wait).
                *at = now + *after;
            }
        }
        due
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHECKS: Checks = Checks {
        first: Duration::from_millis(100),
        max: Duration::from_millis(1000),
    };

    #[test]
    fn a_rollout_in_progress_is_checked_at_doubling_intervals_up_to_the_longest_wait() {
        let mut waits = Vec::new();
        let mut previous = None;
        for _ in 0..6 {
            previous = next_check(RolloutStatus::InProgress, previous, false, CHECKS);
            waits.push(previous.unwrap().as_millis());
        }
        assert_eq!(waits, [100, 200, 400, 800, 1000, 1000]);
        // Something written starts a new rollout: the short wait again.
        assert_eq!(
            next_check(RolloutStatus::Outdated, Some(Duration::from_millis(800)), true, CHECKS),
            Some(CHECKS.first)
        );
    }

    #[test]
    fn a_settled_env_waits_for_the_next_poll_or_event() {
        for status in [RolloutStatus::Clean, RolloutStatus::Failed] {
            assert_eq!(
                next_check(status, Some(Duration::from_millis(400)), false, CHECKS),
                None
            );
        }
    }

    #[tokio::test(start_paused = true)]
    async fn the_scheduler_hands_out_each_env_at_its_own_check_time() {
        let start = Instant::now();
        let mut scheduler = Scheduler::default();
        scheduler.reconciled("dev", RolloutStatus::InProgress, true, CHECKS, start);
        scheduler.reconciled("prod", RolloutStatus::Clean, false, CHECKS, start);
        assert_eq!(scheduler.next_due(), Some(start + Duration::from_millis(100)));

        tokio::time::advance(Duration::from_millis(99)).await;
        assert!(scheduler.due(Instant::now()).is_empty(), "not yet");
        tokio::time::advance(Duration::from_millis(1)).await;
        assert_eq!(scheduler.due(Instant::now()), ["dev"]);
        assert!(
            scheduler.due(Instant::now()).is_empty(),
            "handed out once until it reports again"
        );

        // Still rolling out: the next check twice as late.
        scheduler.reconciled("dev", RolloutStatus::InProgress, false, CHECKS, Instant::now());
        tokio::time::advance(Duration::from_millis(199)).await;
        assert!(scheduler.due(Instant::now()).is_empty());
        tokio::time::advance(Duration::from_millis(1)).await;
        assert_eq!(scheduler.due(Instant::now()), ["dev"]);

        // Clean: nothing left to wake for; an env that left the repo is forgotten.
        scheduler.reconciled("dev", RolloutStatus::Clean, false, CHECKS, Instant::now());
        assert_eq!(scheduler.next_due(), None);
        scheduler.reconciled("gone", RolloutStatus::Outdated, true, CHECKS, Instant::now());
        scheduler.retain(|env| env != "gone");
        tokio::time::advance(Duration::from_secs(3600)).await;
        assert!(scheduler.due(Instant::now()).is_empty());
    }
}
