//! `GET /api/history`: the commits that changed a service, an env, or the repo.

use std::collections::{BTreeMap, HashSet};

use chrono::{DateTime, Utc};
use std::str::FromStr as _;

use serde::Serialize;
use slipway_core::lineage::{origin_chain, same_version, Origin, VersionChange};
use slipway_core::locks::Locks;
use slipway_core::merge::parse_vars;
use slipway_core::model::{locks_path, version_label, version_path};
use slipway_core::transitions::{parse_transitions, TRANSITIONS_FILE};
use slipway_repo::CommitId;
use slipway_repo::{CommitInfo, GitError, ResourceRepo};

use crate::history_filter::{HistoryFilter, MAX_SCAN};
use crate::input;
use crate::message;
use crate::refusal::Refusal;

/// Default and largest number of entries.
pub const DEFAULT_LIMIT: usize = 50;
pub const MAX_LIMIT: usize = 1000;

/// One commit as history shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct HistoryEntry {
    pub commit: String,
    pub author: String,
    pub time: DateTime<Utc>,
    pub message: String,
    pub changelog: String,
    pub env: Option<String>,
    pub service: Option<String>,
    pub old: Option<String>,
    pub new: Option<String>,
    #[cfg_attr(
        feature = "ts",
        ts(type = "\"version\" | \"promotion\" | \"rollback\" | \"lock\" | \"other\"")
    )]
    pub kind: &'static str,
    /// The commit on the git host, when `commit_url_template` is configured.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub commit_url: Option<String>,
    /// The original changelogs this commit brought (see [`slipway_core::lineage`]):
    /// for a promotion, the origin of every version it carried, oldest first; for
    /// a commit that changed a version itself, that commit.
    pub changelogs: Vec<Origin>,
}

/// What history to list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryQuery {
    pub env: Option<String>,
    pub service: Option<String>,
    pub limit: usize,
    /// Author, kind and free text.
    pub filter: HistoryFilter,
}

/// Parses `?env=&service=&limit=&author=&kind=&q=`.
pub fn parse_query(params: &BTreeMap<String, String>) -> Result<HistoryQuery, Refusal> {
    const PARAMETERS: [&str; 6] = ["env", "service", "limit", "author", "kind", "q"];
    if let Some(unknown) = params.keys().find(|k| !PARAMETERS.contains(&k.as_str())) {
        return Err(Refusal::UnknownParameter { name: unknown.clone() });
    }
    let non_empty = |k: &str| params.get(k).filter(|v| !v.is_empty()).cloned();
    let env = non_empty("env");
    if let Some(e) = &env {
        input::env_name(e, "env")?;
    }
    let service = non_empty("service");
    if let Some(s) = &service {
        input::service_name(s, "service")?;
    }
    let limit = match non_empty("limit") {
        None => DEFAULT_LIMIT,
        Some(l) => match l.parse::<usize>() {
            Ok(n) if (1..=MAX_LIMIT).contains(&n) => n,
            _ => return Err(Refusal::InvalidLimit { max: MAX_LIMIT }),
        },
    };
    let filter = HistoryFilter::parse(params).map_err(|e| Refusal::InvalidKind { value: e.value })?;
    Ok(HistoryQuery {
        env,
        service,
        limit,
        filter,
    })
}

/// Merges lists that are each newest first into one, newest first, without duplicates.
pub fn merge_newest_first(lists: Vec<Vec<CommitInfo>>, limit: usize) -> Vec<CommitInfo> {
    let mut all: Vec<(usize, CommitInfo)> = Vec::new();
    for list in lists {
        // The position keeps git's topological order among commits of the same second.
        for (i, c) in list.into_iter().enumerate() {
            all.push((i, c));
        }
    }
    all.sort_by(|(ia, a), (ib, b)| b.time.cmp(&a.time).then(ia.cmp(ib)));
    let mut seen = HashSet::new();
    all.into_iter()
        .map(|(_, c)| c)
        .filter(|c| seen.insert(c.id.clone()))
        .take(limit)
        .collect()
}

