//! `GET /api/state`: the whole picture, computed from the repo snapshot and the
//! last status of the deployer and the transitioner.
//!
//! ```text
//! RepoSnapshot ──┐
//! VersionIndex ──┤ (parsed version files, reused while a file is unchanged)
//! DeployerStatus ┼──▶ build() ──▶ StateView ──▶ StateEncoder ──▶ JSON, served from memory
//! TransitionerStatus ┘
//! ```
//!
//! - [`view`]: the pure view ([`build`]),
//! - [`deployables`]: the `deployable/` files, one row per file,
//! - [`order`]: the order envs are shown in,
//! - [`version_index`]: parsed version files, reused while unchanged,
//! - [`encoder`]: the JSON, re-encoding only the services that changed.

pub mod deployables;
pub mod encoder;
pub mod order;
pub mod version_index;
pub mod view;

pub use deployables::{DeployableEnvView, DeployableView};
pub use encoder::StateEncoder;
pub use order::env_order;
pub use version_index::{ParsedVars, VersionCache, VersionIndex};
pub use view::{build, EnvView, Inputs, ServiceEnvView, ServiceView, StateView, Upstream};

#[cfg(test)]
pub(crate) mod fixture {
    use slipway_core::RepoSnapshot;

    const REPO: &[(&str, &str)] = &[
        (
            "transitions.yaml",
            "transitions:\n  dev: {source: latest, target: dev}\n  prod: {source: dev, target: prod}\n",
        ),
        (
            "deployers.yaml",
            "deployers:\n  dev: {cluster: main, namespace: dev}\n  prod: {cluster: main, namespace: prod}\n",
        ),
        ("latest/version/s1.yaml", "version: '43'\n"),
        ("dev/version/s1.yaml", "version: '42'\nimage: reg/s1:42\n"),
        ("dev/base/s1.yaml", "kind: x\n"),
        (
            "dev/locks.yaml",
            "env_lock: {reasons: [freeze]}\nresource_locks:\n  s1: {reasons: [incident]}\n",
        ),
        ("prod/version/s1.yaml", "version: '42'\n"),
        ("prod/version/broken.yaml", "[1, 2\n"),
        ("aaa/version/s2.yaml", "version: '1'\n"),
    ];

    pub fn snap() -> RepoSnapshot {
        RepoSnapshot::from_files("c1", REPO.iter().map(|(k, v)| (k.to_string(), v.as_bytes().to_vec())))
    }
}
