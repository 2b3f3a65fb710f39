//! The aggregator's config file, with every default in one place.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use slipway_repo::RepoSettings;

/// Defaults of every optional config key.
pub mod defaults {
    use std::path::PathBuf;
    use std::time::Duration;

    pub fn api_bind() -> String {
        "127.0.0.1:0".to_string()
    }
    pub fn ui_path() -> PathBuf {
        PathBuf::from("ui/dist")
    }
    pub fn poll_interval() -> Duration {
        Duration::from_secs(30)
    }
    pub fn peer_poll_interval() -> Duration {
        Duration::from_secs(1)
    }
    pub fn peer_timeout() -> Duration {
        Duration::from_secs(5)
    }
    pub fn version_batch_max() -> usize {
        64
    }
}

/// `slipway-aggregator serve --config FILE`.
/// Unknown keys are refused by `slipway_kit::config::load_config`.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct AggregatorConfig {
    /// The resource repo's keys (`versions_url`, `versions_checkout_path`, ...).
    #[serde(flatten)]
    pub repo: RepoSettings,
    /// Address of the HTTP API and UI.
    #[serde(default = "defaults::api_bind")]
    pub api_bind: String,
    /// Base URL of the deployer's API (`GET /status`, `POST /refresh`); none: no rollout status.
    #[serde(default)]
    pub deployer_url: Option<String>,
    /// Base URL of the transitioner's API; none: no promotion status, runs answer 503.
    #[serde(default)]
    pub transitioner_url: Option<String>,
    /// Folder of the built web UI.
    #[serde(default = "defaults::ui_path")]
    pub ui_path: PathBuf,
    /// How often the repo is fetched when nothing asks for it.
    #[serde(default = "defaults::poll_interval", with = "humantime_serde")]
    pub poll_interval: Duration,
    /// How often the deployer's and transitioner's status is read.
    #[serde(default = "defaults::peer_poll_interval", with = "humantime_serde")]
    pub peer_poll_interval: Duration,
    /// How long a call to the deployer or transitioner may take.
    #[serde(default = "defaults::peer_timeout", with = "humantime_serde")]
    pub peer_timeout: Duration,
    /// File with one `name:token` per line; the name becomes the commit author.
    #[serde(default)]
    pub api_tokens_file: Option<PathBuf>,
    /// Environment variable holding `name:token` pairs, comma-separated.
    #[serde(default)]
    pub api_tokens_env: Option<String>,
    /// File with the token the aggregator sends to the transitioner: the token, or
    /// the `name:token` line of the transitioner's `api_tokens_file`.
    #[serde(default)]
    pub peer_token_file: Option<PathBuf>,
    /// Environment variable holding that token (or `name:token`).
    #[serde(default)]
    pub peer_token_env: Option<String>,
    /// Whether reads (`/api/state`, `/api/history`, `/api/events`) need a token too.
    #[serde(default)]
    pub read_requires_token: bool,
    /// Link of a commit on the git host, `{sha}` standing for the commit id
    /// (`https://github.com/org/repo/commit/{sha}`); none: history has no links.
    #[serde(default)]
    pub commit_url_template: Option<String>,
    /// Most posted versions committed together and pushed once (group commit); 1: each alone.
    #[serde(default = "defaults::version_batch_max")]
    pub version_batch_max: usize,
    /// Push webhooks of git hosts and where their secrets come from.
    #[serde(default)]
    pub webhooks: crate::webhooks::WebhooksConfig,
    /// Where to send notifications (`lock_changed`, `rolled_back`).
    #[serde(default)]
    pub notifications: Vec<slipway_kit::notify::TargetConfig>,
    /// Preview envs are reached at `<name>.<preview_domain>` (`${preview_host}`).
    #[serde(default)]
    pub preview_domain: Option<String>,
    /// Preview envs: path prefix, default time to live, expiry checks, pull requests.
    #[serde(default)]
    pub previews: crate::previews::PreviewsConfig,
}

impl AggregatorConfig {
    /// A config with every default, for tests and embedding.
    pub fn new(versions_url: impl Into<String>, versions_checkout_path: impl Into<PathBuf>) -> Self {
        AggregatorConfig {
            repo: RepoSettings::new(versions_url, versions_checkout_path),
            api_bind: defaults::api_bind(),
            deployer_url: None,
            transitioner_url: None,
            ui_path: defaults::ui_path(),
            poll_interval: defaults::poll_interval(),
            peer_poll_interval: defaults::peer_poll_interval(),
            peer_timeout: defaults::peer_timeout(),
            api_tokens_file: None,
            api_tokens_env: None,
            peer_token_file: None,
            peer_token_env: None,
            read_requires_token: false,
            commit_url_template: None,
            version_batch_max: defaults::version_batch_max(),
            webhooks: Default::default(),
            notifications: Vec::new(),
            preview_domain: None,
            previews: Default::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use slipway_kit::config::parse_config;

    use super::*;

    #[test]
    fn minimal_config_gets_documented_defaults() {
        let c: AggregatorConfig = parse_config(
            "versions_url: /srv/repo.git\nversions_checkout_path: /var/lib/agg\n",
            "aggregator.yaml",
        )
        .unwrap();
        assert_eq!(c.api_bind, "127.0.0.1:0");
        assert_eq!(c.poll_interval, Duration::from_secs(30));
        assert_eq!(c.peer_poll_interval, Duration::from_secs(1));
        assert_eq!(c.repo.versions_branch, "main");
        assert!(!c.read_requires_token);
        assert_eq!(c.version_batch_max, 64);
        assert_eq!(c.repo.location().timeout, Duration::from_secs(30));
        assert_eq!(c.repo.git_stale_lock_after, Duration::from_secs(120));
    }

    #[test]
    fn durations_are_human_and_unknown_keys_are_refused() {
        let c: AggregatorConfig = parse_config(
            "versions_url: x\nversions_checkout_path: y\npoll_interval: 5m\npeer_poll_interval: 250ms\ngit_timeout: 2s\ngit_stale_lock_after: 10s\n",
            "aggregator.yaml",
        )
        .unwrap();
        assert_eq!(c.repo.location().timeout, Duration::from_secs(2));
        assert_eq!(c.repo.location().stale_lock_after, Duration::from_secs(10));
        assert_eq!(c.poll_interval, Duration::from_secs(300));
        assert_eq!(c.peer_poll_interval, Duration::from_millis(250));
        let err = parse_config::<AggregatorConfig>(
            "versions_url: x\nversions_checkout_path: y\napi_token: z\n",
            "aggregator.yaml",
        )
        .unwrap_err();
        assert!(err.to_string().contains("unknown key api_token"), "{err}");
        assert!(err.to_string().contains("aggregator.yaml"), "{err}");
    }
}
