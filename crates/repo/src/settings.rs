//! The config keys every service has for the resource repo, defined once.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::{GitAuth, RepoLocation, DEFAULT_GIT_TIMEOUT, DEFAULT_STALE_LOCK_AFTER};

/// Config keys every service has for the resource repo. Each service's config
/// embeds it with `#[serde(flatten)]`, so it cannot deny unknown fields itself
/// (serde would then refuse the service's own keys): `slipway_kit::config`
/// rejects unknown keys for the whole file instead.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RepoSettings {
    /// Local path, `file://`, `https://` or `ssh://` URL of the resource repo.
    pub versions_url: String,
    /// Where this service keeps its local (bare) copy.
    pub versions_checkout_path: PathBuf,
    /// Branch that holds the environments (default `main`).
    #[serde(default = "default_branch")]
    pub versions_branch: String,
    /// Credentials for the repo host (default: token from `SLIPWAY_GIT_TOKEN`, ssh agent).
    #[serde(default)]
    pub git: GitAuth,
    /// Bound of connecting and of each answer of a network fetch or push (default `30s`).
    #[serde(default = "default_git_timeout", with = "humantime_serde")]
    pub git_timeout: Duration,
    /// Age after which a lock file in the checkout is removed at run time (default `2m`).
    #[serde(default = "default_stale_lock_after", with = "humantime_serde")]
    pub git_stale_lock_after: Duration,
}

fn default_branch() -> String {
    "main".to_string()
}

/// Default of `git_timeout`, for the services' config structs.
pub fn default_git_timeout() -> Duration {
    DEFAULT_GIT_TIMEOUT
}

/// Default of `git_stale_lock_after`, for the services' config structs.
pub fn default_stale_lock_after() -> Duration {
    DEFAULT_STALE_LOCK_AFTER
}

impl RepoSettings {
    /// The settings of a repo at `versions_url` checked out at `versions_checkout_path`,
    /// every other key at its default.
    pub fn new(versions_url: impl Into<String>, versions_checkout_path: impl Into<PathBuf>) -> Self {
        RepoSettings {
            versions_url: versions_url.into(),
            versions_checkout_path: versions_checkout_path.into(),
            versions_branch: default_branch(),
            git: GitAuth::default(),
            git_timeout: DEFAULT_GIT_TIMEOUT,
            git_stale_lock_after: DEFAULT_STALE_LOCK_AFTER,
        }
    }

    /// The location for [`ResourceRepo::open`].
    pub fn location(&self) -> RepoLocation {
        RepoLocation {
            url: self.versions_url.clone(),
            checkout_path: self.versions_checkout_path.clone(),
            branch: self.versions_branch.clone(),
            auth: self.git.clone(),
            timeout: self.git_timeout,
            stale_lock_after: self.git_stale_lock_after,
        }
    }
}
