//! Fixtures for the verbs' unit tests.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use super::cluster::{Behaviour, Cluster, Faults, Target, WriteOptions};
use crate::fields::read_managed;

pub(super) fn cluster() -> Arc<Cluster> {
    Cluster::new(
        Behaviour {
            rollout_delay: Duration::from_secs(1),
            fail_image_pattern: "*:broken".into(),
        },
        Faults::new(0.0, Duration::ZERO),
    )
}

pub(super) fn opts(manager: &str, apply: bool) -> WriteOptions {
    WriteOptions {
        manager: manager.into(),
        field_manager_param: apply.then(|| manager.to_string()),
        force: false,
        dry_run: false,
    }
}

pub(super) fn configmaps(c: &Cluster, name: &str) -> Target {
    let mut t = c.target("", "configmaps", Some("default"), Some(name));
    t.name = Some(name.into());
    t
}

pub(super) fn managers(obj: &Value) -> Vec<String> {
    read_managed(obj)
        .into_iter()
        .map(|e| format!("{}/{}", e.manager, e.operation))
        .collect()
}
