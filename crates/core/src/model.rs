//! The typed view of the resource repo at one commit (SPEC section 2).
//!
//! ```text
//! transitions.yaml, deployers.yaml, transition_state.yaml
//! <env>/deployable/**.yaml   complete manifests
//! <env>/base/<service>.yaml  template        ┐ rendered together
//! <env>/version/<service>.yaml  variables    ┘ into a service's objects
//! <env>/locks.yaml
//! ```
//!
//! Everything here is pure: a [`RepoSnapshot`] is a map of paths to bytes, read
//! from git by `slipway-repo` or built by hand in tests.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_yaml::Value;

use crate::deployers::{Deployers, DEPLOYERS_FILE};
use crate::error::FileError;
use crate::locks::Locks;
use crate::merge::{self, Vars};
use crate::names::{validate_env_name, validate_service_name};
use crate::transitions::{self, Transition, TransitionState, TRANSITIONS_FILE, TRANSITION_STATE_FILE};

/// Path → contents of every file in the repo at one commit. Contents are
/// shared: a snapshot of the next commit shares the files it did not change.
pub type Files = BTreeMap<String, std::sync::Arc<[u8]>>;

/// The repo at one commit.
#[derive(Debug, Clone, Default)]
pub struct RepoSnapshot {
    /// The commit id (hex), empty for a repo without commits.
    pub commit: String,
    pub files: Files,
}

/// Path of a service's version file.
pub fn version_path(env: &str, service: &str) -> String {
    format!("{env}/version/{service}.yaml")
}

/// Path of a service's base file.
pub fn base_path(env: &str, service: &str) -> String {
    format!("{env}/base/{service}.yaml")
}

/// Path of an env's locks file.
pub fn locks_path(env: &str) -> String {
    format!("{env}/locks.yaml")
}

/// Path of an env's own variables (`preview_name`, `preview_host`, ...): a
/// mapping like a version file's, available to every base of the env.
pub fn env_vars_path(env: &str) -> String {
    format!("{env}/vars.yaml")
}

/// The files of one environment folder, sorted into their roles.
#[derive(Debug, Clone, Default)]
pub struct EnvFiles {
    pub name: String,
    /// service → path of `version/<service>.yaml`.
    pub versions: BTreeMap<String, String>,
    /// service → path of `base/<service>.yaml`.
    pub bases: BTreeMap<String, String>,
    /// Paths of `deployable/**.yaml`.
    pub deployables: Vec<String>,
    /// Files whose place or name breaks the layout rules.
    pub problems: Vec<FileError>,
}

impl EnvFiles {
    /// An env with only `version/` is a source of versions, not deployed.
    pub fn is_source_only(&self) -> bool {
        self.bases.is_empty() && self.deployables.is_empty()
    }

    /// Every service named by a base or a version file.
    pub fn services(&self) -> BTreeSet<String> {
        self.versions.keys().chain(self.bases.keys()).cloned().collect()
    }
}

/// What a group of desired objects comes from.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(tag = "type", content = "name", rename_all = "snake_case")]
pub enum Unit {
    /// A base/version pair.
    Service(String),
    /// One file under `deployable/` (path relative to the env's `deployable/`).
    Deployable(String),
}

impl Unit {
    /// A name for status and logs: the service name, or `deployable/<path>`.
    pub fn display_name(&self) -> String {
        match self {
            Unit::Service(s) => s.clone(),
            Unit::Deployable(p) => format!("deployable/{p}"),
        }
    }
}

/// The rendered manifests of one unit, or why it could not be rendered.
#[derive(Debug, Clone)]
pub struct RenderedUnit {
    pub unit: Unit,
    /// Repo paths this unit was built from.
    pub sources: Vec<String>,
    pub result: Result<Vec<Value>, FileError>,
}

fn has_yaml_ext(path: &str) -> bool {
    path.ends_with(".yaml") || path.ends_with(".yml")
}

fn strip_yaml_ext(path: &str) -> &str {
    path.strip_suffix(".yaml")
        .or_else(|| path.strip_suffix(".yml"))
        .unwrap_or(path)
}

impl RepoSnapshot {
    /// This snapshot with `changes` applied (a path to its new content, or `None`
    /// to delete it), as commit `commit`: what a commit of exactly these changes on
    /// this snapshot holds, without reading it back from git.
    pub fn with_change(&self, commit: String, changes: &BTreeMap<String, Option<Vec<u8>>>) -> Self {
        let mut files = self.files.clone();
        for (path, content) in changes {
            match content {
                Some(bytes) => files.insert(path.clone(), bytes.as_slice().into()),
                None => files.remove(path),
            };
        }
        RepoSnapshot { commit, files }
    }

