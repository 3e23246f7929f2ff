//! Choosing the store at start-up (`--store`, `--etcd-servers`).

use super::{EtcdStore, LogStore, Store};
use std::path::Path;
use std::sync::Arc;

/// Which backend holds the objects (`--store`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Backend {
    /// The embedded log in the data dir.
    #[default]
    Embedded,
    /// An etcd cluster, by its client URLs (--etcd-servers).
    Etcd { servers: Vec<String> },
}

/// Open the chosen backend (the embedded one under `data_dir/store`).
pub fn open(backend: &Backend, data_dir: &Path) -> anyhow::Result<Arc<dyn Store>> {
    Ok(match backend {
        Backend::Embedded => Arc::new(LogStore::open(&data_dir.join("store"))?),
        Backend::Etcd { servers } => Arc::new(EtcdStore::connect(servers)?),
    })
}
