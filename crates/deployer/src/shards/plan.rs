//! One round of the env shards, as a pure function: given every env's Lease as
//! read, the replicas alive, what this replica holds and what it is applying,
//! which Leases to create, take over, renew or give up. No I/O, no clock.
//!
//! Fair spread: a replica holds at most `ceil(envs / replicas alive)` envs. It
//! takes free (or expired) envs up to that cap, those it is the preferred
//! owner of first (rendezvous hashing over the replicas alive, so replicas
//! that look at the same free envs try different ones), and when replicas join
//! and the cap drops it gives up the envs over the cap that it is not applying.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use chrono::{DateTime, Utc};
use slipway_kit::lease::{decide, released, Decision, Holder, LeaseRecord};

/// What one round sees.
#[derive(Debug, Clone, Copy)]
pub struct RoundInput<'a> {
    /// This replica's identity.
    pub me: &'a str,
    /// The envs of `deployers.yaml`.
    pub envs: &'a BTreeSet<String>,
    /// The Lease of each env that has one, as read this round.
    pub leases: &'a BTreeMap<String, LeaseRecord>,
    /// The replicas alive (their replica Lease is valid), this one included.
    pub replicas: &'a BTreeSet<String>,
    /// The envs this replica may apply to now (its fence passes).
    pub holding: &'a BTreeSet<String>,
    /// The envs this replica is applying to now: never given up mid-reconcile.
    pub busy: &'a BTreeSet<String>,
    pub now: DateTime<Utc>,
    /// The lease duration written on a claim.
    pub duration: Duration,
}

/// What the round does with one env's Lease.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// No Lease yet: create it, held by me.
    Create(LeaseRecord),
    /// Free or expired: take it over (an update on the version read).
    Acquire(LeaseRecord),
    /// Mine: renew it.
    Renew(LeaseRecord),
    /// Mine, but over my fair share: give it up (stop applying first).
    Release(LeaseRecord),
    /// Free, but I hold my fair share already: leave it to another replica.
    Leave,
    /// Someone else holds it.
    Wait(Holder),
    /// I believed I held it, but someone else does now: stop at once.
    Lost(Holder),
}

impl Step {
    /// Whether the step writes a claim of mine.
    pub fn claims(&self) -> bool {
        matches!(self, Step::Create(_) | Step::Acquire(_) | Step::Renew(_))
    }
}

/// The plan of one round: a step per env, and the fair share it was made with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoundPlan {
    pub steps: BTreeMap<String, Step>,
    /// The most envs one replica holds: `ceil(envs / replicas alive)`.
    pub fair_share: usize,
}

/// The most envs one of `replicas` replicas holds.
pub fn fair_share(envs: usize, replicas: usize) -> usize {
    envs.div_ceil(replicas.max(1))
}

/// A hash that is the same in every process and release (FNV-1a over both names, mixed).
fn weight(replica: &str, env: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in replica.bytes().chain([0]).chain(env.bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    // FNV alone hardly spreads names that differ in one character (deployer-0,
    // deployer-1): finish with splitmix64's mixing step.
    h ^= h >> 30;
    h = h.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h ^= h >> 27;
    h = h.wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

/// The replica that should own `env` when it is free: the highest weight of
/// the replicas alive (rendezvous hashing).
pub fn preferred_owner<'a>(env: &str, replicas: &'a BTreeSet<String>) -> Option<&'a str> {
    replicas
        .iter()
        .max_by_key(|r| (weight(r, env), r.as_str()))
        .map(String::as_str)
}

