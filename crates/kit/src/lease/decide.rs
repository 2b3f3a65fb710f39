//! The decision of one election round, as a pure function: given the Lease as
//! last read (or none), my identity, whether I believe I lead, and the time,
//! what to write or whether to wait. No I/O, no clock: tested exactly.

use std::time::Duration;

use chrono::{DateTime, Utc};

/// What a Lease says, in plain types (`spec` of a `coordination.k8s.io/v1` Lease).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LeaseRecord {
    /// `holderIdentity`: who holds it; `None` (or empty) when released.
    pub holder: Option<String>,
    /// `acquireTime`: when the current holder took it.
    pub acquire_time: Option<DateTime<Utc>>,
    /// `renewTime`: the holder's last renewal.
    pub renew_time: Option<DateTime<Utc>>,
    /// `leaseDurationSeconds`: how long a renewal holds.
    pub duration: Option<Duration>,
    /// `leaseTransitions`: how often the holder changed.
    pub transitions: i32,
    /// Where the holder's API answers (annotation [`HOLDER_ADDRESS`]), so the
    /// others can pass on requests only the leader may serve.
    pub address: Option<String>,
}

/// The Lease annotation holding the holder's API address.
pub const HOLDER_ADDRESS: &str = "slipway.dev/holder-address";

impl LeaseRecord {
    /// The holder, if any (an empty `holderIdentity` is no holder).
    pub fn holder(&self) -> Option<&str> {
        self.holder.as_deref().filter(|h| !h.is_empty())
    }

    /// Until when the current holder's claim holds: the last renewal plus the
    /// Lease's duration. `None` when nobody holds it or it was never renewed.
    pub fn valid_until(&self) -> Option<DateTime<Utc>> {
        self.holder()?;
        let renewed = self.renew_time.or(self.acquire_time)?;
        let duration = chrono::Duration::from_std(self.duration.unwrap_or_default()).ok()?;
        Some(renewed + duration)
    }

    /// Whether someone other than `me` holds it and the claim has not expired at `now`.
    fn held_by_other(&self, me: &str, now: DateTime<Utc>) -> bool {
        self.holder().is_some_and(|h| h != me) && self.valid_until().is_some_and(|until| now < until)
    }
}

/// Who holds a Lease and until when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    /// The holder's identity.
    pub identity: String,
    /// When its claim expires unless renewed.
    pub until: DateTime<Utc>,
}

/// What one round of the election does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// There is no Lease yet: create it, held by me.
    Create(LeaseRecord),
    /// Nobody holds it, or the holder's claim expired: take it over (an update
    /// on the version read, so of two contenders only one succeeds).
    Acquire(LeaseRecord),
    /// I hold it: renew it.
    Renew(LeaseRecord),
    /// Someone else holds it: wait.
    Wait(Holder),
    /// I believed I led, but someone else holds it now: stop at once.
    Lost(Holder),
}

/// Decides one round. `duration` is the lease duration I write when I take or renew it.
pub fn decide(
    observed: Option<&LeaseRecord>,
    me: &str,
    i_lead: bool,
    now: DateTime<Utc>,
    duration: Duration,
) -> Decision {
    let mine = |acquire_time, transitions| LeaseRecord {
        holder: Some(me.to_string()),
        acquire_time: Some(acquire_time),
        renew_time: Some(now),
        duration: Some(duration),
        transitions,
        address: None,
    };
    let Some(lease) = observed else {
        return Decision::Create(mine(now, 0));
    };
    if lease.held_by_other(me, now) {
        let holder = Holder {
            identity: lease.holder().unwrap_or_default().to_string(),
            until: lease.valid_until().unwrap_or(now),
        };
        return if i_lead {
            Decision::Lost(holder)
        } else {
            Decision::Wait(holder)
        };
    }
    if lease.holder() == Some(me) {
        Decision::Renew(mine(lease.acquire_time.unwrap_or(now), lease.transitions))
    } else {
        // Free, released, or expired: a new holder, one more transition.
        Decision::Acquire(mine(now, lease.transitions.saturating_add(1)))
    }
}

