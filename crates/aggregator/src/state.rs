//! `GET /api/state`: the whole picture, computed from the repo snapshot and the
//! last status of the deployer and the transitioner.
//!
//! ```text
//! RepoSnapshot ──┐
//! VersionIndex ──┤ (parsed version files, reused while a file is unchanged)
//! DeployerStatus ┼──▶ build() ──▶ StateView ──▶ JSON, served from memory
//! TransitionerStatus ┘
//! ```

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::value::RawValue;
use slipway_core::merge::{parse_vars, Vars};
use slipway_core::model::version_label;
use slipway_core::status::{
    DeployerStatus, ErrorRecord, Phase, ResourceStatus, RolloutStatus, TransitionStatus, TransitionerStatus,
};
use slipway_core::RepoSnapshot;

/// One env in the state.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EnvView {
    pub name: String,
    pub deployed: bool,
    pub cluster: Option<String>,
    pub namespace: Option<String>,
    pub status: Option<RolloutStatus>,
    pub commit: Option<String>,
    pub reason: String,
    pub lock_reasons: Vec<String>,
    pub last_error: Option<ErrorRecord>,
}

/// The version in the source env of the transition into an env, when it differs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Upstream {
    pub env: String,
    pub version: String,
}

/// One service in one env (borrowing the big parts from the inputs, so a state
/// of thousands of services is cheap to build).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ServiceEnvView<'a> {
    pub version: String,
    pub vars: &'a Vars,
    pub status: Option<RolloutStatus>,
    pub phase: Option<Phase>,
    pub reason: String,
    pub resources: &'a [ResourceStatus],
    pub error: Option<String>,
    pub lock_reasons: Vec<String>,
    pub upstream: Option<Upstream>,
}

/// One service across envs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ServiceView<'a> {
    pub name: String,
    pub envs: BTreeMap<String, ServiceEnvView<'a>>,
}

/// The body of `GET /api/state`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StateView<'a> {
    pub commit: String,
    pub updated_at: DateTime<Utc>,
    pub stale: bool,
    pub stale_reasons: Vec<String>,
    /// Problems in repo files that are not one service's (locks, deployers.yaml, transitions.yaml).
    pub repo_errors: Vec<String>,
    pub envs: Vec<EnvView>,
    pub services: Vec<ServiceView<'a>>,
    pub transitions: Vec<TransitionStatus>,
}

/// A parsed version file, or why it cannot be read.
pub type ParsedVars = Arc<Result<Vars, String>>;

static EMPTY_VARS: Vars = Vars::new();

/// Parsed version files by env and service.
pub type VersionIndex = BTreeMap<String, BTreeMap<String, ParsedVars>>;

/// Parses version files, reusing the result for files whose bytes did not change.
#[derive(Debug, Default)]
pub struct VersionCache {
    entries: HashMap<String, (Vec<u8>, ParsedVars)>,
}

impl VersionCache {
    /// Every version file of the snapshot, parsed.
    pub fn index(&mut self, snapshot: &RepoSnapshot) -> VersionIndex {
        let mut out = VersionIndex::new();
        let mut old = std::mem::take(&mut self.entries);
        for env in snapshot.envs() {
            let files = snapshot.env_files(&env);
            let mut services = BTreeMap::new();
            for (service, path) in files.versions {
                let bytes = snapshot.files.get(&path).map(|c| &c[..]).unwrap_or_default();
                let entry = match old.remove(&path) {
                    Some(entry) if entry.0 == bytes => entry,
                    _ => {
                        let parsed = std::str::from_utf8(bytes)
                            .map_err(|_| format!("{path}: not UTF-8 text"))
                            .and_then(|text| parse_vars(&path, text).map_err(|e| e.to_string()));
                        (bytes.to_vec(), Arc::new(parsed))
                    }
                };
                services.insert(service, entry.1.clone());
                self.entries.insert(path, entry);
            }
            if !services.is_empty() {
                out.insert(env, services);
            }
        }
        out
    }
}

