//! The aggregator's notifications: `lock_changed` and `rolled_back` for the
//! lock and rollback commits it pushes, read back from the pushed commit (its
//! subject and trailers), so the event says exactly what the repo now records.

use std::sync::Arc;

use slipway_kit::notify::{Event, EventKind};
use slipway_repo::{CommitId, CommitInfo};

use crate::app::{App, Written};
use crate::message;

/// The event of one of our commits, if it is a lock change or a rollback (pure).
pub fn event_of(commit: &CommitInfo) -> Option<Event> {
    let parsed = message::parse(&commit.message);
    let env = parsed.trailer(message::ENV).unwrap_or_default().to_string();
    let service = parsed.trailer(message::SERVICE).map(str::to_string);
    let kind = match parsed.kind() {
        "lock" => EventKind::LockChanged,
        "rollback" => EventKind::RolledBack,
        _ => return None,
    };
    let mut event = Event::new(kind, parsed.subject.clone())
        .with("env", env)
        .with("service", service)
        .with("author", commit.author.as_str())
        .with("commit", commit.id.as_str());
    if kind == EventKind::LockChanged {
        event = event.with("locked", parsed.subject.starts_with("Lock "));
    }
    Some(event)
}

/// After a write of `action` answered `w`: notifies its event, read from the
/// pushed commit on the reading handle (never waits for a fetch or push; fire
/// and forget). Posted versions notify nothing.
pub fn after_write(app: &Arc<App>, action: &str, w: &Written) {
    if !w.created || !matches!(action, "lock" | "rollback") || app.notifier_is_idle() {
        return;
    }
    let Ok(commit) = w.commit.parse::<CommitId>() else {
        return;
    };
    let app = app.clone();
    tokio::spawn(async move {
        let info = app.repo.read(move |r| r.log(commit, 1)).await;
        if let Some(event) = info.ok().and_then(|mut l| l.pop()).as_ref().and_then(event_of) {
            app.notifier.send(event);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn commit(message: &str) -> CommitInfo {
        CommitInfo {
            id: "c0ffee".into(),
            author: "alice".into(),
            email: "alice@slipway.invalid".into(),
            time: 0,
            message: message.into(),
            parents: vec![],
        }
    }

    #[test]
    fn lock_and_rollback_commits_become_their_events_and_others_none() {
        let lock = message::compose(
            "Lock dev/s1: incident 4711",
            "",
            &[
                (message::ACTION, "lock"),
                (message::ENV, "dev"),
                (message::SERVICE, "s1"),
            ],
        );
        let e = event_of(&commit(&lock)).unwrap();
        assert_eq!(e.kind, EventKind::LockChanged);
        assert_eq!(e.summary, "Lock dev/s1: incident 4711");
        assert_eq!(e.details["env"], "dev");
        assert_eq!(e.details["service"], "s1");
        assert_eq!(e.details["locked"], true);
        assert_eq!(e.details["author"], "alice");
        let unlock = message::compose("Unlock dev", "", &[(message::ACTION, "lock"), (message::ENV, "dev")]);
        let e = event_of(&commit(&unlock)).unwrap();
        assert_eq!(
            (e.details["locked"].clone(), e.details["service"].clone()),
            (false.into(), serde_json::Value::Null)
        );
        let rollback = message::compose(
            "Roll back s1 in dev to 41 (from abc1234)",
            "",
            &[
                (message::ACTION, "rollback"),
                (message::ENV, "dev"),
                (message::SERVICE, "s1"),
            ],
        );
        assert_eq!(event_of(&commit(&rollback)).unwrap().kind, EventKind::RolledBack);
        let version = message::compose("s1 42 in latest", "", &[(message::ACTION, "version")]);
        assert!(event_of(&commit(&version)).is_none());
    }
}
