//! Preview environments: an env folder `preview-<name>/` made from a template
//! env in one commit, and removed in one commit (folder and `deployers.yaml`
//! entry together). The pure part: names, the files each change writes, what
//! the repo says about each preview, and which have expired.
//!
//! ```text
//! <template>/base/ deployable/ version/  ──copy──▶ preview-<name>/…  (requested services' vars overridden)
//! <template>/vars.yaml + preview_name, preview_host, preview_path ──▶ preview-<name>/vars.yaml
//! deployers.yaml  + preview-<name>: {cluster: <template's>, namespace: preview-<name>, preview: {expires, source}}
//! ```
//!
//! The preview's variables are written into its folder, so the deployer
//! renders them like any env variable and needs no config of its own.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use serde_yaml::Value;

use crate::deployers::{self, DeployTarget, PreviewInfo, DEPLOYERS_FILE};
use crate::error::FileError;
use crate::merge::Vars;
use crate::model::{env_vars_path, version_label, version_path, RepoSnapshot};
use crate::names::{validate_env_name, NameError};

/// What every preview env's name starts with.
pub const PREFIX: &str = "preview-";

/// The longest time to live a preview may be given.
pub const MAX_TTL: Duration = Duration::from_secs(90 * 24 * 3600);

/// The template's folders a preview copies (not its locks: they hold the template back, not the preview).
const COPIED: [&str; 3] = ["base/", "deployable/", "version/"];

/// Where previews are reached (the aggregator's `preview_domain` and `previews.path_prefix`).
#[derive(Debug, Clone, Copy, Default)]
pub struct Addressing<'a> {
    /// Hosts are `<name>.<domain>`.
    pub domain: Option<&'a str>,
    /// Paths are `<prefix>/<name>`; none: `/`.
    pub path_prefix: Option<&'a str>,
}

/// A preview to create.
#[derive(Debug, Clone, PartialEq)]
pub struct NewPreview {
    /// The name as given (`pr-42`; a leading `preview-` is taken as part of the prefix).
    pub name: String,
    /// The template env.
    pub from: String,
    /// Per service, the variables that replace the template's of the same name.
    pub services: BTreeMap<String, Vars>,
    pub ttl: Duration,
    /// The branch or pull request it shows.
    pub source: Option<String>,
}

/// The files of one commit that creates, changes or removes a preview.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreviewChange {
    /// The preview's env (`preview-<name>`).
    pub env: String,
    /// The subject of the commit message.
    pub subject: String,
    /// Path → new contents, `None` to delete.
    pub files: BTreeMap<String, Option<Vec<u8>>>,
}

/// Why a preview change cannot be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PreviewError {
    #[error("invalid preview name: {0}")]
    InvalidName(NameError),
    #[error("{env} already exists (a preview's env is {PREFIX}<name>); pick another name, or change it with PATCH /api/previews/{name}")]
    Exists { name: String, env: String },
    #[error("no preview {name:?}: {}", list_or_none(known))]
    NotFound {
        name: String,
        /// The previews the repo has.
        known: Vec<String>,
    },
    #[error(
        "template env {from:?} is not deployed (it needs an entry in deployers.yaml and a folder); deployed envs: {}",
        list_or_none(known)
    )]
    UnknownTemplate { from: String, known: Vec<String> },
    #[error("service {service:?} has no version file in {env}: {}", list_or_none(known))]
    UnknownService {
        env: String,
        service: String,
        known: Vec<String>,
    },
    #[error("ttl {value:?}: {reason}")]
    BadTtl { value: String, reason: String },
    #[error("{0}; fix the file first (nothing was committed)")]
    File(FileError),
}

fn list_or_none(known: &[String]) -> String {
    if known.is_empty() {
        "there are none".to_string()
    } else {
        format!("known are {}", known.join(", "))
    }
}

impl From<FileError> for PreviewError {
    fn from(e: FileError) -> Self {
        PreviewError::File(e)
    }
}

