//! The DORA four keys and a version's timeline, computed from a git_fixture
//! history with known commit times and deploy notes, against answers worked
//! out by hand.
//!
//! The history (T(i) = 2026-11-01 00:00 UTC + i days; envs `latest → prod`):
//!
//! | version | posted in latest | promoted into prod | deploy notes in prod |
//! |---|---|---|---|
//! | 1, 2, 3, 5, 6, 7, 9, 10 | T(i) 00:00 | T(i) 01:00 | Clean at T(i) 02:00 |
//! | 4 | T(4) 00:00 | T(4) 01:00 | Failed at T(4) 01:30; rolled back to 3 at T(4) 03:00, Clean at T(4) 03:30 |
//! | 8 | T(8) 00:00 | T(8) 01:00 | Failed at T(8) 01:10 (fixed by 9's Clean at T(9) 02:00) |
//!
//! By hand, at now = T(11) over `since=30d` (30 days):
//! - deploys that reached Clean: 1, 2, 3, 5, 6, 7, 9, 10 and the rollback to 3 = 9;
//!   per day 9 / 30 = 0.3, per week 0.3 × 7 = 2.1.
//! - lead time (origin post → Clean in prod): eight deploys took 2 h (7200 s);
//!   the rollback to 3 took T(4) 03:30 − T(3) 00:00 = 27 h 30 m (99000 s).
//!   Sorted: 7200 × 8, 99000. Median (5th of 9) = 7200; p90 (rank ⌈0.9 × 9⌉ = 9) = 99000.
//! - change failure rate: 10 promotions; 4 (failed and rolled back) and 8 (failed) = 2 / 10 = 0.2.
//! - time to restore: 4: 01:30 → 03:30 = 7200 s; 8: T(8) 01:10 → T(9) 02:00 = 24 h 50 m
//!   = 89400 s. Median of two = (7200 + 89400) / 2 = 48300 s.
//!
//! Over `since=5d` (from T(6) 00:00): Clean deploys 6, 7, 9, 10 = 4 (0.8 a day);
//! promotions 6..10 = 5 with 8 failed = 0.2; lead time 7200 × 4; restore 89400.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use slipway_aggregator::delivery::{find_timeline, four_keys, record, DoraQuery, TimelineQuery};
use slipway_core::delivery::Record;
use slipway_core::deploy_outcome::{add_to_note, parse_note, DeployOutcome, OutcomeStatus, DEPLOY_NOTES_REF};
use slipway_repo::{Author, CommitId, GitAuth, RepoLocation, ResourceRepo};

fn t0() -> DateTime<Utc> {
    "2026-11-01T00:00:00Z".parse().unwrap()
}

/// T(day) + hours:minutes.
fn t(day: i64, hours: i64, minutes: i64) -> DateTime<Utc> {
    t0() + Duration::days(day) + Duration::hours(hours) + Duration::minutes(minutes)
}

fn version(v: u32) -> String {
    format!("version: '{v}'\n")
}

fn commit(yaml: &mut String, message: &str, at: DateTime<Utc>, path: &str, content: &str) {
    yaml.push_str(&format!(
        "  - message: {message:?}\n    time: {}\n    files:\n      {path}: {content:?}\n",
        at.timestamp()
    ));
}

/// The history of the table above; the deploy outcomes to note, by promotion or rollback.
fn history() -> (String, Vec<(usize, OutcomeStatus, DateTime<Utc>)>) {
    let mut yaml = format!(
        "commits:\n  - message: setup\n    time: {}\n    files:\n      transitions.yaml: \"transitions:\\n  prod: {{source: latest, target: prod}}\\n\"\n      latest/version/web.yaml: \"version: '0'\\n\"\n      prod/version/web.yaml: \"version: '0'\\n\"\n",
        t0().timestamp()
    );
    // Commit index 0 is the setup; every commit after it is numbered in order.
    let mut index = 0;
    let mut outcomes = Vec::new();
    for v in 1..=10u32 {
        let day = i64::from(v);
        commit(
            &mut yaml,
            &format!("web {v} in latest\n\nchange {v}\n\nSlipway-Action: version\nSlipway-Env: latest\nSlipway-Service: web\n"),
            t(day, 0, 0),
            "latest/version/web.yaml",
            &version(v),
        );
        index += 1;
        commit(
            &mut yaml,
            &format!("Promote latest → prod: web {} → {v}\n\nweb: {} → {v}\n\nSlipway-Action: promotion\nSlipway-Transition: prod\nSlipway-Env: prod\n", v - 1, v - 1),
            t(day, 1, 0),
            "prod/version/web.yaml",
            &version(v),
        );
        index += 1;
        match v {
            4 => {
                outcomes.push((index, OutcomeStatus::Failed, t(4, 1, 30)));
                commit(
                    &mut yaml,
                    "Roll back web in prod to 3\n\nSlipway-Action: rollback\nSlipway-Env: prod\nSlipway-Service: web\n",
                    t(4, 3, 0),
                    "prod/version/web.yaml",
                    &version(3),
                );
                index += 1;
                outcomes.push((index, OutcomeStatus::Clean, t(4, 3, 30)));
            }
            8 => outcomes.push((index, OutcomeStatus::Failed, t(8, 1, 10))),
            _ => outcomes.push((index, OutcomeStatus::Clean, t(day, 2, 0))),
        }
    }
    (yaml, outcomes)
}

fn open(repo: &git_fixture::TempRepo, name: &str) -> ResourceRepo {
    ResourceRepo::open_and_fetch(RepoLocation {
        url: repo.url(),
        checkout_path: repo.scratch(name),
        branch: "main".into(),
        auth: GitAuth::default(),
        timeout: slipway_repo::DEFAULT_GIT_TIMEOUT,
        stale_lock_after: slipway_repo::DEFAULT_STALE_LOCK_AFTER,
    })
    .unwrap()
}

