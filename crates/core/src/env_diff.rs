//! The field-level difference between two renderings of an env (or of two
//! envs): which Kubernetes objects would be added, removed or changed, and in
//! a changed object every field that differs.
//!
//! Both sides are rendered by [`RepoSnapshot::render_env`], the renderer the
//! deployer applies, services and deployables alike. Objects are matched by
//! `apiVersion`, `kind`, `metadata.namespace` and `metadata.name`.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_yaml::Value;

use crate::model::{RenderedUnit, RepoSnapshot};

/// What happens to one object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "lowercase")]
pub enum ObjectChange {
    Added,
    Removed,
    Changed,
}

/// One field that differs; `before`/`after` are `None` where it is absent.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(rename = "RenderedFieldDiff"))]
pub struct FieldDiff {
    /// `spec.template.spec.containers[0].image`, `data.LOG_LEVEL`.
    pub path: String,
    #[cfg_attr(feature = "ts", ts(type = "unknown"))]
    pub before: Option<Value>,
    #[cfg_attr(feature = "ts", ts(type = "unknown"))]
    pub after: Option<Value>,
}

/// One object that is added, removed or changed.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(rename = "RenderedObjectDiff"))]
pub struct ObjectDiff {
    /// The service or deployable file it comes from (the side that has it, `after` first).
    pub unit: String,
    pub api_version: String,
    pub kind: String,
    pub namespace: Option<String>,
    pub name: String,
    pub change: ObjectChange,
    /// For a changed object, every field that differs (empty for added and removed ones).
    pub fields: Vec<FieldDiff>,
}

/// A unit that could not be rendered on one side, so its objects are not compared.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct RenderProblem {
    /// `before` or `after`.
    #[cfg_attr(feature = "ts", ts(type = "\"before\" | \"after\""))]
    pub side: &'static str,
    pub unit: String,
    pub error: String,
}

/// The difference between two renderings.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(rename = "RenderedDiff"))]
pub struct EnvDiff {
    /// Sorted by kind, namespace and name.
    pub objects: Vec<ObjectDiff>,
    pub problems: Vec<RenderProblem>,
}

impl EnvDiff {
    /// Whether nothing differs and nothing failed to render.
    pub fn is_empty(&self) -> bool {
        self.objects.is_empty() && self.problems.is_empty()
    }
}

type Key = (String, String, Option<String>, String);

fn key_of(doc: &Value) -> Key {
    let s = |v: Option<&Value>| v.and_then(Value::as_str).unwrap_or_default().to_string();
    let meta = doc.get("metadata");
    (
        s(doc.get("kind")),
        s(doc.get("apiVersion")),
        meta.and_then(|m| m.get("namespace"))
            .and_then(Value::as_str)
            .map(str::to_string),
        s(meta.and_then(|m| m.get("name"))),
    )
}

/// The objects of a rendering by key, with the unit each comes from, and the units that failed.
fn objects<'a>(
    units: &'a [RenderedUnit],
    side: &'static str,
    problems: &mut Vec<RenderProblem>,
) -> BTreeMap<Key, (String, &'a Value)> {
    let mut out = BTreeMap::new();
    for unit in units {
        match &unit.result {
            Ok(docs) => {
                for doc in docs {
                    out.insert(key_of(doc), (unit.unit.display_name(), doc));
                }
            }
            Err(e) => problems.push(RenderProblem {
                side,
                unit: unit.unit.display_name(),
                error: e.to_string(),
            }),
        }
    }
    out
}

/// The difference between env `from` of `before` and env `to` of `after`
/// (the same env in two snapshots for a promotion, two envs of one snapshot for `/api/diff`).
pub fn diff_envs(before: &RepoSnapshot, from: &str, after: &RepoSnapshot, to: &str) -> EnvDiff {
    diff_renderings(&before.render_env(from), &after.render_env(to))
}

/// The difference between two renderings.
pub fn diff_renderings(before: &[RenderedUnit], after: &[RenderedUnit]) -> EnvDiff {
    let mut problems = Vec::new();
    let old = objects(before, "before", &mut problems);
    let new = objects(after, "after", &mut problems);
    // Objects of a unit that failed on one side are unknown there, not removed or added.
    let failed = |side: &str, unit: &str| problems.iter().any(|p| p.side == side && p.unit == unit);
    let mut out = Vec::new();
    for (key, (unit, doc)) in &new {
        let change = match old.get(key) {
            None if failed("before", unit) => continue,
            None => ObjectDiff::of(key, unit, ObjectChange::Added, Vec::new()),
            Some((_, was)) => {
                let mut fields = Vec::new();
                fields_between(&mut fields, String::new(), Some(was), Some(doc));
                if fields.is_empty() {
                    continue;
                }
                ObjectDiff::of(key, unit, ObjectChange::Changed, fields)
            }
        };
        out.push(change);
    }
    for (key, (unit, _)) in &old {
        if !new.contains_key(key) && !failed("after", unit) {
            out.push(ObjectDiff::of(key, unit, ObjectChange::Removed, Vec::new()));
        }
    }
    out.sort_by(|a, b| {
        (&a.kind, &a.namespace, &a.name, &a.api_version).cmp(&(&b.kind, &b.namespace, &b.name, &b.api_version))
    });
    EnvDiff { objects: out, problems }
}

