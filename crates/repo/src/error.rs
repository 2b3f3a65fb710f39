//! Why an operation on the resource repo failed, in words that say what to do.

use std::path::PathBuf;
use std::time::Duration;

use slipway_core::duration::format_duration;
use thiserror::Error;

use crate::push::MAX_STUCK_TIME;

/// Failures of repo access.
#[derive(Debug, Error)]
pub enum GitError {
    #[error("git {action} failed for {url}: {source}")]
    Git {
        action: &'static str,
        url: String,
        #[source]
        source: GitCause,
    },
    /// The remote, or Slipway on its behalf, refused the connection: an ssh host
    /// key not in `known_hosts`, or credentials the host did not accept.
    #[error("git {action} of {url} refused: {reason}")]
    Refused {
        action: &'static str,
        url: String,
        reason: String,
    },
    #[error("cannot prepare checkout at {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("push to {url} still rejected after {attempts} attempts, because others kept pushing first; nothing was lost, try again")]
    TooManyRetries { url: String, attempts: usize },
    /// The remote did not answer in time; the caller cannot know whether a push arrived.
    #[error("git {action} of {url} got no answer within {} (git_timeout): {source}", format_duration(*timeout))]
    Timeout {
        action: &'static str,
        url: String,
        timeout: Duration,
        #[source]
        source: GitCause,
    },
    /// The branch stayed locked on the remote: a crashed git process there, not contention.
    #[error("push to {url} refused: the ref {reference} is locked on the remote and stayed locked for {}s ({detail}); nothing was committed. If no git process is running there, the lock is left over from a crash: delete {lock_file} and try again", MAX_STUCK_TIME.as_secs())]
    RemoteLocked {
        url: String,
        /// The locked ref, e.g. `refs/heads/main`.
        reference: String,
        /// Where the lock file is: a path for a repo on this machine, else its place in the remote repo.
        lock_file: String,
        /// What git said.
        detail: String,
    },
    #[error("{0}")]
    Change(String),
}

impl GitError {
    /// A failed git `action` on `url`, for failures git itself reports only in words
    /// (a remote that rejected an update, a time-out noticed while waiting).
    pub fn failed(action: &'static str, url: impl Into<String>, message: &str) -> Self {
        GitError::Git {
            action,
            url: url.into(),
            source: GitCause::said(message),
        }
    }

