//! `check`: the plan of each env in words, without touching the cluster.

use std::fmt;

use slipway_core::deployers::DeployTarget;

use crate::plan::{ApplyReason, Plan};
use crate::reconcile::Observed;

/// What a reconcile of one env would do.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EnvCheck {
    pub env: String,
    pub cluster: String,
    pub namespace: String,
    /// Objects that would be created.
    pub create: Vec<String>,
    /// Objects that would be changed, with their field changes.
    pub change: Vec<(String, Vec<String>)>,
    /// Objects that would be deleted.
    pub prune: Vec<String>,
    /// Adopted objects that would be released (kept, without Slipway's labels).
    pub release: Vec<String>,
    /// Objects that would not be applied, with the reason.
    pub blocked: Vec<(String, String)>,
    /// Objects that stay although they are not in the repo, with the reason.
    pub left_alone: Vec<(String, String)>,
    /// Units whose files are broken, with the message.
    pub failed: Vec<(String, String)>,
    /// Objects already up to date.
    pub unchanged: usize,
    /// Why the env would be refused, or could not be checked.
    pub error: Option<String>,
}

impl EnvCheck {
    /// The check of an env from its plan.
    pub fn from_plan(env: &str, target: &DeployTarget, observed: &Observed, plan: &Plan) -> Self {
        let mut check = EnvCheck {
            env: env.to_string(),
            cluster: target.cluster.clone(),
            namespace: target.namespace.clone(),
            unchanged: plan.unchanged.len(),
            error: plan.refused.clone(),
            ..EnvCheck::default()
        };
        if !observed.namespace_exists {
            check.create.push(format!("Namespace {}", target.namespace));
        }
        for (i, reason) in &plan.apply {
            let obj = &observed.desired.objects[*i];
            let name = obj.key.to_string();
            match reason {
                ApplyReason::Create => check.create.push(name),
                ApplyReason::Change(fields) => {
                    let mut lines: Vec<String> = fields.iter().map(ToString::to_string).collect();
                    if lines.is_empty() {
                        lines.push("fields removed from the manifest".into());
                    }
                    check.change.push((name, lines));
                }
                ApplyReason::Drift(fields) => {
                    let mut lines: Vec<String> = fields.iter().map(|f| format!("{f} (drift)")).collect();
                    if lines.is_empty() {
                        lines.push("changed in the cluster".into());
                    }
                    check.change.push((name, lines));
                }
                ApplyReason::TakeOwnership => check.change.push((
                    name,
                    vec!["no field changes; take ownership (field manager slipway)".into()],
                )),
                ApplyReason::Adopt => check.change.push((
                    name,
                    vec!["exists without the env's labels; adopt it (adoption is allowed)".into()],
                )),
            }
        }
        check.prune = plan.prune.iter().map(|e| e.key.to_string()).collect();
        check.release = plan.release.iter().map(|e| e.key.to_string()).collect();
        check.blocked = plan
            .blocked
            .iter()
            .map(|(i, why)| (observed.desired.objects[*i].key.to_string(), why.clone()))
            .collect();
        check.left_alone = plan
            .left_alone
            .iter()
            .map(|l| (l.key.to_string(), l.reason.clone()))
            .collect();
        check.failed = observed
            .desired
            .failed
            .iter()
            .map(|(u, m)| (u.display_name(), m.clone()))
            .collect();
        check
    }

    /// An env that could not be checked.
    pub fn failed(env: &str, target: &DeployTarget, error: String) -> Self {
        EnvCheck {
            env: env.to_string(),
            cluster: target.cluster.clone(),
            namespace: target.namespace.clone(),
            error: Some(error),
            ..EnvCheck::default()
        }
    }
}

impl fmt::Display for EnvCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "env {} (cluster {}, namespace {}): {} to create, {} to change, {} to prune, {} unchanged",
            self.env,
            self.cluster,
            self.namespace,
            self.create.len(),
            self.change.len(),
            self.prune.len(),
            self.unchanged
        )?;
        if let Some(e) = &self.error {
            writeln!(f, "  ! {e}")?;
        }
        for c in &self.create {
            writeln!(f, "  + create {c}")?;
        }
        for (c, fields) in &self.change {
            writeln!(f, "  ~ change {c}")?;
            for field in fields {
                writeln!(f, "      {field}")?;
            }
        }
        for p in &self.prune {
            writeln!(f, "  - prune  {p}")?;
        }
        for r in &self.release {
            writeln!(f, "  - release {r} (adopted: kept, Slipway's labels removed)")?;
        }
        for (o, why) in &self.blocked {
            writeln!(f, "  ! blocked {o}: {why}")?;
        }
        for (o, why) in &self.left_alone {
            writeln!(f, "  = keep   {o}: {why}")?;
        }
        for (u, m) in &self.failed {
            writeln!(f, "  ! failed {u}: {m}")?;
        }
        Ok(())
    }
}
