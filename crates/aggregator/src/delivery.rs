//! `GET /api/timeline` (one version's way through the envs) and `GET /api/dora`
//! (the four keys of an env), computed by [`slipway_core::delivery`] from the
//! history of the version files and the deploy notes
//! (`refs/notes/slipway/deploys`, see [`slipway_core::deploy_outcome`]).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use slipway_core::delivery::{dora, timeline, version_of_commit, Change, ChangeKind, Dora, Record, Timeline};
use slipway_core::deploy_outcome::{parse_note, DEPLOY_NOTES_REF};
use slipway_core::lineage::action;
use slipway_core::merge::parse_vars;
use slipway_core::model::{version_label, version_path};
use slipway_repo::{CommitId, GitError, ResourceRepo};

use crate::input;
use crate::refusal::Refusal;

/// The most commits read for a timeline or the four keys.
pub const MAX_COMMITS: usize = 100_000;

/// Reads the record from `head`: every version-file change and every deploy note.
/// The notes are fetched first; when that fails the last fetched ones are used.
pub fn record(repo: &ResourceRepo, head: CommitId) -> Result<Record, GitError> {
    if let Err(e) = repo.fetch_notes(DEPLOY_NOTES_REF) {
        tracing::warn!("cannot fetch the deploy notes, using the last fetched ones: {e}");
    }
    let (changes, order) = repo.version_changes(head, MAX_COMMITS)?;
    let changes = changes
        .into_iter()
        .map(|c| {
            let path = version_path(&c.env, &c.service);
            let version = c.content.as_ref().map(|bytes| {
                std::str::from_utf8(bytes)
                    .ok()
                    .and_then(|t| parse_vars(&path, t).ok())
                    .map_or_else(|| "?".to_string(), |v| version_label(&v))
            });
            Change {
                at: DateTime::from_timestamp(c.time, 0).unwrap_or_default(),
                kind: ChangeKind::from_action(action(&c.message).as_deref()),
                commit: c.commit,
                env: c.env,
                service: c.service,
                version,
            }
        })
        .collect();
    let outcomes = repo
        .notes(DEPLOY_NOTES_REF)?
        .into_iter()
        .flat_map(|(_, text)| parse_note(&text))
        .collect();
    Ok(Record {
        changes,
        positions: order.into_iter().enumerate().map(|(i, c)| (c, i)).collect(),
        outcomes,
    })
}

/// What `?service=&version=` or `?commit=` asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TimelineQuery {
    Version { service: String, version: String },
    Commit(String),
}

fn check_parameters(params: &BTreeMap<String, String>, allowed: &[&str]) -> Result<(), Refusal> {
    match params.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(unknown) => Err(Refusal::UnknownParameter { name: unknown.clone() }),
        None => Ok(()),
    }
}

fn given<'a>(params: &'a BTreeMap<String, String>, key: &str) -> Option<&'a String> {
    params.get(key).filter(|v| !v.is_empty())
}

/// Parses the timeline's query.
pub fn parse_timeline_query(params: &BTreeMap<String, String>) -> Result<TimelineQuery, Refusal> {
    check_parameters(params, &["service", "version", "commit"])?;
    if let Some(commit) = given(params, "commit") {
        return Ok(TimelineQuery::Commit(commit.clone()));
    }
    let service = given(params, "service").ok_or(Refusal::MissingField {
        field: "service".into(),
    })?;
    input::service_name(service, "service")?;
    let version = given(params, "version").ok_or(Refusal::MissingField {
        field: "version".into(),
    })?;
    Ok(TimelineQuery::Version {
        service: service.clone(),
        version: version.clone(),
    })
}

/// The timeline asked for; `None` when no commit brought that version (or that commit).
pub fn find_timeline(record: &Record, query: &TimelineQuery) -> Option<Timeline> {
    let (service, version) = match query {
        TimelineQuery::Version { service, version } => (service.clone(), version.clone()),
        TimelineQuery::Commit(commit) => version_of_commit(record, commit)?,
    };
    let t = timeline(record, &service, &version);
    (t.origin.is_some()).then_some(t)
}

/// What `GET /api/dora` asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DoraQuery {
    pub env: String,
    pub service: Option<String>,
    pub since: std::time::Duration,
}

/// Default period of the four keys.
pub const DEFAULT_SINCE: std::time::Duration = std::time::Duration::from_secs(30 * 86_400);

/// Parses `?env=&since=30d&service=`.
pub fn parse_dora_query(params: &BTreeMap<String, String>) -> Result<DoraQuery, Refusal> {
    check_parameters(params, &["env", "since", "service"])?;
    let env = given(params, "env").ok_or(Refusal::MissingField { field: "env".into() })?;
    input::env_name(env, "env")?;
    let service = given(params, "service").cloned();
    if let Some(s) = &service {
        input::service_name(s, "service")?;
    }
    let since = match given(params, "since") {
        None => DEFAULT_SINCE,
        Some(text) => humantime::parse_duration(text)
            .ok()
            .filter(|d| !d.is_zero())
            .ok_or_else(|| Refusal::InvalidName {
                field: "since".into(),
                reason: format!("since {text:?} is not a duration such as 30d, 12h or 1w"),
            })?,
    };
    Ok(DoraQuery {
        env: env.clone(),
        service,
        since,
    })
}

/// The four keys asked for, at `now`.
pub fn four_keys(record: &Record, query: &DoraQuery, now: DateTime<Utc>) -> Dora {
    let since = now - chrono::Duration::from_std(query.since).unwrap_or(chrono::Duration::days(30));
    dora(record, &query.env, query.service.as_deref(), since, now)
}