/// The short name and the env of a preview (`pr-42` → `preview-pr-42`): the env
/// must be a DNS label, so the name has at most 63 − 8 characters.
pub fn names(name: &str) -> Result<(String, String), PreviewError> {
    let short = name.strip_prefix(PREFIX).unwrap_or(name);
    let env = format!("{PREFIX}{short}");
    if short.is_empty() {
        return Err(PreviewError::InvalidName(NameError::Empty { what: "preview" }));
    }
    validate_env_name(short)
        .and_then(|_| validate_env_name(&env))
        .map_err(PreviewError::InvalidName)?;
    Ok((short.to_string(), env))
}

/// A time to live in the human form (`3d`, `12h`), more than zero and at most [`MAX_TTL`].
pub fn parse_ttl(value: &str) -> Result<Duration, PreviewError> {
    let bad = |reason: &str| PreviewError::BadTtl {
        value: value.to_string(),
        reason: reason.to_string(),
    };
    let ttl =
        humantime::parse_duration(value.trim()).map_err(|e| bad(&format!("{e} (write e.g. 3d, 12h or 1d 12h)")))?;
    if ttl.is_zero() {
        return Err(bad("must be more than zero"));
    }
    if ttl > MAX_TTL {
        return Err(bad("must be at most 90d"));
    }
    Ok(ttl)
}

/// The variables a preview's bases see: `preview_name`, `preview_path`, and
/// `preview_host` when a domain is configured.
pub fn variables(short: &str, at: Addressing<'_>) -> Vars {
    let mut vars = Vars::new();
    vars.insert("preview_name".into(), Value::from(short));
    if let Some(domain) = at.domain {
        vars.insert("preview_host".into(), Value::from(format!("{short}.{domain}")));
    }
    let path = match at.path_prefix.map(|p| p.trim_matches('/')) {
        Some(p) if !p.is_empty() => format!("/{p}/{short}"),
        _ => "/".to_string(),
    };
    vars.insert("preview_path".into(), Value::from(path));
    vars
}