    /// A snapshot of the given files (for tests and tools).
    pub fn from_files<I, K, V>(commit: &str, files: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<Vec<u8>>,
    {
        RepoSnapshot {
            commit: commit.to_string(),
            files: files.into_iter().map(|(k, v)| (k.into(), v.into().into())).collect(),
        }
    }

    /// The text of a file, `None` if absent.
    pub fn text(&self, path: &str) -> Result<Option<&str>, FileError> {
        match self.files.get(path) {
            None => Ok(None),
            Some(bytes) => std::str::from_utf8(bytes)
                .map(Some)
                .map_err(|e| FileError::new(path, None, format!("not UTF-8 text: {e}"))),
        }
    }

    /// Names of all environments: top-level folders not starting with `.` whose name is valid.
    pub fn envs(&self) -> Vec<String> {
        let mut envs = BTreeSet::new();
        for path in self.files.keys() {
            if let Some((top, _)) = path.split_once('/') {
                if !top.starts_with('.') && validate_env_name(top).is_ok() {
                    envs.insert(top.to_string());
                }
            }
        }
        envs.into_iter().collect()
    }

    /// Whether an environment folder exists.
    pub fn has_env(&self, env: &str) -> bool {
        let prefix = format!("{env}/");
        self.files
            .range(prefix.clone()..)
            .next()
            .is_some_and(|(k, _)| k.starts_with(&prefix))
    }

    /// Paths under a folder (`prefix` ends without `/`).
    pub fn paths_under<'a>(&'a self, folder: &str) -> impl Iterator<Item = &'a str> + 'a {
        let prefix = format!("{folder}/");
        self.files
            .range(prefix.clone()..)
            .take_while(move |(k, _)| k.starts_with(&prefix))
            .map(|(k, _)| k.as_str())
    }

    /// The files of one environment, sorted by role.
    pub fn env_files(&self, env: &str) -> EnvFiles {
        let mut out = EnvFiles {
            name: env.to_string(),
            ..EnvFiles::default()
        };
        for path in self.paths_under(env) {
            let rel = &path[env.len() + 1..];
            let (role, rest) = rel.split_once('/').unwrap_or(("", rel));
            match role {
                "version" | "base" => {
                    if !has_yaml_ext(rest) {
                        continue;
                    }
                    let service = strip_yaml_ext(rest);
                    if let Err(e) = validate_service_name(service) {
                        out.problems.push(FileError::new(path, None, e.to_string()));
                        continue;
                    }
                    let map = if role == "version" {
                        &mut out.versions
                    } else {
                        &mut out.bases
                    };
                    map.insert(service.to_string(), path.to_string());
                }
                "deployable" if has_yaml_ext(rest) => out.deployables.push(path.to_string()),
                _ => {}
            }
        }
        out
    }

    /// The variables of a service's version in an env; `None` if it has no version file.
    pub fn version_vars(&self, env: &str, service: &str) -> Option<Result<Vars, FileError>> {
        let path = version_path(env, service);
        match self.text(&path) {
            Ok(None) => None,
            Ok(Some(text)) => Some(merge::parse_vars(&path, text)),
            Err(e) => Some(Err(e)),
        }
    }

    /// The locks of an env (none if it has no `locks.yaml`).
    pub fn locks(&self, env: &str) -> Result<Locks, FileError> {
        let path = locks_path(env);
        Ok(match self.text(&path)? {
            Some(text) => Locks::parse(&path, text)?,
            None => Locks::default(),
        })
    }

    /// `deployers.yaml` (empty if absent).
    pub fn deployers(&self) -> Result<Deployers, FileError> {
        Ok(match self.text(DEPLOYERS_FILE)? {
            Some(text) => Deployers::parse(text)?,
            None => Deployers::default(),
        })
    }

    /// `transitions.yaml` in file order (empty if absent).
    pub fn transitions(&self) -> Result<Vec<Transition>, FileError> {
        Ok(match self.text(TRANSITIONS_FILE)? {
            Some(text) => transitions::parse_transitions(text)?,
            None => Vec::new(),
        })
    }

    /// `transition_state.yaml` (empty if absent).
    pub fn transition_state(&self) -> Result<TransitionState, FileError> {
        Ok(match self.text(TRANSITION_STATE_FILE)? {
            Some(text) => TransitionState::parse(text)?,
            None => TransitionState::default(),
        })
    }