/// Everything the state is computed from.
pub struct Inputs<'a> {
    pub snapshot: &'a RepoSnapshot,
    pub versions: &'a VersionIndex,
    pub deployer: Option<&'a DeployerStatus>,
    pub transitioner: Option<&'a TransitionerStatus>,
    pub stale_reasons: Vec<String>,
    pub now: DateTime<Utc>,
}

/// Envs in promotion order: sources before targets (first seen in `transitions.yaml`
/// first), then the others by name.
pub fn env_order(all: &BTreeSet<String>, edges: &[(String, String)]) -> Vec<String> {
    let mut in_chain: Vec<String> = Vec::new();
    for (s, t) in edges {
        for e in [s, t] {
            if !in_chain.contains(e) {
                in_chain.push(e.clone());
            }
        }
    }
    let mut out = Vec::new();
    let mut remaining = in_chain.clone();
    while !remaining.is_empty() {
        let ready = remaining
            .iter()
            .position(|e| !edges.iter().any(|(s, t)| t == e && s != e && remaining.contains(s)));
        // A cycle has no ready env: take the first remaining one to break it.
        let i = ready.unwrap_or(0);
        out.push(remaining.remove(i));
    }
    out.extend(all.iter().filter(|e| !in_chain.contains(e)).cloned());
    out
}

/// What every service's view depends on besides its own version files.
struct Context {
    deployers: slipway_core::deployers::Deployers,
    transitions: Vec<slipway_core::transitions::Transition>,
    order: Vec<String>,
    locks: BTreeMap<String, slipway_core::locks::Locks>,
    /// target env → source env of the transition into it.
    source_of: BTreeMap<String, String>,
    repo_errors: Vec<String>,
}

fn context(snap: &RepoSnapshot) -> Context {
    let mut repo_errors = Vec::new();
    let deployers = snap.deployers().unwrap_or_else(|e| {
        repo_errors.push(e.to_string());
        Default::default()
    });
    let transitions = snap.transitions().unwrap_or_else(|e| {
        repo_errors.push(e.to_string());
        Vec::new()
    });
    let mut all: BTreeSet<String> = snap.envs().into_iter().collect();
    all.extend(deployers.deployers.keys().cloned());
    let edges: Vec<(String, String)> = transitions
        .iter()
        .map(|t| (t.source.clone(), t.target.clone()))
        .collect();
    for (s, t) in &edges {
        all.insert(s.clone());
        all.insert(t.clone());
    }
    let order = env_order(&all, &edges);
    let mut locks = BTreeMap::new();
    for env in &order {
        match snap.locks(env) {
            Ok(l) => {
                locks.insert(env.clone(), l);
            }
            Err(e) => repo_errors.push(e.to_string()),
        }
    }
    let source_of = transitions
        .iter()
        .map(|t| (t.target.clone(), t.source.clone()))
        .collect();
    Context {
        deployers,
        transitions,
        order,
        locks,
        source_of,
        repo_errors,
    }
}

fn env_views(ctx: &Context, deployer: Option<&DeployerStatus>) -> Vec<EnvView> {
    ctx.order
        .iter()
        .map(|name| {
            let target = ctx.deployers.deployers.get(name);
            let status = deployer.and_then(|d| d.envs.get(name));
            EnvView {
                name: name.clone(),
                deployed: target.is_some(),
                cluster: target.map(|t| t.cluster.clone()),
                namespace: target.map(|t| t.namespace.clone()),
                status: status.map(|s| s.status),
                commit: status.and_then(|s| s.commit.clone()),
                reason: status.map(|s| s.reason.clone()).unwrap_or_default(),
                lock_reasons: ctx
                    .locks
                    .get(name)
                    .map(|l| l.env_reasons().to_vec())
                    .unwrap_or_default(),
                last_error: status.and_then(|s| s.last_error.clone()),
            }
        })
        .collect()
}

