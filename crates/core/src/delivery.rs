//! What the repo's history and its deploy notes say about delivery: the
//! timeline of one version through the envs, and the DORA four keys of an env.
//! Pure functions over a [`Record`] the shell gathers from git (version-file
//! changes in history order, and the deploy outcomes of
//! [`crate::deploy_outcome`]).
//!
//! ```text
//!   history:  c0 post web 2 (latest) ─ c1 promote dev ─ c2 promote prod ─ c3 rollback prod
//!   notes:            c1 dev Clean       c2 prod Failed    c3 prod Clean
//! ```

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use crate::deploy_outcome::{DeployOutcome, OutcomeStatus};

/// What kind of commit changed a version file (its `Slipway-Action` trailer).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ChangeKind {
    /// A CI post (`POST /api/versions`).
    Post,
    Promotion,
    Rollback,
    /// A commit made by hand.
    Other,
}

impl ChangeKind {
    /// The kind named by a `Slipway-Action` value.
    pub fn from_action(action: Option<&str>) -> Self {
        match action {
            Some("version") => ChangeKind::Post,
            Some("promotion") => ChangeKind::Promotion,
            Some("rollback") => ChangeKind::Rollback,
            _ => ChangeKind::Other,
        }
    }
}

/// One commit changing one service's version file in one env.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub commit: String,
    pub at: DateTime<Utc>,
    pub env: String,
    pub service: String,
    /// The version label after it (`None`: the file was deleted).
    pub version: Option<String>,
    pub kind: ChangeKind,
}

/// The history and the outcomes, as the shell read them.
#[derive(Debug, Clone, Default)]
pub struct Record {
    /// Oldest first (the order of the branch's history).
    pub changes: Vec<Change>,
    /// Every commit of the branch's history with its place in it (0: oldest).
    pub positions: HashMap<String, usize>,
    pub outcomes: Vec<DeployOutcome>,
}

/// How a service stood in an outcome: its own status if the deployer listed it, else the env's.
fn status_for(o: &DeployOutcome, service: &str) -> OutcomeStatus {
    o.services.get(service).copied().unwrap_or(o.status)
}

/// One deploy: a change of a service in an env, with the outcomes seen for it.
#[derive(Debug, Clone)]
struct Deploy<'a> {
    change: &'a Change,
    /// The first `Clean` and the first `Failed` of the service in this env while this change was current.
    clean: Option<&'a DeployOutcome>,
    failed: Option<&'a DeployOutcome>,
    /// The next change of the service in the env is a rollback.
    rolled_back: Option<&'a Change>,
}

/// The deploys of `env` (every service, or only `service`), oldest first.
fn deploys<'a>(record: &'a Record, env: &str, service: Option<&str>) -> Vec<Deploy<'a>> {
    let pos = |commit: &str| record.positions.get(commit).copied();
    let mut outcomes: Vec<(usize, &DeployOutcome)> = record
        .outcomes
        .iter()
        .filter(|o| o.env == env)
        .filter_map(|o| Some((pos(&o.commit)?, o)))
        .collect();
    outcomes.sort_by_key(|(p, o)| (*p, o.at));
    let changes: Vec<&Change> = record
        .changes
        .iter()
        .filter(|c| c.env == env && service.is_none_or(|s| c.service == s))
        .collect();
    let mut out = Vec::new();
    for (i, change) in changes.iter().enumerate() {
        if change.version.is_none() {
            continue;
        }
        let Some(from) = pos(&change.commit) else { continue };
        let next = changes[i + 1..].iter().find(|c| c.service == change.service);
        let until = next.and_then(|n| pos(&n.commit)).unwrap_or(usize::MAX);
        let window = outcomes
            .iter()
            .filter(|(p, _)| *p >= from && *p < until)
            .map(|(_, o)| *o);
        let mut clean = None;
        let mut failed = None;
        for o in window {
            match status_for(o, &change.service) {
                OutcomeStatus::Clean => {
                    clean.get_or_insert(o);
                }
                OutcomeStatus::Failed => {
                    failed.get_or_insert(o);
                }
            }
        }
        out.push(Deploy {
            change,
            clean,
            failed,
            rolled_back: next.filter(|n| n.kind == ChangeKind::Rollback).copied(),
        });
    }
    out
}