    /// Whether the files under `folder/` are the same in both snapshots.
    pub fn same_folder(&self, other: &RepoSnapshot, folder: &str) -> bool {
        let prefix = format!("{folder}/");
        fn under<'a>(
            s: &'a RepoSnapshot,
            prefix: &'a str,
        ) -> impl Iterator<Item = (&'a String, &'a std::sync::Arc<[u8]>)> {
            s.files
                .range(prefix.to_string()..)
                .take_while(move |(p, _)| p.starts_with(prefix))
        }
        self.commit == other.commit || under(self, &prefix).eq(under(other, &prefix))
    }

    /// Renders every unit of an env: one per service and one per deployable file.
    ///
    /// Errors stay inside their unit, so one broken service never hides the others.
    pub fn render_env(&self, env: &str) -> Vec<RenderedUnit> {
        let files = self.env_files(env);
        let mut units = Vec::new();
        for service in files.services() {
            let base = files.bases.get(&service);
            let version = files.versions.get(&service);
            let mut sources: Vec<String> = base.iter().chain(version.iter()).map(|s| s.to_string()).collect();
            if self.files.contains_key(&env_vars_path(env)) {
                sources.push(env_vars_path(env));
            }
            let result = match (base, version) {
                (Some(base), Some(version)) => self.render_service(env, base, version),
                (Some(base), None) => Err(FileError::new(
                    base.as_str(),
                    None,
                    format!(
                        "base of service {service} has no version file: add {}",
                        version_path(env, &service)
                    ),
                )),
                (None, Some(version)) => Err(FileError::new(
                    version.as_str(),
                    None,
                    format!(
                        "version of service {service} has no base: add {}",
                        base_path(env, &service)
                    ),
                )),
                (None, None) => continue,
            };
            units.push(RenderedUnit {
                unit: Unit::Service(service),
                sources,
                // Only a service with a base renders, so errors name the base file.
                result: result.and_then(|docs| check_manifests(base.map_or("", String::as_str), docs)),
            });
        }
        for path in &files.deployables {
            let rel = &path[env.len() + "/deployable/".len()..];
            let result = self
                .text(path)
                .and_then(|t| merge::parse_documents(path, t.unwrap_or_default()))
                .and_then(|docs| check_manifests(path, docs));
            units.push(RenderedUnit {
                unit: Unit::Deployable(rel.to_string()),
                sources: vec![path.clone()],
                result,
            });
        }
        for problem in files.problems {
            units.push(RenderedUnit {
                unit: Unit::Deployable(problem.path.clone()),
                sources: vec![problem.path.clone()],
                result: Err(problem),
            });
        }
        units
    }

    /// The env's own variables from `<env>/vars.yaml` (none if absent).
    pub fn env_vars(&self, env: &str) -> Result<Vars, FileError> {
        let path = env_vars_path(env);
        match self.text(&path)? {
            Some(text) => merge::parse_vars(&path, text),
            None => Ok(Vars::new()),
        }
    }

    /// `vars` with the env's own variables added; those win over a version's
    /// variable of the same name, because they describe the env (its host, its
    /// preview name), not the version that moves through it.
    pub fn with_env_vars(&self, env: &str, mut vars: Vars) -> Result<Vars, FileError> {
        vars.extend(self.env_vars(env)?);
        Ok(vars)
    }

    fn render_service(&self, env: &str, base: &str, version: &str) -> Result<Vec<Value>, FileError> {
        let vars_text = self.text(version)?.unwrap_or_default();
        let vars = self.with_env_vars(env, merge::parse_vars(version, vars_text)?)?;
        let base_text = self.text(base)?.unwrap_or_default();
        merge::render(base, base_text, version, &vars)
    }
}

/// Every document must be a mapping with `apiVersion`, `kind` and `metadata.name`.
fn check_manifests(path: &str, docs: Vec<Value>) -> Result<Vec<Value>, FileError> {
    for (i, doc) in docs.iter().enumerate() {
        let n = i + 1;
        let missing = |what: &str| {
            FileError::new(
                path,
                None,
                format!("document {n}: missing {what} (every document must be a complete Kubernetes object)"),
            )
        };
        if !doc.is_mapping() {
            return Err(FileError::new(
                path,
                None,
                format!(
                    "document {n}: expected a Kubernetes object (a mapping), found {}",
                    merge::describe(doc)
                ),
            ));
        }
        if doc.get("apiVersion").and_then(Value::as_str).is_none_or(str::is_empty) {
            return Err(missing("apiVersion"));
        }
        if doc.get("kind").and_then(Value::as_str).is_none_or(str::is_empty) {
            return Err(missing("kind"));
        }
        let name = doc.get("metadata").and_then(|m| m.get("name")).and_then(Value::as_str);
        if name.is_none_or(str::is_empty) {
            return Err(missing("metadata.name"));
        }
    }
    Ok(docs)
}