fn label_at(repo: &ResourceRepo, commit: Option<CommitId>, path: &str) -> Option<String> {
    let bytes = repo.read_file(commit?, path).ok()??;
    let text = String::from_utf8(bytes).ok()?;
    parse_vars(path, &text).ok().map(|v| version_label(&v))
}

fn locks_at(repo: &ResourceRepo, commit: Option<CommitId>, env: &str) -> Locks {
    let Some(commit) = commit else { return Locks::default() };
    let path = locks_path(env);
    repo.read_file(commit, &path)
        .ok()
        .flatten()
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|t| Locks::parse(&path, &t).ok())
        .unwrap_or_default()
}

fn parent_of(c: &CommitInfo) -> Option<CommitId> {
    c.parents.first().and_then(|p| CommitId::from_str(p).ok())
}

/// Lists history from `head` (blocking: runs git).
pub fn list(repo: &ResourceRepo, head: CommitId, query: &HistoryQuery) -> Result<Vec<HistoryEntry>, GitError> {
    // With a filter, more commits are read so that `limit` of them can pass it.
    let limit = if query.filter.is_active() {
        MAX_SCAN
    } else {
        query.limit
    };
    let commits = match (&query.env, &query.service) {
        (Some(env), Some(service)) => {
            let versions = repo.history(head, &version_path(env, service), limit)?;
            let lock_changes: Vec<CommitInfo> = repo
                .history(head, &locks_path(env), limit)?
                .into_iter()
                .filter(|c| {
                    let now = locks_at(repo, CommitId::from_str(&c.id).ok(), env);
                    let before = locks_at(repo, parent_of(c), env);
                    now.env_reasons() != before.env_reasons()
                        || now.service_reasons(service) != before.service_reasons(service)
                })
                .collect();
            merge_newest_first(vec![versions, lock_changes], limit)
        }
        (Some(env), None) => repo.history(head, env, limit)?,
        (None, Some(service)) => {
            let snapshot = repo.snapshot(head)?;
            let mut lists = Vec::new();
            for env in snapshot.envs() {
                lists.push(repo.history(head, &version_path(&env, service), limit)?);
            }
            merge_newest_first(lists, limit)
        }
        (None, None) => repo.log(head, limit)?,
    };
    let f = &query.filter;
    Ok(commits
        .into_iter()
        .filter(|c| f.keeps(&c.id, &c.author, &c.message, message::parse(&c.message).kind()))
        .take(query.limit)
        .map(|c| entry(repo, c, query))
        .collect())
}

/// How many changes of a version file one entry's lineage walks per env.
const LINEAGE_WALK: usize = 200;

/// The services a commit changed the version of in `env`: the queried one, or for
/// a promotion the `service: old → new` lines of its body.
fn services_of(parsed: &message::ParsedMessage, query: &HistoryQuery) -> Vec<String> {
    if let Some(service) = &query.service {
        return vec![service.clone()];
    }
    if let Some(service) = parsed.trailer(message::SERVICE) {
        return vec![service.to_string()];
    }
    if parsed.kind() != "promotion" {
        return Vec::new();
    }
    let first = parsed.body.split("\n\n").next().unwrap_or_default();
    first
        .lines()
        .filter_map(|l| {
            l.split_once(": ")
                .filter(|(_, c)| c.contains(" → "))
                .map(|(s, _)| s.to_string())
        })
        .filter(|s| input::service_name(s, "service").is_ok())
        .collect()
}

