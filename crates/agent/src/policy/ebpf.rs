//! The eBPF rendering: the compiled allow lists as the rows of the pinned
//! policy maps (labyrinth_ebpf::policy_rows), written in a gap-free order
//! by labyrinth_ebpf::policy_maps, and the names of the isolating policies
//! beside them for `observe`. The maps exist once the node's eBPF
//! datapath has loaded its programs, so the programmer waits for it.

use std::time::Duration;

use anyhow::{Context, Result};
use labyrinth_contracts::bpf::policy::{PolicyNameRow, POLICY_NAMES_FILE};
use labyrinth_ebpf::policy_maps::PolicyMaps;
use labyrinth_ebpf::policy_rows::{rows, PolicyRows};
use labyrinth_policy::Compiled;

use super::programmer::Programmer;
use crate::agent::context::Agent;

pub struct PolicyEbpf {
    maps: PolicyMaps,
    /// The rows the maps hold since the last sync that succeeded; None
    /// before the first and after a failure (read back from the maps).
    held: Option<PolicyRows>,
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
            held: None,
        })
    }
}

/// The names `observe` gives a drop, which the maps cannot hold: written
/// whole to a temporary file and renamed, so a reader never sees half.
fn write_names(c: &Compiled) -> Result<()> {
    let rows: Vec<PolicyNameRow> = c
        .pods
        .iter()
        .map(|r| PolicyNameRow {
            pod_ip: r.ip,
            direction: r.direction.as_str().to_string(),
            pod: r.pod(),
            isolated_by: r.isolated_by.iter().map(ToString::to_string).collect(),
        })
        .collect();
    let path = std::path::Path::new(POLICY_NAMES_FILE);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, serde_json::to_vec(&rows)?).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("renaming to {}", path.display()))
}

impl Programmer for PolicyEbpf {
    fn name(&self) -> &'static str {
        "eBPF"
    }
    fn sync(&mut self, c: &Compiled, full: bool) -> Result<&'static str> {
        let wanted = rows(c)?;
        // Reading every row back cost as much as writing them: it is done
        // only at a resync (which also mends rows changed by hand) or when
        // what the maps hold is not known.
        let held = match self.held.take() {
            Some(h) if !full => h,
            _ => self.maps.read()?,
        };
        let writes = self.maps.sync_from(&held, &wanted)?;
        self.held = Some(wanted);
        tracing::debug!("network policy: {writes} eBPF map writes");
        write_names(c)?;
        Ok(if writes == 0 {
            "nothing changed"
        } else {
            "the changed rows"
        })
    }
}
