//! Approvals of promotions (`approvals: N` on a transition), kept in
//! `<target env>/approvals.yaml`, one commit per approval or rejection.
//!
//! An approval binds to the exact set it approves: a digest of every service
//! and version file content the promotion would ship. When the pending set
//! changes, the earlier approvals no longer count.
//!
//! ```yaml
//! # <target>/approvals.yaml
//! transitions:
//!   prod:
//!     set: 5b0c…           # digest of the pending set
//!     ships: s1 1 → 2      # what that set is, for people
//!     approved:
//!       - {by: alice, at: 2026-11-30T09:12:00Z, reason: looks good}
//!     rejected: {by: bob, at: …, reason: "waits for the schema change"}
//! ```

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::FileError;
use crate::transitions::Transition;

/// The file, inside the target env's folder.
pub const APPROVALS_FILE: &str = "approvals.yaml";

/// The repo path of an env's approvals file.
pub fn approvals_path(env: &str) -> String {
    format!("{env}/{APPROVALS_FILE}")
}

/// One person's verdict.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(deny_unknown_fields)]
pub struct Verdict {
    pub by: String,
    pub at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub reason: Option<String>,
}

/// The approvals of one transition's pending set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PendingApproval {
    /// Digest of the set approved ([`set_digest`]).
    pub set: String,
    /// What the set ships, `s1 1 → 2, s2 (new) → 1`.
    #[serde(default)]
    pub ships: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub approved: Vec<Verdict>,
    /// The last rejection; it clears the approvals given before it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rejected: Option<Verdict>,
}

/// The contents of `<env>/approvals.yaml`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Approvals {
    #[serde(default)]
    pub transitions: BTreeMap<String, PendingApproval>,
}

impl Approvals {
    /// Parses the file; an empty file has no approvals.
    pub fn parse(path: &str, text: &str) -> Result<Self, FileError> {
        if text.trim().is_empty() {
            return Ok(Self::default());
        }
        let parsed: Option<Self> = serde_yaml::from_str(text).map_err(|e| FileError::yaml(path, &e))?;
        Ok(parsed.unwrap_or_default())
    }

    /// Serializes for writing back to the repo.
    pub fn to_yaml(&self) -> String {
        let header =
            "# Written by Slipway: approvals of the promotions into this env, bound to the set they approve.\n";
        format!("{header}{}", serde_yaml::to_string(self).unwrap_or_default())
    }

    /// The record of `transition` if it is for the set `digest`.
    pub fn for_set(&self, transition: &str, digest: &str) -> Option<&PendingApproval> {
        self.transitions.get(transition).filter(|p| p.set == digest)
    }

    /// Records an approval of the set `digest`. `false`: `verdict.by` had already approved it.
    pub fn approve(&mut self, transition: &str, digest: &str, ships: &str, verdict: Verdict) -> bool {
        let entry = self.entry(transition, digest, ships);
        if entry.approved.iter().any(|v| v.by == verdict.by) {
            return false;
        }
        entry.rejected = None;
        entry.approved.push(verdict);
        true
    }

    /// Records a rejection of the set `digest`: it stays pending, and the approvals so far are void.
    pub fn reject(&mut self, transition: &str, digest: &str, ships: &str, verdict: Verdict) {
        let entry = self.entry(transition, digest, ships);
        entry.approved.clear();
        entry.rejected = Some(verdict);
    }

    fn entry(&mut self, transition: &str, digest: &str, ships: &str) -> &mut PendingApproval {
        let fresh = PendingApproval {
            set: digest.to_string(),
            ships: ships.to_string(),
            approved: Vec::new(),
            rejected: None,
        };
        let entry = self
            .transitions
            .entry(transition.to_string())
            .or_insert_with(|| fresh.clone());
        if entry.set != digest {
            *entry = fresh;
        }
        entry
    }
}

