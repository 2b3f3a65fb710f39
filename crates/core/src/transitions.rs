//! `transitions.yaml` (promotion rules) and `transition_state.yaml` (SPEC section 4).

use std::collections::BTreeMap;
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::FileError;
use crate::model::line_of_key;
use crate::names::validate_env_name;

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
}

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
        });
    }
    Ok(out)
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
        let header = "# Written by slipway-transitioner: the next due time of each scheduled transition.\n";
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
