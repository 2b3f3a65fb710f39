//! Locks on environments and services (`<env>/locks.yaml`, SPEC section 5).
//!
//! A lock is held while it has at least one reason. A *hold* is a service lock
//! reason placed by a rollback ([`hold_reason`]), released by unlocking like any
//! other; [`is_hold`] tells it from the rest.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::FileError;

/// One lock: held while `reasons` is not empty.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Lock {
    #[serde(default)]
    pub reasons: Vec<String>,
}

/// The contents of `<env>/locks.yaml`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Locks {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env_lock: Option<Lock>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub resource_locks: BTreeMap<String, Lock>,
}

/// How every hold's reason begins.
pub const HOLD_PREFIX: &str = "rolled back ";

/// The reason of the hold a rollback places: what happened and who did it,
/// `rolled back from 1.3.0 to 1.1.0 by alice`.
pub fn hold_reason(from: Option<&str>, to: &str, by: &str) -> String {
    match from {
        Some(from) => format!("{HOLD_PREFIX}from {from} to {to} by {by}"),
        None => format!("{HOLD_PREFIX}to {to} by {by}"),
    }
}

/// Whether a lock reason is a hold placed by a rollback.
pub fn is_hold(reason: &str) -> bool {
    reason.starts_with(HOLD_PREFIX)
}

/// What a lock applies to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LockTarget {
    Env,
    Service(String),
}

impl Locks {
    /// Parses `locks.yaml`; an empty file means no locks.
    pub fn parse(path: &str, text: &str) -> Result<Self, FileError> {
        if text.trim().is_empty() {
            return Ok(Locks::default());
        }
        let locks: Option<Locks> = serde_yaml::from_str(text).map_err(|e| FileError::yaml(path, &e))?;
        Ok(locks.unwrap_or_default())
    }

    /// Serializes for writing back to the repo.
    pub fn to_yaml(&self) -> String {
        if self.env_lock.is_none() && self.resource_locks.is_empty() {
            return "{}\n".to_string();
        }
        // Serializing plain structs of strings cannot fail.
        serde_yaml::to_string(self).unwrap_or_default()
    }

    /// The reasons of the env lock, empty when not locked.
    pub fn env_reasons(&self) -> &[String] {
        self.env_lock.as_ref().map(|l| l.reasons.as_slice()).unwrap_or(&[])
    }

    /// The reasons of a service lock, empty when not locked.
    pub fn service_reasons(&self, service: &str) -> &[String] {
        self.resource_locks
            .get(service)
            .map(|l| l.reasons.as_slice())
            .unwrap_or(&[])
    }

    /// The reasons of a service lock that are holds (see [`is_hold`]).
    pub fn service_holds(&self, service: &str) -> Vec<String> {
        self.service_reasons(service)
            .iter()
            .filter(|r| is_hold(r))
            .cloned()
            .collect()
    }

    /// Whether the whole environment is locked.
    pub fn env_locked(&self) -> bool {
        !self.env_reasons().is_empty()
    }

    /// Whether a service is locked (by itself; see [`Locks::blocks`] for env locks too).
    pub fn service_locked(&self, service: &str) -> bool {
        !self.service_reasons(service).is_empty()
    }

    /// The reasons that keep `service` from changing: env lock first, then its own.
    pub fn blocking_reasons(&self, service: &str) -> Vec<String> {
        self.env_reasons()
            .iter()
            .chain(self.service_reasons(service))
            .cloned()
            .collect()
    }

    /// Adds a reason; returns false if it was already there.
    pub fn add_reason(&mut self, target: &LockTarget, reason: &str) -> bool {
        let lock = match target {
            LockTarget::Env => self.env_lock.get_or_insert_with(Lock::default),
            LockTarget::Service(s) => self.resource_locks.entry(s.clone()).or_default(),
        };
        if lock.reasons.iter().any(|r| r == reason) {
            return false;
        }
        lock.reasons.push(reason.to_string());
        true
    }

    /// Removes a reason (or every reason when `reason` is `None`); returns false if nothing changed.
    pub fn remove_reason(&mut self, target: &LockTarget, reason: Option<&str>) -> bool {
        let lock = match target {
            LockTarget::Env => self.env_lock.as_mut(),
            LockTarget::Service(s) => self.resource_locks.get_mut(s),
        };
        let Some(lock) = lock else { return false };
        let before = lock.reasons.len();
        match reason {
            Some(r) => lock.reasons.retain(|x| x != r),
            None => lock.reasons.clear(),
        }
        let changed = lock.reasons.len() != before;
        // Drop empty entries so the file stays tidy.
        if self.env_lock.as_ref().is_some_and(|l| l.reasons.is_empty()) {
            self.env_lock = None;
        }
        self.resource_locks.retain(|_, l| !l.reasons.is_empty());
        changed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_env_and_service_locks() {
        let locks = Locks::parse(
            "prod/locks.yaml",
            "env_lock: {reasons: [\"release freeze\"]}\nresource_locks:\n  s1: {reasons: [\"incident 4711\"]}\n  s2: {reasons: []}\n",
        )
        .unwrap();
        assert!(locks.env_locked());
        assert!(locks.service_locked("s1"));
        assert!(!locks.service_locked("s2"), "a lock without reasons is not held");
        assert_eq!(locks.blocking_reasons("s1"), vec!["release freeze", "incident 4711"]);
    }

    #[test]
    fn holds_are_the_reasons_a_rollback_placed() {
        let reason = hold_reason(Some("1.3.0"), "1.1.0", "alice");
        assert_eq!(reason, "rolled back from 1.3.0 to 1.1.0 by alice");
        assert_eq!(hold_reason(None, "2", "bob"), "rolled back to 2 by bob");
        let mut locks = Locks::default();
        locks.add_reason(&LockTarget::Service("s1".into()), "incident 4711");
        locks.add_reason(&LockTarget::Service("s1".into()), &reason);
        assert_eq!(locks.service_holds("s1"), [reason]);
        assert!(!is_hold("a rollback is planned"));
    }

    #[test]
    fn malformed_locks_name_path_and_line() {
        let err = Locks::parse("prod/locks.yaml", "env_lock:\n  reasons: [a\n").unwrap_err();
        assert_eq!(err.path, "prod/locks.yaml");
        assert!(err.line.is_some());
        let err = Locks::parse("prod/locks.yaml", "env_lok: {}\n").unwrap_err();
        assert!(err.message.contains("env_lok"), "{}", err.message);
    }

    #[test]
    fn add_and_remove_round_trip_through_yaml() {
        let mut locks = Locks::default();
        assert!(locks.add_reason(&LockTarget::Service("team-a/api".into()), "incident"));
        assert!(!locks.add_reason(&LockTarget::Service("team-a/api".into()), "incident"));
        assert!(locks.add_reason(&LockTarget::Env, "freeze"));
        let back = Locks::parse("x", &locks.to_yaml()).unwrap();
        assert_eq!(back, locks);
        assert!(locks.remove_reason(&LockTarget::Env, Some("freeze")));
        assert!(locks.env_lock.is_none());
        assert!(locks.remove_reason(&LockTarget::Service("team-a/api".into()), None));
        assert_eq!(locks, Locks::default());
        assert_eq!(Locks::parse("x", &locks.to_yaml()).unwrap(), Locks::default());
    }
}
