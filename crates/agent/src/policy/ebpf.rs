//! The eBPF rendering: the compiled allow lists as the rows of the pinned
//! policy maps (labyrinth_ebpf::policy_rows), written in a gap-free order
//! by labyrinth_ebpf::policy_maps. The maps exist once the node's eBPF
//! datapath has loaded its programs, so the programmer waits for it.

use std::time::Duration;

use anyhow::Result;
use labyrinth_ebpf::policy_maps::PolicyMaps;
use labyrinth_ebpf::policy_rows::rows;
use labyrinth_policy::Compiled;

use super::programmer::Programmer;
use crate::agent::context::Agent;

pub struct PolicyEbpf {
    maps: PolicyMaps,
}

impl PolicyEbpf {
    /// Once the node's datapath is open: its pinned policy maps.
    pub async fn open(agent: &Agent) -> Result<Self> {
        let dp = loop {
            if let Some(dp) = agent.ebpf.get() {
                break dp.clone();
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        let dir = dp.lock().pin_dir().to_path_buf();
        Ok(PolicyEbpf {
            maps: PolicyMaps::open(&dir)?,
        })
    }
}

impl Programmer for PolicyEbpf {
    fn name(&self) -> &'static str {
        "eBPF"
    }
    fn sync(&mut self, c: &Compiled) -> Result<()> {
        let wanted = rows(c)?;
        let writes = self.maps.sync(&wanted)?;
        tracing::debug!("network policy: {writes} eBPF map writes");
        Ok(())
    }
}
