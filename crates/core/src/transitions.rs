//! `transitions.yaml` (promotion rules) and `transition_state.yaml` (SPEC section 4).

use std::collections::BTreeMap;
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::FileError;
use crate::model::line_of_key;
use crate::names::validate_env_name;
use crate::windows::{Window, WindowKind};

/// Path of the rules file in the repo.
pub const TRANSITIONS_FILE: &str = "transitions.yaml";
/// Path of the transitioner's own state file in the repo.
pub const TRANSITION_STATE_FILE: &str = "transition_state.yaml";

/// A check that must pass before a transition runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Precondition {
    /// The deployer reports the source env at (or past) the promoted commit, rollout `Clean`.
    SourceClean,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTransition {
    source: String,
    target: String,
    #[serde(default)]
    preconditions: Vec<Precondition>,
    #[serde(default)]
    schedule: Option<String>,
    #[serde(default, with = "humantime_serde")]
    min_clean: Option<Duration>,
    #[serde(default)]
    manual: bool,
    #[serde(default)]
    approvals: u32,
    #[serde(default)]
    approvers: Vec<String>,
    #[serde(default)]
    windows: Vec<RawWindow>,
    #[serde(default)]
    mode: Mode,
    #[serde(default)]
    on_failure: OnFailure,
    #[serde(default, with = "humantime_serde")]
    verify_for: Option<Duration>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWindow {
    #[serde(default)]
    deny: Option<String>,
    #[serde(default)]
    allow: Option<String>,
    #[serde(default, with = "humantime_serde")]
    duration: Option<Duration>,
    #[serde(default)]
    timezone: Option<String>,
    #[serde(default)]
    reason: Option<String>,
}

/// How a promotion reaches the target's branch.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// The transitioner commits to the branch.
    #[default]
    Direct,
    /// The transitioner pushes `slipway/promote/<transition>`; a person merges it.
    PullRequest,
}

/// What happens when a promoted service fails to deploy in the target.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnFailure {
    /// The failure is reported in the status only.
    #[default]
    Report,
    /// The previous version is committed back and the service is held.
    Rollback,
}

/// How long after a promotion a failure in the target counts as caused by it.
pub const DEFAULT_VERIFY_FOR: Duration = Duration::from_secs(600);

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    transitions: BTreeMap<String, RawTransition>,
}

/// One promotion rule.
#[derive(Debug, Clone)]
pub struct Transition {
    pub name: String,
    pub source: String,
    pub target: String,
    pub preconditions: Vec<Precondition>,
    /// The cron expression as written (`cron` crate syntax, seconds first).
    pub schedule_text: Option<String>,
    /// The parsed schedule.
    pub schedule: Option<cron::Schedule>,
    /// How long the source must have been `Clean` before promoting.
    pub min_clean: Option<Duration>,
    /// Runs only when asked (`POST /transitions/{name}/run`).
    pub manual: bool,
    /// How many distinct people must approve a pending set before it is promoted (0: none).
    pub approvals: u32,
    /// Who may approve (empty: anyone with a token).
    pub approvers: Vec<String>,
    /// When promotions may run; empty: always.
    pub windows: Vec<Window>,
    pub mode: Mode,
    pub on_failure: OnFailure,
    /// How long after a promotion a failure of a promoted service counts (`on_failure`).
    pub verify_for: Duration,
}

impl Transition {
    /// Whether `SourceClean` is required.
    pub fn requires_source_clean(&self) -> bool {
        self.preconditions.contains(&Precondition::SourceClean) || self.min_clean.is_some()
    }

    /// The first scheduled time strictly after `after`.
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.schedule.as_ref().and_then(|s| s.after(&after).next())
    }
}

