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

/// What the checks of every env mean for a CI gate (`check --exit-code`), from
/// best to worst: the worst env decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Verdict {
    /// Nothing would change and nothing would fail.
    UpToDate,
    /// Something would be created, changed, pruned or released.
    Changes,
    /// A service or an env would fail: broken files, blocked objects, a refused
    /// or unreachable env.
    Failures,
}

impl Verdict {
    /// The verdict over the checks of several envs (`UpToDate` for none).
    pub fn of(checks: &[EnvCheck]) -> Self {
        checks.iter().map(EnvCheck::verdict).max().unwrap_or(Verdict::UpToDate)
    }

    /// The exit status of `check --exit-code`: 0, 3 or 4 (1 is left to a check
    /// that could not run at all, 2 to a usage error).
    pub fn exit_code(self) -> u8 {
        match self {
            Verdict::UpToDate => 0,
            Verdict::Changes => 3,
            Verdict::Failures => 4,
        }
    }
}

impl EnvCheck {
    /// Whether a reconcile of this env would fail a service or the whole env.
    pub fn would_fail(&self) -> bool {
        self.error.is_some() || !self.failed.is_empty() || !self.blocked.is_empty()
    }

    /// Whether a reconcile of this env would write to the cluster. Objects left
    /// alone are not writes: Slipway never touches them.
    pub fn would_change(&self) -> bool {
        !(self.create.is_empty() && self.change.is_empty() && self.prune.is_empty() && self.release.is_empty())
    }

    /// This env's part of the verdict.
    pub fn verdict(&self) -> Verdict {
        if self.would_fail() {
            Verdict::Failures
        } else if self.would_change() {
            Verdict::Changes
        } else {
            Verdict::UpToDate
        }
    }

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
                // Only a forced redeploy plans these; a check never does.
                ApplyReason::Redeploy => check.unchanged += 1,
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

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> EnvCheck {
        EnvCheck {
            env: name.into(),
            cluster: "main".into(),
            namespace: name.into(),
            unchanged: 3,
            ..EnvCheck::default()
        }
    }

    #[test]
    fn unchanged_envs_and_objects_left_alone_are_up_to_date() {
        let mut dev = env("dev");
        dev.left_alone
            .push(("ConfigMap dev/manual".into(), "not in the inventory".into()));
        assert_eq!(Verdict::of(&[dev, env("pp")]), Verdict::UpToDate);
        assert_eq!(Verdict::of(&[]), Verdict::UpToDate);
        assert_eq!(Verdict::UpToDate.exit_code(), 0);
    }

    #[test]
    fn any_create_change_prune_or_release_is_a_change() {
        let cases: [fn(&mut EnvCheck); 4] = [
            |c| c.create.push("ConfigMap dev/new".into()),
            |c| c.change.push(("ConfigMap dev/app".into(), vec!["data.level".into()])),
            |c| c.prune.push("ConfigMap dev/old".into()),
            |c| c.release.push("ConfigMap dev/adopted".into()),
        ];
        for (i, edit) in cases.iter().enumerate() {
            let mut dev = env("dev");
            edit(&mut dev);
            assert_eq!(Verdict::of(&[env("pp"), dev]), Verdict::Changes, "case {i}");
        }
        assert_eq!(Verdict::Changes.exit_code(), 3);
    }

    #[test]
    fn a_failure_anywhere_outweighs_changes_elsewhere() {
        let cases: [fn(&mut EnvCheck); 3] = [
            |c| c.error = Some("cannot reach cluster main".into()),
            |c| c.failed.push(("s1".into(), "dev/base/s1.yaml:1: bad YAML".into())),
            |c| {
                c.blocked
                    .push(("ConfigMap dev/s1".into(), "belongs to env prod".into()))
            },
        ];
        for (i, edit) in cases.iter().enumerate() {
            let mut changed = env("dev");
            changed.create.push("ConfigMap dev/new".into());
            let mut failing = env("pp");
            edit(&mut failing);
            assert_eq!(Verdict::of(&[changed, failing]), Verdict::Failures, "case {i}");
        }
        assert_eq!(Verdict::Failures.exit_code(), 4);
    }
}
