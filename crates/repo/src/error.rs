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
        source: git2::Error,
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
        source: git2::Error,
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
            source: git2::Error::from_str(message),
        }
    }
}

/// A copy of a git error, for a failure shared by several callers (every post of
/// a group commit gets the push's error); `git2::Error` and `std::io::Error` are
/// rebuilt from their code, class or kind and message.
impl Clone for GitError {
    fn clone(&self) -> Self {
        let git = |e: &git2::Error| git2::Error::new(e.code(), e.class(), e.message());
        match self {
            GitError::Git { action, url, source } => GitError::Git {
                action,
                url: url.clone(),
                source: git(source),
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
                source: git(source),
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
