//! `POST /api/versions`: a new version of a service in an env, from CI.
//!
//! Pure: the request is checked and turned into a [`Change`] against a snapshot
//! of the repo; the shell commits and pushes it. Before that, the pre-flight
//! renders the service's base in every deployed env the version would reach
//! through transitions, so that a version missing a variable is refused at the
//! post and not found broken in an env later.

use serde_json::Value as Json;
use serde_yaml::Value as Yaml;
use std::collections::BTreeSet;

use slipway_core::merge::{render_explained, Vars};
use slipway_core::model::{base_path, version_label, version_path};
use slipway_core::RepoSnapshot;
use slipway_repo::Change;

use crate::input;
use crate::message;
use crate::refusal::{EnvGiven, Refusal};

/// A checked `POST /api/versions` body.
#[derive(Debug, Clone, PartialEq)]
pub struct VersionRequest {
    pub service: String,
    pub env: String,
    pub vars: Vars,
    pub changelog: String,
    /// Post even when the pre-flight finds a variable missing downstream.
    pub force: bool,
}

const FIELDS: &[&str] = &["service", "env", "vars", "changelog", "force"];

fn is_var_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 100
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.')
}

fn to_yaml(name: &str, value: &Json) -> Result<Yaml, Refusal> {
    Ok(match value {
        Json::String(s) => Yaml::String(s.clone()),
        Json::Bool(b) => Yaml::Bool(*b),
        Json::Number(n) => {
            if let Some(i) = n.as_i64() {
                Yaml::Number(i.into())
            } else if let Some(u) = n.as_u64() {
                Yaml::Number(u.into())
            } else {
                Yaml::Number(n.as_f64().unwrap_or(f64::NAN).into())
            }
        }
        Json::Null => return Err(Refusal::NullVar { name: name.to_string() }),
        Json::Array(_) | Json::Object(_) => return Err(Refusal::NotAScalarVar { name: name.to_string() }),
    })
}

/// Checks posted variables (names, flat scalars) and turns them into a version's vars.
pub fn vars_from_json(vars: &serde_json::Map<String, Json>) -> Result<Vars, Refusal> {
    let mut out = Vars::new();
    for (name, value) in vars {
        if !is_var_name(name) {
            return Err(Refusal::InvalidVarName { name: name.clone() });
        }
        out.insert(name.clone(), to_yaml(name, value)?);
    }
    Ok(out)
}

/// Parses and checks a body (names, flat scalar vars); the env is checked against the repo later.
pub fn parse_request(body: &[u8]) -> Result<VersionRequest, Refusal> {
    let map = input::object(body, FIELDS)?;
    let service = input::required_str(&map, "service")?;
    input::service_name(service, "service")?;
    let env = input::required_str(&map, "env")?;
    input::env_name(env, "env")?;
    let vars = match map.get("vars") {
        None | Some(Json::Null) => {
            return Err(Refusal::MissingField {
                field: "vars".to_string(),
            })
        }
        Some(Json::Object(vars)) => vars,
        Some(_) => return Err(Refusal::VarsNotAnObject),
    };
    if vars.is_empty() {
        return Err(Refusal::NoVars);
    }
    let out = vars_from_json(vars)?;
    let force = input::optional_bool(&map, "force", false)?;
    let changelog = input::optional_str(&map, "changelog")?.unwrap_or_default();
    if changelog.len() > input::MAX_CHANGELOG_BYTES {
        return Err(input::too_long("changelog", "64 KiB (65536 bytes)"));
    }
    Ok(VersionRequest {
        service: service.to_string(),
        env: env.to_string(),
        vars: out,
        // Commit messages use line feeds; a changelog written on Windows keeps its lines.
        changelog: changelog.replace("\r\n", "\n"),
        force,
    })
}

/// The version file as written to the repo: a YAML mapping, strings quoted where needed
/// so that `"42"` stays a string.
pub fn version_file(vars: &Vars) -> String {
    let map: serde_yaml::Mapping = vars.iter().map(|(k, v)| (Yaml::String(k.clone()), v.clone())).collect();
    // A mapping of scalars always serializes.
    serde_yaml::to_string(&map).unwrap_or_default()
}

