//! The transitioner's notifications: `promoted` for every promotion it
//! commits, `promotion_blocked` when a transition with something to promote is
//! blocked or its check failed — once per new reason, not on every poll;
//! `deploy_failed` / `deploy_recovered` when the deployer's status of an env,
//! as the transitioner reads it for `SourceClean`, turns `Failed` / back to `Clean`.

use std::collections::HashMap;
use std::sync::Mutex;

use slipway_core::status::{DeployerStatus, RolloutStatus, TransitionResult};
use slipway_kit::notify::{Event, EventKind, Notifier};

use crate::run::Outcome;

/// Turns run outcomes into notifications.
#[derive(Default)]
pub struct Notifications {
    notifier: Notifier,
    /// The last blocked reason sent per transition (cleared when it promotes).
    blocked: Mutex<HashMap<String, String>>,
    /// The last rollout status seen per env.
    envs: Mutex<HashMap<String, RolloutStatus>>,
}

impl Notifications {
    pub fn new(notifier: Notifier) -> Self {
        Notifications {
            notifier,
            blocked: Mutex::default(),
            envs: Mutex::default(),
        }
    }

    /// Notifies the envs whose rollout turned `Failed` or recovered since the last status.
    pub fn after_deployer_status(&self, status: &DeployerStatus) {
        for event in deploy_events(status, &mut self.envs.lock().unwrap_or_else(|p| p.into_inner())) {
            self.notifier.send(event);
        }
    }

    /// Notifies what the run of transition `name` (`source → target`) did.
    pub fn after_run(&self, name: &str, source: &str, target: &str, outcome: &Outcome) {
        for event in events(
            name,
            source,
            target,
            outcome,
            &mut self.blocked.lock().unwrap_or_else(|p| p.into_inner()),
        ) {
            self.notifier.send(event);
        }
    }
}

/// The events of one run (pure); `blocked` remembers the reasons already told.
pub fn events(
    name: &str,
    source: &str,
    target: &str,
    outcome: &Outcome,
    blocked: &mut HashMap<String, String>,
) -> Vec<Event> {
    let d = &outcome.decision;
    match (d.result, &outcome.commit) {
        (TransitionResult::Success, Some(commit)) => {
            blocked.remove(name);
            let services: Vec<serde_json::Value> = d
                .promotions
                .iter()
                .map(|p| serde_json::json!({"service": p.service, "from": p.old, "to": p.new}))
                .collect();
            vec![Event::new(
                EventKind::Promoted,
                format!("Promote {source} → {target}: {}", d.summary()),
            )
            .with("transition", name)
            .with("source_env", source)
            .with("target_env", target)
            .with("commit", commit.as_str())
            .with("services", services)]
        }
        (TransitionResult::Blocked | TransitionResult::CheckFailed, _) if !d.pending.is_empty() => {
            if blocked.get(name) == Some(&d.reason) {
                return Vec::new();
            }
            blocked.insert(name.to_string(), d.reason.clone());
            vec![Event::new(
                EventKind::PromotionBlocked,
                format!("Promotion {source} → {target} blocked: {}", d.reason),
            )
            .with("transition", name)
            .with("source_env", source)
            .with("target_env", target)
            .with("result", format!("{:?}", d.result))
            .with("reason", d.reason.as_str())
            .with("pending", d.pending.clone())]
        }
        _ => Vec::new(),
    }
}

/// `deploy_failed` for an env now `Failed` that was not, `deploy_recovered` for
/// one `Failed` before and `Clean` now (pure); `last` keeps what was seen.
pub fn deploy_events(status: &DeployerStatus, last: &mut HashMap<String, RolloutStatus>) -> Vec<Event> {
    let mut events = Vec::new();
    for (env, now) in &status.envs {
        let before = last.insert(env.clone(), now.status);
        let commit = now.commit.clone().unwrap_or_default();
        match (before, now.status) {
            (Some(RolloutStatus::Failed), RolloutStatus::Failed) => {}
            (_, RolloutStatus::Failed) => events.push(
                Event::new(
                    EventKind::DeployFailed,
                    format!("Deploy of {env} failed: {}", now.reason),
                )
                .with("env", env.as_str())
                .with("reason", now.reason.as_str())
                .with("commit", commit),
            ),
            (Some(RolloutStatus::Failed), RolloutStatus::Clean) => events.push(
                Event::new(EventKind::DeployRecovered, format!("{env} is deployed cleanly again"))
                    .with("env", env.as_str())
                    .with("commit", commit),
            ),
            _ => {}
        }
    }
    events
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(env_status: RolloutStatus, reason: &str) -> DeployerStatus {
        let mut s: DeployerStatus = serde_json::from_value(serde_json::json!({"envs": {"dev": {
            "env": "dev", "cluster": "main", "namespace": "dev", "commit": "c1", "status": "Clean"}}}))
        .unwrap();
        let dev = s.envs.get_mut("dev").unwrap();
        dev.status = env_status;
        dev.reason = reason.to_string();
        s
    }

    #[test]
    fn a_failure_is_told_once_and_so_is_the_recovery() {
        let mut last = HashMap::new();
        assert!(deploy_events(&status(RolloutStatus::Clean, ""), &mut last).is_empty());
        let failed = deploy_events(
            &status(RolloutStatus::Failed, "web: ProgressDeadlineExceeded"),
            &mut last,
        );
        assert_eq!(failed.len(), 1);
        assert_eq!(failed[0].kind, EventKind::DeployFailed);
        assert_eq!(failed[0].details["reason"], "web: ProgressDeadlineExceeded");
        assert!(deploy_events(&status(RolloutStatus::Failed, "still"), &mut last).is_empty());
        assert!(deploy_events(&status(RolloutStatus::InProgress, ""), &mut last).is_empty());
        assert!(
            deploy_events(&status(RolloutStatus::Clean, ""), &mut last).is_empty(),
            "recovered only from Failed"
        );
        deploy_events(&status(RolloutStatus::Failed, "again"), &mut last);
        let recovered = deploy_events(&status(RolloutStatus::Clean, ""), &mut last);
        assert_eq!(recovered.len(), 1);
        assert_eq!(recovered[0].kind, EventKind::DeployRecovered);
        assert_eq!(recovered[0].details["env"], "dev");
    }
}
