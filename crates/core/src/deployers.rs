//! `deployers.yaml`: which environments are deployed, and where (SPEC section 3).

use std::collections::BTreeMap;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

use crate::error::FileError;
use crate::names::validate_env_name;

/// Path of the file in the repo.
pub const DEPLOYERS_FILE: &str = "deployers.yaml";

/// Where one environment is deployed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeployTarget {
    /// Name of a cluster connection in the deployer's own config.
    pub cluster: String,
    /// Namespace the environment's objects go to (created if missing).
    pub namespace: String,
    /// Delete objects that left the repo (default true).
    #[serde(default = "default_true")]
    pub prune: bool,
    /// Allow a desired set that suddenly becomes empty to prune everything (default false).
    #[serde(default)]
    pub allow_empty: bool,
    /// Take over objects that already exist in the cluster without this env's
    /// labels (default false: such an object fails its unit and is left as it is).
    #[serde(default)]
    pub adopt: bool,
    /// Delete adopted objects when they leave the repo (default false: they are
    /// released, Slipway's labels and field ownership removed, and kept).
    #[serde(default)]
    pub prune_adopted: bool,
    /// Set for a preview env (`preview-<name>/`): when it expires and what it
    /// was made from. Only a preview env's objects and namespace are deleted
    /// when it leaves `deployers.yaml`; any other env is just no longer managed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preview: Option<PreviewInfo>,
}

/// The `preview:` entry of a preview env in `deployers.yaml`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PreviewInfo {
    /// When the preview is removed (RFC 3339).
    pub expires: DateTime<Utc>,
    /// The branch or pull request it shows (free text, e.g. a URL).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

fn default_true() -> bool {
    true
}

/// The whole `deployers.yaml`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Deployers {
    #[serde(default)]
    pub deployers: BTreeMap<String, DeployTarget>,
}

impl Deployers {
    /// Parses and validates `deployers.yaml`.
    pub fn parse(text: &str) -> Result<Self, FileError> {
        if text.trim().is_empty() {
            return Ok(Deployers::default());
        }
        let parsed: Option<Deployers> = serde_yaml::from_str(text).map_err(|e| FileError::yaml(DEPLOYERS_FILE, &e))?;
        let parsed = parsed.unwrap_or_default();
        for (env, target) in &parsed.deployers {
            let line = crate::model::line_of_key(text, env);
            validate_env_name(env).map_err(|e| FileError::new(DEPLOYERS_FILE, line, e.to_string()))?;
            validate_env_name(&target.namespace).map_err(|_| {
                FileError::new(
                    DEPLOYERS_FILE,
                    line,
                    format!(
                        "namespace {:?} of env {env} is not a valid namespace name (lower-case DNS label)",
                        target.namespace
                    ),
                )
            })?;
            if target.cluster.trim().is_empty() {
                return Err(FileError::new(
                    DEPLOYERS_FILE,
                    line,
                    format!("env {env} names no cluster"),
                ));
            }
        }
        Ok(parsed)
    }
}

/// `deployers.yaml` with `env` set to `target`: its entry rewritten in place
/// (one line), or added at the end of `deployers:`, so that comments and the
/// rest of the file stay as they are. A file whose layout this cannot follow
/// (flow style, no file) is written anew from its parsed form.
pub fn with_entry(text: &str, env: &str, target: &DeployTarget) -> Result<String, FileError> {
    let mut expected = Deployers::parse(text)?;
    expected.deployers.insert(env.to_string(), target.clone());
    let edited = edit_entries(text, env, Some(&entry_line(target)));
    Ok(checked_or_rewritten(edited, &expected))
}

/// `deployers.yaml` without `env`'s entry (the text as it is if there is none).
pub fn without_entry(text: &str, env: &str) -> Result<String, FileError> {
    let mut expected = Deployers::parse(text)?;
    if expected.deployers.remove(env).is_none() {
        return Ok(text.to_string());
    }
    let edited = edit_entries(text, env, None);
    Ok(checked_or_rewritten(edited, &expected))
}

