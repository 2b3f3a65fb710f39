//! Deploy outcomes: when a commit reached `Clean` (or `Failed`) in an env,
//! recorded as git notes on that commit under [`DEPLOY_NOTES_REF`], so they
//! survive restarts and stay reviewable (`git log --notes=slipway/deploys`).
//!
//! A note holds one JSON object per line, one per outcome of that commit:
//!
//! ```text
//! {"env":"prod","commit":"3f2a…","status":"Clean","at":"2026-11-22T10:00:00Z","services":{"web":"Clean"}}
//! ```
//!
//! An outcome is recorded once per `(env, commit, status)`: the first time it
//! is seen.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::status::{DeployerStatus, RolloutStatus};

/// The notes ref that holds deploy outcomes.
pub const DEPLOY_NOTES_REF: &str = "refs/notes/slipway/deploys";

/// How a deploy ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum OutcomeStatus {
    Clean,
    Failed,
}

/// One commit reaching `Clean` or `Failed` in one env.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeployOutcome {
    pub env: String,
    pub commit: String,
    pub status: OutcomeStatus,
    /// When it was reached (the deployer's `clean_since` for `Clean`, else when it was seen).
    pub at: DateTime<Utc>,
    /// The services that were `Clean` or `Failed` then (`deployable/<file>` for deployables).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub services: BTreeMap<String, OutcomeStatus>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reason: String,
}

impl DeployOutcome {
    /// What makes an outcome the same one again.
    pub fn key(&self) -> (String, String, OutcomeStatus) {
        (self.env.clone(), self.commit.clone(), self.status)
    }

    /// The outcome as one line of a note.
    pub fn to_line(&self) -> String {
        // Plain data with string keys: serialising cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// The outcomes in a note's text; lines that are not outcomes (a person's remark) are skipped.
pub fn parse_note(text: &str) -> Vec<DeployOutcome> {
    text.lines()
        .filter_map(|l| serde_json::from_str::<DeployOutcome>(l.trim()).ok())
        .collect()
}

/// The note's text with `outcome` added, or `None` when it is there already.
pub fn add_to_note(existing: Option<&str>, outcome: &DeployOutcome) -> Option<String> {
    let existing = existing.unwrap_or_default();
    if parse_note(existing).iter().any(|o| o.key() == outcome.key()) {
        return None;
    }
    let mut text = existing.trim_end().to_string();
    if !text.is_empty() {
        text.push('\n');
    }
    text.push_str(&outcome.to_line());
    text.push('\n');
    Some(text)
}

/// The outcomes a deployer status shows now: every env at a commit whose rollout
/// is `Clean` or `Failed` (`InProgress` and `Outdated` are not outcomes yet).
pub fn outcomes_in(status: &DeployerStatus, now: DateTime<Utc>) -> Vec<DeployOutcome> {
    let mut out = Vec::new();
    for (env, s) in &status.envs {
        let Some(commit) = s.commit.clone().filter(|c| !c.is_empty()) else {
            continue;
        };
        let outcome = match s.status {
            RolloutStatus::Clean => OutcomeStatus::Clean,
            RolloutStatus::Failed => OutcomeStatus::Failed,
            RolloutStatus::InProgress | RolloutStatus::Outdated => continue,
        };
        let at = match outcome {
            OutcomeStatus::Clean => s.clean_since.unwrap_or(now),
            OutcomeStatus::Failed => now,
        };
        let services = s
            .services
            .iter()
            .filter_map(|(name, svc)| match svc.status {
                RolloutStatus::Clean => Some((name.clone(), OutcomeStatus::Clean)),
                RolloutStatus::Failed => Some((name.clone(), OutcomeStatus::Failed)),
                _ => None,
            })
            .collect();
        out.push(DeployOutcome {
            env: env.clone(),
            commit,
            status: outcome,
            at,
            services,
            reason: s.reason.clone(),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::EnvStatus;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn env(status: RolloutStatus, commit: Option<&str>) -> EnvStatus {
        EnvStatus {
            env: String::new(),
            cluster: "main".into(),
            namespace: "ns".into(),
            commit: commit.map(str::to_string),
            status,
            reason: String::new(),
            services: BTreeMap::new(),
            last_error: None,
            last_reconcile: None,
            last_success: None,
            clean_since: Some(at("2026-11-22T09:00:00Z")),
        }
    }

    #[test]
    fn clean_and_failed_envs_at_a_commit_are_outcomes_others_are_not() {
        let mut status = DeployerStatus::default();
        status.envs.insert("dev".into(), env(RolloutStatus::Clean, Some("c1")));
        status.envs.insert("pp".into(), env(RolloutStatus::Failed, Some("c2")));
        status
            .envs
            .insert("prod".into(), env(RolloutStatus::InProgress, Some("c3")));
        status.envs.insert("qa".into(), env(RolloutStatus::Clean, None));
        let now = at("2026-11-22T10:00:00Z");
        let outcomes = outcomes_in(&status, now);
        let keys: Vec<_> = outcomes
            .iter()
            .map(|o| (o.env.as_str(), o.commit.as_str(), o.status, o.at))
            .collect();
        assert_eq!(
            keys,
            [
                ("dev", "c1", OutcomeStatus::Clean, at("2026-11-22T09:00:00Z")),
                ("pp", "c2", OutcomeStatus::Failed, now)
            ]
        );
    }

    #[test]
    fn notes_keep_each_outcome_once_and_other_lines() {
        let o = DeployOutcome {
            env: "dev".into(),
            commit: "c1".into(),
            status: OutcomeStatus::Clean,
            at: at("2026-11-22T09:00:00Z"),
            services: BTreeMap::from([("web".into(), OutcomeStatus::Clean)]),
            reason: String::new(),
        };
        let text = add_to_note(Some("checked by hand\n"), &o).unwrap();
        assert_eq!(add_to_note(Some(&text), &o), None);
        let failed = DeployOutcome {
            status: OutcomeStatus::Failed,
            ..o.clone()
        };
        let text = add_to_note(Some(&text), &failed).unwrap();
        assert!(text.starts_with("checked by hand\n{\"env\":\"dev\""), "{text}");
        assert_eq!(parse_note(&text), vec![o, failed]);
    }
}
