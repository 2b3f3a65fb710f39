//! Where a version came from: its *origin*, the commit that brought it into the
//! first env of its promotion chain (a CI post or a plain commit), with that
//! commit's own changelog.
//!
//! ```text
//!   latest ──dev──▶ dev ──pp──▶ pp ──prod──▶ prod      origin chain of prod: [latest, dev, pp]
//!   v2 (CI, "A")  v3 (CI, "B")  v4 (CI, "C")           prod 1 → 4 carries A, B and C,
//!                                                       even if dev or pp skipped v2 or v3
//! ```
//!
//! A promotion `old → new` carries the origins of every version of the service
//! that entered the origin env after `old`, up to and including `new`: each
//! once, oldest first, and never the text of an earlier promotion message.

use serde::Serialize;

use crate::transitions::Transition;

/// One commit that changed a service's version file, with the file after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionChange {
    pub commit: String,
    pub author: String,
    /// Seconds since the epoch.
    pub time: i64,
    pub message: String,
    /// The version file after the commit (`None`: the commit deleted it).
    pub content: Option<Vec<u8>>,
}

/// The origin of one version: the commit and its own changelog.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Origin {
    pub service: String,
    /// The env the version entered first.
    pub env: String,
    pub commit: String,
    pub author: String,
    /// Seconds since the epoch.
    pub time: i64,
    /// The first line of the origin commit's message.
    pub subject: String,
    /// The rest of its message without `Key: value` trailers (the changelog).
    pub changelog: String,
}

/// The origins a promotion carries for one service.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Lineage {
    /// Oldest first.
    pub origins: Vec<Origin>,
    /// Older versions were left out (the walk is capped).
    pub truncated: bool,
}

/// The envs a version of `env` passes through, root first, ending with `env`
/// itself: `[latest, dev, pp]` for `pp` when `dev: latest → dev` and
/// `pp: dev → pp`. The root is an env no transition promotes into.
pub fn origin_chain(transitions: &[Transition], env: &str) -> Vec<String> {
    let mut chain = vec![env.to_string()];
    while let Some(t) = transitions.iter().find(|t| t.target == chain[0]) {
        // A cycle in transitions.yaml ends the chain instead of looping.
        if chain.contains(&t.source) {
            break;
        }
        chain.insert(0, t.source.clone());
    }
    chain
}

/// Whether two version files hold the same version: the same bytes, or the same
/// YAML (a file rewritten with other quoting or order is not a new version).
pub fn same_version(a: &[u8], b: &[u8]) -> bool {
    if a == b {
        return true;
    }
    let parse = |bytes: &[u8]| serde_yaml::from_slice::<serde_yaml::Value>(bytes).ok();
    matches!((parse(a), parse(b)), (Some(x), Some(y)) if x == y)
}

/// Which commits of one env's version-file history (newest first) a promotion
/// `old → new` carries, oldest first; `None` when `new` never entered that env
/// in `history`. `truncated` says the walk ran out before reaching `old`.
pub fn versions_between<'a>(
    history: &'a [VersionChange],
    old: Option<&[u8]>,
    new: &[u8],
    complete: bool,
) -> Option<(Vec<&'a VersionChange>, bool)> {
    let is = |c: &VersionChange, v: &[u8]| c.content.as_deref().is_some_and(|c| same_version(c, v));
    let start = history.iter().position(|c| is(c, new))?;
    // The target had a version newer than `new` (a step back): only `new` itself moves.
    if old.is_some_and(|old| history[..start].iter().any(|c| is(c, old))) {
        return Some((vec![&history[start]], false));
    }
    let mut picked = Vec::new();
    let mut reached_old = false;
    for c in &history[start..] {
        if old.is_some_and(|old| is(c, old)) {
            reached_old = true;
            break;
        }
        if c.content.is_some() {
            picked.push(c);
        }
    }
    // Without `old` (a new service) every earlier version is new to the target.
    let truncated = !reached_old && !complete;
    picked.reverse();
    Some((picked, truncated))
}

/// Follows a walk of one env's version-file history, newest first, and says
/// when what was read already decides [`versions_between`] for `old → new`:
/// older changes cannot change its answer, so the walk can stop there instead
/// of reading up to its cap (the history grows with every post).
#[derive(Debug, Clone)]
pub struct BetweenWalk<'a> {
    old: Option<&'a [u8]>,
    new: &'a [u8],
    found_new: bool,
    old_before_new: bool,
    settled: bool,
}

