//! API tokens: `name:token` pairs from a file or an environment variable, never
//! from the repo. The name of the token a request used becomes the commit author.
//! Every service that accepts writes reads them with [`Tokens::load`] and checks a
//! request's `Authorization` header with [`Tokens::authenticate`], which names the
//! [`Principal`]; each write endpoint then asks [`Principal::require`] for its
//! [`Scope`]. A service that calls a peer sends the one token of [`peer_token`].
//!
//! An entry is `name:token` (every scope) or `name:token:SCOPES`, where SCOPES is a
//! comma-separated list of scope names, each optionally restricted to envs with
//! `=env|env`: `ci:s3cr3t:versions=latest`, `alice:x:locks=dev|pp,rollback,run=dev`,
//! `ui:y:read`. Every token may read.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
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
    #[error(
        "{source_name} entry {entry} ({name}): {problem}; scopes are {} (e.g. versions=latest,locks=dev|pp,read)",
        Scope::names()
    )]
    BadScope {
        source_name: String,
        entry: usize,
        /// The token's name.
        name: String,
        problem: String,
    },
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

/// What a token may do. Each write endpoint needs one; reading needs [`Scope::Read`],
/// which every token has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Scope {
    /// `POST /api/versions` into an env.
    Versions,
    /// `PUT`/`DELETE /api/locks/{env}[/{service}]`, including releasing holds.
    Locks,
    /// `POST /api/rollback` in an env.
    Rollback,
    /// `POST /api/transitions/{name}/run`, for the transition's target env.
    Run,
    /// A run with `override_windows` (break-glass), for the transition's target env.
    Override,
    /// `POST /api/transitions/{name}/approve|reject`, for the transition's target env.
    Approve,
    /// `POST /api/previews`, `DELETE /api/previews/{name}` (env: the preview's name).
    Previews,
    /// `POST /api/deploy`, for every env it names.
    Deploy,
    /// The read endpoints when `read_requires_token` is set; every token has it.
    Read,
}

impl Scope {
    /// Every scope, in the order the docs list them.
    pub const ALL: [Scope; 9] = [
        Scope::Versions,
        Scope::Locks,
        Scope::Rollback,
        Scope::Run,
        Scope::Override,
        Scope::Approve,
        Scope::Previews,
        Scope::Deploy,
        Scope::Read,
    ];

    /// The scope's name in a tokens file.
    pub fn name(self) -> &'static str {
        match self {
            Scope::Versions => "versions",
            Scope::Locks => "locks",
            Scope::Rollback => "rollback",
            Scope::Run => "run",
            Scope::Override => "override",
            Scope::Approve => "approve",
            Scope::Previews => "previews",
            Scope::Deploy => "deploy",
            Scope::Read => "read",
        }
    }

    /// The scope named `name`, if there is one.
    pub fn from_name(name: &str) -> Option<Scope> {
        Scope::ALL.into_iter().find(|s| s.name() == name)
    }

    /// Whether the scope can be restricted to envs (`read` cannot).
    pub fn takes_envs(self) -> bool {
        self != Scope::Read
    }

    fn names() -> String {
        Scope::ALL.map(Scope::name).join(", ")
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The envs a scope is granted for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Envs {
    /// Every env (a scope without `=`).
    All,
    /// Only these (`scope=a|b`).
    Only(BTreeSet<String>),
}

/// Who sent a request, and what their token may do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The token's name: the author of the commits it makes.
    pub name: String,
    /// The granted scopes; `None` for a plain `name:token` entry, which may do everything.
    pub scopes: Option<BTreeMap<Scope, Envs>>,
}

/// A request that the caller's token may not make: names the token and the scope it lacks.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("token {token} lacks scope {}", self.scope_text())]
pub struct MissingScope {
    pub token: String,
    pub scope: Scope,
    /// The env the request is about, when it is about one.
    pub env: Option<String>,
}

impl MissingScope {
    /// The missing scope as a tokens file would grant it: `locks=prod`, or `run`.
    pub fn scope_text(&self) -> String {
        match &self.env {
            Some(env) => format!("{}={env}", self.scope),
            None => self.scope.to_string(),
        }
    }
}

impl Principal {
    /// A principal with every scope (a plain `name:token` entry).
    pub fn all(name: &str) -> Self {
        Principal {
            name: name.to_string(),
            scopes: None,
        }
    }

    /// Whether this token may use `scope` for `env` (`None`: the request is about
    /// no single env, which a scope restricted to envs does not cover).
    pub fn require(&self, scope: Scope, env: Option<&str>) -> Result<(), MissingScope> {
        let granted = match &self.scopes {
            None => true,
            Some(_) if scope == Scope::Read => true,
            Some(scopes) => match (scopes.get(&scope), env) {
                (None, _) => false,
                (Some(Envs::All), _) => true,
                (Some(Envs::Only(envs)), Some(env)) => envs.contains(env),
                (Some(Envs::Only(_)), None) => false,
            },
        };
        if granted {
            Ok(())
        } else {
            Err(MissingScope {
                token: self.name.clone(),
                scope,
                env: env.map(str::to_string),
            })
        }
    }
}

