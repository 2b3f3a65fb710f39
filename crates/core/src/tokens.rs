//! API tokens: `name:token` pairs from a file or an environment variable, never
//! from the repo. The name of the token a request used becomes the commit author.
//! Every service that accepts writes reads them with [`Tokens::load`] and checks a
//! request's `Authorization` header with [`Tokens::authenticate`]; a service that
//! calls a peer sends the one token of [`peer_token`].

use std::path::{Path, PathBuf};

use thiserror::Error;

/// Why the configured tokens cannot be used.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum TokenError {
    #[error("no API tokens configured: set api_tokens_file (one name:token per line) or api_tokens_env (name:token,name:token)")]
    NotConfigured,
    #[error("cannot read API tokens file {path}: {message}")]
    Unreadable { path: PathBuf, message: String },
    #[error("API tokens environment variable {var} is not set")]
    EnvMissing { var: String },
    #[error("{source_name} entry {entry}: {problem} (expected name:token)")]
    Malformed {
        source_name: String,
        entry: usize,
        problem: &'static str,
    },
    #[error("{source_name} holds no tokens")]
    Empty { source_name: String },
    #[error("{source_name}: the same token is given to {first} and {second}; every client needs its own")]
    Duplicate {
        source_name: String,
        first: String,
        second: String,
    },
    #[error("{source_name} holds {count} entries; a peer token is one token (or one name:token line)")]
    NotOne { source_name: String, count: usize },
}

/// Why a request's `Authorization` header is not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum AuthError {
    #[error("this needs an API token: send the header 'Authorization: Bearer <token>'")]
    Missing,
    #[error("the Authorization header must be 'Bearer <token>'")]
    Malformed,
    #[error("this API token is not accepted; check the token's value")]
    Unknown,
}

/// Whether `name` can name a token: it becomes a commit author, so one word of
/// printable characters that git accepts in a signature.
pub fn check_name(name: &str) -> Result<(), &'static str> {
    if name.is_empty() || name.chars().any(char::is_whitespace) {
        return Err("the name must be one word");
    }
    // git refuses '<' and '>' in a signature's name; control characters would end up in commits.
    if name.chars().any(|c| c.is_control() || c == '<' || c == '>') {
        return Err("the name must not hold control characters, '<' or '>'");
    }
    if name.chars().count() > MAX_NAME_CHARS {
        return Err("the name is longer than 100 characters");
    }
    Ok(())
}

/// Longest token name, in characters.
pub const MAX_NAME_CHARS: usize = 100;

/// The accepted tokens and their names.
#[derive(Debug, Clone, Default)]
pub struct Tokens {
    entries: Vec<(String, String)>,
}

impl Tokens {
    /// Parses `name:token` entries (blank entries and `#` comments are skipped).
    pub fn parse<'a>(source_name: &str, entries: impl Iterator<Item = &'a str>) -> Result<Self, TokenError> {
        let mut out: Vec<(String, String)> = Vec::new();
        for (i, raw) in entries.enumerate() {
            let entry = raw.trim();
            if entry.is_empty() || entry.starts_with('#') {
                continue;
            }
            let malformed = |problem| TokenError::Malformed {
                source_name: source_name.to_string(),
                entry: i + 1,
                problem,
            };
            let (name, token) = entry.split_once(':').ok_or_else(|| malformed("no ':'"))?;
            let (name, token) = (name.trim(), token.trim());
            check_name(name).map_err(malformed)?;
            if token.is_empty() {
                return Err(malformed("the token is empty"));
            }
            if let Some((first, _)) = out.iter().find(|(_, t)| t == token) {
                return Err(TokenError::Duplicate {
                    source_name: source_name.to_string(),
                    first: first.clone(),
                    second: name.to_string(),
                });
            }
            out.push((name.to_string(), token.to_string()));
        }
        if out.is_empty() {
            return Err(TokenError::Empty {
                source_name: source_name.to_string(),
            });
        }
        Ok(Tokens { entries: out })
    }

    /// Loads the tokens from a file (one entry per line), an environment variable
    /// (comma-separated), or both.
    pub fn load(file: Option<&Path>, env_var: Option<&str>) -> Result<Self, TokenError> {
        let mut entries = Vec::new();
        if let Some(path) = file {
            let text = std::fs::read_to_string(path).map_err(|e| TokenError::Unreadable {
                path: path.to_path_buf(),
                message: e.to_string(),
            })?;
            entries.extend(Tokens::parse(&format!("API tokens file {}", path.display()), text.lines())?.entries);
        }
        if let Some(var) = env_var {
            let text = std::env::var(var).map_err(|_| TokenError::EnvMissing { var: var.to_string() })?;
            entries.extend(Tokens::parse(&format!("API tokens variable {var}"), text.split(','))?.entries);
        }
        if file.is_none() && env_var.is_none() {
            return Err(TokenError::NotConfigured);
        }
        Ok(Tokens { entries })
    }

    /// The name of the client that sent `authorization` (the value of the
    /// `Authorization` header, if there was one).
    pub fn authenticate(&self, authorization: Option<&[u8]>) -> Result<&str, AuthError> {
        let value = authorization.ok_or(AuthError::Missing)?;
        let token = std::str::from_utf8(value)
            .ok()
            .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
            .map(str::trim)
            .ok_or(AuthError::Malformed)?;
        self.name_of(token).ok_or(AuthError::Unknown)
    }

    /// The name of the client holding `token`, if it is one of ours.
    pub fn name_of(&self, token: &str) -> Option<&str> {
        // Compare every entry in full so the time taken does not hint at a prefix.
        let mut found = None;
        for (name, known) in &self.entries {
            if constant_time_eq(known.as_bytes(), token.as_bytes()) {
                found = Some(name.as_str());
            }
        }
        found
    }
}

