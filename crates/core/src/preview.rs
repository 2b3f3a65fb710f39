//! What the next run of a transition would move, and the target env as it
//! would be after it: the pure part of a promotion preview.
//!
//! A service moves when its source version file differs from the target's (a
//! service only in the target stays); a locked target env, or a locked service
//! in it, holds it back with the lock's reasons, as the transitioner does.
//! Preconditions and schedules decide *when* a promotion happens, not what it
//! carries, so they are not looked at here.

use serde::Serialize;

use crate::env_diff::{diff_envs, EnvDiff};
use crate::lineage::{same_version, Lineage};
use crate::merge::{parse_vars, Vars};
use crate::model::{version_label, version_path, RepoSnapshot};
use crate::transitions::Transition;

/// One service that would move.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Move {
    pub service: String,
    /// Version labels before and after (`None`: new in the target).
    pub old: Option<String>,
    pub new: String,
    #[cfg_attr(feature = "ts", ts(type = "Record<string, string | number | boolean | null> | null"))]
    pub old_vars: Option<Vars>,
    #[cfg_attr(feature = "ts", ts(type = "Record<string, string | number | boolean | null> | null"))]
    pub new_vars: Option<Vars>,
    #[serde(skip)]
    pub old_content: Option<Vec<u8>>,
    #[serde(skip)]
    pub new_content: Vec<u8>,
}

/// A service that differs but is held back by a lock in the target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Held {
    pub service: String,
    pub reasons: Vec<String>,
}

/// What a run of a transition would move now.
#[derive(Debug, Clone)]
pub struct PromotionPlan {
    pub moves: Vec<Move>,
    pub held: Vec<Held>,
    /// The snapshot with the moved version files written into the target.
    pub after: RepoSnapshot,
}

fn vars_of(path: &str, bytes: &[u8]) -> Option<Vars> {
    parse_vars(path, std::str::from_utf8(bytes).ok()?).ok()
}

/// What transition `t` would move from `snapshot`, and the snapshot after it.
pub fn plan_promotion(snapshot: &RepoSnapshot, t: &Transition) -> PromotionPlan {
    let source = snapshot.env_files(&t.source);
    let locks = snapshot.locks(&t.target).unwrap_or_default();
    let mut moves = Vec::new();
    let mut held = Vec::new();
    let mut files = snapshot.files.clone();
    for service in source.versions.keys() {
        let from = version_path(&t.source, service);
        let to = version_path(&t.target, service);
        let Some(new_content) = snapshot.files.get(&from).map(|b| b.to_vec()) else {
            continue;
        };
        let old_content = snapshot.files.get(&to).map(|b| b.to_vec());
        if old_content
            .as_deref()
            .is_some_and(|old| same_version(old, &new_content))
        {
            continue;
        }
        let mut reasons: Vec<String> = locks.env_reasons().to_vec();
        reasons.extend(locks.service_reasons(service).iter().cloned());
        if !reasons.is_empty() {
            held.push(Held {
                service: service.clone(),
                reasons,
            });
            continue;
        }
        let new_vars = vars_of(&from, &new_content);
        let old_vars = old_content.as_deref().and_then(|b| vars_of(&to, b));
        files.insert(to.clone(), new_content.clone().into());
        moves.push(Move {
            service: service.clone(),
            old: old_content
                .as_ref()
                .map(|_| old_vars.as_ref().map_or_else(|| "?".into(), version_label)),
            new: new_vars.as_ref().map_or_else(|| "?".into(), version_label),
            old_vars,
            new_vars,
            old_content,
            new_content,
        });
    }
    let after = RepoSnapshot {
        commit: snapshot.commit.clone(),
        files,
    };
    PromotionPlan { moves, held, after }
}

/// One service of a preview: its move and the changelogs it carries.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct MovePreview {
    #[serde(flatten)]
    pub change: Move,
    pub changelogs: Lineage,
}

/// What the next promotion of a transition ships (`GET /api/transitions/{name}/preview`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct PromotionPreview {
    pub transition: String,
    pub source: String,
    pub target: String,
    /// The repo commit the preview was computed on.
    pub commit: String,
    /// Whether any service would move.
    pub moves_anything: bool,
    /// One line for people: what would move, or that nothing would.
    pub summary: String,
    pub services: Vec<MovePreview>,
    pub held: Vec<Held>,
    /// The target env's rendered manifests before and after.
    pub diff: EnvDiff,
}

/// The preview of `t` on `snapshot`; `lineage` gives the changelogs of one move
/// (from git, which this crate does not know).
pub fn preview(snapshot: &RepoSnapshot, t: &Transition, lineage: impl Fn(&Move) -> Lineage) -> PromotionPreview {
    let plan = plan_promotion(snapshot, t);
    let diff = diff_envs(snapshot, &t.target, &plan.after, &t.target);
    let summary = if plan.moves.is_empty() {
        let held = if plan.held.is_empty() {
            String::new()
        } else {
            format!(" ({} held back by locks)", plan.held.len())
        };
        format!(
            "nothing would move: {} has every version of {}{held}",
            t.target, t.source
        )
    } else {
        let list: Vec<String> = plan
            .moves
            .iter()
            .map(|m| format!("{} {} → {}", m.service, m.old.as_deref().unwrap_or("(new)"), m.new))
            .collect();
        format!("{} → {}: {}", t.source, t.target, list.join(", "))
    };
    PromotionPreview {
        transition: t.name.clone(),
        source: t.source.clone(),
        target: t.target.clone(),
        commit: snapshot.commit.clone(),
        moves_anything: !plan.moves.is_empty(),
        summary,
        services: plan
            .moves
            .into_iter()
            .map(|m| MovePreview {
                changelogs: lineage(&m),
                change: m,
            })
            .collect(),
        held: plan.held,
        diff,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transitions::parse_transitions;

    #[test]
    fn changed_and_new_services_move_locked_ones_are_held_and_equal_ones_stay() {
        let snapshot = RepoSnapshot::from_files(
            "c",
            [
                ("latest/version/a.yaml", "version: '2'\n"),
                ("latest/version/b.yaml", "version: '1'\n"),
                ("latest/version/c.yaml", "version: '5'\n"),
                ("latest/version/d.yaml", "version: '9'\n"),
                ("dev/version/a.yaml", "version: '1'\n"),
                ("dev/version/b.yaml", "{version: '1'}\n"),
                ("dev/version/d.yaml", "version: '8'\n"),
                ("dev/version/only.yaml", "version: '1'\n"),
                ("dev/locks.yaml", "resource_locks:\n  d: {reasons: [incident]}\n"),
            ]
            .map(|(p, t)| (p.to_string(), t.as_bytes().to_vec())),
        );
        let t = parse_transitions("transitions:\n  dev: {source: latest, target: dev}\n")
            .unwrap()
            .remove(0);
        let plan = plan_promotion(&snapshot, &t);
        let moves: Vec<(&str, Option<&str>, &str)> = plan
            .moves
            .iter()
            .map(|m| (m.service.as_str(), m.old.as_deref(), m.new.as_str()))
            .collect();
        assert_eq!(moves, [("a", Some("1"), "2"), ("c", None, "5")]);
        assert_eq!(
            plan.held,
            [Held {
                service: "d".into(),
                reasons: vec!["incident".into()]
            }]
        );
        assert_eq!(plan.after.text("dev/version/a.yaml").unwrap(), Some("version: '2'\n"));
        assert_eq!(plan.after.text("dev/version/d.yaml").unwrap(), Some("version: '8'\n"));
        assert_eq!(
            plan.after.text("dev/version/only.yaml").unwrap(),
            Some("version: '1'\n")
        );
    }
}