impl<'a> BetweenWalk<'a> {
    pub fn new(old: Option<&'a [u8]>, new: &'a [u8]) -> Self {
        BetweenWalk {
            old,
            new,
            found_new: false,
            old_before_new: false,
            settled: false,
        }
    }

    /// Takes the next (older) change; whether the answer is settled now. Without
    /// `old` (a service new to the target) every earlier version counts, so it never is.
    pub fn saw(&mut self, c: &VersionChange) -> bool {
        let is = |v: &[u8]| c.content.as_deref().is_some_and(|c| same_version(c, v));
        if self.settled {
            return true;
        }
        let is_old = self.old.is_some_and(is);
        if self.found_new {
            self.settled = is_old;
        } else if is(self.new) {
            self.found_new = true;
            // A step back (`old` is newer than `new`), or `old` and `new` are the same version.
            self.settled = self.old_before_new || is_old;
        } else if is_old {
            self.old_before_new = true;
        }
        self.settled
    }
}

/// Splits a commit message into its subject and its changelog: the body without
/// a last paragraph of `Key: value` trailers.
pub fn split_message(message: &str) -> (String, String) {
    let message = message.replace("\r\n", "\n");
    let mut parts = message.trim().splitn(2, '\n');
    let subject = parts.next().unwrap_or_default().trim().to_string();
    let rest = parts.next().unwrap_or_default().trim();
    let is_trailer = |line: &str| {
        line.split_once(": ").is_some_and(|(k, _)| {
            // Trailers are capitalised (`Slipway-Env`, `Signed-off-by`); `because: ...` is prose.
            k.starts_with(|c: char| c.is_ascii_uppercase()) && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
    };
    let body = match rest.rsplit_once("\n\n") {
        Some((body, last)) if last.lines().all(is_trailer) => body.trim(),
        None if !rest.is_empty() && rest.lines().all(is_trailer) => "",
        _ => rest,
    };
    (subject, body.to_string())
}

/// The value of a commit message's `Slipway-Action` trailer (in its last paragraph).
pub fn action(message: &str) -> Option<String> {
    let message = message.replace("\r\n", "\n");
    let last = message.trim_end().rsplit("\n\n").next().unwrap_or_default();
    last.lines().find_map(|l| {
        l.split_once(':')
            .filter(|(k, _)| k.trim() == "Slipway-Action")
            .map(|(_, v)| v.trim().to_string())
    })
}

/// Whether a commit message is a promotion's (its `Slipway-Action: promotion` trailer).
pub fn is_promotion(message: &str) -> bool {
    action(message).as_deref() == Some("promotion")
}

impl Origin {
    /// The origin a commit of `env`'s version history is for `service`.
    pub fn of(service: &str, env: &str, change: &VersionChange) -> Self {
        let (subject, changelog) = split_message(&change.message);
        Origin {
            service: service.to_string(),
            env: env.to_string(),
            commit: change.commit.clone(),
            author: change.author.clone(),
            time: change.time,
            subject,
            changelog,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transitions::parse_transitions;

    fn change(id: &str, content: Option<&str>) -> VersionChange {
        VersionChange {
            commit: id.into(),
            author: "ci".into(),
            time: 0,
            message: format!("s1 {id}\n\nchangelog {id}\n\nSlipway-Action: version\n"),
            content: content.map(|c| c.as_bytes().to_vec()),
        }
    }

    fn ids(picked: &[&VersionChange]) -> Vec<String> {
        picked.iter().map(|c| c.commit.clone()).collect()
    }

    #[test]
    fn a_walk_stops_where_reading_further_cannot_change_what_a_promotion_carries() {
        // Every history of up to 6 changes over versions a, b, c and deletions,
        // for every old (or none) and new: the answer on the prefix the walk read
        // equals the answer on the whole history.
        let values = [Some("a"), Some("b"), Some("c"), None];
        let mut histories: Vec<Vec<Option<&str>>> = vec![Vec::new()];
        for _ in 0..6 {
            let longer: Vec<Vec<Option<&str>>> = histories
                .iter()
                .filter(|h| h.len() == histories.last().map_or(0, Vec::len))
                .flat_map(|h| values.iter().map(move |v| [h.clone(), vec![*v]].concat()))
                .collect();
            histories.extend(longer);
        }
        let mut stopped_early = 0;
        for contents in &histories {
            let history: Vec<VersionChange> = contents
                .iter()
                .enumerate()
                .map(|(i, c)| change(&format!("c{i}"), *c))
                .collect();
            for old in [None, Some("a"), Some("b"), Some("c")] {
                for new in ["a", "b", "c"] {
                    let old = old.map(str::as_bytes);
                    let mut walk = BetweenWalk::new(old, new.as_bytes());
                    let read = history
                        .iter()
                        .position(|c| walk.saw(c))
                        .map_or(history.len(), |i| i + 1);
                    stopped_early += usize::from(read < history.len());
                    for complete in [true, false] {
                        let whole = versions_between(&history, old, new.as_bytes(), complete);
                        // A walk that stopped early did not reach the end: it is not complete.
                        let prefix_complete = complete && read == history.len();
                        let prefix = versions_between(&history[..read], old, new.as_bytes(), prefix_complete);
                        assert_eq!(prefix, whole, "{contents:?}, {old:?} → {new}, complete {complete}");
                    }
                }
            }
        }
        assert!(stopped_early > 1000, "{stopped_early}");
    }

    #[test]
    fn chain_runs_from_the_root_to_the_env() {
        let t = parse_transitions(
            "transitions:\n  prod: {source: pp, target: prod}\n  dev: {source: latest, target: dev}\n  pp: {source: dev, target: pp}\n",
        )
        .unwrap();
        assert_eq!(origin_chain(&t, "pp"), ["latest", "dev", "pp"]);
        assert_eq!(origin_chain(&t, "latest"), ["latest"]);
        let cycle =
            parse_transitions("transitions:\n  a: {source: x, target: y}\n  b: {source: y, target: x}\n").unwrap();
        assert_eq!(origin_chain(&cycle, "y"), ["x", "y"]);
    }

    #[test]
    fn versions_after_old_up_to_new_oldest_first() {
        // Newest first: v5 is newer than what is promoted.
        let h = [
            change("c5", Some("v: 5")),
            change("c4", Some("v: 4")),
            change("c3", Some("v: 3")),
            change("c2", Some("v: 2")),
            change("c1", Some("v: 1")),
        ];
        let (picked, truncated) = versions_between(&h, Some(b"v: 1"), b"v: 4", false).unwrap();
        assert_eq!(ids(&picked), ["c2", "c3", "c4"]);
        assert!(!truncated);
        // Same YAML in other quoting is the same version.
        let (picked, truncated) = versions_between(&h, None, b"{v: 2}\n", true).unwrap();
        assert_eq!(ids(&picked), ["c1", "c2"]);
        assert!(!truncated);
        assert!(same_version(b"v: 1", b"{v: 1}\n"));
        assert!(!same_version(b"v: 1", b"v: '1'"));
        assert_eq!(versions_between(&h, None, b"v: 9", true), None);
    }

    #[test]
    fn a_step_back_carries_only_the_new_version_and_a_capped_walk_says_so() {
        let h = [
            change("c3", Some("v: 3")),
            change("c2", Some("v: 2")),
            change("c1", Some("v: 1")),
        ];
        let (picked, _) = versions_between(&h, Some(b"v: 3"), b"v: 1", true).unwrap();
        assert_eq!(ids(&picked), ["c1"]);
        let (picked, truncated) = versions_between(&h, Some(b"v: 0"), b"v: 3", false).unwrap();
        assert_eq!(ids(&picked), ["c1", "c2", "c3"]);
        assert!(truncated);
        let (_, truncated) = versions_between(&h, Some(b"v: 0"), b"v: 3", true).unwrap();
        assert!(!truncated, "the whole history was walked");
    }

    #[test]
    fn messages_split_into_subject_and_changelog_without_trailers() {
        let (s, c) =
            split_message("s1 42 in latest\n\nFix login\n\nmore\n\nSlipway-Action: version\nSlipway-Env: latest\n");
        assert_eq!((s.as_str(), c.as_str()), ("s1 42 in latest", "Fix login\n\nmore"));
        let (s, c) = split_message("tweak replicas\n\nbecause: load is high today\n");
        assert_eq!(
            (s.as_str(), c.as_str()),
            ("tweak replicas", "because: load is high today")
        );
        let (s, c) = split_message("just a subject");
        assert_eq!((s.as_str(), c.as_str()), ("just a subject", ""));
        assert!(is_promotion(
            "Promote a → b: s1 1 → 2\n\ns1: 1 → 2\n\nSlipway-Action: promotion\n"
        ));
        assert!(!is_promotion(
            "s1 2 in latest\n\nSlipway-Action: promotion is in the body\n\nSlipway-Action: version\n"
        ));
        let o = Origin::of("s1", "latest", &change("c1", Some("v: 1")));
        assert_eq!((o.subject.as_str(), o.changelog.as_str()), ("s1 c1", "changelog c1"));
    }
}