fn service_view<'a>(
    ctx: &Context,
    versions: &'a VersionIndex,
    deployer: Option<&'a DeployerStatus>,
    service: &str,
) -> ServiceView<'a> {
    let mut per_env = BTreeMap::new();
    for env in &ctx.order {
        let Some(parsed) = versions.get(env).and_then(|m| m.get(service)) else {
            continue;
        };
        let (vars, error) = match parsed.as_ref() {
            Ok(v) => (v, None),
            Err(e) => (&EMPTY_VARS, Some(e.clone())),
        };
        let version = if error.is_some() {
            String::new()
        } else {
            version_label(vars)
        };
        let mut view = ServiceEnvView {
            version,
            vars,
            status: None,
            phase: None,
            reason: String::new(),
            resources: &[],
            error,
            lock_reasons: ctx
                .locks
                .get(env)
                .map(|l| l.service_reasons(service).to_vec())
                .unwrap_or_default(),
            upstream: None,
        };
        if ctx.deployers.deployers.contains_key(env) {
            let env_status = deployer.and_then(|d| d.envs.get(env));
            apply_deployer(&mut view, env_status.map(|e| e.services.get(service)));
        }
        if let Some(source) = ctx.source_of.get(env) {
            if let Some(Ok(up)) = versions.get(source).and_then(|m| m.get(service)).map(|p| p.as_ref()) {
                if Some(up) != parsed.as_ref().as_ref().ok() {
                    view.upstream = Some(Upstream {
                        env: source.clone(),
                        version: version_label(up),
                    });
                }
            }
        }
        per_env.insert(env.clone(), view);
    }
    ServiceView {
        name: service.to_string(),
        envs: per_env,
    }
}

fn transition_views(ctx: &Context, transitioner: Option<&TransitionerStatus>) -> Vec<TransitionStatus> {
    match transitioner {
        Some(t) => t.transitions.clone(),
        None => ctx
            .transitions
            .iter()
            .map(|t| TransitionStatus {
                name: t.name.clone(),
                source: t.source.clone(),
                target: t.target.clone(),
                manual: t.manual,
                schedule: t.schedule_text.clone(),
                last_run: None,
                result: None,
                reason: String::new(),
                recent_runs: Vec::new(),
                next_scheduled: None,
                pending: Vec::new(),
                skipped: Vec::new(),
            })
            .collect(),
    }
}

fn service_names(versions: &VersionIndex) -> BTreeSet<&String> {
    versions.values().flat_map(|m| m.keys()).collect()
}

/// Computes the state.
pub fn build<'a>(inputs: &Inputs<'a>) -> StateView<'a> {
    let ctx = context(inputs.snapshot);
    StateView {
        commit: inputs.snapshot.commit.clone(),
        updated_at: inputs.now,
        stale: !inputs.stale_reasons.is_empty(),
        stale_reasons: inputs.stale_reasons.clone(),
        envs: env_views(&ctx, inputs.deployer),
        services: service_names(inputs.versions)
            .into_iter()
            .map(|s| service_view(&ctx, inputs.versions, inputs.deployer, s))
            .collect(),
        transitions: transition_views(&ctx, inputs.transitioner),
        repo_errors: ctx.repo_errors,
    }
}

/// The state as JSON, like [`build`], reusing the encoded view of every service whose
/// inputs did not change: a new version of one service re-encodes only that service.
#[derive(Default)]
pub struct StateEncoder {
    versions: VersionCache,
    /// What all service views depended on when `fragments` were encoded.
    shared: Option<SharedKey>,
    fragments: HashMap<String, (Vec<Option<ParsedVars>>, Box<RawValue>)>,
}

struct SharedKey {
    order: Vec<String>,
    /// `deployers.yaml`, `transitions.yaml` and every `locks.yaml`, as read.
    files: Vec<Option<Arc<[u8]>>>,
    deployer: Option<Arc<DeployerStatus>>,
}

