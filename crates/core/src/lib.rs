//! Slipway's pure domain: the resource repo model (SPEC section 2), the
//! base/version merge, name rules, locks, promotion rules, the deployers file,
//! API tokens, and the status types of the three services' APIs.
//!
//! Everything here is plain functions over plain data: no git, no async, no
//! HTTP, no Kubernetes. It must not depend on `git2`, `tokio`, `axum` or a
//! tracing subscriber, so its tests need no repo on disk and no runtime.
//!
//! ```text
//!   slipway-core   model, merge, names, locks, transitions, status   (pure)
//!        ▲
//!   slipway-repo   the resource repo through git: snapshots, history, push
//!        ▲
//!   slipway-kit    config files, tracing, listener, shutdown, metrics, refresh gate
//!        ▲
//!   deployer · transitioner · aggregator   (the three binaries)
//! ```
#![forbid(unsafe_code)]

pub mod approvals;
pub mod content_type;
pub mod delivery;
pub mod deploy_outcome;
pub mod deployers;
pub mod duration;
pub mod env_diff;
pub mod error;
pub mod lineage;
pub mod live;
pub mod locks;
pub mod merge;
pub mod model;
pub mod names;
pub mod preview;
pub mod previews;
pub mod redeploy;
pub mod refresh;
pub mod status;
pub mod tokens;
pub mod transitions;
pub mod windows;

pub use error::FileError;
pub use model::{RepoSnapshot, Unit};