/// When a version of a service first entered any env (its origin).
fn origin_of<'a>(record: &'a Record, service: &str, version: &str) -> Option<&'a Change> {
    record
        .changes
        .iter()
        .find(|c| c.service == service && c.version.as_deref() == Some(version))
}

/// One event of a version's timeline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct TimelineEvent {
    /// `posted`, `promoted`, `rolled_back_to`, `changed` (a commit by hand),
    /// `clean`, `failed`, or `rolled_back` (a rollback replaced it).
    #[cfg_attr(
        feature = "ts",
        ts(
            type = "\"posted\" | \"promoted\" | \"rolled_back_to\" | \"changed\" | \"clean\" | \"failed\" | \"rolled_back\""
        )
    )]
    pub event: &'static str,
    pub at: DateTime<Utc>,
    pub commit: String,
}

/// The timeline of a version in one env.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct EnvTimeline {
    pub env: String,
    /// Oldest first.
    pub events: Vec<TimelineEvent>,
}

/// `GET /api/timeline`: a version's way through the envs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Timeline {
    pub service: String,
    pub version: String,
    /// The commit that brought the version in first, and when.
    pub origin: Option<TimelineEvent>,
    /// The envs in the order the version reached them.
    pub envs: Vec<EnvTimeline>,
}

/// The timeline of `version` of `service`.
pub fn timeline(record: &Record, service: &str, version: &str) -> Timeline {
    let origin = origin_of(record, service, version).map(|c| TimelineEvent {
        event: "posted",
        at: c.at,
        commit: c.commit.clone(),
    });
    let mut envs: Vec<EnvTimeline> = Vec::new();
    for c in record
        .changes
        .iter()
        .filter(|c| c.service == service && c.version.as_deref() == Some(version))
    {
        if !envs.iter().any(|e| e.env == c.env) {
            envs.push(EnvTimeline {
                env: c.env.clone(),
                events: Vec::new(),
            });
        }
    }
    for env in &mut envs {
        for d in deploys(record, &env.env, Some(service)) {
            if d.change.version.as_deref() != Some(version) {
                continue;
            }
            let event = match d.change.kind {
                ChangeKind::Post => "posted",
                ChangeKind::Promotion => "promoted",
                ChangeKind::Rollback => "rolled_back_to",
                ChangeKind::Other => "changed",
            };
            let ev = |event, at, commit: &str| TimelineEvent {
                event,
                at,
                commit: commit.to_string(),
            };
            env.events.push(ev(event, d.change.at, &d.change.commit));
            if let Some(o) = d.failed {
                env.events.push(ev("failed", o.at, &o.commit));
            }
            if let Some(o) = d.clean {
                env.events.push(ev("clean", o.at, &o.commit));
            }
            if let Some(r) = d.rolled_back {
                env.events.push(ev("rolled_back", r.at, &r.commit));
            }
        }
        env.events.sort_by_key(|e| e.at);
    }
    Timeline {
        service: service.to_string(),
        version: version.to_string(),
        origin,
        envs,
    }
}

/// The service and version a commit brought in (for `?commit=`).
pub fn version_of_commit(record: &Record, commit: &str) -> Option<(String, String)> {
    record
        .changes
        .iter()
        .find(|c| c.commit == commit || (commit.len() >= 7 && c.commit.starts_with(commit)))
        .and_then(|c| Some((c.service.clone(), c.version.clone()?)))
}

/// A duration in seconds with its median and 90th percentile.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Spread {
    pub count: usize,
    /// Seconds; `None` without samples.
    pub median_seconds: Option<f64>,
    pub p90_seconds: Option<f64>,
}