/// The token a service sends to its peers, from a file or an environment variable
/// (`None` when neither is set). The value is the token itself, or the `name:token`
/// line the peer has in its own tokens file (so the same line can be copied); a
/// token that contains ':' must therefore be given as `name:token`.
pub fn peer_token(file: Option<&Path>, env_var: Option<&str>) -> Result<Option<String>, TokenError> {
    let (source_name, text) = match (file, env_var) {
        (Some(path), _) => (
            format!("peer token file {}", path.display()),
            std::fs::read_to_string(path).map_err(|e| TokenError::Unreadable {
                path: path.to_path_buf(),
                message: e.to_string(),
            })?,
        ),
        (None, Some(var)) => (
            format!("peer token variable {var}"),
            std::env::var(var).map_err(|_| TokenError::EnvMissing { var: var.to_string() })?,
        ),
        (None, None) => return Ok(None),
    };
    let entries: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    let [entry] = entries[..] else {
        if entries.is_empty() {
            return Err(TokenError::Empty { source_name });
        }
        return Err(TokenError::NotOne {
            source_name,
            count: entries.len(),
        });
    };
    let token = match entry.split_once(':') {
        Some((name, token)) => {
            check_name(name.trim()).map_err(|problem| TokenError::Malformed {
                source_name: source_name.clone(),
                entry: 1,
                problem,
            })?;
            token.trim()
        }
        None => entry,
    };
    if token.is_empty() {
        return Err(TokenError::Malformed {
            source_name,
            entry: 1,
            problem: "the token is empty",
        });
    }
    Ok(Some(token.to_string()))
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_entries_map_tokens_to_names() {
        let t = Tokens::parse("f", "# CI\nci:s3cr3t\n\nalice: a:b:c\n".lines()).unwrap();
        assert_eq!(t.name_of("s3cr3t"), Some("ci"));
        assert_eq!(t.name_of("a:b:c"), Some("alice"));
        assert_eq!(t.name_of("s3cr3"), None);
        assert_eq!(t.name_of(""), None);
    }

    #[test]
    fn malformed_entries_say_which_and_why() {
        let err = Tokens::parse("f", "ci:x\nnocolon\n".lines()).unwrap_err();
        assert_eq!(
            err,
            TokenError::Malformed {
                source_name: "f".into(),
                entry: 2,
                problem: "no ':'"
            }
        );
        assert!(matches!(
            Tokens::parse("f", "a:x,b:x".split(',')),
            Err(TokenError::Duplicate { .. })
        ));
        assert!(matches!(Tokens::parse("f", "".lines()), Err(TokenError::Empty { .. })));
        assert!(matches!(
            Tokens::parse("f", ["ci:"].into_iter()),
            Err(TokenError::Malformed { .. })
        ));
    }

    #[test]
    fn nothing_configured_is_an_error() {
        assert_eq!(Tokens::load(None, None).unwrap_err(), TokenError::NotConfigured);
    }

    #[test]
    fn names_that_git_or_a_log_would_choke_on_are_refused() {
        for entry in ["a\u{0}b:x", "a<b:x", "ci>:x", "a\u{7f}:x"] {
            assert!(
                matches!(
                    Tokens::parse("f", [entry].into_iter()),
                    Err(TokenError::Malformed { .. })
                ),
                "{entry:?}"
            );
        }
    }

    #[test]
    fn authorization_header_must_be_a_known_bearer_token() {
        let t = Tokens::parse("f", ["aggregator:s3cr3t"].into_iter()).unwrap();
        assert_eq!(t.authenticate(Some(b"Bearer s3cr3t")), Ok("aggregator"));
        assert_eq!(t.authenticate(Some(b"bearer  s3cr3t ")), Ok("aggregator"));
        assert_eq!(t.authenticate(None), Err(AuthError::Missing));
        assert_eq!(t.authenticate(Some(b"Basic czNjcjN0")), Err(AuthError::Malformed));
        assert_eq!(t.authenticate(Some(b"Bearer \xff")), Err(AuthError::Malformed));
        assert_eq!(t.authenticate(Some(b"Bearer other")), Err(AuthError::Unknown));
    }

    #[test]
    fn peer_token_is_a_bare_token_or_the_peers_name_token_line() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("peer");
        std::fs::write(&file, "# the transitioner's entry\naggregator:a:b\n").unwrap();
        assert_eq!(peer_token(Some(&file), None).unwrap().as_deref(), Some("a:b"));
        std::fs::write(&file, "s3cr3t\n").unwrap();
        assert_eq!(peer_token(Some(&file), None).unwrap().as_deref(), Some("s3cr3t"));
        std::fs::write(&file, "a:x\nb:y\n").unwrap();
        assert!(matches!(
            peer_token(Some(&file), None),
            Err(TokenError::NotOne { count: 2, .. })
        ));
        std::fs::write(&file, "\n").unwrap();
        assert!(matches!(peer_token(Some(&file), None), Err(TokenError::Empty { .. })));
        assert_eq!(peer_token(None, None).unwrap(), None);
    }
}