fn expires_text(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn deployers_text(snapshot: &RepoSnapshot) -> Result<&str, PreviewError> {
    Ok(snapshot.text(DEPLOYERS_FILE)?.unwrap_or_default())
}

/// The change that creates a preview, or why it cannot be.
pub fn create(
    snapshot: &RepoSnapshot,
    req: &NewPreview,
    at: Addressing<'_>,
    now: DateTime<Utc>,
) -> Result<PreviewChange, PreviewError> {
    let (short, env) = names(&req.name)?;
    let deployed = snapshot.deployers()?.deployers;
    if deployed.contains_key(&env) || snapshot.has_env(&env) {
        return Err(PreviewError::Exists { name: short, env });
    }
    let template = deployed
        .get(&req.from)
        .filter(|_| snapshot.has_env(&req.from))
        .ok_or_else(|| PreviewError::UnknownTemplate {
            from: req.from.clone(),
            known: deployed.keys().filter(|e| snapshot.has_env(e)).cloned().collect(),
        })?;
    let mut files = BTreeMap::new();
    let from_prefix = format!("{}/", req.from);
    for path in snapshot.paths_under(&req.from) {
        let rel = &path[from_prefix.len()..];
        if COPIED.iter().any(|c| rel.starts_with(c)) {
            files.insert(format!("{env}/{rel}"), Some(snapshot.files[path].to_vec()));
        }
    }
    for (service, vars) in &req.services {
        let path = version_path(&env, service);
        let merged = overridden(snapshot, &req.from, service, vars)?;
        files.insert(path, Some(vars_file(&merged).into_bytes()));
    }
    let vars = snapshot.with_env_vars(&req.from, Vars::new())?;
    let mut vars_with_preview = vars;
    vars_with_preview.extend(variables(&short, at));
    files.insert(env_vars_path(&env), Some(vars_file(&vars_with_preview).into_bytes()));
    let expires = now + chrono::Duration::from_std(req.ttl).unwrap_or(chrono::Duration::MAX);
    let target = DeployTarget {
        cluster: template.cluster.clone(),
        namespace: env.clone(),
        prune: true,
        // Every object of a preview goes with it; emptying one is not the accident it would be elsewhere.
        allow_empty: true,
        adopt: false,
        prune_adopted: false,
        preview: Some(PreviewInfo {
            expires,
            source: req.source.clone(),
        }),
    };
    let text = deployers::with_entry(deployers_text(snapshot)?, &env, &target)?;
    files.insert(DEPLOYERS_FILE.to_string(), Some(text.into_bytes()));
    Ok(PreviewChange {
        subject: format!(
            "Create preview {short} from {}{}, expires {}",
            req.from,
            services_summary(&req.services),
            expires_text(expires)
        ),
        env,
        files,
    })
}

/// The template's (or the preview's) vars of `service` in `env` with `vars` over them.
fn overridden(snapshot: &RepoSnapshot, env: &str, service: &str, vars: &Vars) -> Result<Vars, PreviewError> {
    let Some(current) = snapshot.version_vars(env, service) else {
        return Err(PreviewError::UnknownService {
            env: env.to_string(),
            service: service.to_string(),
            known: snapshot.env_files(env).versions.keys().cloned().collect(),
        });
    };
    let mut merged = current?;
    merged.extend(vars.clone());
    Ok(merged)
}

fn services_summary(services: &BTreeMap<String, Vars>) -> String {
    if services.is_empty() {
        return String::new();
    }
    let list: Vec<String> = services
        .iter()
        .map(|(s, v)| format!("{s} {}", version_label(v)))
        .collect();
    format!(" ({})", list.join(", "))
}

/// A preview env's `deployers.yaml` entry, or `NotFound` (an ordinary env is never a preview).
fn existing(snapshot: &RepoSnapshot, name: &str) -> Result<(String, String, DeployTarget), PreviewError> {
    let (short, env) = names(name)?;
    let deployed = snapshot.deployers()?.deployers;
    match deployed.get(&env) {
        Some(t) if t.preview.is_some() => Ok((short, env, t.clone())),
        _ => Err(PreviewError::NotFound {
            name: short,
            known: list(snapshot)?.into_iter().map(|p| p.name).collect(),
        }),
    }
}

/// The change that gives services of a preview new variables and/or a new
/// expiry (`ttl` from `now`); `None` when it already is so.
pub fn update(
    snapshot: &RepoSnapshot,
    name: &str,
    services: &BTreeMap<String, Vars>,
    ttl: Option<Duration>,
    now: DateTime<Utc>,
) -> Result<Option<PreviewChange>, PreviewError> {
    let (short, env, mut target) = existing(snapshot, name)?;
    let mut files = BTreeMap::new();
    let mut changed = BTreeMap::new();
    for (service, vars) in services {
        let merged = overridden(snapshot, &env, service, vars)?;
        if snapshot.version_vars(&env, service).and_then(Result::ok).as_ref() != Some(&merged) {
            files.insert(version_path(&env, service), Some(vars_file(&merged).into_bytes()));
            changed.insert(service.clone(), merged);
        }
    }
    let mut subject = format!("Update preview {short}{}", services_summary(&changed));
    if let (Some(ttl), Some(info)) = (ttl, target.preview.as_mut()) {
        let expires = now + chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::MAX);
        if info.expires != expires {
            info.expires = expires;
            let text = deployers::with_entry(deployers_text(snapshot)?, &env, &target)?;
            files.insert(DEPLOYERS_FILE.to_string(), Some(text.into_bytes()));
            if changed.is_empty() {
                subject = format!("Extend preview {short}");
            }
            subject.push_str(&format!(", expires {}", expires_text(expires)));
        }
    }
    if files.is_empty() {
        return Ok(None);
    }
    Ok(Some(PreviewChange { env, subject, files }))
}

/// The change that removes a preview: its whole folder and its `deployers.yaml` entry.
pub fn remove(snapshot: &RepoSnapshot, name: &str, why: &str) -> Result<PreviewChange, PreviewError> {
    let (short, env, _) = existing(snapshot, name)?;
    let mut files: BTreeMap<String, Option<Vec<u8>>> =
        snapshot.paths_under(&env).map(|p| (p.to_string(), None)).collect();
    let text = deployers::without_entry(deployers_text(snapshot)?, &env)?;
    files.insert(DEPLOYERS_FILE.to_string(), Some(text.into_bytes()));
    let subject = if why.is_empty() {
        format!("Remove preview {short}")
    } else {
        format!("Remove preview {short} ({why})")
    };
    Ok(PreviewChange { env, subject, files })
}