/// The fixture repo with its notes, read back as the aggregator reads it.
fn fixture() -> (git_fixture::TempRepo, Record, Vec<String>) {
    let (yaml, outcomes) = history();
    let repo = git_fixture::temp(&yaml).unwrap();
    let writer = open(&repo, "writer");
    // Oldest first, as the fixture numbered them.
    let mut commits: Vec<String> = repo.log().into_iter().map(|(id, _, _)| id).collect();
    commits.reverse();
    let additions: Vec<(CommitId, String)> = outcomes
        .iter()
        .map(|(i, status, at)| {
            let o = DeployOutcome {
                env: "prod".into(),
                commit: commits[*i].clone(),
                status: *status,
                at: *at,
                services: BTreeMap::from([("web".to_string(), *status)]),
                reason: String::new(),
            };
            (commits[*i].parse().unwrap(), o.to_line())
        })
        .collect();
    writer
        .add_notes(
            &Author::named("slipway-transitioner"),
            DEPLOY_NOTES_REF,
            &additions,
            |existing, line| add_to_note(existing, &parse_note(line).pop()?),
        )
        .unwrap();
    let reader = open(&repo, "reader");
    let head = reader.head().unwrap();
    let record = record(&reader, head).unwrap();
    (repo, record, commits)
}

fn query(since_days: u64) -> DoraQuery {
    DoraQuery {
        env: "prod".into(),
        service: None,
        since: std::time::Duration::from_secs(since_days * 86_400),
    }
}

#[test]
fn four_keys_equal_the_hand_computed_values() {
    let (_repo, record, _) = fixture();
    assert_eq!(
        record.changes.len(),
        1 + 1 + 10 + 10 + 1,
        "setup (2 files), 10 posts, 10 promotions, 1 rollback"
    );
    assert_eq!(record.outcomes.len(), 11);
    let now = t(11, 0, 0);

    let k = four_keys(&record, &query(30), now);
    assert_eq!(k.deploys, 9);
    assert!((k.deploys_per_day - 0.3).abs() < 1e-9, "{}", k.deploys_per_day);
    assert!((k.deploys_per_week - 2.1).abs() < 1e-9, "{}", k.deploys_per_week);
    assert_eq!(k.lead_time.count, 9);
    assert_eq!(k.lead_time.median_seconds, Some(7200.0));
    assert_eq!(k.lead_time.p90_seconds, Some(99000.0));
    assert_eq!((k.promotions, k.failed_promotions), (10, 2));
    assert_eq!(k.change_failure_rate, Some(0.2));
    assert_eq!(k.time_to_restore.count, 2);
    assert_eq!(k.time_to_restore.median_seconds, Some(48300.0));

    let k = four_keys(&record, &query(5), now);
    assert_eq!(k.deploys, 4);
    assert!((k.deploys_per_day - 0.8).abs() < 1e-9, "{}", k.deploys_per_day);
    assert_eq!(
        (k.promotions, k.failed_promotions, k.change_failure_rate),
        (5, 1, Some(0.2))
    );
    assert_eq!(k.lead_time.median_seconds, Some(7200.0));
    assert_eq!(k.time_to_restore.median_seconds, Some(89400.0));

    // The same figures for the one service; none for a service that never deployed.
    let web = DoraQuery {
        service: Some("web".into()),
        ..query(30)
    };
    assert_eq!(four_keys(&record, &web, now).deploys, 9);
    let other = DoraQuery {
        service: Some("api".into()),
        ..query(30)
    };
    let k = four_keys(&record, &other, now);
    assert_eq!(
        (k.deploys, k.change_failure_rate, k.lead_time.median_seconds),
        (0, None, None)
    );
}

#[test]
fn timeline_shows_posted_promoted_failed_and_rolled_back_with_times() {
    let (_repo, record, commits) = fixture();
    let q = TimelineQuery::Version {
        service: "web".into(),
        version: "4".into(),
    };
    let tl = find_timeline(&record, &q).expect("version 4 has a timeline");
    let origin = tl.origin.clone().unwrap();
    assert_eq!((origin.at, origin.commit.as_str()), (t(4, 0, 0), commits[7].as_str()));
    let envs: Vec<&str> = tl.envs.iter().map(|e| e.env.as_str()).collect();
    assert_eq!(envs, ["latest", "prod"]);
    let prod: Vec<(&str, DateTime<Utc>)> = tl.envs[1].events.iter().map(|e| (e.event, e.at)).collect();
    assert_eq!(
        prod,
        [
            ("promoted", t(4, 1, 0)),
            ("failed", t(4, 1, 30)),
            ("rolled_back", t(4, 3, 0))
        ]
    );
    // Version 3 ran in prod twice: promoted and Clean, then rolled back to and Clean again.
    let three = find_timeline(
        &record,
        &TimelineQuery::Version {
            service: "web".into(),
            version: "3".into(),
        },
    )
    .unwrap();
    let prod: Vec<&str> = three.envs[1].events.iter().map(|e| e.event).collect();
    assert_eq!(prod, ["promoted", "clean", "rolled_back_to", "clean"]);
    // By origin commit: the post of version 4.
    let by_commit = find_timeline(&record, &TimelineQuery::Commit(commits[7].clone())).unwrap();
    assert_eq!(by_commit, tl);
    assert_eq!(
        find_timeline(
            &record,
            &TimelineQuery::Version {
                service: "web".into(),
                version: "99".into()
            }
        ),
        None
    );
}
