//! Which store holds the cluster's objects: the lab file's `store`, the
//! `--store` flags of `lab up` and of the API server, and the lab's state
//! record all take this type.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum StoreKind {
    /// The API server's own log in its data dir (the default).
    #[default]
    Embedded,
    /// etcd's v3 API, as kube-apiserver's storage (Debian's etcd-server).
    Etcd,
}

impl StoreKind {
    pub const fn as_str(self) -> &'static str {
        match self {
            StoreKind::Embedded => "embedded",
            StoreKind::Etcd => "etcd",
        }
    }

    pub fn is_embedded(&self) -> bool {
        *self == StoreKind::Embedded
    }
}

impl std::fmt::Display for StoreKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// etcd's client port, where the lab's etcd listens inside node-0.
pub const ETCD_CLIENT_PORT: u16 = 2379;
/// etcd's peer port (one member, but etcd always listens for peers).
pub const ETCD_PEER_PORT: u16 = 2380;
