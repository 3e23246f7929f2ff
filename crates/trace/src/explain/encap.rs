//! Encapsulation and decapsulation: where a packet entered a VXLAN frame
//! (outer node addresses, UDP 8472, the VNI) and where it came out, once per
//! direction between two nodes.

use std::collections::HashSet;

use anyhow::Result;
use labyrinth_contracts::node::VXLAN_DEV;

use super::annotator::{Annotator, Context};
use crate::capture::Role;
use crate::model::{Note, Trace};

pub struct Encap;

impl Annotator for Encap {
    fn name(&self) -> &'static str {
        "encap"
    }

    fn annotate(&mut self, ctx: &Context, trace: &Trace) -> Result<Vec<Note>> {
        let mut notes = Vec::new();
        let mut done = HashSet::new();
        let node_of = |ip| {
            ctx.lab
                .node_by_address(ip)
                .map(|n| n.name.clone())
                .unwrap_or_else(|| ip.to_string())
        };
        for p in trace.flow_first() {
            for (i, hop) in p.hops.iter().enumerate() {
                let Some(v) = &hop.decoded.vxlan else { continue };
                let point = trace.point(hop);
                if point.role != Role::Uplink {
                    continue;
                }
                let inner = hop
                    .decoded
                    .packet
                    .as_ref()
                    .map(|p| format!("{} → {}", p.ip.src, p.ip.dst))
                    .unwrap_or_default();
                let (kind, text) = if hop.outgoing {
                    (
                        "encap",
                        format!(
                            "{} encapsulates [{inner}] on {VXLAN_DEV}: VXLAN VNI {}, outer {} → {} UDP {} → {} (to {})",
                            point.node,
                            v.vni,
                            v.src,
                            v.dst,
                            v.sport,
                            v.dport,
                            node_of(v.dst)
                        ),
                    )
                } else {
                    (
                        "decap",
                        format!(
                            "{} decapsulates VXLAN VNI {} from {} ({}) on UDP {}: [{inner}] comes out of {VXLAN_DEV}",
                            point.node,
                            v.vni,
                            v.src,
                            node_of(v.src),
                            v.dport
                        ),
                    )
                };
                if done.insert((kind, v.src, v.dst)) {
                    notes.push(Note::new(kind, text).at(p.id, i, hop.point));
                }
            }
        }
        Ok(notes)
    }
}
