//! The resource repo through git: the service's own bare checkout, reading a
//! commit into a [`slipway_core::RepoSnapshot`], history, and commit-and-push
//! with optimistic retry.
//!
//! This is the only crate that knows `git2`; everything above it names commits
//! by [`CommitId`]. It builds on `slipway-core` and must not depend on the
//! service kit, HTTP or Kubernetes (tokio only to run git on blocking threads,
//! [`SharedRepo`]).
//!
//! ```text
//!   checkout   open, fetch, head, time-outs        auth  credentials, host key check
//!   known_hosts  OpenSSH known_hosts lookup
//!   snapshot   commit → RepoSnapshot (cached)      checkout_locks  stale *.lock files
//!   history    resolve, ancestry, history, log
//!   push       commit_and_push (retries through backon)
//!   branches   fetch, force-push and delete a promotion branch
//!   notes      git notes under their own ref, fetched and pushed with the same retry
//!   shared     SharedRepo: writes one at a time, reads beside them
//! ```
#![deny(unsafe_code)]

pub mod auth;
pub mod branches;
pub mod checkout;
pub mod checkout_locks;
pub mod commit_id;
pub mod error;
pub mod history;
pub mod known_hosts;
pub mod notes;
pub mod push;
pub mod settings;
pub mod shared;
pub mod snapshot;

pub use auth::GitAuth;
pub use checkout::{RepoLocation, ResourceRepo, DEFAULT_GIT_TIMEOUT, DEFAULT_STALE_LOCK_AFTER};
pub use commit_id::{CommitId, InvalidCommitId};
pub use error::{CommitError, GitCause, GitClass, GitCode, GitError};
pub use history::{CommitInfo, VersionFileChange};
pub use push::{Author, BatchItem, Change, Committed};
pub use settings::{default_git_timeout, default_stale_lock_after, RepoSettings};
pub use shared::SharedRepo;
