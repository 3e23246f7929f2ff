//! The Services this node's proxy watches, shared with the kubelet role:
//! every container gets its namespace's Service variables, and reading
//! them here instead of LISTing the namespace's Services at every pod start
//! saves the API a request per pod (the kubelet too reads them from its
//! informer's cache). One store, fed by the proxy's watch (`watch`).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::RwLock;

use labyrinth_proxy::k8s::ServiceStore;

#[derive(Default)]
pub struct SharedServices {
    store: RwLock<ServiceStore>,
    /// The first full list of Services is in.
    listed: AtomicBool,
}

impl SharedServices {
    /// Change the store (the proxy's watch; the lock is never held across
    /// an await).
    pub fn update<R>(&self, f: impl FnOnce(&mut ServiceStore) -> R) -> R {
        f(&mut self.store.write().unwrap_or_else(|e| e.into_inner()))
    }

    pub fn read<R>(&self, f: impl FnOnce(&ServiceStore) -> R) -> R {
        f(&self.store.read().unwrap_or_else(|e| e.into_inner()))
    }

    pub fn mark_listed(&self) {
        self.listed.store(true, Ordering::Release);
    }

    /// Whether the store has the cluster's Services: not before the first
    /// list, nor on a node without a proxy (no `--datapath`), where nothing
    /// feeds it.
    pub fn listed(&self) -> bool {
        self.listed.load(Ordering::Acquire)
    }
}