/// The commit message: `<service> <version> in <env>`, the changelog, trailers.
pub fn commit_message(req: &VersionRequest) -> String {
    message::compose(
        &format!("{} {} in {}", req.service, version_label(&req.vars), req.env),
        &req.changelog,
        &[
            (message::ACTION, "version"),
            (message::ENV, &req.env),
            (message::SERVICE, &req.service),
        ],
    )
}

/// The change for a request on `snapshot`; `None` when the env already has exactly these vars.
pub fn plan(snapshot: &RepoSnapshot, req: &VersionRequest) -> Result<Option<Change>, Refusal> {
    input::known_env(snapshot, &req.env, EnvGiven::Body)?;
    if let Some(Ok(current)) = snapshot.version_vars(&req.env, &req.service) {
        if current == req.vars {
            return Ok(None);
        }
    }
    let locks = snapshot.locks(&req.env).map_err(|e| Refusal::LocksUnreadable {
        env: req.env.clone(),
        reason: e.to_string(),
    })?;
    let reasons = locks.blocking_reasons(&req.service);
    if !reasons.is_empty() {
        return Err(Refusal::Locked {
            env: req.env.clone(),
            service: (!locks.env_locked()).then(|| req.service.clone()),
            reasons,
        });
    }
    if !req.force {
        preflight(snapshot, req)?;
    }
    let mut change = Change {
        message: commit_message(req),
        ..Change::default()
    };
    change.files.insert(
        version_path(&req.env, &req.service),
        Some(version_file(&req.vars).into_bytes()),
    );
    Ok(Some(change))
}

/// `env` and every env it reaches through `transitions.yaml`, nearest first.
pub fn reached_envs(snapshot: &RepoSnapshot, env: &str) -> Vec<String> {
    let transitions = snapshot.transitions().unwrap_or_default();
    let mut order = vec![env.to_string()];
    let mut seen: BTreeSet<String> = order.iter().cloned().collect();
    let mut i = 0;
    while i < order.len() {
        let from = order[i].clone();
        for t in transitions.iter().filter(|t| t.source == from) {
            if seen.insert(t.target.clone()) {
                order.push(t.target.clone());
            }
        }
        i += 1;
    }
    order
}