/// The median (the mean of the two middle values for an even count) and the
/// 90th percentile (nearest rank: the value at rank ⌈0.9·n⌉) of `samples`.
pub fn spread(mut samples: Vec<Duration>) -> Spread {
    samples.sort();
    let secs = |d: Duration| d.num_milliseconds() as f64 / 1000.0;
    let n = samples.len();
    if n == 0 {
        return Spread {
            count: 0,
            median_seconds: None,
            p90_seconds: None,
        };
    }
    let median = if n % 2 == 1 {
        secs(samples[n / 2])
    } else {
        (secs(samples[n / 2 - 1]) + secs(samples[n / 2])) / 2.0
    };
    let rank = (n * 9).div_ceil(10).max(1);
    Spread {
        count: n,
        median_seconds: Some(median),
        p90_seconds: Some(secs(samples[rank - 1])),
    }
}

/// `GET /api/dora`: the four keys of one env over a period.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Dora {
    pub env: String,
    pub service: Option<String>,
    pub since: DateTime<Utc>,
    pub until: DateTime<Utc>,
    /// Deploys that reached `Clean` in the period.
    pub deploys: usize,
    pub deploys_per_day: f64,
    pub deploys_per_week: f64,
    /// From a version's origin to `Clean` in this env.
    pub lead_time: Spread,
    /// Promotions into the env in the period.
    pub promotions: usize,
    /// Of those, the ones that ended `Failed` or were rolled back.
    pub failed_promotions: usize,
    /// `failed_promotions / promotions`; `None` without promotions.
    pub change_failure_rate: Option<f64>,
    /// From a deploy's `Failed` to the next `Clean` of that service in the env.
    pub time_to_restore: Spread,
}

/// The four keys of `env` (only `service`, if given) between `since` and `now`.
pub fn dora(record: &Record, env: &str, service: Option<&str>, since: DateTime<Utc>, now: DateTime<Utc>) -> Dora {
    let all = deploys(record, env, service);
    let in_period = |at: DateTime<Utc>| at >= since && at <= now;
    let mut clean_deploys = 0;
    let mut lead_times = Vec::new();
    let mut promotions = 0;
    let mut failed_promotions = 0;
    let mut restores = Vec::new();
    for (i, d) in all.iter().enumerate() {
        if let Some(clean) = d.clean.filter(|o| in_period(o.at)) {
            clean_deploys += 1;
            let version = d.change.version.as_deref().unwrap_or_default();
            if let Some(origin) = origin_of(record, &d.change.service, version) {
                lead_times.push(clean.at - origin.at);
            }
        }
        if d.change.kind == ChangeKind::Promotion && in_period(d.change.at) {
            promotions += 1;
            if d.failed.is_some() || d.rolled_back.is_some() {
                failed_promotions += 1;
            }
        }
        if let Some(failed) = d.failed.filter(|o| in_period(o.at)) {
            // Restored by this deploy turning Clean later, or by a later deploy of the service.
            let restored = std::iter::once(d)
                .chain(all[i + 1..].iter().filter(|n| n.change.service == d.change.service))
                .filter_map(|n| n.clean)
                .find(|c| c.at >= failed.at);
            if let Some(clean) = restored {
                restores.push(clean.at - failed.at);
            }
        }
    }
    let days = ((now - since).num_seconds() as f64 / 86_400.0).max(f64::MIN_POSITIVE);
    Dora {
        env: env.to_string(),
        service: service.map(str::to_string),
        since,
        until: now,
        deploys: clean_deploys,
        deploys_per_day: clean_deploys as f64 / days,
        deploys_per_week: clean_deploys as f64 / days * 7.0,
        lead_time: spread(lead_times),
        promotions,
        failed_promotions,
        change_failure_rate: (promotions > 0).then(|| failed_promotions as f64 / promotions as f64),
        time_to_restore: spread(restores),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(secs: i64) -> Duration {
        Duration::seconds(secs)
    }

    #[test]
    fn median_is_the_middle_or_the_mean_of_the_two_and_p90_the_nearest_rank() {
        let s = spread(vec![d(30), d(10), d(20)]);
        assert_eq!((s.count, s.median_seconds, s.p90_seconds), (3, Some(20.0), Some(30.0)));
        let s = spread((1..=10).map(d).collect());
        assert_eq!((s.median_seconds, s.p90_seconds), (Some(5.5), Some(9.0)));
        assert_eq!(spread(vec![]).median_seconds, None);
    }
}
