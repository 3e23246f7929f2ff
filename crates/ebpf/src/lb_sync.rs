//! The service maps as a `labyrinth_proxy::Datapath`, so the existing
//! Proxier (full/partial syncs, drift repair, metrics) drives them.

use std::collections::BTreeSet;

use anyhow::{Context, Result};
use labyrinth_proxy::{Datapath, ServiceModel, ServicePortName};

use crate::abi::{be_addr, PROTO_UDP};
use crate::datapath::EbpfDatapath;
use crate::lb_compile::{compile, Ids, LbState};
use crate::lb_drain::{flushes, udp_serving, Backends};
use crate::lb_plan::{first_difference, plan};

impl EbpfDatapath {
    /// Take the service maps to `new`, in an order with no gap. On a failed
    /// write the maps are put back to what they held before. Then the UDP
    /// flows of backends that left are drained or flushed (`lb_drain`),
    /// `serving` saying which still answer.
    fn program(&mut self, new: LbState, serving: &Backends) -> Result<()> {
        let ops = plan(&self.applied, &new);
        for (i, op) in ops.iter().enumerate() {
            if let Err(e) = self.maps.apply(op) {
                let undo = plan(&self.maps.read_lb().unwrap_or_default(), &self.applied);
                for op in &undo {
                    let _ = self.maps.apply(op);
                }
                return Err(e).with_context(|| format!("write {} of {}; rolled back", i + 1, ops.len()));
            }
        }
        let f = flushes(&self.applied, &new, serving, &self.draining);
        let hairpin = be_addr(self.cfg.hairpin_ip);
        for (id, stale, backends) in &f.flush {
            self.maps.flush_ct(*id, PROTO_UDP, backends, *stale, hairpin)?;
        }
        self.draining = f.draining;
        self.applied = new;
        Ok(())
    }

    /// The service map contents as we believe them programmed.
    pub fn applied(&self) -> &LbState {
        &self.applied
    }
}

impl Datapath for EbpfDatapath {
    fn name(&self) -> &'static str {
        labyrinth_contracts::modes::Datapath::Ebpf.as_str()
    }

    fn full_sync(&mut self, model: &ServiceModel) -> Result<()> {
        // Whatever the maps hold now is the starting point (after a restart,
        // or someone's hand edits): only differences are written.
        self.applied = self.maps.read_lb()?;
        let mut ids = Ids::recover(&self.applied);
        let new = compile(model, &mut ids)?;
        self.program(new, &udp_serving(model, &ids))?;
        self.ids = ids;
        Ok(())
    }

    /// Map writes are per entry, so a partial sync is the same diff as a
    /// full one, against what we last programmed rather than a re-read.
    fn partial_sync(&mut self, model: &ServiceModel, _changed: &BTreeSet<ServicePortName>) -> Result<()> {
        let mut ids = self.ids.clone();
        let new = compile(model, &mut ids)?;
        self.program(new, &udp_serving(model, &ids))?;
        self.ids = ids;
        Ok(())
    }

    fn check_drift(&mut self) -> Result<Option<String>> {
        let have = self.maps.read_lb()?;
        Ok(first_difference(&self.applied, &have))
    }

    fn cleanup(&mut self) -> Result<()> {
        self.applied = self.maps.read_lb()?;
        self.program(LbState::default(), &Backends::new())?;
        self.ids = Ids::default();
        Ok(())
    }
}

/// One datapath for two users: the Proxier (services, through this
/// Datapath impl) and the agent's pod loop (attach/detach, ipcache, through
/// the inner handle).
#[derive(Clone)]
pub struct SharedDatapath(pub std::sync::Arc<std::sync::Mutex<EbpfDatapath>>);

impl SharedDatapath {
    pub fn new(dp: EbpfDatapath) -> Self {
        SharedDatapath(std::sync::Arc::new(std::sync::Mutex::new(dp)))
    }

    /// Lock it for endpoint or ipcache work.
    pub fn lock(&self) -> std::sync::MutexGuard<'_, EbpfDatapath> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Datapath for SharedDatapath {
    fn name(&self) -> &'static str {
        labyrinth_contracts::modes::Datapath::Ebpf.as_str()
    }

    fn full_sync(&mut self, model: &ServiceModel) -> Result<()> {
        self.lock().full_sync(model)
    }

    fn partial_sync(&mut self, model: &ServiceModel, changed: &BTreeSet<ServicePortName>) -> Result<()> {
        self.lock().partial_sync(model, changed)
    }

    fn check_drift(&mut self) -> Result<Option<String>> {
        self.lock().check_drift()
    }

    fn cleanup(&mut self) -> Result<()> {
        self.lock().cleanup()
    }
}
