//! A log of write requests by writer and namespace, with their times, so tests
//! can prove that two clients never wrote to one namespace at overlapping times
//! (e.g. two replicas of a sharded controller that each claim to own it).
//!
//! The writer is the value of a request header the clients set
//! ([`crate::SimConfig::writer_header`]); without one, the field manager (the
//! `fieldManager` parameter, else the User-Agent's first word).
//!
//! ```text
//!  namespace n:  A A A ─ B B ─ A          A wrote again after B started: overlap,
//!                      ▲                  unless B had ended (stopped holding) by then
//!                  handover A → B: fine
//! ```

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

/// Most writes the log keeps; older ones are dropped (and counted) so a
/// long-running playground does not grow without bound.
pub const MAX_WRITES: usize = 1_000_000;

/// One write request (create, update, patch, delete, deletecollection) on a namespaced
/// object or on a Namespace (whose namespace is its own name).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Write {
    /// When the request arrived.
    pub at: DateTime<Utc>,
    /// Who sent it (see the module docs).
    pub writer: String,
    /// The namespace written to.
    pub namespace: String,
    /// `create`, `update`, `patch`, `delete` or `deletecollection`.
    pub verb: String,
    /// Plural resource, with its subresource (`deployments`, `deployments/status`).
    pub resource: String,
    /// The object's name (none for a create by POST or a deletecollection).
    pub name: Option<String>,
}

impl Write {
    /// The JSON form the debug endpoint serves.
    pub fn to_json(&self) -> Value {
        json!({
            "at": self.at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            "writer": self.writer,
            "namespace": self.namespace,
            "verb": self.verb,
            "resource": self.resource,
            "name": self.name,
        })
    }
}

/// Writes so far, oldest first, and how many older ones were dropped.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WriteLog {
    /// The writes, in arrival order.
    pub writes: Vec<Write>,
    /// Writes dropped because the log held [`MAX_WRITES`]: when not zero, a check over
    /// the log misses the oldest ones.
    pub dropped: u64,
}

impl WriteLog {
    /// Number of writes by each (writer, namespace).
    pub fn counts(&self) -> BTreeMap<(String, String), u64> {
        let mut out = BTreeMap::new();
        for w in &self.writes {
            *out.entry((w.writer.clone(), w.namespace.clone())).or_default() += 1;
        }
        out
    }

    /// Writes by one writer.
    pub fn by(&self, writer: &str) -> u64 {
        self.writes.iter().filter(|w| w.writer == writer).count() as u64
    }

    /// The JSON form the debug endpoint serves: `{"writes": [...], "dropped": n, "counts": [...]}`.
    pub fn to_json(&self) -> Value {
        let counts: Vec<Value> = self
            .counts()
            .into_iter()
            .map(|((writer, namespace), n)| json!({"writer": writer, "namespace": namespace, "writes": n}))
            .collect();
        json!({
            "writes": self.writes.iter().map(Write::to_json).collect::<Vec<_>>(),
            "dropped": self.dropped,
            "counts": counts,
        })
    }

    /// Where two writers wrote to one namespace at overlapping times: see [`overlaps`].
    pub fn overlaps(&self, ended: &BTreeMap<String, DateTime<Utc>>) -> Vec<Overlap> {
        overlaps(&self.writes, ended)
    }
}

/// Two writers that wrote to one namespace at overlapping times.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Overlap {
    /// The namespace.
    pub namespace: String,
    /// The writer that wrote first, and then again.
    pub first: String,
    /// The writer that wrote in between and had not ended.
    pub second: String,
    /// `second`'s last write before `first` wrote again.
    pub second_wrote_at: DateTime<Utc>,
    /// When `first` wrote again.
    pub first_again_at: DateTime<Utc>,
}

impl std::fmt::Display for Overlap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "in namespace {}: {} wrote at {}, after {} had written (at {}) and before it ended",
            self.namespace,
            self.first,
            self.first_again_at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            self.second,
            self.second_wrote_at
                .to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        )
    }
}

/// The overlap rule. For each namespace, its writes in time order: a write by
/// `A` at `t` is an overlap when `A` had written to the namespace before, and
/// another writer `B` wrote to it after `A`'s first write there (so `B` took
/// over, or wrote alongside), and `B` had not ended by `t`. `ended` says when a
/// writer stopped holding anything (it was killed, or it released what it held);
/// a writer not in it is taken to live for the whole log.
///
/// So a handover `A → B` is fine, and so is `A → B → A` once `B` has ended; `A`
/// writing again while `B` may still write is reported, once per (namespace,
/// A, B), at the first such write.
pub fn overlaps(writes: &[Write], ended: &BTreeMap<String, DateTime<Utc>>) -> Vec<Overlap> {
    let mut by_namespace: BTreeMap<&str, Vec<&Write>> = BTreeMap::new();
    for w in writes {
        by_namespace.entry(w.namespace.as_str()).or_default().push(w);
    }
    let mut out = Vec::new();
    for (namespace, mut list) in by_namespace {
        // Stable: writes with equal times keep their arrival order.
        list.sort_by_key(|w| w.at);
        // Each writer's first and latest write in this namespace so far, by position.
        let mut first: BTreeMap<&str, usize> = BTreeMap::new();
        let mut last: BTreeMap<&str, usize> = BTreeMap::new();
        let mut reported: BTreeSet<(&str, &str)> = BTreeSet::new();
        for (i, w) in list.iter().enumerate() {
            let a = w.writer.as_str();
            if let Some(a_first) = first.get(a).copied() {
                for (&b, &b_last) in &last {
                    let b_alive = ended.get(b).is_none_or(|end| *end > w.at);
                    if b != a && b_last > a_first && b_alive && reported.insert((a, b)) {
                        out.push(Overlap {
                            namespace: namespace.to_string(),
                            first: a.to_string(),
                            second: b.to_string(),
                            second_wrote_at: list[b_last].at,
                            first_again_at: w.at,
                        });
                    }
                }
            }
            first.entry(a).or_insert(i);
            last.insert(a, i);
        }
    }
    out
}

