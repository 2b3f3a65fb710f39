//! The state as JSON, encoded once per change and kept per service, so that a new
//! version of one service re-encodes that service only.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::value::RawValue;
use slipway_core::status::{DeployerStatus, TransitionStatus, TransitionerStatus};
use slipway_core::RepoSnapshot;

use super::deployables::{deployable_views, DeployableView};
use super::version_index::{ParsedVars, VersionCache};
use super::view::{context, env_views, service_names, service_view, transition_views, transitioner_leader, EnvView};

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
    /// Few and small: encoded every time.
    deployables: Vec<DeployableView<'a>>,
    transitions: Vec<TransitionStatus>,
    transitioner_leader: Option<String>,
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
            deployables: deployable_views(&ctx.order, &ctx.deployers, snapshot, deployer.map(|d| d.as_ref())),
            transitions: transition_views(&ctx, transitioner),
            transitioner_leader: transitioner_leader(transitioner),
        };
        serde_json::to_vec(&encoded)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::fixture::snap;
    use crate::state::{build, Inputs};

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
}
