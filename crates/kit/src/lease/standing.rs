//! What one replica knows about its own leadership, and the fence it checks
//! before every write: it leads only while its last successful renewal is less
//! than `renew_deadline` old. The others wait for the full lease duration from
//! that renewal, so a replica that stopped renewing (paused, partitioned, its
//! API calls failing) stops writing `duration - renew_deadline` before anyone
//! else can start.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::decide::LeaseRecord;

/// One replica's view of the election.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Standing {
    /// When this replica took the Lease, while it holds it.
    pub since: Option<DateTime<Utc>>,
    /// When the last successful write of this replica's claim was *sent* (not
    /// answered: the fence counts from the earlier time).
    pub renewed_at: Option<DateTime<Utc>>,
    /// The Lease as last read or written.
    pub observed: Option<LeaseRecord>,
}

/// Who leads, for `/status`: `{"identity", "since", "renew_time", "me"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LeaderInfo {
    /// The holder's identity; `null` while nobody holds the Lease.
    pub identity: Option<String>,
    /// When the holder took the Lease.
    pub since: Option<DateTime<Utc>>,
    /// The holder's last renewal.
    pub renew_time: Option<DateTime<Utc>>,
    /// Whether this replica is the holder (and within its renew deadline).
    pub me: bool,
    /// Where the holder's API answers, when it says.
    pub address: Option<String>,
}

impl Standing {
    /// Whether this replica may write at `now`.
    pub fn leads(&self, now: DateTime<Utc>, renew_deadline: Duration) -> bool {
        let deadline = chrono::Duration::from_std(renew_deadline).unwrap_or_default();
        self.renewed_at.is_some_and(|at| now < at + deadline)
    }

    /// A write of my claim (create, acquire or renew) that was sent at `sent` succeeded.
    pub fn claimed(&mut self, record: LeaseRecord, sent: DateTime<Utc>) {
        if self.since.is_none() {
            self.since = record.acquire_time.or(Some(sent));
        }
        self.renewed_at = Some(sent);
        self.observed = Some(record);
    }

    /// The Lease was read and someone else holds it (or I released it): I do not lead.
    pub fn follows(&mut self, record: Option<LeaseRecord>) {
        self.since = None;
        self.renewed_at = None;
        self.observed = record;
    }

    /// What `/status` shows.
    pub fn leader(&self, me: &str, now: DateTime<Utc>, renew_deadline: Duration) -> LeaderInfo {
        let observed = self.observed.as_ref();
        let identity = observed.and_then(|l| l.holder()).map(str::to_string);
        LeaderInfo {
            me: identity.as_deref() == Some(me) && self.leads(now, renew_deadline),
            identity,
            since: observed.and_then(|l| l.acquire_time),
            renew_time: observed.and_then(|l| l.renew_time),
            address: observed
                .filter(|l| l.holder().is_some())
                .and_then(|l| l.address.clone()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::decide::{decide, Decision};
    use super::*;
    use chrono::TimeZone;

    const D: Duration = Duration::from_secs(15);
    const DEADLINE: Duration = Duration::from_secs(10);

    fn t(secs: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap() + chrono::Duration::seconds(secs)
    }

    /// A stand-in for the API server's optimistic concurrency: a write names the
    /// version it read, and only a write on the current version succeeds.
    struct Server {
        version: u64,
        lease: Option<LeaseRecord>,
    }

    impl Server {
        fn write(&mut self, read: u64, record: LeaseRecord) -> Result<(), &'static str> {
            if read != self.version {
                return Err("409 Conflict");
            }
            self.version += 1;
            self.lease = Some(record);
            Ok(())
        }
    }

    fn round(server: &mut Server, me: &str, standing: &mut Standing, now: DateTime<Utc>) {
        let read = server.version;
        let lease = server.lease.clone();
        let i_lead = standing.leads(now, DEADLINE);
        match decide(lease.as_ref(), me, i_lead, now, D) {
            Decision::Create(r) | Decision::Acquire(r) | Decision::Renew(r) => {
                if server.write(read, r.clone()).is_ok() {
                    standing.claimed(r, now);
                }
            }
            Decision::Wait(_) | Decision::Lost(_) => standing.follows(lease),
        }
    }

    #[test]
    fn of_two_contenders_on_one_version_only_one_wins() {
        let mut server = Server {
            version: 1,
            lease: None,
        };
        let (mut a, mut b) = (Standing::default(), Standing::default());
        // Both read version 1 and both decide to create; a's write lands first.
        let read = server.version;
        let Decision::Create(ra) = decide(None, "a", false, t(0), D) else {
            panic!()
        };
        let Decision::Create(rb) = decide(None, "b", false, t(0), D) else {
            panic!()
        };
        server.write(read, ra.clone()).unwrap();
        a.claimed(ra, t(0));
        assert_eq!(server.write(read, rb), Err("409 Conflict"));
        // b reads again and now waits for a.
        round(&mut server, "b", &mut b, t(1));
        assert!(a.leads(t(1), DEADLINE));
        assert!(!b.leads(t(1), DEADLINE));
        assert_eq!(b.leader("b", t(1), DEADLINE).identity.as_deref(), Some("a"));
        assert!(!b.leader("b", t(1), DEADLINE).me);
        assert!(a.leader("a", t(1), DEADLINE).me);
    }

    #[test]
    fn a_leader_that_cannot_renew_stops_before_anyone_can_take_over() {
        let mut server = Server {
            version: 1,
            lease: None,
        };
        let (mut a, mut b) = (Standing::default(), Standing::default());
        round(&mut server, "a", &mut a, t(0));
        assert!(a.leads(t(0), DEADLINE));
        // a's renewals stop reaching the server (partition); b keeps looking.
        for s in 1..=30 {
            let now = t(s);
            round(&mut server, "b", &mut b, now);
            let a_leads = a.leads(now, DEADLINE);
            let b_leads = b.leads(now, DEADLINE);
            assert!(!(a_leads && b_leads), "two leaders at {s}s");
            if s < 10 {
                assert!(a_leads, "a still leads at {s}s");
            }
            if s >= 10 {
                assert!(!a_leads, "a must have stopped at {s}s (renew deadline 10s)");
            }
            if s < 15 {
                assert!(!b_leads, "b cannot take over before the lease expires ({s}s)");
            }
        }
        assert!(b.leads(t(30), DEADLINE), "b took over once the lease expired");
        // a comes back, reads the Lease and sees it lost.
        let lease = server.lease.clone();
        assert!(matches!(
            decide(lease.as_ref(), "a", true, t(30), D),
            Decision::Wait(_) | Decision::Lost(_)
        ));
    }

    #[test]
    fn renewals_keep_the_leader_and_since() {
        let mut server = Server {
            version: 1,
            lease: None,
        };
        let mut a = Standing::default();
        for s in [0, 2, 4, 6] {
            round(&mut server, "a", &mut a, t(s));
        }
        assert_eq!(a.since, Some(t(0)));
        assert_eq!(a.renewed_at, Some(t(6)));
        assert!(a.leads(t(15), DEADLINE) && !a.leads(t(16), DEADLINE));
        assert_eq!(server.lease.as_ref().unwrap().renew_time, Some(t(6)));
    }
}
