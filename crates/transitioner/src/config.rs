//! The config file of `slipway-transitioner serve`.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use slipway_repo::GitAuth;
use slipway_repo::RepoSettings;

/// `slipway-transitioner` config (YAML). Every key is documented in the crate README.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Local path, `file://`, `https://` or `ssh://` URL of the resource repo.
    pub versions_url: String,
    /// Where the transitioner keeps its local (bare) copy of the repo.
    pub versions_checkout_path: PathBuf,
    /// Branch that holds the environments.
    #[serde(default = "defaults::versions_branch")]
    pub versions_branch: String,
    /// Credentials for the repo host.
    #[serde(default)]
    pub git: GitAuth,
    /// Bound of connecting and of each answer of a network fetch or push.
    #[serde(default = "slipway_repo::default_git_timeout", with = "humantime_serde")]
    pub git_timeout: Duration,
    /// Age after which a lock file in the checkout is removed while running.
    #[serde(default = "slipway_repo::default_stale_lock_after", with = "humantime_serde")]
    pub git_stale_lock_after: Duration,
    /// Address of the HTTP API.
    #[serde(default = "defaults::api_bind")]
    pub api_bind: String,
    /// How often every transition is evaluated (besides `POST /refresh`).
    #[serde(default = "defaults::poll_interval", with = "humantime_serde")]
    pub poll_interval: Duration,
    /// Base URL of the deployer's API, for `SourceClean` and `min_clean`.
    #[serde(default)]
    pub deployer_url: Option<String>,
    /// How long to wait for the deployer's answer.
    #[serde(default = "defaults::deployer_timeout", with = "humantime_serde")]
    pub deployer_timeout: Duration,
    /// File with one `name:token` per line: who may ask for runs (the aggregator's token).
    #[serde(default)]
    pub api_tokens_file: Option<PathBuf>,
    /// Environment variable holding `name:token` pairs, comma-separated.
    #[serde(default)]
    pub api_tokens_env: Option<String>,
}

/// The defaults of every optional key, in one place.
pub mod defaults {
    use std::time::Duration;

    /// `versions_branch`.
    pub fn versions_branch() -> String {
        "main".to_string()
    }
    /// `api_bind`: loopback, a free port.
    pub fn api_bind() -> String {
        "127.0.0.1:0".to_string()
    }
    /// `poll_interval`.
    pub fn poll_interval() -> Duration {
        Duration::from_secs(30)
    }
    /// `deployer_timeout`.
    pub fn deployer_timeout() -> Duration {
        Duration::from_secs(5)
    }
}

impl Config {
    /// A config with defaults for everything but the repo (tests and tools).
    pub fn new(versions_url: impl Into<String>, versions_checkout_path: impl Into<PathBuf>) -> Self {
        Config {
            versions_url: versions_url.into(),
            versions_checkout_path: versions_checkout_path.into(),
            versions_branch: defaults::versions_branch(),
            git: GitAuth::default(),
            git_timeout: slipway_repo::default_git_timeout(),
            git_stale_lock_after: slipway_repo::default_stale_lock_after(),
            api_bind: defaults::api_bind(),
            poll_interval: defaults::poll_interval(),
            deployer_url: None,
            deployer_timeout: defaults::deployer_timeout(),
            api_tokens_file: None,
            api_tokens_env: None,
        }
    }

    /// The repo part, as `slipway-repo` wants it.
    pub fn repo_settings(&self) -> RepoSettings {
        RepoSettings {
            versions_url: self.versions_url.clone(),
            versions_checkout_path: self.versions_checkout_path.clone(),
            versions_branch: self.versions_branch.clone(),
            git: self.git.clone(),
            git_timeout: self.git_timeout,
            git_stale_lock_after: self.git_stale_lock_after,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minimal_config_takes_the_defaults() {
        let c: Config =
            serde_yaml::from_str("versions_url: /srv/repo.git\nversions_checkout_path: /var/lib/t\n").unwrap();
        assert_eq!(c, Config::new("/srv/repo.git", "/var/lib/t"));
        assert_eq!(c.poll_interval, Duration::from_secs(30));
    }

    #[test]
    fn human_durations_and_unknown_keys() {
        let c: Config = serde_yaml::from_str(
            "versions_url: x\nversions_checkout_path: y\npoll_interval: 250ms\ndeployer_url: http://d:8080\ndeployer_timeout: 2s\napi_bind: 0.0.0.0:8081\ngit_timeout: 10s\n",
        )
        .unwrap();
        assert_eq!(c.repo_settings().location().timeout, Duration::from_secs(10));
        assert_eq!(c.poll_interval, Duration::from_millis(250));
        assert_eq!(c.deployer_timeout, Duration::from_secs(2));
        let c: Config = serde_yaml::from_str(
            "versions_url: x\nversions_checkout_path: y\napi_tokens_file: /etc/slipway/tokens\napi_tokens_env: T\n",
        )
        .unwrap();
        assert_eq!(c.api_tokens_file, Some(PathBuf::from("/etc/slipway/tokens")));
        assert_eq!(c.api_tokens_env.as_deref(), Some("T"));
        let err = serde_yaml::from_str::<Config>("versions_url: x\nversions_checkout_path: y\npoll_intervall: 1s\n")
            .unwrap_err();
        assert!(err.to_string().contains("poll_intervall"), "{err}");
    }
}