impl SharedKey {
    fn new(snap: &RepoSnapshot, order: &[String], deployer: Option<&Arc<DeployerStatus>>) -> Self {
        let mut paths = vec![
            slipway_core::deployers::DEPLOYERS_FILE.to_string(),
            slipway_core::transitions::TRANSITIONS_FILE.to_string(),
        ];
        paths.extend(order.iter().map(|e| slipway_core::model::locks_path(e)));
        SharedKey {
            order: order.to_vec(),
            files: paths.iter().map(|p| snap.files.get(p).cloned()).collect(),
            deployer: deployer.cloned(),
        }
    }

    fn same_as(&self, other: &SharedKey) -> bool {
        let same_deployer = match (&self.deployer, &other.deployer) {
            (None, None) => true,
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            _ => false,
        };
        same_deployer && self.order == other.order && self.files == other.files
    }
}

/// The body of `GET /api/state` with `services` already encoded.
#[derive(Serialize)]
struct Encoded<'a> {
    commit: &'a str,
    updated_at: DateTime<Utc>,
    stale: bool,
    stale_reasons: &'a [String],
    repo_errors: &'a [String],
    envs: Vec<EnvView>,
    services: Vec<&'a RawValue>,
    transitions: Vec<TransitionStatus>,
}

impl StateEncoder {
    /// Encodes the state of `snapshot` and the peers' status.
    pub fn encode(
        &mut self,
        snapshot: &RepoSnapshot,
        deployer: Option<&Arc<DeployerStatus>>,
        transitioner: Option<&TransitionerStatus>,
        stale_reasons: &[String],
        now: DateTime<Utc>,
    ) -> Result<Vec<u8>, serde_json::Error> {
        let versions = self.versions.index(snapshot);
        let ctx = context(snapshot);
        let shared = SharedKey::new(snapshot, &ctx.order, deployer);
        if !self.shared.as_ref().is_some_and(|s| s.same_as(&shared)) {
            self.fragments.clear();
            self.shared = Some(shared);
        }
        let mut fragments = HashMap::with_capacity(self.fragments.len());
        for service in service_names(&versions) {
            let key: Vec<Option<ParsedVars>> = ctx
                .order
                .iter()
                .map(|env| versions.get(env).and_then(|m| m.get(service)).cloned())
                .collect();
            let reuse = self.fragments.remove(service.as_str()).filter(|(old, _)| {
                old.len() == key.len()
                    && old.iter().zip(&key).all(|(a, b)| match (a, b) {
                        (None, None) => true,
                        (Some(a), Some(b)) => Arc::ptr_eq(a, b),
                        _ => false,
                    })
            });
            let fragment = match reuse {
                Some((_, raw)) => raw,
                None => {
                    let view = service_view(&ctx, &versions, deployer.map(|d| d.as_ref()), service);
                    serde_json::value::to_raw_value(&view)?
                }
            };
            fragments.insert(service.clone(), (key, fragment));
        }
        self.fragments = fragments;
        let mut names: Vec<&String> = self.fragments.keys().collect();
        names.sort();
        let encoded = Encoded {
            commit: &snapshot.commit,
            updated_at: now,
            stale: !stale_reasons.is_empty(),
            stale_reasons,
            repo_errors: &ctx.repo_errors,
            envs: env_views(&ctx, deployer.map(|d| d.as_ref())),
            services: names.into_iter().map(|n| self.fragments[n].1.as_ref()).collect(),
            transitions: transition_views(&ctx, transitioner),
        };
        serde_json::to_vec(&encoded)
    }
}

