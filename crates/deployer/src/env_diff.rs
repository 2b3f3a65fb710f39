//! Live against desired, object by object, for the fields Slipway manages: the
//! plan a reconcile would carry out (the same one `check` prints), told as
//! "in sync" or the fields that differ with both values. Pure.

use chrono::{DateTime, Utc};
use slipway_core::deployers::DeployTarget;
use slipway_core::live::{DiffState, EnvDiff, FieldDiff, ObjectDiff};

use crate::diff::FieldChange;
use crate::object::{DesiredSet, ObjectKey};
use crate::plan::{ApplyReason, Plan};

fn fields(changes: &[FieldChange]) -> Vec<FieldDiff> {
    changes
        .iter()
        .map(|c| FieldDiff {
            path: c.path.clone(),
            live: c.live.clone(),
            desired: c.desired.clone(),
        })
        .collect()
}

fn object(key: &ObjectKey, api_version: &str, unit: String, state: DiffState) -> ObjectDiff {
    ObjectDiff {
        unit,
        api_version: api_version.to_string(),
        kind: key.kind.clone(),
        name: key.name.clone(),
        namespace: key.namespace.clone(),
        state,
        fields: Vec::new(),
        reason: String::new(),
    }
}

/// Where a diff is from.
pub struct DiffOf<'a> {
    pub env: &'a str,
    pub target: &'a DeployTarget,
    pub commit: &'a str,
    pub now: DateTime<Utc>,
}

/// The diff of an env from its desired set and plan; `unit` keeps one unit's objects only.
pub fn env_diff(of: &DiffOf<'_>, desired: &DesiredSet, plan: &Plan, unit: Option<&str>) -> EnvDiff {
    let mut objects = Vec::new();
    let mut push = |o: ObjectDiff| {
        if unit.is_none_or(|u| u == o.unit) {
            objects.push(o);
        }
    };
    for i in &plan.unchanged {
        let d = &desired.objects[*i];
        push(object(&d.key, &d.api_version, d.unit.display_name(), DiffState::InSync));
    }
    for (i, reason) in &plan.apply {
        let d = &desired.objects[*i];
        let mut o = object(&d.key, &d.api_version, d.unit.display_name(), DiffState::InSync);
        match reason {
            ApplyReason::Create => o.state = DiffState::Missing,
            ApplyReason::Change(f) => {
                o.state = DiffState::Changed;
                o.fields = fields(f);
                if o.fields.is_empty() {
                    o.reason = "fields removed from the manifest".into();
                }
            }
            ApplyReason::Drift(f) => {
                o.state = DiffState::Drifted;
                o.fields = fields(f);
                if o.fields.is_empty() {
                    o.reason = "changed in the cluster".into();
                }
            }
            ApplyReason::TakeOwnership => {
                o.state = DiffState::Unowned;
                o.reason = "no field differs; the next reconcile takes ownership (field manager slipway)".into();
            }
            ApplyReason::Adopt => {
                o.state = DiffState::Unowned;
                o.reason = "exists without the env's labels; the next reconcile adopts it (adoption is allowed)".into();
            }
            // Only a forced redeploy plans these: the object is in sync.
            ApplyReason::Redeploy => {}
        }
        push(o);
    }
    for (i, why) in &plan.blocked {
        let d = &desired.objects[*i];
        let mut o = object(&d.key, &d.api_version, d.unit.display_name(), DiffState::Blocked);
        o.reason = why.clone();
        push(o);
    }
    for (entries, why) in [
        (&plan.prune, "no longer in the repo: the next reconcile deletes it"),
        (
            &plan.release,
            "adopted and no longer in the repo: the next reconcile releases it (kept, Slipway's labels removed)",
        ),
    ] {
        for e in entries {
            let mut o = object(&e.key, &e.api_version, e.unit.display_name(), DiffState::Extra);
            o.reason = why.to_string();
            push(o);
        }
    }
    objects.sort_by(|a, b| (&a.unit, &a.kind, &a.name).cmp(&(&b.unit, &b.kind, &b.name)));
    EnvDiff {
        env: of.env.to_string(),
        cluster: of.target.cluster.clone(),
        namespace: of.target.namespace.clone(),
        commit: of.commit.to_string(),
        observed_at: of.now,
        refused: plan.refused.clone(),
        objects,
        failed: desired
            .failed
            .iter()
            .map(|(u, m)| (u.display_name(), m.clone()))
            .filter(|(u, _)| unit.is_none_or(|x| x == u))
            .collect(),
    }
}
