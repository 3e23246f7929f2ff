//! The record catalog: Kubernetes objects → DNS records → a compiled,
//! immutable snapshot that the server reads without locks.

pub mod build;
pub mod compile;
pub mod names;
pub mod publish;
pub mod record;
pub mod snapshot;
pub mod update;

#[cfg(test)]
mod tests;
#[cfg(test)]
pub(crate) mod testutil;

use std::sync::Arc;

use arc_swap::ArcSwap;

pub use compile::ZoneConfig;
pub use snapshot::{Lookup, Snapshot};
pub use update::{Change, Kind, Object, Store};

/// The published catalog: readers `load()` the current snapshot; the
/// updater `store()`s a new one.
pub type Shared = Arc<ArcSwap<Snapshot>>;

/// A shared catalog holding `snap`.
pub fn shared(snap: Snapshot) -> Shared {
    Arc::new(ArcSwap::from_pointee(snap))
}
