//! The config file of `slipway-transitioner serve`.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use slipway_kit::lease::LeaseSettings;
use slipway_repo::RepoSettings;

/// `slipway-transitioner` config (YAML). Every key is documented in the crate README;
/// unknown keys are refused by `slipway_kit::config::load_config`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Config {
    /// The resource repo's keys (`versions_url`, `versions_checkout_path`, ...).
    #[serde(flatten)]
    pub repo: RepoSettings,
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
    /// Run several replicas of which only the holder of this Lease commits
    /// (`slipway_kit::lease`); without it, this one runs alone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leader_election: Option<LeaseSettings>,
    /// Where to send notifications (`promoted`, `promotion_blocked`).
    #[serde(default)]
    pub notifications: Vec<slipway_kit::notify::TargetConfig>,
    /// The git host's API, for the pull requests of `mode: pull_request` transitions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub git_host: Option<crate::git_host::GitHostConfig>,
}

/// The Lease's name when `leader_election.lease_name` is not set.
pub const DEFAULT_LEASE_NAME: &str = "slipway-transitioner";

/// The defaults of every optional key, in one place.
pub mod defaults {
    use std::time::Duration;

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
            repo: RepoSettings::new(versions_url, versions_checkout_path),
            api_bind: defaults::api_bind(),
            poll_interval: defaults::poll_interval(),
            deployer_url: None,
            deployer_timeout: defaults::deployer_timeout(),
            api_tokens_file: None,
            api_tokens_env: None,
            leader_election: None,
            notifications: Vec::new(),
            git_host: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use slipway_kit::config::parse_config;

    use super::*;

    #[test]
    fn minimal_config_takes_the_defaults() {
        let c: Config = parse_config(
            "versions_url: /srv/repo.git\nversions_checkout_path: /var/lib/t\n",
            "t.yaml",
        )
        .unwrap();
        assert_eq!(c, Config::new("/srv/repo.git", "/var/lib/t"));
        assert_eq!(c.poll_interval, Duration::from_secs(30));
    }

    #[test]
    fn human_durations_and_unknown_keys() {
        let c: Config = parse_config(
            "versions_url: x\nversions_checkout_path: y\npoll_interval: 250ms\ndeployer_url: http://d:8080\ndeployer_timeout: 2s\napi_bind: 0.0.0.0:8081\ngit_timeout: 10s\n",
            "t.yaml",
        )
        .unwrap();
        assert_eq!(c.repo.location().timeout, Duration::from_secs(10));
        assert_eq!(c.poll_interval, Duration::from_millis(250));
        assert_eq!(c.deployer_timeout, Duration::from_secs(2));
        let c: Config = parse_config(
            "versions_url: x\nversions_checkout_path: y\napi_tokens_file: /etc/slipway/tokens\napi_tokens_env: T\n",
            "t.yaml",
        )
        .unwrap();
        assert_eq!(c.api_tokens_file, Some(PathBuf::from("/etc/slipway/tokens")));
        assert_eq!(c.api_tokens_env.as_deref(), Some("T"));
        let err = parse_config::<Config>(
            "versions_url: x\nversions_checkout_path: y\npoll_intervall: 1s\n",
            "t.yaml",
        )
        .unwrap_err();
        assert!(err.to_string().contains("poll_intervall"), "{err}");
    }

    #[test]
    fn git_host_section() {
        let c: Config = parse_config(
            "versions_url: x\nversions_checkout_path: y\ngit_host:\n  kind: gitlab\n  api_url: https://git.example.com/api/v4\n  project: group/res\n  token_env: GITLAB_TOKEN\n  timeout: 3s\n",
            "t.yaml",
        )
        .unwrap();
        let host = c.git_host.unwrap();
        assert_eq!(host.kind, crate::git_host::HostKind::Gitlab);
        assert_eq!(
            (host.repo.as_str(), host.timeout),
            ("group/res", Duration::from_secs(3))
        );
        assert_eq!((host.attempts, host.retry_wait), (3, Duration::from_millis(500)));
        let err = parse_config::<Config>(
            "versions_url: x\nversions_checkout_path: y\ngit_host: {kind: bitbucket, repo: a/b, token_env: T}\n",
            "t.yaml",
        )
        .unwrap_err();
        assert!(err.to_string().contains("bitbucket"), "{err}");
        let err = parse_config::<Config>(
            "versions_url: x\nversions_checkout_path: y\ngit_host: {kind: github, repo: a/b, token: T}\n",
            "t.yaml",
        )
        .unwrap_err();
        assert!(err.to_string().contains("token"), "{err}");
    }

    #[test]
    fn leader_election_section() {
        let c: Config = parse_config(
            "versions_url: x\nversions_checkout_path: y\nleader_election:\n  lease_name: t\n  namespace: slipway\n  duration: 20s\n  renew_deadline: 12s\n  in_cluster: true\n",
            "t.yaml",
        )
        .unwrap();
        let le = c.leader_election.unwrap();
        assert_eq!(
            (le.lease_name.as_deref(), le.namespace.as_deref()),
            (Some("t"), Some("slipway"))
        );
        assert_eq!(
            (le.duration, le.renew_deadline),
            (Duration::from_secs(20), Duration::from_secs(12))
        );
        assert_eq!(le.retry_period, Duration::from_secs(2));
        assert!(le.in_cluster);
        let c: Config = parse_config(
            "versions_url: x\nversions_checkout_path: y\nleader_election: {}\n",
            "t.yaml",
        )
        .unwrap();
        assert_eq!(c.leader_election, Some(LeaseSettings::default()));
        let err = parse_config::<Config>(
            "versions_url: x\nversions_checkout_path: y\nleader_election: {lease: t}\n",
            "t.yaml",
        )
        .unwrap_err();
        assert!(err.to_string().contains("lease"), "{err}");
    }
}
