//! The filters of `GET /api/history` beyond env and service: `author`, `kind`
//! (`version`, `promotion`, `lock`, `rollback`, `other`; comma-separated for
//! several) and `q` (free text in the message, author or commit id), and the
//! link of each commit on the git host (`commit_url_template`). Pure.

use std::collections::BTreeMap;

/// The kinds of change history knows.
pub const KINDS: [&str; 5] = ["version", "promotion", "lock", "rollback", "other"];

/// Commits looked at, at most, to find `limit` that pass a filter.
pub const MAX_SCAN: usize = 5000;

/// What a commit must be to be listed (nothing set: every commit).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HistoryFilter {
    /// The author, case-insensitive.
    pub author: Option<String>,
    /// Any of these kinds.
    pub kinds: Vec<&'static str>,
    /// Words that must all appear (case-insensitive) in the message, the author or the commit id.
    pub words: Vec<String>,
}

/// Why a filter parameter is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown kind {value:?}; use {}", KINDS.join(", "))]
pub struct InvalidKind {
    pub value: String,
}

impl HistoryFilter {
    /// From `author`, `kind` and `q` (empty values are no filter).
    pub fn parse(params: &BTreeMap<String, String>) -> Result<HistoryFilter, InvalidKind> {
        let non_empty = |k: &str| params.get(k).map(|v| v.trim()).filter(|v| !v.is_empty());
        let mut kinds = Vec::new();
        if let Some(list) = non_empty("kind") {
            for k in list.split(',').map(str::trim).filter(|k| !k.is_empty()) {
                let known = KINDS
                    .iter()
                    .find(|known| known.eq_ignore_ascii_case(k))
                    .ok_or_else(|| InvalidKind { value: k.to_string() })?;
                if !kinds.contains(known) {
                    kinds.push(*known);
                }
            }
        }
        Ok(HistoryFilter {
            author: non_empty("author").map(str::to_lowercase),
            kinds,
            words: non_empty("q")
                .map(|q| q.split_whitespace().map(str::to_lowercase).collect())
                .unwrap_or_default(),
        })
    }

    /// Whether anything is filtered.
    pub fn is_active(&self) -> bool {
        self.author.is_some() || !self.kinds.is_empty() || !self.words.is_empty()
    }

    /// Whether a commit passes.
    pub fn keeps(&self, commit: &str, author: &str, message: &str, kind: &str) -> bool {
        if let Some(a) = &self.author {
            if author.to_lowercase() != *a {
                return false;
            }
        }
        if !self.kinds.is_empty() && !self.kinds.contains(&kind) {
            return false;
        }
        let text = format!("{commit}\n{}\n{}", author.to_lowercase(), message.to_lowercase());
        self.words.iter().all(|w| text.contains(w.as_str()))
    }
}

/// Why a `commit_url_template` is refused.
pub fn check_template(template: &str) -> Result<(), String> {
    if !template.contains("{sha}") {
        return Err(format!(
            "commit_url_template {template:?} has no {{sha}}: write where the commit id goes, e.g. https://github.com/org/repo/commit/{{sha}}"
        ));
    }
    if !(template.starts_with("https://") || template.starts_with("http://")) {
        return Err(format!("commit_url_template {template:?} must be an http(s) URL"));
    }
    Ok(())
}

/// The link to a commit on the git host.
pub fn commit_url(template: &str, sha: &str) -> String {
    template.replace("{sha}", sha)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn filters_by_author_kind_and_every_word() {
        let f = HistoryFilter::parse(&params(&[
            ("author", "CI"),
            ("kind", "version,Rollback"),
            ("q", "API fix"),
        ]))
        .unwrap();
        assert!(f.is_active());
        assert_eq!(f.kinds, ["version", "rollback"]);
        assert!(f.keeps("abc", "ci", "api 1.2: fix the login", "version"));
        assert!(
            !f.keeps("abc", "ci", "api 1.2: new login", "version"),
            "every word must appear"
        );
        assert!(!f.keeps("abc", "alice", "api fix", "version"));
        assert!(!f.keeps("abc", "ci", "api fix", "lock"));
        assert!(HistoryFilter::parse(&params(&[("q", "abc12")]))
            .unwrap()
            .keeps("abc1234", "x", "y", "other"));
        assert!(!HistoryFilter::parse(&params(&[("kind", ""), ("q", " ")]))
            .unwrap()
            .is_active());
        let e = HistoryFilter::parse(&params(&[("kind", "deploy")])).unwrap_err();
        assert!(e.to_string().contains("unknown kind \"deploy\""), "{e}");
    }

    #[test]
    fn commit_links_follow_the_template() {
        for t in [
            "https://github.com/org/repo/commit/{sha}",
            "https://gitlab.example.com/group/repo/-/commit/{sha}",
            "https://gitea.example.com/org/repo/commit/{sha}",
        ] {
            assert!(check_template(t).is_ok(), "{t}");
        }
        assert_eq!(
            commit_url("https://github.com/org/repo/commit/{sha}", "abc"),
            "https://github.com/org/repo/commit/abc"
        );
        assert!(check_template("https://github.com/org/repo")
            .unwrap_err()
            .contains("{sha}"));
        assert!(check_template("javascript:{sha}").unwrap_err().contains("http(s)"));
    }
}