/// The original changelogs of commit `c` for `service` in `env`.
fn origins(
    repo: &ResourceRepo,
    c: &CommitInfo,
    parsed: &message::ParsedMessage,
    env: &str,
    service: &str,
) -> Vec<Origin> {
    let path = version_path(env, service);
    let Ok(id) = CommitId::from_str(&c.id) else {
        return Vec::new();
    };
    let new = repo.read_file(id, &path).ok().flatten();
    let old = parent_of(c).and_then(|p| repo.read_file(p, &path).ok().flatten());
    let Some(new) = new else { return Vec::new() };
    if old.as_deref().is_some_and(|old| same_version(old, &new)) {
        return Vec::new();
    }
    let change = |c: &CommitInfo| VersionChange {
        commit: c.id.clone(),
        author: c.author.clone(),
        time: c.time,
        message: c.message.clone(),
        content: Some(new.clone()),
    };
    if parsed.kind() != "promotion" {
        return vec![Origin::of(service, env, &change(c))];
    }
    let transitions = repo
        .read_file(id, TRANSITIONS_FILE)
        .ok()
        .flatten()
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|t| parse_transitions(&t).ok())
        .unwrap_or_default();
    let source = parsed
        .trailer("Slipway-Transition")
        .and_then(|name| transitions.iter().find(|t| t.name == name))
        .or_else(|| transitions.iter().find(|t| t.target == env))
        .map(|t| t.source.clone());
    let Some(source) = source else { return Vec::new() };
    let chain = origin_chain(&transitions, &source);
    match repo.lineage(id, &chain, service, old.as_deref(), &new, LINEAGE_WALK) {
        Ok(lineage) => lineage.origins,
        Err(e) => {
            tracing::warn!(commit = %c.id, %service, "cannot read the lineage of {path}: {e}");
            Vec::new()
        }
    }
}

fn entry(repo: &ResourceRepo, c: CommitInfo, query: &HistoryQuery) -> HistoryEntry {
    let parsed = message::parse(&c.message);
    let env = query
        .env
        .clone()
        .or_else(|| parsed.trailer(message::ENV).map(str::to_string));
    let service = query
        .service
        .clone()
        .or_else(|| parsed.trailer(message::SERVICE).map(str::to_string));
    let (old, new) = match (&env, &service) {
        (Some(env), Some(service)) => {
            let path = version_path(env, service);
            let new = label_at(repo, CommitId::from_str(&c.id).ok(), &path);
            let old = label_at(repo, parent_of(&c), &path);
            if old == new {
                (None, None)
            } else {
                (old, new)
            }
        }
        _ => (None, None),
    };
    let changelogs = match &env {
        Some(env) => services_of(&parsed, query)
            .iter()
            .flat_map(|service| origins(repo, &c, &parsed, env, service))
            .collect(),
        None => Vec::new(),
    };
    HistoryEntry {
        changelogs,
        time: DateTime::from_timestamp(c.time, 0).unwrap_or_default(),
        kind: parsed.kind(),
        changelog: parsed.body,
        commit: c.id,
        author: c.author,
        message: c.message,
        env,
        service,
        old,
        new,
        commit_url: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(id: &str, time: i64) -> CommitInfo {
        CommitInfo {
            id: id.into(),
            author: "a".into(),
            email: "e".into(),
            time,
            message: "m".into(),
            parents: vec![],
        }
    }

    #[test]
    fn merged_lists_are_newest_first_without_duplicates() {
        let merged = merge_newest_first(
            vec![vec![info("c", 30), info("a", 10)], vec![info("c", 30), info("b", 20)]],
            10,
        );
        let ids: Vec<&str> = merged.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(ids, ["c", "b", "a"]);
        assert_eq!(merge_newest_first(vec![vec![info("x", 1), info("y", 0)]], 1).len(), 1);
    }

    #[test]
    fn query_checks_names_and_limit() {
        let q =
            |pairs: &[(&str, &str)]| parse_query(&pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect());
        assert_eq!(q(&[]).unwrap().limit, DEFAULT_LIMIT);
        assert_eq!(
            q(&[("service", "../x")]).unwrap_err().field().as_deref(),
            Some("service")
        );
        assert_eq!(q(&[("limit", "0")]).unwrap_err().field().as_deref(), Some("limit"));
        assert_eq!(q(&[("envv", "dev")]).unwrap_err().field().as_deref(), Some("envv"));
        assert_eq!(q(&[("env", ""), ("service", "s1")]).unwrap().env, None);
    }
}