/// Whether the last `:`-separated part of an entry is meant as a scope list: it
/// starts with a scope name followed by `=`, `,` or its end. A token that merely
/// contains `:` (`alice:a:b:c`) stays a token.
fn looks_like_scopes(text: &str) -> bool {
    let first = text.split(',').next().unwrap_or_default().trim();
    let name = first.split_once('=').map_or(first, |(n, _)| n).trim();
    Scope::from_name(name).is_some()
}

/// The entries of a comma-separated variable: a part without `:` cannot be an
/// entry, so a part that reads as scopes continues the entry before it
/// (`ci:x:versions=latest,locks=dev,alice:y` is two entries).
fn env_entries(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for part in text.split(',') {
        match out.last_mut() {
            Some(last) if !part.contains(':') && looks_like_scopes(part) && last.contains(':') => {
                last.push(',');
                last.push_str(part);
            }
            _ => out.push(part.to_string()),
        }
    }
    out
}

/// Parses `versions=latest,locks=dev|pp,read`.
fn parse_scopes(text: &str) -> Result<BTreeMap<Scope, Envs>, String> {
    let mut out = BTreeMap::new();
    for item in text.split(',') {
        let item = item.trim();
        if item.is_empty() {
            return Err("an empty scope in the list (two commas, or a trailing one)".to_string());
        }
        let (name, envs) = match item.split_once('=') {
            Some((name, envs)) => (name.trim(), Some(envs)),
            None => (item, None),
        };
        let scope = Scope::from_name(name).ok_or_else(|| format!("unknown scope {name:?}"))?;
        let envs = match envs {
            None => Envs::All,
            Some(_) if !scope.takes_envs() => {
                return Err(format!(
                    "scope {scope} is not restricted to envs (write it without '=')"
                ))
            }
            Some(list) => {
                let mut set = BTreeSet::new();
                for env in list.split('|').map(str::trim) {
                    crate::names::validate_env_name(env)
                        .map_err(|e| format!("scope {scope}: {e} (envs are separated by '|')"))?;
                    set.insert(env.to_string());
                }
                Envs::Only(set)
            }
        };
        if out.insert(scope, envs).is_some() {
            return Err(format!(
                "scope {scope} is given twice; list its envs once, as {scope}=a|b"
            ));
        }
    }
    Ok(out)
}

/// The accepted tokens, each with its principal.
#[derive(Debug, Clone, Default)]
pub struct Tokens {
    entries: Vec<(Principal, String)>,
}