/// What the repo says about one preview.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct PreviewEntry {
    /// The short name (`pr-42`).
    pub name: String,
    /// Its env and namespace (`preview-pr-42`).
    pub env: String,
    pub cluster: String,
    pub namespace: String,
    /// `https://<preview_host><preview_path>`, when it has a host.
    pub url: Option<String>,
    #[cfg_attr(feature = "ts", ts(type = "string"))]
    pub expires: DateTime<Utc>,
    pub source: Option<String>,
    /// Service → version label.
    pub services: BTreeMap<String, String>,
}

/// Every preview of the repo (entries of `deployers.yaml` with `preview:`), by env.
pub fn list(snapshot: &RepoSnapshot) -> Result<Vec<PreviewEntry>, PreviewError> {
    let deployed = snapshot.deployers()?.deployers;
    let mut out = Vec::new();
    for (env, target) in deployed {
        let Some(info) = &target.preview else { continue };
        let vars = snapshot.env_vars(&env).unwrap_or_default();
        let text = |key: &str| vars.get(key).and_then(Value::as_str).map(str::to_string);
        let url = text("preview_host").map(|h| format!("https://{h}{}", text("preview_path").unwrap_or_default()));
        let services = snapshot
            .env_files(&env)
            .versions
            .keys()
            .filter_map(|s| {
                let vars = snapshot.version_vars(&env, s)?.ok()?;
                Some((s.clone(), version_label(&vars)))
            })
            .collect();
        out.push(PreviewEntry {
            name: env.strip_prefix(PREFIX).unwrap_or(&env).to_string(),
            env: env.clone(),
            cluster: target.cluster.clone(),
            namespace: target.namespace.clone(),
            url,
            expires: info.expires,
            source: info.source.clone(),
            services,
        });
    }
    Ok(out)
}

/// The previews whose expiry is at or before `now` (short names).
pub fn expired(snapshot: &RepoSnapshot, now: DateTime<Utc>) -> Vec<String> {
    let Ok(deployed) = snapshot.deployers() else {
        return Vec::new();
    };
    deployed
        .deployers
        .iter()
        .filter(|(_, t)| t.preview.as_ref().is_some_and(|p| p.expires <= now))
        .map(|(env, _)| env.strip_prefix(PREFIX).unwrap_or(env).to_string())
        .collect()
}