fn checked_or_rewritten(edited: Option<String>, expected: &Deployers) -> String {
    match edited {
        Some(t) if Deployers::parse(&t).as_ref() == Ok(expected) => t,
        _ => {
            let mut out = String::from("deployers:\n");
            for (env, target) in &expected.deployers {
                out.push_str(&format!("  {env}: {}\n", entry_line(target)));
            }
            out
        }
    }
}

/// One entry as a YAML flow mapping; strings JSON-quoted (JSON strings are YAML).
fn entry_line(t: &DeployTarget) -> String {
    let q = |s: &str| serde_json::Value::from(s).to_string();
    let mut fields = vec![
        format!("cluster: {}", q(&t.cluster)),
        format!("namespace: {}", q(&t.namespace)),
    ];
    for (key, value, default) in [
        ("prune", t.prune, true),
        ("allow_empty", t.allow_empty, false),
        ("adopt", t.adopt, false),
        ("prune_adopted", t.prune_adopted, false),
    ] {
        if value != default {
            fields.push(format!("{key}: {value}"));
        }
    }
    if let Some(p) = &t.preview {
        let mut preview = vec![format!(
            "expires: {}",
            q(&p.expires.to_rfc3339_opts(SecondsFormat::Secs, true))
        )];
        if let Some(source) = &p.source {
            preview.push(format!("source: {}", q(source)));
        }
        fields.push(format!("preview: {{{}}}", preview.join(", ")));
    }
    format!("{{{}}}", fields.join(", "))
}

