//! The `SourceClean` precondition (and its soak time, `min_clean`), decided from
//! what the deployer reports about the source env.

use std::time::Duration;

use chrono::{DateTime, Utc};
use slipway_core::duration::format_duration;
use slipway_core::status::{EnvStatus, RolloutStatus, TransitionResult};
use slipway_core::transitions::Transition;

/// What the deployer says about the source env, gathered by the shell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceObservation {
    /// The transition has no precondition on the source.
    NotRequired,
    /// The deployer could not be asked (not configured, unreachable, bad answer).
    Unavailable(String),
    /// The deployer answered but does not deploy the source env.
    NotDeployed,
    /// `deployers.yaml` deploys the source env, but the deployer has not reported it yet
    /// (it just started, or has not fetched that change).
    NotReported,
    /// The deployer's view of the source env.
    Env(SourceEnv),
}

/// The deployer's view of the source env, with how it relates to the promoted commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceEnv {
    pub status: RolloutStatus,
    pub reason: String,
    pub clean_since: Option<DateTime<Utc>>,
    /// The commit the deployer has reconciled the env to.
    pub deployer_commit: Option<String>,
    /// The commit being promoted: the last one that changed the source's version files.
    pub promoted_commit: String,
    /// How `deployer_commit` relates to `promoted_commit`.
    pub position: Position,
}

/// Where the deployer's commit of the source env is, relative to the promoted commit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Position {
    /// The promoted commit or a descendant of it.
    AtOrPast,
    /// Not (yet) there: older, on another line, or no commit at all.
    Behind,
    /// A commit the transitioner has not fetched yet (it will judge it after its next fetch).
    Unknown,
}

impl SourceEnv {
    /// Builds the view from the deployer's env status; `position` is decided by the caller (git).
    pub fn new(env: &EnvStatus, promoted_commit: String, position: Position) -> Self {
        SourceEnv {
            status: env.status,
            reason: env.reason.clone(),
            clean_since: env.clean_since,
            deployer_commit: env.commit.clone(),
            promoted_commit,
            position,
        }
    }
}

/// Why the source keeps the transition from running, or `None` when it may run.
pub fn check(
    transition: &Transition,
    observation: &SourceObservation,
    now: DateTime<Utc>,
) -> Option<(TransitionResult, String)> {
    let source = &transition.source;
    let env = match observation {
        SourceObservation::NotRequired => return None,
        SourceObservation::Unavailable(why) => {
            return Some((
                TransitionResult::CheckFailed,
                format!("cannot check that source {source} is clean: {why}"),
            ))
        }
        SourceObservation::NotDeployed => {
            return Some((
                TransitionResult::CheckFailed,
                format!("source {source} is not deployed (not in the deployer's status), so SourceClean cannot hold: add it to deployers.yaml or drop the precondition"),
            ))
        }
        SourceObservation::NotReported => {
            return Some((
                TransitionResult::Blocked,
                format!("the deployer has not reported source {source} yet"),
            ))
        }
        SourceObservation::Env(env) => env,
    };
    let with_reason = |what: String| {
        if env.reason.is_empty() {
            what
        } else {
            format!("{what}: {}", env.reason)
        }
    };
    if env.status == RolloutStatus::Failed {
        return Some((
            TransitionResult::CheckFailed,
            with_reason(format!("source {source} is Failed")),
        ));
    }
    let at = env.deployer_commit.as_deref().map(short).unwrap_or("no commit yet");
    match env.position {
        Position::AtOrPast => {}
        Position::Behind => {
            return Some((
                TransitionResult::Blocked,
                format!(
                    "source {source} is not deployed at the promoted commit {} yet (deployer is at {at})",
                    short(&env.promoted_commit)
                ),
            ))
        }
        Position::Unknown => {
            return Some((
                TransitionResult::Blocked,
                format!("the deployer reports source {source} at {at}, which the transitioner has not fetched yet; judged on the next run"),
            ))
        }
    }
    if env.status != RolloutStatus::Clean {
        return Some((
            TransitionResult::Blocked,
            with_reason(format!("source {source} is {:?}", env.status)),
        ));
    }
    if let Some(min_clean) = transition.min_clean {
        let Some(since) = env.clean_since else {
            return Some((
                TransitionResult::Blocked,
                format!(
                    "source {source} is Clean, but the deployer does not say since when (min_clean {})",
                    format_duration(min_clean)
                ),
            ));
        };
        let clean_for = (now - since).to_std().unwrap_or(Duration::ZERO);
        if clean_for < min_clean {
            let clean_for = Duration::from_secs(clean_for.as_secs());
            return Some((
                TransitionResult::Blocked,
                format!(
                    "source {source} has been Clean for {}, needs {} (min_clean)",
                    format_duration(clean_for),
                    format_duration(min_clean)
                ),
            ));
        }
    }
    None
}

