//! The transitioner's notifications: `promoted` for every promotion it
//! commits, `promotion_blocked` when a transition with something to promote is
//! blocked or its check failed — once per new reason, not on every poll.

use std::collections::HashMap;
use std::sync::Mutex;

use slipway_core::status::TransitionResult;
use slipway_kit::notify::{Event, EventKind, Notifier};

use crate::run::Outcome;

/// Turns run outcomes into notifications.
#[derive(Default)]
pub struct Notifications {
    notifier: Notifier,
    /// The last blocked reason sent per transition (cleared when it promotes).
    blocked: Mutex<HashMap<String, String>>,
}

impl Notifications {
    pub fn new(notifier: Notifier) -> Self {
        Notifications {
            notifier,
            blocked: Mutex::default(),
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
