//! Commit messages of the transitioner: readable by people, and classifiable by
//! the aggregator and by the transitioner itself after a restart (git trailers).
//!
//! ```text
//! Promote latest → dev: s1 41 → 42, s2 (new) → 1
//!
//! s1: 41 → 42
//! s2: (new) → 1
//!
//! Changelog of s1:
//!   <origin commit> <its subject>
//!
//!     <its changelog>
//!
//! Slipway-Action: promotion
//! Slipway-Transition: dev
//! Slipway-Env: dev
//! ```

use slipway_core::lineage::Lineage;
use slipway_core::status::Promotion;
use slipway_core::transitions::{ScheduleState, Transition};

use crate::evaluate::{rfc3339, summary, PlannedPromotion, WindowOverride};
use crate::source_check::short;

/// Trailer naming what kind of change a commit is.
pub const ACTION_TRAILER: &str = "Slipway-Action";
/// Trailer naming the transition that made a commit.
pub const TRANSITION_TRAILER: &str = "Slipway-Transition";
/// Trailer naming the env a commit changes (the target), as the aggregator's commits have it.
pub const ENV_TRAILER: &str = "Slipway-Env";

/// Longest subject line; longer lists of services are only in the body.
const MAX_SUBJECT: usize = 100;

/// The versions one promoted service carries: their origins, oldest first.
#[derive(Debug, Clone, Default)]
pub struct Changelog {
    pub service: String,
    pub lineage: Lineage,
}

/// The message of a promotion commit.
pub fn promotion_message(t: &Transition, promotions: &[PlannedPromotion], changelogs: &[Changelog]) -> String {
    let mut subject = format!("Promote {} → {}: {}", t.source, t.target, summary(promotions));
    if subject.chars().count() > MAX_SUBJECT {
        subject = format!("Promote {} → {}: {} services", t.source, t.target, promotions.len());
    }
    let mut msg = format!("{subject}\n\n");
    for p in promotions {
        msg.push_str(&format!(
            "{}: {} → {}\n",
            p.service,
            p.old.as_deref().unwrap_or("(new)"),
            p.new
        ));
    }
    msg.push_str(&changelog_section(changelogs));
    msg.push_str(&format!(
        "\n{ACTION_TRAILER}: promotion\n{TRANSITION_TRAILER}: {}\n{ENV_TRAILER}: {}\n",
        t.name, t.target
    ));
    msg
}

/// Trailer saying that a promotion went ahead through closed windows.
pub const OVERRIDE_TRAILER: &str = "Slipway-Override";
/// Trailer with the reason the person gave for overriding the windows.
pub const OVERRIDE_REASON_TRAILER: &str = "Slipway-Override-Reason";

/// `message` with a break-glass override recorded: a line before the trailers, and
/// trailers of its own.
pub fn with_window_override(message: String, o: &WindowOverride, author: &str) -> String {
    let line = format!(
        "Windows overridden by {author}: {}\n(closed: {})",
        one_line(&o.reason),
        o.closed
    );
    let trailers = format!(
        "{OVERRIDE_TRAILER}: windows\n{OVERRIDE_REASON_TRAILER}: {}",
        one_line(&o.reason)
    );
    insert_before_trailers(message, &line, &trailers)
}

/// Trailer naming one person whose approval the promotion carries out.
pub const APPROVED_BY_TRAILER: &str = "Approved-by";

/// `message` with one `Approved-by` trailer per approver.
pub fn with_approvals(message: String, approvers: &[String]) -> String {
    if approvers.is_empty() {
        return message;
    }
    let trailers: Vec<String> = approvers
        .iter()
        .map(|a| format!("{APPROVED_BY_TRAILER}: {a}"))
        .collect();
    let body = message.trim_end();
    format!("{body}\n{}\n", trailers.join("\n"))
}

/// Puts `paragraph` before the last paragraph (the trailers) and `trailers` at its end.
fn insert_before_trailers(message: String, paragraph: &str, trailers: &str) -> String {
    let body = message.trim_end();
    match body.rsplit_once("\n\n") {
        Some((head, last)) => format!("{head}\n\n{paragraph}\n\n{last}\n{trailers}\n"),
        None => format!("{body}\n\n{paragraph}\n\n{trailers}\n"),
    }
}

