//! `labyrinth bpf map get nodeport`: the external frontends on this node
//! (NodePorts on its address, LoadBalancer addresses) with their Service
//! and externalTrafficPolicy, read by `explain` to say why a packet to a
//! NodePort was or was not masqueraded.

use anyhow::Result;
use labyrinth_contracts::bpf::{MapKind, NodePortRow};

use crate::dump::MapRow;
use crate::maps::Maps;

impl MapRow for NodePortRow {
    const KIND: MapKind = MapKind::Nodeport;
    const COLUMNS: &'static [&'static str] = &["FRONTEND", "REV NAT ID", "POLICY", "NAME"];

    fn read(maps: &Maps) -> Result<Vec<Self>> {
        let lb = maps.read_lb()?;
        let name = |id: u16| lb.names.get(&id).cloned().unwrap_or_default();
        Ok(lb
            .nodeports
            .iter()
            .map(|(k, v)| NodePortRow::new(k, v, name(v.rev_nat_index)))
            .collect())
    }

    fn cells(&self) -> Vec<String> {
        vec![
            format!("{}/{}", self.frontend, self.proto),
            self.rev_nat_index.to_string(),
            if self.local { "Local" } else { "Cluster" }.to_string(),
            self.name.clone(),
        ]
    }
}