/// Fills rollout status and phase from the deployer. `status` is `None` when the
/// deployer has not reported the env at all, `Some(None)` when it has not seen the service.
fn apply_deployer<'a>(view: &mut ServiceEnvView<'a>, status: Option<Option<&'a slipway_core::status::ServiceStatus>>) {
    match status {
        None => {}
        Some(None) => {
            view.status = Some(RolloutStatus::Outdated);
            view.phase = Some(Phase::Received);
            view.reason = "not applied yet".to_string();
        }
        Some(Some(s)) => {
            view.resources = &s.resources;
            if view.error.is_none() {
                view.error = s.error.clone();
            }
            match &s.version {
                Some(applied) if *applied != view.version && view.error.is_none() => {
                    view.status = Some(RolloutStatus::Outdated);
                    view.phase = Some(Phase::Received);
                    view.reason = format!("the repo has {}, the deployer reports {applied}", view.version);
                }
                _ => {
                    view.status = Some(s.status);
                    view.phase = Some(s.phase);
                    view.reason = s.reason.clone();
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use slipway_core::status::{EnvStatus, ServiceStatus};

    const REPO: &[(&str, &str)] = &[
        (
            "transitions.yaml",
            "transitions:\n  dev: {source: latest, target: dev}\n  prod: {source: dev, target: prod}\n",
        ),
        (
            "deployers.yaml",
            "deployers:\n  dev: {cluster: main, namespace: dev}\n  prod: {cluster: main, namespace: prod}\n",
        ),
        ("latest/version/s1.yaml", "version: '43'\n"),
        ("dev/version/s1.yaml", "version: '42'\nimage: reg/s1:42\n"),
        ("dev/base/s1.yaml", "kind: x\n"),
        (
            "dev/locks.yaml",
            "env_lock: {reasons: [freeze]}\nresource_locks:\n  s1: {reasons: [incident]}\n",
        ),
        ("prod/version/s1.yaml", "version: '42'\n"),
        ("prod/version/broken.yaml", "[1, 2\n"),
        ("aaa/version/s2.yaml", "version: '1'\n"),
    ];

    fn snap() -> RepoSnapshot {
        RepoSnapshot::from_files("c1", REPO.iter().map(|(k, v)| (k.to_string(), v.as_bytes().to_vec())))
    }

    fn with_state<R>(deployer: Option<&DeployerStatus>, f: impl FnOnce(&StateView<'_>) -> R) -> R {
        let s = snap();
        let idx = VersionCache::default().index(&s);
        let view = build(&Inputs {
            snapshot: &s,
            versions: &idx,
            deployer,
            transitioner: None,
            stale_reasons: vec![],
            now: DateTime::<Utc>::UNIX_EPOCH,
        });
        f(&view)
    }

    #[test]
    fn envs_come_in_promotion_order_then_by_name() {
        let names: Vec<String> = with_state(None, |st| st.envs.iter().map(|e| e.name.clone()).collect());
        assert_eq!(names, ["latest", "dev", "prod", "aaa"]);
        let edges = vec![
            ("pp".to_string(), "prod".to_string()),
            ("dev".to_string(), "pp".to_string()),
        ];
        let all: BTreeSet<String> = ["dev", "pp", "prod"].iter().map(|s| s.to_string()).collect();
        assert_eq!(env_order(&all, &edges), ["dev", "pp", "prod"]);
    }

    #[test]
    fn services_carry_vars_locks_and_upstream() {
        with_state(None, services_carry_vars_locks_and_upstream_in);
    }

    fn services_carry_vars_locks_and_upstream_in(st: &StateView<'_>) {
        let dev = st.envs.iter().find(|e| e.name == "dev").unwrap();
        assert_eq!(dev.lock_reasons, ["freeze"]);
        assert!(dev.deployed);
        let s1 = st.services.iter().find(|s| s.name == "s1").unwrap();
        let in_dev = &s1.envs["dev"];
        assert_eq!(in_dev.version, "42");
        assert_eq!(in_dev.lock_reasons, ["incident"]);
        assert_eq!(
            in_dev.upstream,
            Some(Upstream {
                env: "latest".into(),
                version: "43".into()
            })
        );
        assert_eq!(
            s1.envs["prod"].upstream,
            Some(Upstream {
                env: "dev".into(),
                version: "42".into()
            })
        );
        assert!(!s1.envs.contains_key("aaa"));
        let broken = st.services.iter().find(|s| s.name == "broken").unwrap();
        assert!(broken.envs["prod"]
            .error
            .as_deref()
            .unwrap()
            .contains("prod/version/broken.yaml"));
    }

    #[test]
    fn deployer_status_fills_phase_and_spots_versions_not_applied_yet() {
        let svc = |version: &str| ServiceStatus {
            kind: "service".into(),
            phase: Phase::Deployed,
            status: RolloutStatus::Clean,
            reason: String::new(),
            version: Some(version.into()),
            resources: vec![],
            error: None,
        };
        let env = |name: &str, version: &str| EnvStatus {
            env: name.into(),
            cluster: "main".into(),
            namespace: name.into(),
            commit: Some("c1".into()),
            status: RolloutStatus::Clean,
            reason: String::new(),
            services: [("s1".to_string(), svc(version))].into(),
            last_error: None,
            last_reconcile: None,
            last_success: None,
            clean_since: None,
        };
        let d = DeployerStatus {
            repo_commit: Some("c1".into()),
            last_fetch_error: None,
            envs: [
                ("dev".to_string(), env("dev", "42")),
                ("prod".to_string(), env("prod", "41")),
            ]
            .into(),
        };
        with_state(Some(&d), deployer_fills_in);
    }

    fn deployer_fills_in(st: &StateView<'_>) {
        let s1 = st.services.iter().find(|s| s.name == "s1").unwrap();
        assert_eq!(s1.envs["dev"].phase, Some(Phase::Deployed));
        assert_eq!(s1.envs["prod"].phase, Some(Phase::Received));
        assert_eq!(s1.envs["prod"].status, Some(RolloutStatus::Outdated));
        assert_eq!(s1.envs["latest"].phase, None, "latest is not deployed");
        assert_eq!(st.envs[1].status, Some(RolloutStatus::Clean));
    }

    fn built_json(s: &RepoSnapshot, deployer: Option<&DeployerStatus>) -> serde_json::Value {
        let idx = VersionCache::default().index(s);
        serde_json::to_value(build(&Inputs {
            snapshot: s,
            versions: &idx,
            deployer,
            transitioner: None,
            stale_reasons: vec![],
            now: DateTime::<Utc>::UNIX_EPOCH,
        }))
        .unwrap()
    }

    #[test]
    fn encoder_matches_build_and_reencodes_only_changed_services() {
        let mut enc = StateEncoder::default();
        let encode = |enc: &mut StateEncoder, s: &RepoSnapshot| -> serde_json::Value {
            let bytes = enc.encode(s, None, None, &[], DateTime::<Utc>::UNIX_EPOCH).unwrap();
            serde_json::from_slice(&bytes).unwrap()
        };
        let s1 = snap();
        assert_eq!(encode(&mut enc, &s1), built_json(&s1, None));
        let s2_fragment = enc.fragments["s2"].1.get().as_ptr();

        let mut files = s1.files.clone();
        files.insert("latest/version/s1.yaml".into(), b"version: '44'\n"[..].into());
        let s2 = RepoSnapshot {
            commit: "c2".into(),
            files,
        };
        assert_eq!(encode(&mut enc, &s2), built_json(&s2, None));
        assert_eq!(enc.fragments["s2"].1.get().as_ptr(), s2_fragment, "s2 did not change");

        let mut files = s2.files.clone();
        files.insert(
            "aaa/locks.yaml".into(),
            b"resource_locks:\n  s2: {reasons: [x]}\n"[..].into(),
        );
        let s3 = RepoSnapshot {
            commit: "c3".into(),
            files,
        };
        let state = encode(&mut enc, &s3);
        assert_eq!(state, built_json(&s3, None));
        let s2 = state["services"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == "s2")
            .unwrap();
        assert_eq!(s2["envs"]["aaa"]["lock_reasons"], serde_json::json!(["x"]));
    }

    #[test]
    fn version_cache_reuses_unchanged_files() {
        let s = snap();
        let mut cache = VersionCache::default();
        let a = cache.index(&s);
        let b = cache.index(&s);
        assert!(Arc::ptr_eq(&a["dev"]["s1"], &b["dev"]["s1"]));
    }
}