impl Tokens {
    /// Parses `name:token[:scopes]` entries (blank entries and `#` comments are skipped).
    pub fn parse<'a>(source_name: &str, entries: impl Iterator<Item = &'a str>) -> Result<Self, TokenError> {
        let mut out: Vec<(Principal, String)> = Vec::new();
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
            let name = name.trim();
            check_name(name).map_err(malformed)?;
            let (token, scopes) = match token.rsplit_once(':') {
                Some((token, scopes)) if looks_like_scopes(scopes) => {
                    let scopes = parse_scopes(scopes).map_err(|problem| TokenError::BadScope {
                        source_name: source_name.to_string(),
                        entry: i + 1,
                        name: name.to_string(),
                        problem,
                    })?;
                    (token.trim(), Some(scopes))
                }
                _ => (token.trim(), None),
            };
            if token.is_empty() {
                return Err(malformed("the token is empty"));
            }
            if let Some((first, _)) = out.iter().find(|(_, t)| t == token) {
                return Err(TokenError::Duplicate {
                    source_name: source_name.to_string(),
                    first: first.name.clone(),
                    second: name.to_string(),
                });
            }
            out.push((
                Principal {
                    name: name.to_string(),
                    scopes,
                },
                token.to_string(),
            ));
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
            let joined = env_entries(&text);
            entries.extend(
                Tokens::parse(&format!("API tokens variable {var}"), joined.iter().map(String::as_str))?.entries,
            );
        }
        if file.is_none() && env_var.is_none() {
            return Err(TokenError::NotConfigured);
        }
        Ok(Tokens { entries })
    }

    /// The client that sent `authorization` (the value of the `Authorization`
    /// header, if there was one), with its scopes.
    pub fn authenticate(&self, authorization: Option<&[u8]>) -> Result<&Principal, AuthError> {
        let value = authorization.ok_or(AuthError::Missing)?;
        let token = std::str::from_utf8(value)
            .ok()
            .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
            .map(str::trim)
            .ok_or(AuthError::Malformed)?;
        self.principal_of(token).ok_or(AuthError::Unknown)
    }

    /// The client holding `token`, if it is one of ours.
    pub fn principal_of(&self, token: &str) -> Option<&Principal> {
        // Compare every entry in full so the time taken does not hint at a prefix.
        let mut found = None;
        for (principal, known) in &self.entries {
            if constant_time_eq(known.as_bytes(), token.as_bytes()) {
                found = Some(principal);
            }
        }
        found
    }

    /// The name of the client holding `token`, if it is one of ours.
    pub fn name_of(&self, token: &str) -> Option<&str> {
        self.principal_of(token).map(|p| p.name.as_str())
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
    fn a_plain_entry_may_do_everything_and_a_scoped_one_only_what_it_lists() {
        let t = Tokens::parse(
            "f",
            "admin:a1\nci:c1:versions=latest\nalice:a2:locks=dev|pp,rollback,run=dev\nui:u1:read\n".lines(),
        )
        .unwrap();
        let who = |token: &str| t.principal_of(token).unwrap().clone();
        for scope in Scope::ALL {
            assert_eq!(who("a1").require(scope, Some("prod")), Ok(()), "{scope}");
            assert_eq!(who("a1").require(scope, None), Ok(()), "{scope}");
        }
        assert_eq!(who("c1").require(Scope::Versions, Some("latest")), Ok(()));
        let err = who("c1").require(Scope::Versions, Some("prod")).unwrap_err();
        assert_eq!(err.to_string(), "token ci lacks scope versions=prod");
        assert_eq!(err.scope_text(), "versions=prod");
        let err = who("c1").require(Scope::Locks, Some("dev")).unwrap_err();
        assert_eq!(err.to_string(), "token ci lacks scope locks=dev");
        let alice = who("a2");
        assert_eq!(alice.require(Scope::Locks, Some("pp")), Ok(()));
        assert!(alice.require(Scope::Locks, Some("prod")).is_err());
        assert_eq!(
            alice.require(Scope::Rollback, Some("prod")),
            Ok(()),
            "no '=' means every env"
        );
        assert_eq!(alice.require(Scope::Run, Some("dev")), Ok(()));
        assert_eq!(
            alice.require(Scope::Run, None).unwrap_err().to_string(),
            "token alice lacks scope run",
            "a scope restricted to envs does not cover a request about no single env"
        );
        assert!(alice.require(Scope::Override, Some("dev")).is_err());
        assert!(alice.require(Scope::Approve, Some("dev")).is_err());
        // Every token reads; a read-only token does nothing else.
        for token in ["c1", "a2", "u1"] {
            assert_eq!(who(token).require(Scope::Read, None), Ok(()), "{token}");
        }
        assert!(who("u1").require(Scope::Versions, Some("latest")).is_err());
    }

    #[test]
    fn a_variable_holds_scoped_entries_whose_scopes_are_separated_by_commas_too() {
        assert_eq!(
            env_entries("ci:x:versions=latest,locks=dev|pp,alice:y,ui:z:read"),
            ["ci:x:versions=latest,locks=dev|pp", "alice:y", "ui:z:read"]
        );
        let joined = env_entries("ci:x:versions,locks");
        let t = Tokens::parse("v", joined.iter().map(String::as_str)).unwrap();
        let ci = t.principal_of("x").unwrap();
        assert_eq!(ci.require(Scope::Locks, Some("prod")), Ok(()));
        assert!(ci.require(Scope::Rollback, Some("prod")).is_err());
    }

    #[test]
    fn a_token_with_colons_stays_a_token_unless_its_last_part_is_a_scope_list() {
        let t = Tokens::parse("f", ["alice:a:b:c", "ci:x:y:versions"].into_iter()).unwrap();
        assert_eq!(t.principal_of("a:b:c"), Some(&Principal::all("alice")));
        let ci = t.principal_of("x:y").unwrap();
        assert_eq!(ci.name, "ci");
        assert!(ci.scopes.is_some());
        assert_eq!(t.principal_of("x:y:versions"), None);
    }

    #[test]
    fn bad_scope_lists_name_the_entry_and_the_problem() {
        for (entry, problem) in [
            ("ci:x:versions=Latest", "scope versions: "),
            ("ci:x:versions=latest,nosuch", "unknown scope \"nosuch\""),
            ("ci:x:read=dev", "scope read is not restricted to envs"),
            ("ci:x:locks=dev,locks=pp", "scope locks is given twice"),
            ("ci:x:versions,", "an empty scope"),
            ("ci:x:versions=", "scope versions: "),
        ] {
            let err = Tokens::parse("tokens file", [entry].into_iter()).unwrap_err();
            let TokenError::BadScope {
                entry: 1,
                ref name,
                problem: ref got,
                ..
            } = err
            else {
                panic!("{entry}: {err:?}");
            };
            assert_eq!(name, "ci");
            assert!(got.starts_with(problem), "{entry}: {got}");
            assert!(err.to_string().contains("scopes are versions, locks"), "{err}");
        }
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
        assert_eq!(
            t.authenticate(Some(b"Bearer s3cr3t")),
            Ok(&Principal::all("aggregator"))
        );
        assert_eq!(
            t.authenticate(Some(b"bearer  s3cr3t ")).map(|p| p.name.as_str()),
            Ok("aggregator")
        );
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