/// A vars mapping as a version file (strings quoted where needed, so `"42"` stays a string).
pub fn vars_file(vars: &Vars) -> String {
    let map: serde_yaml::Mapping = vars
        .iter()
        .map(|(k, v)| (Value::String(k.clone()), v.clone()))
        .collect();
    // A mapping of scalars always serializes.
    serde_yaml::to_string(&map).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEPLOYERS: &str = "deployers:\n  dev: {cluster: main, namespace: dev}\n";

    fn snap(files: &[(&str, &str)]) -> RepoSnapshot {
        RepoSnapshot::from_files("c0", files.iter().map(|(k, v)| (k.to_string(), v.as_bytes().to_vec())))
    }

    fn repo() -> RepoSnapshot {
        snap(&[
            ("deployers.yaml", DEPLOYERS),
            ("dev/base/web.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: web}\ndata: {host: \"${preview_host}\", v: \"${version}\"}\n"),
            ("dev/version/web.yaml", "version: '7'\nimage: registry/web:7\nreplicas: 2\n"),
            ("dev/version/api.yaml", "version: '3'\n"),
            ("dev/base/api.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: api}\n"),
            ("dev/deployable/ns.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: extra}\n"),
            ("dev/vars.yaml", "preview_host: dev.example.com\nteam: shop\n"),
            ("dev/locks.yaml", "env_lock: {reasons: [freeze]}\n"),
        ])
    }

    fn now() -> DateTime<Utc> {
        "2026-12-02T19:00:00Z".parse().unwrap()
    }

    fn web(version: &str) -> BTreeMap<String, Vars> {
        let vars: Vars = [("version".to_string(), Value::from(version))].into_iter().collect();
        [("web".to_string(), vars)].into_iter().collect()
    }

    fn new(name: &str) -> NewPreview {
        NewPreview {
            name: name.into(),
            from: "dev".into(),
            services: web("pr-42"),
            ttl: Duration::from_secs(3 * 24 * 3600),
            source: Some("https://git.example.com/shop/pull/42".into()),
        }
    }

    const AT: Addressing<'static> = Addressing {
        domain: Some("preview.example.com"),
        path_prefix: None,
    };

    fn apply(s: &RepoSnapshot, c: &PreviewChange) -> RepoSnapshot {
        let mut files = s.files.clone();
        for (path, content) in &c.files {
            match content {
                Some(b) => files.insert(path.clone(), b.clone().into()),
                None => files.remove(path),
            };
        }
        RepoSnapshot {
            commit: "c1".into(),
            files,
        }
    }

    #[test]
    fn names_get_the_prefix_once_and_must_make_a_dns_label() {
        assert_eq!(names("pr-42").unwrap(), ("pr-42".into(), "preview-pr-42".into()));
        assert_eq!(names("preview-pr-42").unwrap().1, "preview-pr-42");
        for bad in ["", "PR-42", "pr_42", "-x", &"a".repeat(56)] {
            assert!(matches!(names(bad), Err(PreviewError::InvalidName(_))), "{bad:?}");
        }
        assert!(names(&"a".repeat(55)).is_ok());
    }

    #[test]
    fn ttls_are_human_positive_and_bounded() {
        assert_eq!(parse_ttl("3d").unwrap(), Duration::from_secs(3 * 86400));
        assert_eq!(parse_ttl("1d 12h").unwrap(), Duration::from_secs(36 * 3600));
        for bad in ["0s", "soon", "91d", ""] {
            assert!(matches!(parse_ttl(bad), Err(PreviewError::BadTtl { .. })), "{bad:?}");
        }
    }

    #[test]
    fn creating_copies_the_template_overrides_services_and_adds_the_entry() {
        let s = repo();
        let c = create(&s, &new("pr-42"), AT, now()).unwrap();
        assert_eq!(c.env, "preview-pr-42");
        assert_eq!(
            c.subject,
            "Create preview pr-42 from dev (web pr-42), expires 2026-12-05T19:00:00Z"
        );
        assert!(c.files.contains_key("preview-pr-42/deployable/ns.yaml"));
        assert!(c.files.contains_key("preview-pr-42/base/api.yaml"));
        assert!(
            !c.files.contains_key("preview-pr-42/locks.yaml"),
            "locks stay with the template"
        );
        let after = apply(&s, &c);
        // The override replaces the given variables only.
        let vars = after.version_vars("preview-pr-42", "web").unwrap().unwrap();
        assert_eq!(vars["version"], Value::from("pr-42"));
        assert_eq!(vars["replicas"], Value::from(2));
        let env_vars = after.env_vars("preview-pr-42").unwrap();
        assert_eq!(env_vars["preview_host"], Value::from("pr-42.preview.example.com"));
        assert_eq!(env_vars["preview_name"], Value::from("pr-42"));
        assert_eq!(env_vars["team"], Value::from("shop"));
        // Its bases render with the preview's host.
        let units = after.render_env("preview-pr-42");
        let web = units
            .iter()
            .find(|u| u.unit == crate::Unit::Service("web".into()))
            .unwrap();
        let doc = &web.result.as_ref().unwrap()[0];
        assert_eq!(doc["data"]["host"], Value::from("pr-42.preview.example.com"));
        let target = &after.deployers().unwrap().deployers["preview-pr-42"];
        assert_eq!(target.cluster, "main");
        assert_eq!(target.namespace, "preview-pr-42");
        let info = target.preview.as_ref().unwrap();
        assert_eq!(info.expires, now() + chrono::Duration::days(3));
        let listed = list(&after).unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].url.as_deref(), Some("https://pr-42.preview.example.com/"));
        assert_eq!(listed[0].services["web"], "pr-42");
        assert_eq!(listed[0].services["api"], "3");
    }

    #[test]
    fn a_clash_an_unknown_template_or_service_is_refused() {
        let s = repo();
        let after = apply(&s, &create(&s, &new("pr-42"), AT, now()).unwrap());
        let err = create(&after, &new("preview-pr-42"), AT, now()).unwrap_err();
        assert!(matches!(err, PreviewError::Exists { .. }), "{err}");
        // An ordinary folder of that name clashes too.
        let folder = snap(&[
            ("deployers.yaml", DEPLOYERS),
            ("dev/version/web.yaml", "v: 1\n"),
            ("preview-x/version/a.yaml", "v: 1\n"),
        ]);
        assert!(matches!(
            create(&folder, &new("x"), AT, now()),
            Err(PreviewError::Exists { .. })
        ));
        let mut req = new("pr-43");
        req.from = "latest".into();
        let err = create(&s, &req, AT, now()).unwrap_err();
        assert_eq!(err.to_string(), "template env \"latest\" is not deployed (it needs an entry in deployers.yaml and a folder); deployed envs: known are dev");
        let mut req = new("pr-43");
        req.services = BTreeMap::from([("nope".to_string(), Vars::new())]);
        assert!(matches!(
            create(&s, &req, AT, now()),
            Err(PreviewError::UnknownService { .. })
        ));
    }

    #[test]
    fn a_path_prefix_gives_each_preview_its_path() {
        let at = Addressing {
            domain: Some("preview.example.com"),
            path_prefix: Some("/previews/"),
        };
        assert_eq!(variables("pr-1", at)["preview_path"], Value::from("/previews/pr-1"));
        assert_eq!(
            variables("pr-1", Addressing::default())["preview_path"],
            Value::from("/")
        );
        assert!(!variables("pr-1", Addressing::default()).contains_key("preview_host"));
    }

    #[test]
    fn updating_and_extending_change_only_what_differs() {
        let s = repo();
        let after = apply(&s, &create(&s, &new("pr-42"), AT, now()).unwrap());
        assert_eq!(update(&after, "pr-42", &web("pr-42"), None, now()).unwrap(), None);
        let c = update(&after, "pr-42", &web("pr-42-b"), None, now()).unwrap().unwrap();
        assert_eq!(c.subject, "Update preview pr-42 (web pr-42-b)");
        assert_eq!(c.files.keys().collect::<Vec<_>>(), ["preview-pr-42/version/web.yaml"]);
        let later = now() + chrono::Duration::days(1);
        let c = update(
            &after,
            "pr-42",
            &BTreeMap::new(),
            Some(Duration::from_secs(7 * 86400)),
            later,
        )
        .unwrap()
        .unwrap();
        assert_eq!(c.subject, "Extend preview pr-42, expires 2026-12-10T19:00:00Z");
        let extended = apply(&after, &c);
        assert_eq!(
            extended.deployers().unwrap().deployers["preview-pr-42"]
                .preview
                .as_ref()
                .unwrap()
                .expires,
            later + chrono::Duration::days(7)
        );
    }

    #[test]
    fn removing_takes_the_folder_and_entry_and_never_an_ordinary_env() {
        let s = repo();
        let after = apply(&s, &create(&s, &new("pr-42"), AT, now()).unwrap());
        let c = remove(&after, "pr-42", "").unwrap();
        let gone = apply(&after, &c);
        assert!(!gone.has_env("preview-pr-42"));
        assert_eq!(gone.text("deployers.yaml").unwrap(), Some(DEPLOYERS));
        assert_eq!(gone.files, s.files);
        let err = remove(&s, "dev", "").unwrap_err();
        assert!(matches!(err, PreviewError::NotFound { .. }), "{err}");
        let ordinary = snap(&[(
            "deployers.yaml",
            "deployers:\n  preview-x: {cluster: main, namespace: x}\n",
        )]);
        assert!(matches!(remove(&ordinary, "x", ""), Err(PreviewError::NotFound { .. })));
    }

    #[test]
    fn previews_expire_at_their_time() {
        let s = repo();
        let after = apply(&s, &create(&s, &new("pr-42"), AT, now()).unwrap());
        assert!(expired(&after, now() + chrono::Duration::days(3) - chrono::Duration::seconds(1)).is_empty());
        assert_eq!(expired(&after, now() + chrono::Duration::days(3)), ["pr-42"]);
    }
}
