//! Our plugin's commands behind the dispatcher.

pub mod add;
pub mod check;
pub mod del;
pub mod gc;
mod namespaces;
pub mod status;

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

#[cfg(test)]
mod tests;