/// Text as one line: a trailer value or a line of its own ends at a newline.
fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The title and body of the pull request for a promotion branch whose commit has
/// `message` (what it ships and the changelogs): the subject, and the body without
/// the trailers, with a line on how it is done.
pub fn pull_request_text(t: &Transition, message: &str) -> (String, String) {
    let (title, rest) = message.split_once('\n').unwrap_or((message, ""));
    let mut body = rest.trim().to_string();
    if let Some((text, last)) = body.rsplit_once("\n\n") {
        if last
            .lines()
            .all(|l| l.starts_with("Slipway-") || l.starts_with(APPROVED_BY_TRAILER))
        {
            body = text.trim_end().to_string();
        }
    }
    let footer = format!(
        "Opened by slipway-transitioner for the transition `{}` ({} → {}). Merging it (merge, squash or rebase) promotes; the branch is updated when what it ships changes, and this request is closed when nothing waits on it any more.",
        t.name, t.source, t.target
    );
    (
        title.trim().to_string(),
        format!("{body}\n\n---\n{footer}\n").trim_start().to_string(),
    )
}

/// The message of the state commit that goes with pushing a promotion branch.
pub fn branch_message(t: &Transition, ships: &str) -> String {
    format!(
        "Promotion branch {}: {ships}\n\nPushed to {}; merging it into the main branch promotes it.\n\n{ACTION_TRAILER}: promotion-branch\n{TRANSITION_TRAILER}: {}\n",
        t.name,
        slipway_core::transitions::promotion_branch(&t.name),
        t.name
    )
}

/// The message of the state commit once nothing waits on a promotion branch (merged).
pub fn branch_done_message(t: &Transition, why: &str) -> String {
    format!(
        "Promotion branch {}: nothing waits on it any more\n\n{why}\n\n{ACTION_TRAILER}: promotion-branch\n{TRANSITION_TRAILER}: {}\n",
        t.name, t.name
    )
}

/// The changelogs of a promotion: per service, the origin commit of every
/// version it carries (oldest first) with that commit's own subject and
/// changelog, so a promotion of a promotion never nests earlier messages.
pub fn changelog_section(changelogs: &[Changelog]) -> String {
    let mut out = String::new();
    for log in changelogs.iter().filter(|l| !l.lineage.origins.is_empty()) {
        out.push_str(&format!("\nChangelog of {}:\n", log.service));
        if log.lineage.truncated {
            out.push_str("  (older versions left out)\n");
        }
        for origin in &log.lineage.origins {
            out.push_str(&format!("  {} {}\n", short(&origin.commit), origin.subject));
            if !origin.changelog.is_empty() {
                out.push('\n');
            }
            for line in origin.changelog.lines() {
                if line.trim().is_empty() {
                    out.push('\n');
                } else {
                    out.push_str(&format!("    {line}\n"));
                }
            }
        }
    }
    out
}

/// The message of a commit that only updates a transition's schedule state.
pub fn schedule_message(t: &Transition, entry: Option<&ScheduleState>, why: &str) -> String {
    let subject = match entry.and_then(|e| e.next_due) {
        Some(next) => format!("Schedule {}: next run at {}", t.name, rfc3339(next)),
        None if t.schedule.is_some() => format!("Schedule {}: nothing waits for a scheduled run", t.name),
        None => format!("Unschedule {}: it runs without a schedule now", t.name),
    };
    format!(
        "{subject}\n\n{why}\n\n{ACTION_TRAILER}: schedule\n{TRANSITION_TRAILER}: {}\n",
        t.name
    )
}

/// The value of a trailer in a commit message (the last paragraph).
pub fn trailer<'a>(message: &'a str, key: &str) -> Option<&'a str> {
    let last = message.trim_end().rsplit("\n\n").next()?;
    last.lines().find_map(|line| {
        let (k, v) = line.split_once(':')?;
        (k.trim() == key).then(|| v.trim())
    })
}

/// If `message` is a promotion by transition `name`, the services it moved.
pub fn parse_promotion(message: &str, name: &str) -> Option<Vec<Promotion>> {
    if trailer(message, ACTION_TRAILER) != Some("promotion") || trailer(message, TRANSITION_TRAILER) != Some(name) {
        return None;
    }
    // The second paragraph has one `service: old → new` line per promoted service.
    let body = message.split("\n\n").nth(1)?;
    let promotions = body
        .lines()
        .filter_map(|line| {
            let (service, change) = line.split_once(": ")?;
            let (old, new) = change.split_once(" → ")?;
            Some(Promotion {
                service: service.to_string(),
                old: (old != "(new)").then(|| old.to_string()),
                new: new.to_string(),
            })
        })
        .collect();
    Some(promotions)
}

#[cfg(test)]
mod tests {
    use super::*;
    use slipway_core::lineage::Origin;
    use slipway_core::transitions::parse_transitions;

    fn promo(service: &str, old: Option<&str>, new: &str) -> PlannedPromotion {
        PlannedPromotion {
            service: service.into(),
            old: old.map(str::to_string),
            new: new.into(),
            old_content: None,
            content: Vec::new(),
        }
    }

