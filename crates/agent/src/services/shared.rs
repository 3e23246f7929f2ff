//! The Services this node's proxy watches, shared with the kubelet role:
//! every container gets its namespace's Service variables, and reading
//! them here instead of LISTing the namespace's Services at every pod start
//! saves the API a request per pod (the kubelet too reads them from its
//! informer's cache). One store, fed by the proxy's watch (`watch`), or
//! in the kubelet role apart from the proxy by its own (`env_watch`).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::RwLock;

use anyhow::Result;
use k8s_openapi::api::core::v1::Service;
use kube::runtime::watcher::Event;
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

    /// One event of a Service watch into the store; a relist's objects
    /// gather in `relist` and replace the store's whole at its end. True
    /// once a full list is in (at `InitDone`).
    pub fn apply_event(&self, relist: &mut Vec<Service>, ev: Event<Service>) -> Result<bool> {
        match ev {
            Event::Init => relist.clear(),
            Event::InitApply(s) => relist.push(s),
            Event::InitDone => {
                self.update(|st| st.replace_services(std::mem::take(relist)));
                self.mark_listed();
                return Ok(true);
            }
            Event::Apply(s) => self.update(|st| st.apply_service(s))?,
            Event::Delete(s) => {
                let m = &s.metadata;
                let ns = m.namespace.as_deref().unwrap_or("default");
                self.update(|st| st.delete_service(ns, m.name.as_deref().unwrap_or("")));
            }
        }
        Ok(false)
    }
}
