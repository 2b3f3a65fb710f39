//! The pure view behind `GET /api/state`: envs, services and transitions, built
//! from the repo snapshot and the last status of the deployer and the transitioner.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use serde::Serialize;
use slipway_core::merge::Vars;
use slipway_core::model::version_label;
use slipway_core::status::{
    DeployerStatus, ErrorRecord, Phase, ResourceStatus, RolloutStatus, TransitionStatus, TransitionerStatus,
};
use slipway_core::RepoSnapshot;

use super::deployables::{deployable_views, DeployableView};
use super::order::env_order;
use super::version_index::VersionIndex;

/// One env in the state.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "ts", ts(rename = "EnvSummary"))]
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
    /// The deployer replica that applies to the env, when the envs are sharded
    /// over several (`null` otherwise, or while no replica holds it).
    pub owner: Option<String>,
}

/// The version in the source env of the transition into an env, when it differs.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Upstream {
    pub env: String,
    pub version: String,
}

/// One service in one env (borrowing the big parts from the inputs, so a state
/// of thousands of services is cheap to build).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "ts", ts(rename = "ServiceInEnv"))]
pub struct ServiceEnvView<'a> {
    pub version: String,
    #[cfg_attr(feature = "ts", ts(type = "Record<string, string | number | boolean | null>"))]
    pub vars: &'a Vars,
    pub status: Option<RolloutStatus>,
    pub phase: Option<Phase>,
    pub reason: String,
    pub resources: &'a [ResourceStatus],
    pub error: Option<String>,
    pub lock_reasons: Vec<String>,
    /// The lock reasons that are holds placed by rollbacks (released by unlocking).
    pub holds: Vec<String>,
    pub upstream: Option<Upstream>,
}

/// One service across envs.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "ts", ts(rename = "ServiceRow"))]
pub struct ServiceView<'a> {
    pub name: String,
    pub envs: BTreeMap<String, ServiceEnvView<'a>>,
}

/// The body of `GET /api/state`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "ts", ts(rename = "State"))]
pub struct StateView<'a> {
    pub commit: String,
    pub updated_at: DateTime<Utc>,
    pub stale: bool,
    pub stale_reasons: Vec<String>,
    /// Problems in repo files that are not one service's (locks, deployers.yaml, transitions.yaml).
    pub repo_errors: Vec<String>,
    pub envs: Vec<EnvView>,
    pub services: Vec<ServiceView<'a>>,
    /// The files under `<env>/deployable/` of the deployed envs, by path below `deployable/`.
    pub deployables: Vec<DeployableView<'a>>,
    pub transitions: Vec<TransitionStatus>,
    /// The transitioner replica that commits promotions, when its replicas
    /// elect a leader (`null` otherwise, or while none leads).
    pub transitioner_leader: Option<String>,
}

static EMPTY_VARS: Vars = Vars::new();

/// Everything the state is computed from.
pub struct Inputs<'a> {
    pub snapshot: &'a RepoSnapshot,
    pub versions: &'a VersionIndex,
    pub deployer: Option<&'a DeployerStatus>,
    pub transitioner: Option<&'a TransitionerStatus>,
    pub stale_reasons: Vec<String>,
    pub now: DateTime<Utc>,
}

/// What every service's view depends on besides its own version files.
pub(super) struct Context {
    pub deployers: slipway_core::deployers::Deployers,
    pub transitions: Vec<slipway_core::transitions::Transition>,
    pub order: Vec<String>,
    pub locks: BTreeMap<String, slipway_core::locks::Locks>,
    /// target env → source env of the transition into it.
    pub source_of: BTreeMap<String, String>,
    pub repo_errors: Vec<String>,
}

pub(super) fn context(snap: &RepoSnapshot) -> Context {
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

pub(super) fn env_views(ctx: &Context, deployer: Option<&DeployerStatus>) -> Vec<EnvView> {
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
                owner: deployer
                    .and_then(|d| d.owners.get(name))
                    .and_then(|o| o.identity.clone()),
            }
        })
        .collect()
}

/// Who leads the transitioner's replicas, from its status.
pub(super) fn transitioner_leader(transitioner: Option<&TransitionerStatus>) -> Option<String> {
    transitioner?.leader.as_ref()?.identity.clone()
}

pub(super) fn service_view<'a>(
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
            holds: ctx.locks.get(env).map(|l| l.service_holds(service)).unwrap_or_default(),
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

pub(super) fn transition_views(ctx: &Context, transitioner: Option<&TransitionerStatus>) -> Vec<TransitionStatus> {
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
                ..TransitionStatus::default()
            })
            .collect(),
    }
}

pub(super) fn service_names(versions: &VersionIndex) -> BTreeSet<&String> {
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
        deployables: deployable_views(&ctx.order, &ctx.deployers, inputs.snapshot, inputs.deployer),
        transitions: transition_views(&ctx, inputs.transitioner),
        transitioner_leader: transitioner_leader(inputs.transitioner),
        repo_errors: ctx.repo_errors,
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
    use crate::state::fixture::snap;
    use crate::state::VersionCache;
    use slipway_core::status::{EnvStatus, ServiceStatus};

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
    fn the_state_names_the_deployer_replica_of_each_env_and_the_transitioner_leader() {
        let s = snap();
        let idx = VersionCache::default().index(&s);
        let owner = |identity: Option<&str>| slipway_core::status::EnvOwner {
            identity: identity.map(str::to_string),
            ..Default::default()
        };
        let deployer = DeployerStatus {
            owners: [
                ("dev".to_string(), owner(Some("deployer-b"))),
                ("prod".to_string(), owner(None)),
            ]
            .into(),
            ..DeployerStatus::default()
        };
        let transitioner = TransitionerStatus {
            leader: Some(slipway_core::status::LeaderStatus {
                identity: Some("transitioner-a".into()),
                ..Default::default()
            }),
            ..TransitionerStatus::default()
        };
        let view = build(&Inputs {
            snapshot: &s,
            versions: &idx,
            deployer: Some(&deployer),
            transitioner: Some(&transitioner),
            stale_reasons: vec![],
            now: DateTime::<Utc>::UNIX_EPOCH,
        });
        let owner_of = |env: &str| view.envs.iter().find(|e| e.name == env).unwrap().owner.clone();
        assert_eq!(owner_of("dev").as_deref(), Some("deployer-b"));
        assert_eq!(owner_of("prod"), None, "nobody holds prod right now");
        assert_eq!(view.transitioner_leader.as_deref(), Some("transitioner-a"));
        // Without sharding or leader election: nobody is named.
        with_state(None, |st| {
            assert!(st.envs.iter().all(|e| e.owner.is_none()));
            assert_eq!(st.transitioner_leader, None);
        });
    }

    #[test]
    fn envs_come_in_promotion_order_then_by_name() {
        let names: Vec<String> = with_state(None, |st| st.envs.iter().map(|e| e.name.clone()).collect());
        assert_eq!(names, ["latest", "dev", "prod", "aaa"]);
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
            ..DeployerStatus::default()
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
}