/// Parses `transitions.yaml`, keeping the order of the file.
pub fn parse_transitions(text: &str) -> Result<Vec<Transition>, FileError> {
    const PATH: &str = TRANSITIONS_FILE;
    if text.trim().is_empty() {
        return Ok(Vec::new());
    }
    // Typed pass first: serde_yaml reports lines for errors found while reading the text.
    let raw: Option<RawFile> = serde_yaml::from_str(text).map_err(|e| FileError::yaml(PATH, &e))?;
    let Some(mut raw) = raw else { return Ok(Vec::new()) };
    // Second pass for the order of the names, which the typed map loses.
    let order: serde_yaml::Value = serde_yaml::from_str(text).map_err(|e| FileError::yaml(PATH, &e))?;
    let names: Vec<String> = order
        .get("transitions")
        .and_then(|t| t.as_mapping())
        .map(|m| m.keys().filter_map(|k| k.as_str().map(str::to_string)).collect())
        .unwrap_or_default();
    let mut out = Vec::with_capacity(names.len());
    for name in names {
        let Some(t) = raw.transitions.remove(&name) else {
            continue;
        };
        let line = line_of_key(text, &name);
        let err = |msg: String| FileError::new(PATH, line, format!("transition {name}: {msg}"));
        validate_env_name(&t.source).map_err(|e| err(e.to_string()))?;
        validate_env_name(&t.target).map_err(|e| err(e.to_string()))?;
        if t.source == t.target {
            return Err(err("source and target are the same environment".into()));
        }
        if t.approvals == 0 && !t.approvers.is_empty() {
            return Err(err(
                "approvers are listed but approvals is 0: set approvals: N (how many of them must approve)".into(),
            ));
        }
        for (i, approver) in t.approvers.iter().enumerate() {
            crate::tokens::check_name(approver)
                .map_err(|problem| err(format!("invalid approver {approver:?}: {problem} (a token name)")))?;
            if t.approvers[..i].contains(approver) {
                return Err(err(format!("approver {approver:?} is listed twice")));
            }
        }
        if !t.approvers.is_empty() && t.approvers.len() < t.approvals as usize {
            return Err(err(format!(
                "approvals: {} can never be reached with {} approvers listed",
                t.approvals,
                t.approvers.len()
            )));
        }
        if t.verify_for == Some(Duration::ZERO) {
            return Err(err("verify_for must be longer than 0s, e.g. 10m".into()));
        }
        let windows = t
            .windows
            .iter()
            .enumerate()
            .map(|(i, w)| parse_window(w).map_err(|msg| err(format!("windows[{i}]: {msg}"))))
            .collect::<Result<Vec<_>, _>>()?;
        let schedule = match &t.schedule {
            Some(expr) => Some(cron::Schedule::from_str(expr).map_err(|e| {
                FileError::new(
                    PATH,
                    crate::model::line_of_text(text, expr).or(line),
                    format!(
                        "transition {name}: invalid schedule {expr:?}: {e} (cron with seconds: \"sec min hour day month weekday\", e.g. \"0 0 9 * * Mon-Fri\")"
                    ),
                )
            })?),
            None => None,
        };
        out.push(Transition {
            name,
            source: t.source,
            target: t.target,
            preconditions: t.preconditions,
            schedule_text: t.schedule,
            schedule,
            min_clean: t.min_clean,
            manual: t.manual,
            approvals: t.approvals,
            approvers: t.approvers,
            windows,
            mode: t.mode,
            on_failure: t.on_failure,
            verify_for: t.verify_for.unwrap_or(DEFAULT_VERIFY_FOR),
        });
    }
    Ok(out)
}

/// Checks one entry of `windows:`.
fn parse_window(w: &RawWindow) -> Result<Window, String> {
    let (kind, cron_text) = match (&w.deny, &w.allow) {
        (Some(_), Some(_)) => {
            return Err("has both deny and allow: write one window per entry".into());
        }
        (None, None) => {
            return Err("needs deny: CRON or allow: CRON, e.g. {deny: \"0 0 18 * * Fri\", duration: 64h}".into());
        }
        (Some(c), None) => (WindowKind::Deny, c.clone()),
        (None, Some(c)) => (WindowKind::Allow, c.clone()),
    };
    let schedule = cron::Schedule::from_str(&cron_text).map_err(|e| {
        format!("invalid cron {cron_text:?}: {e} (cron with seconds: \"sec min hour day month weekday\")")
    })?;
    let duration = match w.duration {
        None => return Err("needs a duration, e.g. duration: 8h".into()),
        Some(d) if d.is_zero() => return Err("duration must be longer than 0s".into()),
        Some(d) => d,
    };
    let timezone = match &w.timezone {
        None => chrono_tz::UTC,
        Some(name) => name.parse().map_err(|_| {
            format!("unknown time zone {name:?}: use an IANA name such as Europe/Berlin, America/New_York or UTC")
        })?,
    };
    Ok(Window {
        kind,
        cron_text,
        schedule,
        duration,
        timezone,
        reason: w.reason.clone(),
    })
}