/// Renders the service's base in every deployed env the version would reach with
/// the posted vars: a promotion copies the version file as is, so downstream the
/// base sees exactly these vars. Refuses the first variable one of them uses and
/// the vars do not define. A base that fails for another reason (bad YAML) is
/// broken whatever is posted, and is left to the deployer to report.
fn preflight(snapshot: &RepoSnapshot, req: &VersionRequest) -> Result<(), Refusal> {
    // deployers.yaml decides which envs are deployed; unreadable, it is the deployer's to report.
    let deployed = snapshot.deployers().map(|d| d.deployers).unwrap_or_default();
    for env in reached_envs(snapshot, &req.env) {
        if !deployed.contains_key(&env) {
            continue;
        }
        let path = base_path(&env, &req.service);
        let Ok(Some(text)) = snapshot.text(&path) else {
            continue;
        };
        let vars_path = version_path(&env, &req.service);
        // The env's own variables (vars.yaml) are there too; an unreadable file is the deployer's to report.
        let vars = snapshot
            .with_env_vars(&env, req.vars.clone())
            .unwrap_or_else(|_| req.vars.clone());
        if let Err(e) = render_explained(&path, text, &vars_path, &vars) {
            if let Some(variable) = e.undefined {
                return Err(Refusal::UndefinedVariable {
                    env,
                    service: req.service.clone(),
                    file: e.error.path,
                    line: e.error.line,
                    variable,
                });
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snap(files: &[(&str, &str)]) -> RepoSnapshot {
        RepoSnapshot::from_files("c0", files.iter().map(|(k, v)| (k.to_string(), v.as_bytes().to_vec())))
    }

    fn req(body: &str) -> Result<VersionRequest, Refusal> {
        parse_request(body.as_bytes())
    }

    #[test]
    fn bad_bodies_name_the_field_at_fault() {
        let cases = [
            ("{", "body"),
            (r#"{"env": "latest", "vars": {"v": "1"}}"#, "service"),
            (
                r#"{"service": "../etc", "env": "latest", "vars": {"v": "1"}}"#,
                "service",
            ),
            (r#"{"service": "A", "env": "latest", "vars": {"v": "1"}}"#, "service"),
            (r#"{"service": "s1", "env": "Latest", "vars": {"v": "1"}}"#, "env"),
            (
                r#"{"service": "s1", "env": "latest", "vars": {"v": {"x": 1}}}"#,
                "vars.v",
            ),
            (r#"{"service": "s1", "env": "latest", "vars": {"v": [1]}}"#, "vars.v"),
            (r#"{"service": "s1", "env": "latest", "vars": {"v": null}}"#, "vars.v"),
            (r#"{"service": "s1", "env": "latest", "vars": {}}"#, "vars"),
            (
                r#"{"service": "s1", "env": "latest", "vars": {"a b": "1"}}"#,
                "vars.a b",
            ),
            (
                r#"{"service": "s1", "env": "latest", "vars": {"v": "1"}, "changelog": 3}"#,
                "changelog",
            ),
            (
                r#"{"service": "s1", "env": "latest", "vars": {"v": "1"}, "chanelog": ""}"#,
                "chanelog",
            ),
        ];
        for (body, field) in cases {
            let err = req(body).unwrap_err();
            assert!(!matches!(err, Refusal::TooLong { .. }), "{body}: {err:?}");
            assert_eq!(err.field().as_deref(), Some(field), "{body}: {err}");
        }
    }

    #[test]
    fn changelog_over_64_kib_is_too_large_and_crlf_becomes_lf() {
        let body = |changelog: &str| {
            serde_json::json!({"service": "s1", "env": "latest", "vars": {"v": "1"}, "changelog": changelog})
                .to_string()
        };
        let err = req(&body(&"x".repeat(64 * 1024 + 1))).unwrap_err();
        assert!(
            matches!(&err, Refusal::TooLong { field, .. } if field == "changelog"),
            "{err:?}"
        );
        assert!(err.to_string().contains("64 KiB"), "{err}");
        assert!(req(&body(&"x".repeat(64 * 1024))).is_ok(), "exactly the limit is fine");
        assert_eq!(req(&body("Fix\r\n\r\nDetails")).unwrap().changelog, "Fix\n\nDetails");
    }

    #[test]
    fn version_file_keeps_the_types_of_vars() {
        let r = req(r#"{"service": "team-a/api", "env": "latest", "vars": {"version": "42", "replicas": 3, "canary": false, "flag": "true"}}"#).unwrap();
        let text = version_file(&r.vars);
        let back = slipway_core::merge::parse_vars("x", &text).unwrap();
        assert_eq!(back, r.vars, "{text}");
        assert_eq!(back["version"], Yaml::String("42".into()));
        assert_eq!(back["flag"], Yaml::String("true".into()));
    }

    #[test]
    fn plan_writes_the_version_file_with_a_readable_message() {
        let s = snap(&[("latest/version/other.yaml", "version: '1'\n")]);
        let r =
            req(r#"{"service": "s1", "env": "latest", "vars": {"version": "42"}, "changelog": "Fix login"}"#).unwrap();
        let change = plan(&s, &r).unwrap().unwrap();
        assert_eq!(
            change.message,
            "s1 42 in latest\n\nFix login\n\nSlipway-Action: version\nSlipway-Env: latest\nSlipway-Service: s1\n"
        );
        assert_eq!(
            change.files["latest/version/s1.yaml"].as_deref(),
            Some(&b"version: '42'\n"[..])
        );
    }

    const DOWNSTREAM: &[(&str, &str)] = &[
        (
            "transitions.yaml",
            "transitions:\n  dev: {source: latest, target: dev}\n  pp: {source: dev, target: pp}\n",
        ),
        (
            "deployers.yaml",
            "deployers:\n  dev: {cluster: main, namespace: dev}\n  pp: {cluster: main, namespace: pp}\n",
        ),
        ("latest/version/s1.yaml", "version: '1'\n"),
        (
            "dev/base/s1.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: s1}\ndata: {v: \"${version}\"}\n",
        ),
        ("dev/version/s1.yaml", "version: '1'\n"),
        (
            "pp/base/s1.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: s1}\ndata:\n  v: \"${version}\"\n  r: \"${replicas}\"\n",
        ),
        ("pp/version/s1.yaml", "{version: '1', replicas: 2}\n"),
    ];

    #[test]
    fn a_variable_missing_in_a_downstream_base_is_refused_unless_forced() {
        let s = snap(DOWNSTREAM);
        assert_eq!(reached_envs(&s, "latest"), ["latest", "dev", "pp"]);
        let r = req(r#"{"service": "s1", "env": "latest", "vars": {"version": "2"}}"#).unwrap();
        let err = plan(&s, &r).unwrap_err();
        assert_eq!(
            err,
            Refusal::UndefinedVariable {
                env: "pp".into(),
                service: "s1".into(),
                file: "pp/base/s1.yaml".into(),
                line: Some(6),
                variable: "replicas".into(),
            }
        );
        assert!(
            err.to_string().starts_with(
                "s1 would not render in pp: pp/base/s1.yaml line 6 uses variable \"replicas\", which the posted vars do not define"
            ),
            "{err}"
        );
        let forced = req(r#"{"service": "s1", "env": "latest", "vars": {"version": "2"}, "force": true}"#).unwrap();
        assert!(plan(&s, &forced).unwrap().is_some());
        let complete = req(r#"{"service": "s1", "env": "latest", "vars": {"version": "2", "replicas": 3}}"#).unwrap();
        assert!(plan(&s, &complete).unwrap().is_some());
        // Posted into pp directly, only pp is checked; into dev, dev and pp.
        let into_pp = req(r#"{"service": "s1", "env": "pp", "vars": {"version": "2"}}"#).unwrap();
        assert!(matches!(plan(&s, &into_pp), Err(Refusal::UndefinedVariable { .. })));
    }

    #[test]
    fn a_base_broken_anyway_does_not_block_a_post() {
        let mut files = DOWNSTREAM.to_vec();
        files.retain(|(p, _)| *p != "pp/base/s1.yaml");
        files.push(("pp/base/s1.yaml", "data: [\n"));
        let s = snap(&files);
        let r = req(r#"{"service": "s1", "env": "latest", "vars": {"version": "2"}}"#).unwrap();
        assert!(plan(&s, &r).unwrap().is_some());
    }

    #[test]
    fn same_vars_again_is_no_change() {
        let s = snap(&[("latest/version/s1.yaml", "# by hand\nversion: \"42\"\n")]);
        let r = req(r#"{"service": "s1", "env": "latest", "vars": {"version": "42"}}"#).unwrap();
        assert!(plan(&s, &r).unwrap().is_none());
    }

    #[test]
    fn unknown_env_is_refused_and_locks_are_respected() {
        let s = snap(&[
            ("latest/version/s1.yaml", "version: '1'\n"),
            (
                "latest/locks.yaml",
                "resource_locks:\n  s1: {reasons: [\"incident 4711\"]}\n",
            ),
        ]);
        let r = req(r#"{"service": "s2", "env": "prod", "vars": {"version": "2"}}"#).unwrap();
        let err = plan(&s, &r).unwrap_err();
        assert!(
            matches!(&err, Refusal::UnknownEnv { env, given: EnvGiven::Body, .. } if env == "prod"),
            "{err:?}"
        );
        let r = req(r#"{"service": "s1", "env": "latest", "vars": {"version": "2"}}"#).unwrap();
        let err = plan(&s, &r).unwrap_err();
        assert_eq!(
            err,
            Refusal::Locked {
                env: "latest".into(),
                service: Some("s1".into()),
                reasons: vec!["incident 4711".into()],
            }
        );
        assert!(
            err.to_string()
                .starts_with("service s1 in latest is locked (incident 4711)"),
            "{err}"
        );
        let r = req(r#"{"service": "s2", "env": "latest", "vars": {"version": "2"}}"#).unwrap();
        assert!(plan(&s, &r).unwrap().is_some(), "only s1 is locked");
    }
}