/// The Lease as a holder leaves it on shutdown: no holder, and a one-second
/// duration, so the others take over at their next round instead of waiting
/// for the claim to expire.
pub fn released(lease: &LeaseRecord, now: DateTime<Utc>) -> LeaseRecord {
    LeaseRecord {
        holder: None,
        acquire_time: lease.acquire_time,
        renew_time: Some(now),
        duration: Some(Duration::from_secs(1)),
        transitions: lease.transitions,
        address: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    const D: Duration = Duration::from_secs(15);

    fn t(secs: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap() + chrono::Duration::seconds(secs)
    }

    fn held(by: &str, acquired: i64, renewed: i64) -> LeaseRecord {
        LeaseRecord {
            holder: Some(by.into()),
            acquire_time: Some(t(acquired)),
            renew_time: Some(t(renewed)),
            duration: Some(D),
            transitions: 3,
            address: None,
        }
    }

    #[test]
    fn acquires_by_creating_a_missing_lease() {
        let d = decide(None, "a", false, t(0), D);
        assert_eq!(
            d,
            Decision::Create(LeaseRecord {
                holder: Some("a".into()),
                acquire_time: Some(t(0)),
                renew_time: Some(t(0)),
                duration: Some(D),
                transitions: 0,
                address: None,
            })
        );
    }

    #[test]
    fn renews_its_own_lease_keeping_acquire_time_and_transitions() {
        let d = decide(Some(&held("a", 0, 5)), "a", true, t(10), D);
        let Decision::Renew(r) = d else { panic!("{d:?}") };
        assert_eq!(
            (r.acquire_time, r.renew_time, r.transitions),
            (Some(t(0)), Some(t(10)), 3)
        );
        // Also after a pause past expiry, as long as nobody took it.
        assert!(matches!(
            decide(Some(&held("a", 0, 5)), "a", false, t(60), D),
            Decision::Renew(_)
        ));
    }

    #[test]
    fn waits_while_another_holder_is_valid() {
        let d = decide(Some(&held("b", 0, 5)), "a", false, t(19), D);
        assert_eq!(
            d,
            Decision::Wait(Holder {
                identity: "b".into(),
                until: t(20)
            })
        );
    }

    #[test]
    fn takes_over_once_the_holder_expires() {
        let lease = held("b", 0, 5);
        assert!(matches!(decide(Some(&lease), "a", false, t(19), D), Decision::Wait(_)));
        let d = decide(Some(&lease), "a", false, t(20), D);
        let Decision::Acquire(r) = d else { panic!("{d:?}") };
        assert_eq!(r.holder.as_deref(), Some("a"));
        assert_eq!((r.acquire_time, r.renew_time), (Some(t(20)), Some(t(20))));
        assert_eq!(r.transitions, 4, "a new holder is one more transition");
    }

    #[test]
    fn a_lease_without_holder_is_free_at_once() {
        for holder in [None, Some(String::new())] {
            let lease = LeaseRecord {
                holder,
                renew_time: Some(t(100)),
                duration: Some(D),
                ..LeaseRecord::default()
            };
            assert!(matches!(
                decide(Some(&lease), "a", false, t(100), D),
                Decision::Acquire(_)
            ));
        }
    }

    #[test]
    fn a_leader_that_sees_another_holder_has_lost() {
        // E.g. it was paused past the deadline and someone took over meanwhile.
        let d = decide(Some(&held("b", 30, 30)), "a", true, t(31), D);
        assert_eq!(
            d,
            Decision::Lost(Holder {
                identity: "b".into(),
                until: t(45)
            })
        );
    }

    #[test]
    fn release_on_shutdown_lets_others_take_over_at_once() {
        let lease = held("a", 0, 10);
        let r = released(&lease, t(12));
        assert_eq!(r.holder(), None);
        assert_eq!(r.duration, Some(Duration::from_secs(1)));
        assert_eq!(r.transitions, 3);
        let d = decide(Some(&r), "b", false, t(12), D);
        let Decision::Acquire(taken) = d else { panic!("{d:?}") };
        assert_eq!(taken.transitions, 4);
    }

    #[test]
    fn valid_until_falls_back_to_acquire_time() {
        let lease = LeaseRecord {
            holder: Some("b".into()),
            acquire_time: Some(t(0)),
            renew_time: None,
            duration: Some(D),
            transitions: 0,
            address: None,
        };
        assert_eq!(lease.valid_until(), Some(t(15)));
        let never = LeaseRecord {
            holder: Some("b".into()),
            ..LeaseRecord::default()
        };
        assert!(matches!(
            decide(Some(&never), "a", false, t(0), D),
            Decision::Acquire(_)
        ));
    }
}
