//! `labyrinth bpf map get pol-pods|pol-rules`: the policy maps as typed
//! rows (crates/contracts), which `labyrinth explain` walks as the
//! programs do.

use anyhow::Result;
use labyrinth_contracts::bpf::abi::addr_of as addr;
use labyrinth_contracts::bpf::policy::*;
use labyrinth_contracts::bpf::MapKind;

use crate::dump::MapRow;
use crate::maps::Maps;
use crate::policy_maps::PolicyMaps;

impl MapRow for PolicyPodRow {
    const KIND: MapKind = MapKind::PolPods;
    const COLUMNS: &'static [&'static str] = &["POD", "INGRESS", "EGRESS"];

    fn read(maps: &Maps) -> Result<Vec<Self>> {
        let rows = PolicyMaps::open(&maps.dir)?.read()?;
        Ok(rows
            .pods
            .iter()
            .map(|(pod, v)| PolicyPodRow {
                pod: addr(*pod),
                ingress: v.isolated & POL_ISOLATED_INGRESS != 0,
                egress: v.isolated & POL_ISOLATED_EGRESS != 0,
            })
            .collect())
    }

    fn cells(&self) -> Vec<String> {
        let iso = |b: bool| if b { "isolated" } else { "-" }.to_string();
        vec![self.pod.to_string(), iso(self.ingress), iso(self.egress)]
    }
}

impl MapRow for PolicyRuleRow {
    const KIND: MapKind = MapKind::PolRules;
    const COLUMNS: &'static [&'static str] = &["POD", "DIRECTION", "PROTO", "PEER", "PORTS"];

    fn read(maps: &Maps) -> Result<Vec<Self>> {
        let rows = PolicyMaps::open(&maps.dir)?.read()?;
        let mut out = Vec::new();
        for ((len, k), v) in &rows.rules {
            let peer_len = len.saturating_sub(POL_KEY_FIXED_BITS).min(32) as u8;
            let peer = ipnet::Ipv4Net::new(addr(k.peer), peer_len)?.trunc();
            out.push(PolicyRuleRow {
                pod: addr(k.pod),
                direction: direction_name(k.dir).to_string(),
                protocol: (k.proto != POL_PROTO_ANY).then_some(k.proto),
                peer,
                ports: v.ranges().iter().map(|r| (r.lo, r.hi)).collect(),
            });
        }
        Ok(out)
    }

    fn cells(&self) -> Vec<String> {
        let proto = match self.protocol {
            None => "any".to_string(),
            Some(6) => "TCP".to_string(),
            Some(17) => "UDP".to_string(),
            Some(132) => "SCTP".to_string(),
            Some(p) => p.to_string(),
        };
        let ports: Vec<String> = self
            .ports
            .iter()
            .map(|(lo, hi)| {
                if lo == hi {
                    lo.to_string()
                } else {
                    format!("{lo}-{hi}")
                }
            })
            .collect();
        vec![
            self.pod.to_string(),
            self.direction.clone(),
            proto,
            self.peer.to_string(),
            ports.join(","),
        ]
    }
}
