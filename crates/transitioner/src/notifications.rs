//! The transitioner's notifications: `promoted` for every promotion it
//! commits, `promotion_blocked` when a transition with something to promote is
//! blocked or its check failed — once per new reason, not on every poll;
//! `deploy_failed` / `deploy_recovered` when the deployer's status of any env
//! it deploys (read after each poll, not only for `SourceClean`) turns `Failed` /
//! back to `Clean`;
//! `approval_requested` once per pending set that waits for approvals;
//! `window_override` for a promotion committed through closed windows.

use std::collections::HashMap;
use std::sync::Mutex;

use slipway_core::status::{DeployerStatus, PromotionState, RolloutStatus, TransitionResult};
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

    /// Notifies what `run` did.
    pub fn after_run(&self, run: &Run<'_>, outcome: &Outcome) {
        for event in events(
            run,
            outcome,
            &mut self.blocked.lock().unwrap_or_else(|p| p.into_inner()),
        ) {
            self.notifier.send(event);
        }
    }
}

/// The run of one transition, as notifications name it.
pub struct Run<'a> {
    pub name: &'a str,
    pub source: &'a str,
    pub target: &'a str,
    /// `approvers` of the transition (empty: anyone with the scope).
    pub approvers: &'a [String],
    /// Who ran it (the poll loop's name, or the person who asked).
    pub author: &'a str,
}

/// The events of one run (pure); `blocked` remembers what was already told
/// per transition (a blocked reason, or the pending set awaiting approval).
pub fn events(run: &Run<'_>, outcome: &Outcome, blocked: &mut HashMap<String, String>) -> Vec<Event> {
    let Run {
        name, source, target, ..
    } = *run;
    let d = &outcome.decision;
    if d.state == PromotionState::AwaitingApproval && !d.pending.is_empty() {
        let told = format!("approval:{}", d.pending_set.as_deref().unwrap_or_default());
        if blocked.get(name) == Some(&told) {
            return Vec::new();
        }
        blocked.insert(name.to_string(), told);
        let ships: Vec<String> = d
            .would_ship
            .iter()
            .map(|p| format!("{} {} → {}", p.service, p.old.as_deref().unwrap_or("(new)"), p.new))
            .collect();
        return vec![Event::new(
            EventKind::ApprovalRequested,
            format!("Promotion {source} → {target} awaits approval: {}", ships.join(", ")),
        )
        .with("transition", name)
        .with("source_env", source)
        .with("target_env", target)
        .with("approvers", run.approvers.to_vec())
        .with("approved_by", d.approved_by.clone())
        .with("would_ship", ships)
        .with("reason", d.reason.as_str())];
    }
    match (d.result, &outcome.commit) {
        (TransitionResult::Success, Some(commit)) => {
            blocked.remove(name);
            let overridden = d.overridden.as_ref().map(|o| {
                Event::new(
                    EventKind::WindowOverride,
                    format!(
                        "{} promoted {source} → {target} through closed windows: {}",
                        run.author, o.reason
                    ),
                )
                .with("transition", name)
                .with("reason", o.reason.as_str())
                .with("closed", o.closed.as_str())
                .with("author", run.author)
                .with("commit", commit.as_str())
            });
            let services: Vec<serde_json::Value> = d
                .promotions
                .iter()
                .map(|p| serde_json::json!({"service": p.service, "from": p.old, "to": p.new}))
                .collect();
            let promoted = Event::new(
                EventKind::Promoted,
                format!("Promote {source} → {target}: {}", d.summary()),
            )
            .with("transition", name)
            .with("source_env", source)
            .with("target_env", target)
            .with("commit", commit.as_str())
            .with("services", services);
            std::iter::once(promoted).chain(overridden).collect()
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

    fn decision(result: TransitionResult, state: PromotionState) -> crate::evaluate::Decision {
        crate::evaluate::Decision {
            result,
            reason: "awaiting approval: 0 of 2 (none yet) for web 1 → 2".to_string(),
            promotions: Vec::new(),
            pending: vec!["web".to_string()],
            skipped: Vec::new(),
            schedule: None,
            next_run: None,
            state,
            frozen_until: None,
            would_ship: vec![slipway_core::status::Promotion {
                service: "web".to_string(),
                old: Some("1".to_string()),
                new: "2".to_string(),
            }],
            holds: Vec::new(),
            overridden: None,
            pending_set: Some("set-a".to_string()),
            approved_by: Vec::new(),
            rejected: None,
            branch_push: Vec::new(),
            pushed: None,
        }
    }

    const APPROVERS: &[String] = &[];

    fn run() -> Run<'static> {
        Run {
            name: "prod",
            source: "pp",
            target: "prod",
            approvers: APPROVERS,
            author: "alice",
        }
    }

    #[test]
    fn approval_is_requested_once_per_pending_set() {
        let mut told = HashMap::new();
        let waiting = Outcome {
            decision: decision(TransitionResult::Blocked, PromotionState::AwaitingApproval),
            commit: None,
            branch_message: None,
        };
        let first = events(&run(), &waiting, &mut told);
        assert_eq!(first.len(), 1);
        assert_eq!(first[0].kind, EventKind::ApprovalRequested);
        assert_eq!(first[0].details["transition"], "prod");
        assert_eq!(first[0].details["would_ship"][0], "web 1 → 2");
        assert!(
            events(&run(), &waiting, &mut told).is_empty(),
            "the same set is told once"
        );
        let mut changed = waiting.clone();
        changed.decision.pending_set = Some("set-b".to_string());
        let again = events(&run(), &changed, &mut told);
        assert_eq!(again.len(), 1, "a new pending set asks again");
        assert_eq!(again[0].kind, EventKind::ApprovalRequested);
    }

    #[test]
    fn a_promotion_through_closed_windows_is_told_as_an_override_too() {
        let mut d = decision(TransitionResult::Success, PromotionState::UpToDate);
        d.overridden = Some(crate::evaluate::WindowOverride {
            closed: "weekend freeze".to_string(),
            reason: "incident 4711".to_string(),
        });
        let done = Outcome {
            decision: d,
            commit: Some("abc".to_string()),
            branch_message: None,
        };
        let sent = events(&run(), &done, &mut HashMap::new());
        let kinds: Vec<EventKind> = sent.iter().map(|e| e.kind).collect();
        assert_eq!(kinds, vec![EventKind::Promoted, EventKind::WindowOverride]);
        assert_eq!(sent[1].details["reason"], "incident 4711");
        assert_eq!(sent[1].details["author"], "alice");
        assert_eq!(sent[1].details["closed"], "weekend freeze");
        let mut plain = done.clone();
        plain.decision.overridden = None;
        assert_eq!(events(&run(), &plain, &mut HashMap::new()).len(), 1);
    }
}