/// A short, human label for a version: its `version` variable, else its `image`, else all vars.
pub fn version_label(vars: &Vars) -> String {
    for key in ["version", "image", "tag"] {
        if let Some(v) = vars.get(key) {
            return scalar_string(v);
        }
    }
    let parts: Vec<String> = vars.iter().map(|(k, v)| format!("{k}={}", scalar_string(v))).collect();
    if parts.is_empty() {
        "(empty)".to_string()
    } else {
        parts.join(",")
    }
}

fn scalar_string(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Null => "null".to_string(),
        other => serde_yaml::to_string(other).unwrap_or_default().trim().to_string(),
    }
}

/// The 1-based line where `key:` first appears as a mapping key (block or flow style).
pub(crate) fn line_of_key(text: &str, key: &str) -> Option<usize> {
    text.lines()
        .position(|line| {
            let t = line.trim_start().trim_start_matches(['{', '-', ' ']);
            let t = t.trim_start_matches(['"', '\'']);
            t.strip_prefix(key)
                .map(|r| r.trim_start_matches(['"', '\'']).starts_with(':'))
                .unwrap_or(false)
        })
        .map(|i| i + 1)
}

/// The 1-based line where `needle` first appears.
pub(crate) fn line_of_text(text: &str, needle: &str) -> Option<usize> {
    text.find(needle)
        .map(|at| text[..at].bytes().filter(|b| *b == b'\n').count() + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_change_applied_in_memory_writes_and_deletes_files() {
        let before = RepoSnapshot::from_files("c1", [("a.yaml", "1"), ("b.yaml", "2")]);
        let changes: BTreeMap<String, Option<Vec<u8>>> = [
            ("a.yaml".to_string(), Some(b"3".to_vec())),
            ("b.yaml".to_string(), None),
            ("c/d.yaml".to_string(), Some(b"4".to_vec())),
        ]
        .into();
        let after = before.with_change("c2".to_string(), &changes);
        assert_eq!(after.commit, "c2");
        let files: Vec<(&str, &[u8])> = after.files.iter().map(|(k, v)| (k.as_str(), &v[..])).collect();
        assert_eq!(files, vec![("a.yaml", &b"3"[..]), ("c/d.yaml", &b"4"[..])]);
        assert_eq!(&before.files["b.yaml"][..], b"2", "the original is untouched");
    }

    fn snap(files: &[(&str, &str)]) -> RepoSnapshot {
        RepoSnapshot::from_files("c0", files.iter().map(|(k, v)| (k.to_string(), v.as_bytes().to_vec())))
    }

    const BASE: &str =
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: ${name}\nspec:\n  replicas: ${replicas}\n";

    #[test]
    fn env_variables_reach_every_base_and_win_over_a_version_file() {
        let s = snap(&[
            ("dev/vars.yaml", "preview_host: dev.example.com\nreplicas: 2\n"),
            ("dev/version/web.yaml", "{name: web, replicas: 5}"),
            ("dev/base/web.yaml", BASE),
            ("pp/version/web.yaml", "{name: web}"),
            ("pp/base/web.yaml", BASE),
        ]);
        let units = s.render_env("dev");
        let docs = units[0].result.as_ref().unwrap();
        assert_eq!(docs[0]["spec"]["replicas"], Value::from(2));
        assert!(units[0].sources.contains(&"dev/vars.yaml".to_string()));
        // Without vars.yaml (pp) the variable is undefined, named with the version file.
        let err = s.render_env("pp")[0].result.clone().unwrap_err();
        assert!(err.message.contains("replicas"), "{err}");
        let err = snap(&[("dev/vars.yaml", "[1]")]).env_vars("dev").unwrap_err();
        assert_eq!(err.path, "dev/vars.yaml");
    }

    #[test]
    fn a_folder_is_the_same_when_its_files_and_contents_are() {
        let before = snap(&[
            ("dev/version/a.yaml", "{name: a}"),
            ("latest/version/a.yaml", "{name: a}"),
        ]);
        let after = RepoSnapshot::from_files(
            "c1",
            [
                ("dev/version/a.yaml", "{name: b}"),
                ("latest/version/a.yaml", "{name: a}"),
            ]
            .iter()
            .map(|(k, v)| (k.to_string(), v.as_bytes().to_vec())),
        );
        assert!(after.same_folder(&before, "latest"));
        assert!(!after.same_folder(&before, "dev"));
        // A file added to the folder changes it too; one that only shares the prefix does not.
        let added = RepoSnapshot::from_files(
            "c2",
            [
                ("dev/version/a.yaml", "{name: a}"),
                ("dev/version/b.yaml", "{name: b}"),
                ("latest/version/a.yaml", "{name: a}"),
                ("latest2/x.yaml", "{}"),
            ]
            .iter()
            .map(|(k, v)| (k.to_string(), v.as_bytes().to_vec())),
        );
        assert!(!added.same_folder(&before, "dev"));
        assert!(added.same_folder(&before, "latest"));
    }

    #[test]
    fn env_with_only_versions_is_a_source() {
        let s = snap(&[
            ("latest/version/s1.yaml", "version: '1'\n"),
            ("dev/version/s1.yaml", "version: '1'\n"),
            ("dev/base/s1.yaml", BASE),
            (".github/x.yaml", "a: 1"),
            ("transitions.yaml", ""),
        ]);
        assert_eq!(s.envs(), vec!["dev", "latest"]);
        assert!(s.env_files("latest").is_source_only());
        assert!(!s.env_files("dev").is_source_only());
    }

    #[test]
    fn renders_services_and_deployables_independently() {
        let s = snap(&[
            ("dev/base/s1.yaml", BASE),
            ("dev/version/s1.yaml", "{name: web, replicas: 2}"),
            ("dev/base/team-a/api.yaml", BASE),
            ("dev/version/team-a/api.yaml", "{name: api}"),
            ("dev/deployable/ns/config.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: d}\n"),
            ("dev/deployable/bad.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {}\n"),
        ]);
        let units = s.render_env("dev");
        let by_name: BTreeMap<String, &RenderedUnit> = units.iter().map(|u| (u.unit.display_name(), u)).collect();
        let web = by_name["s1"].result.as_ref().unwrap();
        assert_eq!(web[0]["spec"]["replicas"], Value::from(2));
        let api_err = by_name["team-a/api"].result.as_ref().unwrap_err();
        assert_eq!(api_err.path, "dev/base/team-a/api.yaml");
        assert_eq!(api_err.line, Some(6));
        assert_eq!(by_name["deployable/ns/config.yaml"].result.as_ref().unwrap().len(), 2);
        let bad = by_name["deployable/bad.yaml"].result.as_ref().unwrap_err();
        assert!(bad.message.contains("metadata.name"), "{bad}");
    }

    #[test]
    fn version_without_base_and_base_without_version_fail_their_service() {
        let s = snap(&[
            ("dev/base/only-base.yaml", BASE),
            ("dev/version/only-version.yaml", "{name: x}"),
            (
                "dev/base/ok.yaml",
                "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: ok}\n",
            ),
            ("dev/version/ok.yaml", "{}"),
        ]);
        let units = s.render_env("dev");
        let err_of = |name: &str| {
            units
                .iter()
                .find(|u| u.unit == Unit::Service(name.into()))
                .unwrap()
                .result
                .clone()
                .unwrap_err()
        };
        let e = err_of("only-base");
        assert!(e.message.contains("no version file"), "{e}");
        assert_eq!(e.path, "dev/base/only-base.yaml");
        let e = err_of("only-version");
        assert!(e.message.contains("no base"), "{e}");
        assert_eq!(e.path, "dev/version/only-version.yaml");
        assert!(units
            .iter()
            .find(|u| u.unit == Unit::Service("ok".into()))
            .unwrap()
            .result
            .is_ok());
    }

    #[test]
    fn bad_service_file_names_are_reported() {
        let s = snap(&[("dev/version/Bad_Name.yaml", "{}"), ("dev/base/ok.yaml", BASE)]);
        let files = s.env_files("dev");
        assert_eq!(files.problems.len(), 1);
        assert_eq!(files.problems[0].path, "dev/version/Bad_Name.yaml");
    }

    #[test]
    fn version_label_prefers_version_then_image() {
        let vars = merge::parse_vars("x", "{image: 'r/s:1', version: 7}").unwrap();
        assert_eq!(version_label(&vars), "7");
        let vars = merge::parse_vars("x", "{image: 'r/s:1'}").unwrap();
        assert_eq!(version_label(&vars), "r/s:1");
    }

    #[test]
    fn line_of_key_finds_block_and_flow_keys() {
        let text = "transitions:\n  dev: {a: 1}\n  \"pp\":\n    x: 1\n";
        assert_eq!(line_of_key(text, "dev"), Some(2));
        assert_eq!(line_of_key(text, "pp"), Some(3));
        assert_eq!(line_of_key(text, "zz"), None);
    }
}
