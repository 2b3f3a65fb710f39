//! Slipway's shared core: the resource repo model (SPEC section 2), the
//! base/version merge, name rules, locks, promotion rules, the status types of
//! the three services' APIs, and git plumbing.
//!
//! Everything but [`git`] and [`checkout_locks`] is pure and knows nothing of Kubernetes or async.
#![deny(unsafe_code)]

pub mod checkout_locks;
pub mod content_type;
pub mod deployers;
pub mod duration;
pub mod error;
pub mod git;
pub mod locks;
pub mod merge;
pub mod model;
pub mod names;
pub mod refresh;
pub mod status;
pub mod tokens;
pub mod transitions;

pub use error::FileError;
pub use model::{RepoSnapshot, Unit};
#[cfg(feature = "service")]
pub mod service;