    #[test]
    fn approvers_are_trailers_of_the_promotion() {
        let t = parse_transitions("transitions:\n  prod: {source: pp, target: prod}\n")
            .unwrap()
            .remove(0);
        let msg = promotion_message(&t, &[promo("s1", Some("1"), "2")], &[]);
        let msg = with_approvals(msg, &["alice".into(), "bob".into()]);
        assert!(
            msg.ends_with("Slipway-Env: prod\nApproved-by: alice\nApproved-by: bob\n"),
            "{msg}"
        );
        assert_eq!(trailer(&msg, APPROVED_BY_TRAILER), Some("alice"));
        assert_eq!(parse_promotion(&msg, "prod").unwrap().len(), 1);
    }

    #[test]
    fn window_override_is_a_line_and_trailers_and_the_promotion_still_parses() {
        let t = parse_transitions("transitions:\n  prod: {source: pp, target: prod}\n")
            .unwrap()
            .remove(0);
        let msg = promotion_message(&t, &[promo("s1", Some("1"), "2")], &[]);
        let o = WindowOverride {
            closed: "inside deny window \"0 0 18 * * Fri\" for 64h (UTC): weekend freeze".into(),
            reason: "hotfix for\nincident 4711".into(),
        };
        let msg = with_window_override(msg, &o, "alice");
        assert!(
            msg.contains("\n\nWindows overridden by alice: hotfix for incident 4711\n(closed: inside deny window"),
            "{msg}"
        );
        assert_eq!(trailer(&msg, OVERRIDE_TRAILER), Some("windows"));
        assert_eq!(trailer(&msg, OVERRIDE_REASON_TRAILER), Some("hotfix for incident 4711"));
        assert_eq!(trailer(&msg, TRANSITION_TRAILER), Some("prod"));
        assert_eq!(parse_promotion(&msg, "prod").unwrap().len(), 1);
    }

    #[test]
    fn promotion_message_lists_services_changelogs_and_trailers_and_parses_back() {
        let t = parse_transitions("transitions:\n  dev: {source: latest, target: dev}\n")
            .unwrap()
            .remove(0);
        let promotions = [promo("s1", Some("41"), "42"), promo("team-a/api", None, "1")];
        let origin = |id: &str, subject: &str, changelog: &str| Origin {
            service: "s1".into(),
            env: "latest".into(),
            commit: id.into(),
            author: "ci".into(),
            time: 0,
            subject: subject.into(),
            changelog: changelog.into(),
        };
        let changelogs = [Changelog {
            service: "s1".into(),
            lineage: Lineage {
                origins: vec![
                    origin("fedcba9876543210", "s1 41.1 in latest", ""),
                    origin("0123456789abcdef", "s1 42", "Fix the login bug\n\nand the logout"),
                ],
                truncated: false,
            },
        }];
        let msg = promotion_message(&t, &promotions, &changelogs);
        assert!(
            msg.starts_with("Promote latest → dev: s1 41 → 42, team-a/api (new) → 1\n\ns1: 41 → 42\n"),
            "{msg}"
        );
        assert!(
            msg.contains("Changelog of s1:\n  fedcba9876 s1 41.1 in latest\n  0123456789 s1 42\n\n    Fix the login bug\n\n    and the logout\n"),
            "{msg}"
        );
        assert_eq!(trailer(&msg, ACTION_TRAILER), Some("promotion"));
        assert_eq!(trailer(&msg, TRANSITION_TRAILER), Some("dev"));
        assert_eq!(trailer(&msg, ENV_TRAILER), Some("dev"));
        assert!(!msg.contains("Slipway-Env: latest"), "{msg}");
        let back = parse_promotion(&msg, "dev").unwrap();
        assert_eq!(
            back,
            vec![
                Promotion {
                    service: "s1".into(),
                    old: Some("41".into()),
                    new: "42".into()
                },
                Promotion {
                    service: "team-a/api".into(),
                    old: None,
                    new: "1".into()
                }
            ]
        );
        assert_eq!(parse_promotion(&msg, "pp"), None);
        assert_eq!(parse_promotion("s1 42\n\nchangelog\n", "dev"), None);
    }

    #[test]
    fn long_lists_of_services_stay_out_of_the_subject() {
        let t = parse_transitions("transitions:\n  dev: {source: latest, target: dev}\n")
            .unwrap()
            .remove(0);
        let promotions: Vec<_> = (0..12)
            .map(|i| promo(&format!("service-{i}"), Some("1.0.0"), "1.0.1"))
            .collect();
        let msg = promotion_message(&t, &promotions, &[]);
        assert!(
            msg.starts_with("Promote latest → dev: 12 services\n\nservice-0: 1.0.0 → 1.0.1\n"),
            "{msg}"
        );
        assert_eq!(parse_promotion(&msg, "dev").unwrap().len(), 12);
    }
}
