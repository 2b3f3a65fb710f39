//! The API verbs over the store, with the bookkeeping of the real server
//! (uid, resourceVersion, generation, managedFields, status subresource,
//! namespaces, finalizers, garbage collection). One file per concept:
//!
//! ```text
//!  apply ──▶ update ──▶ delete      scale ──▶ update, read
//!    │         │                      crd ──▶ update (status writes)
//!    └──▶ create                   every file ──▶ cluster (state, inputs, write side effects)
//! ```

mod apply;
mod body;
mod cluster;
mod crd;
mod create;
mod delete;
mod read;
mod scale;
#[cfg(test)]
mod testing;
mod update;

pub use cluster::{
    ApiResult, Behaviour, Cluster, Faults, ListOptions, PatchType, Target, WriteOptions, CONTROLLER_MANAGER,
};
pub use scale::has_scale;