/// The live log.
#[derive(Debug)]
pub struct Writes {
    log: Mutex<(VecDeque<Write>, u64)>,
    cap: usize,
}

impl Default for Writes {
    fn default() -> Self {
        Writes::with_cap(MAX_WRITES)
    }
}

impl Writes {
    /// A log that keeps the latest `cap` writes.
    pub fn with_cap(cap: usize) -> Self {
        Writes {
            log: Mutex::default(),
            cap: cap.max(1),
        }
    }

    /// Logs one write.
    pub fn record(&self, write: Write) {
        let mut guard = self.log.lock().unwrap_or_else(|e| e.into_inner());
        let (log, dropped) = &mut *guard;
        if log.len() >= self.cap {
            log.pop_front();
            *dropped += 1;
        }
        log.push_back(write);
    }

    /// A snapshot.
    pub fn snapshot(&self) -> WriteLog {
        let guard = self.log.lock().unwrap_or_else(|e| e.into_inner());
        WriteLog {
            writes: guard.0.iter().cloned().collect(),
            dropped: guard.1,
        }
    }

    /// Empties the log.
    pub fn reset(&self) {
        *self.log.lock().unwrap_or_else(|e| e.into_inner()) = (VecDeque::new(), 0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: i64) -> DateTime<Utc> {
        DateTime::from_timestamp_millis(1_700_000_000_000 + ms).unwrap()
    }

    fn w(ms: i64, writer: &str, namespace: &str) -> Write {
        Write {
            at: at(ms),
            writer: writer.into(),
            namespace: namespace.into(),
            verb: "patch".into(),
            resource: "deployments".into(),
            name: Some("web".into()),
        }
    }

    #[test]
    fn a_handover_is_not_an_overlap() {
        let writes = [
            w(0, "a", "dev"),
            w(10, "a", "dev"),
            w(20, "b", "dev"),
            w(30, "b", "dev"),
        ];
        assert_eq!(overlaps(&writes, &BTreeMap::new()), []);
    }

    #[test]
    fn writing_again_after_another_started_is_an_overlap_reported_once() {
        let writes = [
            w(0, "a", "dev"),
            w(20, "b", "dev"),
            w(30, "a", "dev"),
            w(40, "a", "dev"),
            w(50, "b", "dev"),
        ];
        let found = overlaps(&writes, &BTreeMap::new());
        // a after b, and then b after a: both directions, each once.
        let pairs: Vec<(&str, &str, DateTime<Utc>)> = found
            .iter()
            .map(|o| (o.first.as_str(), o.second.as_str(), o.first_again_at))
            .collect();
        assert_eq!(pairs, [("a", "b", at(30)), ("b", "a", at(50))]);
        assert_eq!(found[0].second_wrote_at, at(20));
        assert!(
            found[0].to_string().contains("in namespace dev: a wrote at"),
            "{}",
            found[0]
        );
    }

    #[test]
    fn taking_back_from_a_writer_that_ended_is_fine_but_not_before_it_ended() {
        let writes = [w(0, "a", "dev"), w(20, "b", "dev"), w(30, "a", "dev")];
        let ended_before = BTreeMap::from([("b".to_string(), at(25))]);
        assert_eq!(overlaps(&writes, &ended_before), []);
        let ended_after = BTreeMap::from([("b".to_string(), at(35))]);
        assert_eq!(overlaps(&writes, &ended_after).len(), 1);
    }

    #[test]
    fn namespaces_are_judged_apart_and_order_is_by_time_not_arrival() {
        // a and b alternate, but each in a namespace of its own.
        let writes = [w(0, "a", "dev"), w(5, "b", "pp"), w(10, "a", "dev"), w(15, "b", "pp")];
        assert_eq!(overlaps(&writes, &BTreeMap::new()), []);
        // Arrival order differs from time order: b's write at 5 sits between a's.
        let writes = [w(0, "a", "dev"), w(10, "a", "dev"), w(5, "b", "dev")];
        assert_eq!(overlaps(&writes, &BTreeMap::new()).len(), 1);
    }

    #[test]
    fn two_writers_at_once_from_the_start_overlap() {
        let writes = [w(0, "a", "dev"), w(0, "b", "dev"), w(1, "a", "dev")];
        assert_eq!(overlaps(&writes, &BTreeMap::new()).len(), 1);
    }

    #[test]
    fn the_log_counts_by_writer_and_namespace_and_drops_the_oldest_past_its_cap() {
        let log = Writes::with_cap(3);
        for write in [w(-1, "c", "dev"), w(0, "a", "dev"), w(1, "a", "dev"), w(2, "b", "pp")] {
            log.record(write);
        }
        let s = log.snapshot();
        assert_eq!(
            s.counts(),
            BTreeMap::from([(("a".into(), "dev".into()), 2), (("b".into(), "pp".into()), 1)])
        );
        assert_eq!((s.by("a"), s.by("c"), s.dropped), (2, 0, 1));
        assert_eq!(s.to_json()["writes"][2]["at"], "2023-11-14T22:13:20.002000Z");
        log.reset();
        assert!(log.snapshot().writes.is_empty());
    }
}