/// Replaces (or removes, with `None`) the block of `env` under a block-style
/// `deployers:`, or appends the entry; `None` when the layout is not that.
fn edit_entries(text: &str, env: &str, entry: Option<&str>) -> Option<String> {
    let lines: Vec<&str> = text.lines().collect();
    let top = lines.iter().position(|l| l.trim_end() == "deployers:")?;
    let indent_of = |l: &str| l.len() - l.trim_start().len();
    let significant = |l: &str| !l.trim().is_empty() && !l.trim_start().starts_with('#');
    // The block of `deployers:` ends at the next line indented as little as it is.
    let end = (top + 1..lines.len())
        .find(|&i| significant(lines[i]) && indent_of(lines[i]) == 0)
        .unwrap_or(lines.len());
    let indent = (top + 1..end)
        .find(|&i| significant(lines[i]))
        .map_or(2, |i| indent_of(lines[i]));
    let key_of = |l: &str| {
        let t = l.trim_start();
        t.split_once(':')
            .map(|(k, _)| k.trim().trim_matches(|c| c == '"' || c == '\'').to_string())
    };
    let start = (top + 1..end)
        .find(|&i| significant(lines[i]) && indent_of(lines[i]) == indent && key_of(lines[i]).as_deref() == Some(env));
    let new_line = entry.map(|e| format!("{}{env}: {e}", " ".repeat(indent)));
    let mut out: Vec<String> = Vec::new();
    match start {
        Some(start) => {
            let stop = (start + 1..end)
                .find(|&i| significant(lines[i]) && indent_of(lines[i]) <= indent)
                .unwrap_or(end);
            out.extend(lines[..start].iter().map(|l| l.to_string()));
            out.extend(new_line);
            out.extend(lines[stop..].iter().map(|l| l.to_string()));
        }
        None => {
            // After the last entry, before trailing blank lines and comments of the next block.
            let last = (top..end).rev().find(|&i| significant(lines[i])).unwrap_or(top);
            out.extend(lines[..=last].iter().map(|l| l.to_string()));
            out.extend(new_line);
            out.extend(lines[last + 1..].iter().map(|l| l.to_string()));
        }
    }
    Some(out.join("\n") + "\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_prune_on_and_allow_empty_off() {
        let d = Deployers::parse("deployers:\n  dev: {cluster: main, namespace: dev}\n  prod: {cluster: eu, namespace: shop, prune: false, allow_empty: true}\n").unwrap();
        assert!(d.deployers["dev"].prune);
        assert!(!d.deployers["dev"].allow_empty);
        assert!(!d.deployers["prod"].prune);
        assert!(d.deployers["prod"].allow_empty);
    }

    #[test]
    fn adoption_is_off_unless_asked_for_and_adopted_objects_are_kept_on_prune() {
        let d = Deployers::parse(
            "deployers:\n  dev: {cluster: main, namespace: dev}\n  prod: {cluster: eu, namespace: shop, adopt: true, prune_adopted: true}\n",
        )
        .unwrap();
        assert!(!d.deployers["dev"].adopt);
        assert!(!d.deployers["dev"].prune_adopted);
        assert!(d.deployers["prod"].adopt);
        assert!(d.deployers["prod"].prune_adopted);
    }

    fn preview_target(expires: &str) -> DeployTarget {
        DeployTarget {
            cluster: "main".into(),
            namespace: "preview-pr-42".into(),
            prune: true,
            allow_empty: true,
            adopt: false,
            prune_adopted: false,
            preview: Some(PreviewInfo {
                expires: expires.parse().unwrap(),
                source: Some("https://git.example.com/shop/pull/42 \"fix\"".into()),
            }),
        }
    }

    #[test]
    fn an_entry_is_added_and_removed_keeping_comments_and_other_entries() {
        let text = "# where envs go\ndeployers:\n  dev: {cluster: main, namespace: dev}  # the dev env\n  prod:\n    cluster: eu\n    namespace: shop\n";
        let target = preview_target("2026-12-05T19:00:00Z");
        let added = with_entry(text, "preview-pr-42", &target).unwrap();
        assert!(added.starts_with("# where envs go\ndeployers:\n  dev: {cluster: main, namespace: dev}  # the dev env\n  prod:\n    cluster: eu\n"), "{added}");
        let parsed = Deployers::parse(&added).unwrap();
        assert_eq!(parsed.deployers["preview-pr-42"], target);
        assert_eq!(parsed.deployers.len(), 3);
        // Rewritten in place (an extension), then removed: the file is as it was.
        let later = preview_target("2026-12-08T19:00:00Z");
        let extended = with_entry(&added, "preview-pr-42", &later).unwrap();
        assert_eq!(extended.lines().count(), added.lines().count());
        assert_eq!(Deployers::parse(&extended).unwrap().deployers["preview-pr-42"], later);
        assert_eq!(without_entry(&extended, "preview-pr-42").unwrap(), text);
        // A block-style entry goes with all its lines.
        let no_prod = without_entry(text, "prod").unwrap();
        assert_eq!(
            no_prod,
            "# where envs go\ndeployers:\n  dev: {cluster: main, namespace: dev}  # the dev env\n"
        );
    }

    #[test]
    fn a_layout_that_cannot_be_edited_is_written_anew() {
        let target = preview_target("2026-12-05T19:00:00Z");
        for text in ["", "deployers: {dev: {cluster: main, namespace: dev}}\n"] {
            let out = with_entry(text, "preview-pr-42", &target).unwrap();
            let parsed = Deployers::parse(&out).unwrap();
            assert_eq!(parsed.deployers["preview-pr-42"], target, "{out}");
        }
        assert!(with_entry("deployers: [", "x", &target).is_err());
    }

    #[test]
    fn rejects_unknown_keys_and_bad_namespaces_with_line() {
        let err = Deployers::parse("deployers:\n  dev: {cluster: main, namespace: dev, prnue: true}\n").unwrap_err();
        assert_eq!(err.path, "deployers.yaml");
        assert_eq!(err.line, Some(2));
        let err = Deployers::parse("deployers:\n  dev: {cluster: main, namespace: Dev_NS}\n").unwrap_err();
        assert_eq!(err.line, Some(2));
        assert!(err.message.contains("Dev_NS"));
    }
}
