//! `GET /api/transitions/{name}/preview` (what the next promotion of a
//! transition ships) and `GET /api/diff?from=&to=` (the rendered difference
//! between two envs), computed on the last fetched head by the pure core
//! ([`slipway_core::preview`], [`slipway_core::env_diff`]).

use std::collections::BTreeMap;

use axum::http::StatusCode;
use serde::Serialize;
use slipway_core::env_diff::{diff_envs, EnvDiff};
use slipway_core::preview::PromotionPreview;
use slipway_core::RepoSnapshot;
use slipway_repo::ResourceRepo;

use crate::error::ApiError;
use crate::input;
use crate::refusal::{EnvGiven, Refusal};

/// The preview of transition `name` on `snapshot` (blocking: reads git for the changelogs).
pub fn transition_preview(
    repo: &ResourceRepo,
    snapshot: &RepoSnapshot,
    name: &str,
) -> Result<PromotionPreview, ApiError> {
    let transitions = snapshot.transitions().map_err(|e| {
        ApiError::new(
            StatusCode::CONFLICT,
            format!("transitions.yaml is invalid: {e}; fix it first"),
        )
    })?;
    let Some(t) = transitions.iter().find(|t| t.name == name) else {
        let known: Vec<&str> = transitions.iter().map(|t| t.name.as_str()).collect();
        return Err(ApiError::not_found(format!(
            "unknown transition {name:?}; transitions.yaml has: {}",
            if known.is_empty() {
                "none".to_string()
            } else {
                known.join(", ")
            }
        )));
    };
    Ok(repo.promotion_preview(snapshot, t, &transitions))
}

/// The answer of `GET /api/diff`.
#[derive(Debug, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct EnvDiffAnswer {
    pub from: String,
    pub to: String,
    pub commit: String,
    /// Whether the two envs render the same objects.
    pub same: bool,
    #[serde(flatten)]
    pub diff: EnvDiff,
}

/// Parses `?from=ENV&to=ENV` and diffs the two envs' renderings.
pub fn env_diff(snapshot: &RepoSnapshot, params: &BTreeMap<String, String>) -> Result<EnvDiffAnswer, Refusal> {
    if let Some(unknown) = params.keys().find(|k| !["from", "to"].contains(&k.as_str())) {
        return Err(Refusal::UnknownParameter { name: unknown.clone() });
    }
    let env = |key: &str| -> Result<String, Refusal> {
        let value = params
            .get(key)
            .filter(|v| !v.is_empty())
            .ok_or_else(|| Refusal::MissingField { field: key.to_string() })?;
        input::env_name(value, key)?;
        input::known_env(snapshot, value, EnvGiven::Query)?;
        Ok(value.clone())
    };
    let (from, to) = (env("from")?, env("to")?);
    let diff = diff_envs(snapshot, &from, snapshot, &to);
    Ok(EnvDiffAnswer {
        same: diff.is_empty(),
        commit: snapshot.commit.clone(),
        from,
        to,
        diff,
    })
}