/// What the transitioner remembers of one scheduled transition.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleState {
    /// The next time the transition is due. A due run that is blocked keeps this time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_due: Option<DateTime<Utc>>,
    /// The schedule `next_due` was computed from; a changed schedule starts afresh.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<String>,
}

/// The contents of `transition_state.yaml`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransitionState {
    #[serde(default)]
    pub transitions: BTreeMap<String, ScheduleState>,
    /// Per transition in `mode: pull_request`: the digest of the pending set last
    /// pushed to its promotion branch, so that a branch deleted unmerged is told
    /// apart from one never pushed.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub pushed: BTreeMap<String, String>,
}

/// The branch a transition in `mode: pull_request` pushes its promotion to.
pub fn promotion_branch(transition: &str) -> String {
    format!("slipway/promote/{transition}")
}

impl TransitionState {
    /// Parses `transition_state.yaml`; an empty file is an empty state.
    pub fn parse(text: &str) -> Result<Self, FileError> {
        if text.trim().is_empty() {
            return Ok(Self::default());
        }
        let state: Option<Self> = serde_yaml::from_str(text).map_err(|e| FileError::yaml(TRANSITION_STATE_FILE, &e))?;
        Ok(state.unwrap_or_default())
    }

    /// Serializes for writing back to the repo.
    pub fn to_yaml(&self) -> String {
        let header = "# Written by slipway-transitioner: the next due time of scheduled transitions with a change waiting, and what was pushed to promotion branches.\n";
        format!("{header}{}", serde_yaml::to_string(self).unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_file_order_and_options() {
        let ts = parse_transitions(
            "transitions:\n  zeta: {source: latest, target: dev}\n  alpha:\n    source: dev\n    target: prod\n    preconditions: [SourceClean]\n    schedule: \"0 0 9 * * Mon-Fri\"\n    min_clean: 10m\n    manual: true\n",
        )
        .unwrap();
        assert_eq!(
            ts.iter().map(|t| t.name.as_str()).collect::<Vec<_>>(),
            ["zeta", "alpha"]
        );
        assert!(ts[1].requires_source_clean());
        assert_eq!(ts[1].min_clean, Some(Duration::from_secs(600)));
        assert!(ts[1].manual);
        let after = "2026-11-20T10:00:00Z".parse::<DateTime<Utc>>().unwrap(); // a Friday
        assert_eq!(
            ts[1].next_after(after).unwrap(),
            "2026-11-23T09:00:00Z".parse::<DateTime<Utc>>().unwrap()
        );
    }

    #[test]
    fn malformed_transitions_name_path_and_line() {
        let err = parse_transitions("transitions:\n  dev: {source: latest, target: dev\n").unwrap_err();
        assert_eq!(err.path, "transitions.yaml");
        assert!(err.line.is_some());
        let err =
            parse_transitions("transitions:\n  dev: {source: latest, target: dev}\n  pp: {source: dev, taget: pp}\n")
                .unwrap_err();
        assert_eq!(err.line, Some(3), "{err}");
        assert!(err.message.contains("taget"));
        let err = parse_transitions("transitions:\n  dev: {source: latest, target: dev, preconditions: [Sunny]}\n")
            .unwrap_err();
        assert_eq!(err.line, Some(2));
    }

    #[test]
    fn invalid_schedule_and_env_names_are_explained() {
        let err = parse_transitions("transitions:\n  a: {source: x, target: y}\n  prod:\n    source: pp\n    target: prod\n    schedule: \"every monday\"\n").unwrap_err();
        assert_eq!(err.line, Some(6));
        assert!(err.message.contains("invalid schedule"));
        let err = parse_transitions("transitions:\n  dev: {source: Latest, target: dev}\n").unwrap_err();
        assert_eq!(err.line, Some(2));
    }

    #[test]
    fn control_keys_default_to_no_control() {
        let t = parse_transitions("transitions:\n  dev: {source: latest, target: dev}\n")
            .unwrap()
            .remove(0);
        assert_eq!(t.approvals, 0);
        assert!(t.approvers.is_empty());
        assert!(t.windows.is_empty());
        assert_eq!(t.mode, Mode::Direct);
        assert_eq!(t.on_failure, OnFailure::Report);
        assert_eq!(t.verify_for, Duration::from_secs(600));
    }

    #[test]
    fn control_keys_are_read() {
        let t = parse_transitions(
            "transitions:\n  prod:\n    source: pp\n    target: prod\n    approvals: 2\n    approvers: [alice, bob, carol]\n    mode: pull_request\n    on_failure: rollback\n    verify_for: 5m\n    windows:\n      - {deny: \"0 0 18 * * Fri\", duration: 64h, timezone: Europe/Berlin, reason: weekend freeze}\n      - {allow: \"0 0 9 * * Mon-Thu\", duration: 8h}\n",
        )
        .unwrap()
        .remove(0);
        assert_eq!(t.approvals, 2);
        assert_eq!(t.approvers, ["alice", "bob", "carol"]);
        assert_eq!(t.mode, Mode::PullRequest);
        assert_eq!(t.on_failure, OnFailure::Rollback);
        assert_eq!(t.verify_for, Duration::from_secs(300));
        assert_eq!(t.windows.len(), 2);
        assert_eq!(t.windows[0].kind, WindowKind::Deny);
        assert_eq!(t.windows[0].timezone, chrono_tz::Europe::Berlin);
        assert_eq!(t.windows[0].duration, Duration::from_secs(64 * 3600));
        assert_eq!(t.windows[0].reason.as_deref(), Some("weekend freeze"));
        assert_eq!(t.windows[1].kind, WindowKind::Allow);
        assert_eq!(t.windows[1].timezone, chrono_tz::UTC);
    }

    #[test]
    fn invalid_control_keys_are_explained() {
        let bad = |rule: &str| {
            parse_transitions(&format!("transitions:\n  prod: {{source: pp, target: prod, {rule}}}\n"))
                .unwrap_err()
                .to_string()
        };
        let cases = [
            (
                "windows: [{deny: \"never\", duration: 1h}]",
                "windows[0]: invalid cron \"never\"",
            ),
            (
                "windows: [{deny: \"0 0 18 * * Fri\", duration: 1h, timezone: Mars/Olympus}]",
                "unknown time zone \"Mars/Olympus\"",
            ),
            (
                "windows: [{deny: \"0 0 18 * * Fri\", allow: \"0 0 9 * * *\", duration: 1h}]",
                "has both deny and allow",
            ),
            ("windows: [{duration: 1h}]", "needs deny: CRON or allow: CRON"),
            ("windows: [{allow: \"0 0 9 * * *\"}]", "needs a duration"),
            (
                "windows: [{allow: \"0 0 9 * * *\", duration: 1h, when: now}]",
                "unknown field `when`",
            ),
            ("approvers: [alice]", "approvals is 0"),
            (
                "approvals: 3, approvers: [alice, bob]",
                "approvals: 3 can never be reached",
            ),
            ("approvals: 1, approvers: [alice, alice]", "listed twice"),
            ("mode: fast", "unknown variant `fast`"),
            ("on_failure: panic", "unknown variant `panic`"),
            ("verify_for: 0s", "verify_for must be longer"),
        ];
        for (rule, expected) in cases {
            let message = bad(rule);
            assert!(message.contains(expected), "{rule}: {message}");
            assert!(message.starts_with("transitions.yaml:2"), "{rule}: {message}");
        }
    }

    #[test]
    fn state_round_trips() {
        let mut s = TransitionState::default();
        s.transitions.insert(
            "prod".into(),
            ScheduleState {
                next_due: Some("2026-11-23T09:00:00Z".parse().unwrap()),
                schedule: Some("0 0 9 * * *".into()),
            },
        );
        assert_eq!(TransitionState::parse(&s.to_yaml()).unwrap(), s);
    }
}