/// Decides one round.
pub fn plan_round(input: RoundInput<'_>) -> RoundPlan {
    let RoundInput {
        me,
        envs,
        leases,
        replicas,
        holding,
        busy,
        now,
        duration,
    } = input;
    let mut alive = replicas.clone();
    alive.insert(me.to_string());
    let share = fair_share(envs.len(), alive.len());
    let mut steps = BTreeMap::new();
    let (mut mine, mut free) = (Vec::new(), Vec::new());
    for env in envs {
        match decide(leases.get(env), me, holding.contains(env), now, duration) {
            Decision::Renew(r) => mine.push((env, r)),
            Decision::Create(r) => free.push((env, Step::Create(r))),
            Decision::Acquire(r) => free.push((env, Step::Acquire(r))),
            Decision::Wait(h) => {
                steps.insert(env.clone(), Step::Wait(h));
            }
            Decision::Lost(h) => {
                steps.insert(env.clone(), Step::Lost(h));
            }
        }
    }
    // Over the fair share: give up first what I am not applying, and of that
    // what another replica is the preferred owner of.
    let over = mine.len().saturating_sub(share);
    let keep_first = |env: &str| {
        (
            busy.contains(env),
            preferred_owner(env, &alive) == Some(me),
            weight(me, env),
        )
    };
    mine.sort_by_key(|(env, _)| keep_first(env));
    let mut given_up = 0;
    for (env, renewal) in mine.iter() {
        let step = if given_up < over && !busy.contains(env.as_str()) {
            given_up += 1;
            Step::Release(released(leases.get(*env).unwrap_or(renewal), now))
        } else {
            Step::Renew(renewal.clone())
        };
        steps.insert((*env).clone(), step);
    }
    // Under the fair share: take free envs, preferred ones first.
    let held = mine.len() - given_up;
    free.sort_by_key(|(env, _)| std::cmp::Reverse((preferred_owner(env, &alive) == Some(me), weight(me, env))));
    for (i, (env, step)) in free.into_iter().enumerate() {
        let step = if held + i < share { step } else { Step::Leave };
        steps.insert(env.clone(), step);
    }
    RoundPlan {
        steps,
        fair_share: share,
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

    fn set(names: &[&str]) -> BTreeSet<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    fn held(by: &str, renewed: i64) -> LeaseRecord {
        LeaseRecord {
            holder: Some(by.into()),
            acquire_time: Some(t(0)),
            renew_time: Some(t(renewed)),
            duration: Some(D),
            transitions: 1,
            address: None,
        }
    }

    /// A stand-in for the Leases in the cluster and the replicas taking turns:
    /// each round of a replica reads them all, and its writes land (rounds do
    /// not overlap here; conflicts are the kit's tests' business).
    #[derive(Default)]
    struct World {
        leases: BTreeMap<String, LeaseRecord>,
        /// Per replica: the envs whose claim it wrote last.
        holding: BTreeMap<String, BTreeSet<String>>,
    }

    impl World {
        fn round(&mut self, me: &str, envs: &BTreeSet<String>, replicas: &BTreeSet<String>, now: i64) -> RoundPlan {
            let holding = self.holding.get(me).cloned().unwrap_or_default();
            let plan = plan_round(RoundInput {
                me,
                envs,
                leases: &self.leases,
                replicas,
                holding: &holding,
                busy: &BTreeSet::new(),
                now: t(now),
                duration: D,
            });
            let mine = self.holding.entry(me.to_string()).or_default();
            for (env, step) in &plan.steps {
                match step {
                    Step::Create(r) | Step::Acquire(r) | Step::Renew(r) => {
                        self.leases.insert(env.clone(), r.clone());
                        mine.insert(env.clone());
                    }
                    Step::Release(r) => {
                        self.leases.insert(env.clone(), r.clone());
                        mine.remove(env);
                    }
                    Step::Lost(_) | Step::Wait(_) | Step::Leave => {
                        mine.remove(env);
                    }
                }
            }
            plan
        }

        fn owners(&self, now: i64) -> BTreeMap<String, usize> {
            let mut count = BTreeMap::new();
            for lease in self.leases.values() {
                if let (Some(h), Some(until)) = (lease.holder(), lease.valid_until()) {
                    if t(now) < until {
                        *count.entry(h.to_string()).or_insert(0) += 1;
                    }
                }
            }
            count
        }
    }

    fn envs(n: usize) -> BTreeSet<String> {
        (0..n).map(|i| format!("env-{i}")).collect()
    }

    #[test]
    fn the_fair_share_is_envs_over_replicas_rounded_up() {
        assert_eq!(fair_share(7, 3), 3);
        assert_eq!(fair_share(6, 3), 2);
        assert_eq!(fair_share(2, 3), 1);
        assert_eq!(fair_share(0, 3), 0);
        assert_eq!(fair_share(5, 0), 5);
    }

    #[test]
    fn a_replica_alone_takes_every_env() {
        let mut w = World::default();
        let all = envs(4);
        let plan = w.round("a", &all, &set(&["a"]), 0);
        assert_eq!(plan.fair_share, 4);
        assert!(plan.steps.values().all(|s| matches!(s, Step::Create(_))), "{plan:?}");
        let plan = w.round("a", &all, &set(&["a"]), 2);
        assert!(plan.steps.values().all(|s| matches!(s, Step::Renew(_))), "{plan:?}");
    }

    #[test]
    fn replicas_that_start_together_spread_the_envs() {
        let mut w = World::default();
        let all = envs(7);
        let replicas = set(&["a", "b", "c"]);
        for s in 0..3 {
            for r in ["a", "b", "c"] {
                w.round(r, &all, &replicas, s);
            }
        }
        let owners = w.owners(3);
        assert_eq!(owners.values().sum::<usize>(), 7, "{owners:?}");
        assert!(
            owners.values().all(|&n| n <= 3),
            "no replica holds more than its share: {owners:?}"
        );
        assert_eq!(owners.len(), 3, "{owners:?}");
    }

    #[test]
    fn a_replica_that_joins_gets_its_share_from_the_others() {
        let mut w = World::default();
        let all = envs(6);
        w.round("a", &all, &set(&["a"]), 0);
        assert_eq!(w.owners(0)["a"], 6);
        // b joins: a is over its share of 3 and gives 3 up; b takes them.
        let both = set(&["a", "b"]);
        let plan = w.round("a", &all, &both, 2);
        assert_eq!(plan.fair_share, 3);
        let given_up = plan.steps.values().filter(|s| matches!(s, Step::Release(_))).count();
        assert_eq!(given_up, 3, "{plan:?}");
        for r in plan.steps.values() {
            if let Step::Release(r) = r {
                assert_eq!(r.holder(), None);
            }
        }
        w.round("b", &all, &both, 2);
        assert_eq!(w.owners(2), BTreeMap::from([("a".into(), 3), ("b".into(), 3)]));
        // Further rounds change nothing.
        for s in 4..8 {
            for r in ["a", "b"] {
                let plan = w.round(r, &all, &both, s);
                assert!(
                    plan.steps.values().all(|s| matches!(s, Step::Renew(_) | Step::Wait(_))),
                    "{plan:?}"
                );
            }
        }
    }

    #[test]
    fn an_env_being_applied_is_not_given_up() {
        let all = envs(2);
        let leases: BTreeMap<String, LeaseRecord> = all.iter().map(|e| (e.clone(), held("a", 0))).collect();
        let replicas = set(&["a", "b"]);
        // a holds both, b joined: a's share is 1.
        let plan_with = |busy: &BTreeSet<String>| {
            plan_round(RoundInput {
                me: "a",
                envs: &all,
                leases: &leases,
                replicas: &replicas,
                holding: &all,
                busy,
                now: t(1),
                duration: D,
            })
        };
        let plan = plan_with(&all);
        assert!(plan.steps.values().all(|s| matches!(s, Step::Renew(_))), "{plan:?}");
        let plan = plan_with(&set(&["env-0"]));
        assert!(matches!(plan.steps["env-0"], Step::Renew(_)));
        assert!(matches!(plan.steps["env-1"], Step::Release(_)));
    }

    #[test]
    fn the_envs_of_a_dead_replica_are_taken_over_once_its_leases_expire() {
        let mut w = World::default();
        let all = envs(4);
        let both = set(&["a", "b"]);
        for s in 0..2 {
            w.round("a", &all, &both, s);
            w.round("b", &all, &both, s);
        }
        assert_eq!(w.owners(1), BTreeMap::from([("a".into(), 2), ("b".into(), 2)]));
        // b dies after renewing at 1s; a sees it as alive until its replica Lease expires too.
        for s in 2..16 {
            let plan = w.round("a", &all, &both, s);
            assert_eq!(
                plan.steps.values().filter(|s| matches!(s, Step::Wait(_))).count(),
                2,
                "b's envs are not touched before they expire ({s}s): {plan:?}"
            );
        }
        let alone = set(&["a"]);
        let plan = w.round("a", &all, &alone, 16);
        assert_eq!(
            plan.steps.values().filter(|s| matches!(s, Step::Acquire(_))).count(),
            2,
            "{plan:?}"
        );
        assert_eq!(w.owners(16), BTreeMap::from([("a".into(), 4)]));
    }

    #[test]
    fn a_replica_past_its_deadline_that_sees_another_holder_has_lost() {
        let all = set(&["dev"]);
        let leases = BTreeMap::from([("dev".to_string(), held("b", 20))]);
        let plan = plan_round(RoundInput {
            me: "a",
            envs: &all,
            leases: &leases,
            replicas: &set(&["a", "b"]),
            holding: &all,
            busy: &BTreeSet::new(),
            now: t(21),
            duration: D,
        });
        assert_eq!(
            plan.steps["dev"],
            Step::Lost(Holder {
                identity: "b".into(),
                until: t(35)
            })
        );
    }

    #[test]
    fn free_envs_beyond_the_share_are_left_to_others() {
        let all = envs(4);
        let plan = plan_round(RoundInput {
            me: "a",
            envs: &all,
            leases: &BTreeMap::new(),
            replicas: &set(&["a", "b"]),
            holding: &BTreeSet::new(),
            busy: &BTreeSet::new(),
            now: t(0),
            duration: D,
        });
        assert_eq!(plan.steps.values().filter(|s| s.claims()).count(), 2);
        assert_eq!(plan.steps.values().filter(|s| **s == Step::Leave).count(), 2);
        // The ones taken are those a is the preferred owner of, when there are such.
        let preferred: Vec<_> = all
            .iter()
            .filter(|e| preferred_owner(e, &set(&["a", "b"])) == Some("a"))
            .collect();
        for env in preferred.iter().take(2) {
            assert!(plan.steps[env.as_str()].claims(), "{env}: {plan:?}");
        }
    }

    #[test]
    fn the_preferred_owner_is_the_same_for_every_replica() {
        let replicas = set(&["deployer-0", "deployer-1", "deployer-2"]);
        let owners: BTreeSet<_> = envs(30)
            .iter()
            .map(|e| preferred_owner(e, &replicas).unwrap().to_string())
            .collect();
        assert_eq!(owners.len(), 3, "30 envs spread over all three replicas");
        assert_eq!(
            preferred_owner("dev", &replicas),
            preferred_owner("dev", &replicas.clone())
        );
        assert_eq!(preferred_owner("dev", &BTreeSet::new()), None);
    }
}