    /// What git reported, for the failures it reported itself.
    pub fn cause(&self) -> Option<&GitCause> {
        match self {
            GitError::Git { source, .. } | GitError::Timeout { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// What git reported about a failure: the part of git it came from, what kind
/// of failure it is, and git's own words. Shown as git shows it
/// (`message; class=Net; code=Auth`), the class and code left out when git
/// gave none.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{message}{}{}", suffix("class", class.name()), suffix("code", code.name()))]
pub struct GitCause {
    /// The part of git that failed.
    pub class: GitClass,
    /// What kind of failure it is.
    pub code: GitCode,
    /// Git's own words.
    pub message: String,
}

fn suffix(what: &str, name: Option<&str>) -> String {
    name.map(|n| format!("; {what}={n}")).unwrap_or_default()
}

impl GitCause {
    /// A failure known only by its words (no class, no code).
    pub fn said(message: impl Into<String>) -> Self {
        GitCause {
            class: GitClass::None,
            code: GitCode::Generic,
            message: message.into(),
        }
    }

    /// The same facts as libgit2's error, without its type.
    pub(crate) fn of(e: &git2::Error) -> Self {
        GitCause {
            class: GitClass::of(e.class()),
            code: GitCode::of(e.code()),
            message: e.message().to_string(),
        }
    }
}

/// The part of git a failure came from (libgit2's error classes that Slipway
/// tells apart; the others by name).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GitClass {
    /// Git named none.
    None,
    /// The operating system (files, sockets).
    Os,
    /// A reference (branch, tag) could not be read or changed.
    Reference,
    /// The repository itself is in a bad state.
    Repository,
    /// Git's configuration.
    Config,
    /// The object database: an object is missing or broken.
    Odb,
    /// An object could not be made or read.
    Object,
    /// The network.
    Net,
    /// TLS.
    Ssl,
    /// SSH.
    Ssh,
    /// HTTP.
    Http,
    /// Slipway's own callbacks (credentials, progress).
    Callback,
    /// Another class, by libgit2's name for it.
    Other(String),
}

impl GitClass {
    fn of(class: git2::ErrorClass) -> Self {
        use git2::ErrorClass as C;
        match class {
            C::None => GitClass::None,
            C::Os => GitClass::Os,
            C::Reference => GitClass::Reference,
            C::Repository => GitClass::Repository,
            C::Config => GitClass::Config,
            C::Odb => GitClass::Odb,
            C::Object => GitClass::Object,
            C::Net => GitClass::Net,
            C::Ssl => GitClass::Ssl,
            C::Ssh => GitClass::Ssh,
            C::Http => GitClass::Http,
            C::Callback => GitClass::Callback,
            other => GitClass::Other(format!("{other:?}")),
        }
    }

    /// Its name as git's messages give it; `None` for no class.
    pub fn name(&self) -> Option<&str> {
        Some(match self {
            GitClass::None => return None,
            GitClass::Os => "Os",
            GitClass::Reference => "Reference",
            GitClass::Repository => "Repository",
            GitClass::Config => "Config",
            GitClass::Odb => "Odb",
            GitClass::Object => "Object",
            GitClass::Net => "Net",
            GitClass::Ssl => "Ssl",
            GitClass::Ssh => "Ssh",
            GitClass::Http => "Http",
            GitClass::Callback => "Callback",
            GitClass::Other(name) => name,
        })
    }
}

/// What kind of failure git reported (libgit2's error codes that Slipway
/// tells apart; the others by name).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GitCode {
    /// No particular kind.
    Generic,
    /// What was asked for does not exist (a commit, a file, a branch).
    NotFound,
    /// Something already exists where it was to be made.
    Exists,
    /// A short name matches more than one object.
    Ambiguous,
    /// A name or ref spec is not valid.
    InvalidSpec,
    /// The branch cannot be fast-forwarded: someone else pushed first.
    NotFastForward,
    /// A lock file is in the way (another git process, or one that crashed).
    Locked,
    /// A reference changed since it was read.
    Modified,
    /// The credentials were refused.
    Auth,
    /// The server's certificate is not valid.
    Certificate,
    /// The other side hung up.
    Eof,
    /// No answer in time.
    Timeout,
    /// Another code, by libgit2's name for it.
    Other(String),
}

impl GitCode {
    fn of(code: git2::ErrorCode) -> Self {
        use git2::ErrorCode as C;
        match code {
            C::GenericError => GitCode::Generic,
            C::NotFound => GitCode::NotFound,
            C::Exists => GitCode::Exists,
            C::Ambiguous => GitCode::Ambiguous,
            C::InvalidSpec => GitCode::InvalidSpec,
            C::NotFastForward => GitCode::NotFastForward,
            C::Locked => GitCode::Locked,
            C::Modified => GitCode::Modified,
            C::Auth => GitCode::Auth,
            C::Certificate => GitCode::Certificate,
            C::Eof => GitCode::Eof,
            C::Timeout => GitCode::Timeout,
            other => GitCode::Other(format!("{other:?}")),
        }
    }

    /// Its name as git's messages give it; `None` for a generic failure.
    pub fn name(&self) -> Option<&str> {
        Some(match self {
            GitCode::Generic => return None,
            GitCode::NotFound => "NotFound",
            GitCode::Exists => "Exists",
            GitCode::Ambiguous => "Ambiguous",
            GitCode::InvalidSpec => "InvalidSpec",
            GitCode::NotFastForward => "NotFastForward",
            GitCode::Locked => "Locked",
            GitCode::Modified => "Modified",
            GitCode::Auth => "Auth",
            GitCode::Certificate => "Certificate",
            GitCode::Eof => "Eof",
            GitCode::Timeout => "Timeout",
            GitCode::Other(name) => name,
        })
    }
}

/// A copy of a git error, for a failure shared by several callers (every post of
/// a group commit gets the push's error); a `std::io::Error` is rebuilt from
/// its kind and message.
impl Clone for GitError {
    fn clone(&self) -> Self {
        match self {
            GitError::Git { action, url, source } => GitError::Git {
                action,
                url: url.clone(),
                source: source.clone(),
            },
            GitError::Refused { action, url, reason } => GitError::Refused {
                action,
                url: url.clone(),
                reason: reason.clone(),
            },
            GitError::Io { path, source } => GitError::Io {
                path: path.clone(),
                source: std::io::Error::new(source.kind(), source.to_string()),
            },
            GitError::TooManyRetries { url, attempts } => GitError::TooManyRetries {
                url: url.clone(),
                attempts: *attempts,
            },
            GitError::Timeout {
                action,
                url,
                timeout,
                source,
            } => GitError::Timeout {
                action,
                url: url.clone(),
                timeout: *timeout,
                source: source.clone(),
            },
            GitError::RemoteLocked {
                url,
                reference,
                lock_file,
                detail,
            } => GitError::RemoteLocked {
                url: url.clone(),
                reference: reference.clone(),
                lock_file: lock_file.clone(),
                detail: detail.clone(),
            },
            GitError::Change(message) => GitError::Change(message.clone()),
        }
    }
}

/// Why `commit_and_push` failed: git, or the caller's change function.
#[derive(Debug, Error)]
pub enum CommitError<E> {
    #[error(transparent)]
    Git(GitError),
    #[error("{0}")]
    Change(E),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cause_keeps_what_git_said_class_and_code_and_reads_as_git_writes_it() {
        let e = git2::Error::new(git2::ErrorCode::Auth, git2::ErrorClass::Http, "authentication required");
        let cause = GitCause::of(&e);
        assert_eq!((&cause.class, &cause.code), (&GitClass::Http, &GitCode::Auth));
        assert_eq!(cause.to_string(), "authentication required; class=Http; code=Auth");
        let other = GitCause::of(&git2::Error::new(
            git2::ErrorCode::Peel,
            git2::ErrorClass::Zlib,
            "bad data",
        ));
        assert_eq!(other.to_string(), "bad data; class=Zlib; code=Peel");
        assert_eq!(
            GitCause::said("remote rejected the update").to_string(),
            "remote rejected the update"
        );
    }

    #[test]
    fn a_failure_names_its_action_url_and_cause() {
        let e = GitError::failed("push", "/srv/repo.git", "remote rejected the update: hook declined");
        assert_eq!(
            e.to_string(),
            "git push failed for /srv/repo.git: remote rejected the update: hook declined"
        );
        assert_eq!(e.cause().map(|c| &c.code), Some(&GitCode::Generic));
    }
}