/// The short form of a commit id for messages.
pub fn short(commit: &str) -> &str {
    commit.get(..10).unwrap_or(commit)
}

#[cfg(test)]
mod tests {
    use super::*;
    use slipway_core::transitions::parse_transitions;

    fn transition(extra: &str) -> Transition {
        let yaml = format!("transitions:\n  pp: {{source: dev, target: pp, preconditions: [SourceClean]{extra}}}\n");
        parse_transitions(&yaml).unwrap().remove(0)
    }

    fn env(status: RolloutStatus, caught_up: bool, clean_since: Option<&str>) -> SourceObservation {
        let position = if caught_up {
            Position::AtOrPast
        } else {
            Position::Behind
        };
        SourceObservation::Env(SourceEnv {
            status,
            reason: "1 of 2 services in progress".into(),
            clean_since: clean_since.map(|s| s.parse().unwrap()),
            deployer_commit: Some("aaaaaaaaaaaaaaaa".into()),
            promoted_commit: "bbbbbbbbbbbbbbbb".into(),
            position,
        })
    }

    fn now() -> DateTime<Utc> {
        "2026-11-22T10:00:00Z".parse().unwrap()
    }

    #[test]
    fn clean_source_at_the_promoted_commit_lets_the_run_go() {
        assert_eq!(
            check(&transition(""), &env(RolloutStatus::Clean, true, None), now()),
            None
        );
    }

    #[test]
    fn rolling_out_or_outdated_source_blocks() {
        for status in [RolloutStatus::InProgress, RolloutStatus::Outdated] {
            let (result, reason) = check(&transition(""), &env(status, true, None), now()).unwrap();
            assert_eq!(result, TransitionResult::Blocked);
            assert!(reason.contains(&format!("{status:?}")), "{reason}");
            assert!(reason.contains("1 of 2 services in progress"), "{reason}");
        }
    }

    #[test]
    fn failed_source_fails_the_check_with_the_reason() {
        let (result, reason) = check(&transition(""), &env(RolloutStatus::Failed, true, None), now()).unwrap();
        assert_eq!(result, TransitionResult::CheckFailed);
        assert!(reason.contains("source dev is Failed"), "{reason}");
    }

    #[test]
    fn clean_but_behind_the_promoted_commit_blocks() {
        let (result, reason) = check(&transition(""), &env(RolloutStatus::Clean, false, None), now()).unwrap();
        assert_eq!(result, TransitionResult::Blocked);
        assert!(reason.contains("bbbbbbbbbb"), "{reason}");
    }

    #[test]
    fn min_clean_waits_for_the_soak_time() {
        let t = transition(", min_clean: 10m");
        let young = env(RolloutStatus::Clean, true, Some("2026-11-22T09:55:00Z"));
        let (result, reason) = check(&t, &young, now()).unwrap();
        assert_eq!(result, TransitionResult::Blocked);
        assert!(reason.contains("5m") && reason.contains("10m"), "{reason}");
        let old = env(RolloutStatus::Clean, true, Some("2026-11-22T09:50:00Z"));
        assert_eq!(check(&t, &old, now()), None);
        let unknown = env(RolloutStatus::Clean, true, None);
        assert_eq!(check(&t, &unknown, now()).unwrap().0, TransitionResult::Blocked);
    }

    #[test]
    fn unreachable_deployer_and_undeployed_source_fail_the_check() {
        let t = transition("");
        let (result, reason) = check(&t, &SourceObservation::Unavailable("connection refused".into()), now()).unwrap();
        assert_eq!(result, TransitionResult::CheckFailed);
        assert!(reason.contains("connection refused"));
        assert_eq!(
            check(&t, &SourceObservation::NotDeployed, now()).unwrap().0,
            TransitionResult::CheckFailed
        );
        assert_eq!(
            check(&t, &SourceObservation::NotReported, now()).unwrap().0,
            TransitionResult::Blocked
        );
    }

    #[test]
    fn deployer_ahead_of_our_fetch_waits_for_the_next_run() {
        let observation = SourceObservation::Env(SourceEnv {
            status: RolloutStatus::Clean,
            reason: String::new(),
            clean_since: None,
            deployer_commit: Some("cccccccccccccccc".into()),
            promoted_commit: "bbbbbbbbbbbbbbbb".into(),
            position: Position::Unknown,
        });
        let (result, reason) = check(&transition(""), &observation, now()).unwrap();
        assert_eq!(result, TransitionResult::Blocked);
        assert!(reason.contains("not fetched yet"), "{reason}");
    }
}