/// The digest of a pending set: every service with the exact version file it would get.
pub fn set_digest<'a>(items: impl IntoIterator<Item = (&'a str, &'a [u8])>) -> String {
    let mut items: Vec<(&str, &[u8])> = items.into_iter().collect();
    items.sort();
    let mut hasher = Sha256::new();
    for (service, content) in items {
        // Lengths first, so that no two different sets give the same bytes.
        hasher.update((service.len() as u64).to_be_bytes());
        hasher.update(service.as_bytes());
        hasher.update((content.len() as u64).to_be_bytes());
        hasher.update(content);
    }
    hasher.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// The distinct people whose approval of `entry` counts for `t`: with `approvers`
/// listed, only those.
pub fn counted(t: &Transition, entry: Option<&PendingApproval>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for v in entry.map(|e| e.approved.as_slice()).unwrap_or_default() {
        if (t.approvers.is_empty() || t.approvers.contains(&v.by)) && !out.contains(&v.by) {
            out.push(v.by.clone());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transitions::parse_transitions;

    fn verdict(by: &str) -> Verdict {
        Verdict {
            by: by.into(),
            at: "2026-11-30T09:00:00Z".parse().unwrap(),
            reason: None,
        }
    }

    #[test]
    fn digest_binds_to_services_and_contents_in_any_order() {
        let a = set_digest([
            ("s1", b"version: '2'\n".as_slice()),
            ("s2", b"version: '1'\n".as_slice()),
        ]);
        let b = set_digest([
            ("s2", b"version: '1'\n".as_slice()),
            ("s1", b"version: '2'\n".as_slice()),
        ]);
        assert_eq!(a, b);
        assert_eq!(a.len(), 64);
        assert_ne!(
            a,
            set_digest([
                ("s1", b"version: '3'\n".as_slice()),
                ("s2", b"version: '1'\n".as_slice())
            ])
        );
        assert_ne!(a, set_digest([("s1", b"version: '2'\n".as_slice())]));
    }

    #[test]
    fn approvals_count_for_their_set_only_and_once_per_person() {
        let t = parse_transitions("transitions:\n  prod: {source: pp, target: prod, approvals: 2}\n")
            .unwrap()
            .remove(0);
        let mut a = Approvals::default();
        assert!(a.approve("prod", "set1", "s1 1 → 2", verdict("alice")));
        assert!(!a.approve("prod", "set1", "s1 1 → 2", verdict("alice")));
        assert_eq!(counted(&t, a.for_set("prod", "set1")), ["alice"]);
        // A new set starts afresh.
        assert!(a.approve("prod", "set2", "s1 1 → 3", verdict("bob")));
        assert_eq!(a.for_set("prod", "set1"), None);
        assert_eq!(counted(&t, a.for_set("prod", "set2")), ["bob"]);
        assert_eq!(Approvals::parse("prod/approvals.yaml", &a.to_yaml()).unwrap(), a);
    }

    #[test]
    fn a_rejection_voids_the_approvals_before_it() {
        let t = parse_transitions("transitions:\n  prod: {source: pp, target: prod, approvals: 2}\n")
            .unwrap()
            .remove(0);
        let mut a = Approvals::default();
        a.approve("prod", "set1", "", verdict("alice"));
        a.reject("prod", "set1", "", verdict("bob"));
        let entry = a.for_set("prod", "set1");
        assert!(counted(&t, entry).is_empty());
        assert_eq!(entry.unwrap().rejected.as_ref().unwrap().by, "bob");
        a.approve("prod", "set1", "", verdict("carol"));
        assert_eq!(a.for_set("prod", "set1").unwrap().rejected, None);
    }

    #[test]
    fn only_listed_approvers_count() {
        let t =
            parse_transitions("transitions:\n  prod: {source: pp, target: prod, approvals: 1, approvers: [carol]}\n")
                .unwrap()
                .remove(0);
        let mut a = Approvals::default();
        a.approve("prod", "set1", "", verdict("alice"));
        assert!(counted(&t, a.for_set("prod", "set1")).is_empty());
        a.approve("prod", "set1", "", verdict("carol"));
        assert_eq!(counted(&t, a.for_set("prod", "set1")), ["carol"]);
    }
}
