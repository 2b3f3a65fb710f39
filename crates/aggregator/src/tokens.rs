//! API tokens: `name:token` pairs from a file or an environment variable, never
//! from the repo. The name of the token a request used becomes the commit author.

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
}

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
            if name.is_empty() || name.chars().any(char::is_whitespace) {
                return Err(malformed("the name must be one word"));
            }
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
}
