//! Our plugin's commands behind the dispatcher.

pub mod add;
pub mod check;
pub mod del;
pub mod gc;
pub mod status;

use labyrinth_netlink::netns::NetNs;
use labyrinth_netlink::Handle;

use crate::config::NetConf;
use crate::retire::Detach;
use crate::spec::{CniError, CniResult, Plugin, Request};

/// The labyrinth-cni plugin (stateless; everything lives in the kernel and
/// the IPAM directory). `detach` is how DEL leaves the kernel's slow part
/// behind: the executable forks, the node agent (many threads, where a fork
/// is unsafe) runs a thread.
pub struct LabyrinthPlugin {
    pub detach: Detach,
}

impl LabyrinthPlugin {
    /// As its own process (`labyrinth-cni`, `labyrinth cni`).
    pub const EXEC: LabyrinthPlugin = LabyrinthPlugin { detach: Detach::Fork };
    /// Inside a long-running multi-threaded process (the node agent).
    pub const IN_PROCESS: LabyrinthPlugin = LabyrinthPlugin {
        detach: Detach::Thread,
    };
}

impl Plugin for LabyrinthPlugin {
    fn add(&self, req: &Request) -> Result<CniResult, CniError> {
        add::add(req, &NetConf::parse(&req.config)?, None)
    }
    fn del(&self, req: &Request) -> Result<(), CniError> {
        del::del(req, &NetConf::parse(&req.config)?, self.detach)
    }
    fn check(&self, req: &Request) -> Result<(), CniError> {
        check::check(req, &NetConf::parse(&req.config)?)
    }
    fn status(&self, req: &Request) -> Result<(), CniError> {
        status::status(&NetConf::parse(&req.config)?)
    }
    fn gc(&self, req: &Request) -> Result<(), CniError> {
        gc::gc(req, &NetConf::parse(&req.config)?)
    }
}

/// A netlink socket in the namespace the plugin runs in (the node's).
pub(crate) fn node_handle() -> Result<Handle, CniError> {
    Handle::current("node")
        .map_err(|e| CniError::internal("opening netlink in the node namespace", e.to_string()))
}

pub(crate) fn open_netns(path: &str) -> std::io::Result<NetNs> {
    NetNs::open(path, format!("pod netns {path}")).map_err(|e| std::io::Error::other(e.to_string()))
}

/// Refuse a CNI_NETNS that is the namespace we run in: the pod side would
/// land on the node itself.
pub(crate) fn refuse_own_netns(path: &str) -> Result<(), CniError> {
    use std::os::unix::fs::MetadataExt;
    let id = |p: &str| std::fs::metadata(p).map(|m| (m.dev(), m.ino()));
    match (id(path), id("/proc/thread-self/ns/net")) {
        (Ok(pod), Ok(own)) if pod == own => Err(CniError::invalid_env(
            &["CNI_NETNS"],
            format!("{path} is the plugin's own network namespace, not a container's"),
        )),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests;