impl ObjectDiff {
    fn of(key: &Key, unit: &str, change: ObjectChange, fields: Vec<FieldDiff>) -> Self {
        let (kind, api_version, namespace, name) = key.clone();
        ObjectDiff {
            unit: unit.to_string(),
            api_version,
            kind,
            namespace,
            name,
            change,
            fields,
        }
    }
}

fn join(path: &str, key: &Value) -> String {
    let key = match key {
        Value::String(s) => s.clone(),
        other => serde_yaml::to_string(other).unwrap_or_default().trim().to_string(),
    };
    if path.is_empty() {
        key
    } else {
        format!("{path}.{key}")
    }
}

/// Appends every leaf that differs between `a` and `b` under `path`: mappings key
/// by key, sequences element by element (a longer one adds or removes the extra
/// elements), anything else as a whole.
fn fields_between(out: &mut Vec<FieldDiff>, path: String, a: Option<&Value>, b: Option<&Value>) {
    match (a, b) {
        (Some(Value::Mapping(a)), Some(Value::Mapping(b))) => {
            let mut keys: Vec<&Value> = a.keys().collect();
            keys.extend(b.keys().filter(|k| !a.contains_key(*k)));
            for k in keys {
                fields_between(out, join(&path, k), a.get(k), b.get(k));
            }
        }
        (Some(Value::Sequence(a)), Some(Value::Sequence(b))) => {
            for i in 0..a.len().max(b.len()) {
                fields_between(out, format!("{path}[{i}]"), a.get(i), b.get(i));
            }
        }
        (a, b) if a == b => {}
        (a, b) => out.push(FieldDiff {
            path,
            before: a.cloned(),
            after: b.cloned(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snapshot(files: &[(&str, &str)]) -> RepoSnapshot {
        RepoSnapshot::from_files("c", files.iter().map(|(p, t)| (p.to_string(), t.as_bytes().to_vec())))
    }

    const BASE: &str = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n  template:\n    spec:\n      containers:\n        - {name: web, image: \"${image}\"}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: web}\ndata: {A: \"1\"}\n";

    #[test]
    fn changed_fields_are_listed_per_object_and_unchanged_objects_left_out() {
        let before = snapshot(&[
            ("dev/base/web.yaml", BASE),
            ("dev/version/web.yaml", "image: web:1\n"),
            (
                "dev/deployable/cm.yaml",
                "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: same}\n",
            ),
            (
                "dev/deployable/old.yaml",
                "apiVersion: v1\nkind: Secret\nmetadata: {name: gone}\n",
            ),
        ]);
        let after = snapshot(&[
            ("dev/base/web.yaml", &BASE.replace("{A: \"1\"}", "{A: \"1\", B: \"2\"}")),
            ("dev/version/web.yaml", "image: web:2\n"),
            (
                "dev/deployable/cm.yaml",
                "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: same}\n",
            ),
            (
                "dev/deployable/new.yaml",
                "apiVersion: v1\nkind: Service\nmetadata: {name: fresh}\n",
            ),
        ]);
        let diff = diff_envs(&before, "dev", &after, "dev");
        let summary: Vec<(String, String, ObjectChange, Vec<String>)> = diff
            .objects
            .iter()
            .map(|o| {
                (
                    o.kind.clone(),
                    o.name.clone(),
                    o.change,
                    o.fields.iter().map(|f| f.path.clone()).collect(),
                )
            })
            .collect();
        assert_eq!(
            summary,
            vec![
                (
                    "ConfigMap".into(),
                    "web".into(),
                    ObjectChange::Changed,
                    vec!["data.B".into()]
                ),
                (
                    "Deployment".into(),
                    "web".into(),
                    ObjectChange::Changed,
                    vec!["spec.template.spec.containers[0].image".into()]
                ),
                ("Secret".into(), "gone".into(), ObjectChange::Removed, vec![]),
                ("Service".into(), "fresh".into(), ObjectChange::Added, vec![]),
            ]
        );
        let image = &diff.objects[1].fields[0];
        assert_eq!(image.before, Some(Value::from("web:1")));
        assert_eq!(image.after, Some(Value::from("web:2")));
        assert_eq!(diff.objects[0].fields[0].before, None);
        assert_eq!(diff.objects[1].unit, "web");
        assert!(diff.problems.is_empty());
        assert!(diff_envs(&after, "dev", &after, "dev").is_empty());
    }

    #[test]
    fn a_unit_that_fails_to_render_is_a_problem_not_a_removal() {
        let before = snapshot(&[("dev/base/web.yaml", BASE), ("dev/version/web.yaml", "image: web:1\n")]);
        let after = snapshot(&[("dev/base/web.yaml", BASE), ("dev/version/web.yaml", "tag: 2\n")]);
        let diff = diff_envs(&before, "dev", &after, "dev");
        assert!(diff.objects.is_empty(), "{diff:?}");
        assert_eq!(diff.problems.len(), 1);
        assert_eq!(
            (diff.problems[0].side, diff.problems[0].unit.as_str()),
            ("after", "web")
        );
    }
}
