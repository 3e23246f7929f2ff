//! Drops: where a packet was last seen and why it died — a RST (no
//! listener), an ICMP error (no route, port unreachable or a reject rule,
//! too big for the path), or silence after a hop (with the route the kernel
//! has at that point).

use anyhow::Result;

use super::annotator::{Annotator, Context};
use super::route::Routing;
use crate::capture::Role;
use crate::decode::summary::icmp_name;
use crate::decode::{Transport, RST, SYN};
use crate::model::{Kind, Note, PacketTrace, Trace};

pub struct Drops;

fn icmp_cause(kind: u8, code: u8) -> &'static str {
    match (kind, code) {
        (3, 0) | (3, 1) => "no route to the destination",
        (3, 3) => "nothing accepts it on that port (no UDP listener), or a reject rule answered for it (a Service without endpoints is rejected this way)",
        (3, 4) => "the packet is larger than the MTU of a device on the path and may not be fragmented",
        (3, 9) | (3, 10) | (3, 13) => "a reject rule (administratively prohibited)",
        (11, _) => "the TTL ran out (a routing loop?)",
        _ => "an ICMP error",
    }
}

impl Annotator for Drops {
    fn name(&self) -> &'static str {
        "drop"
    }

    fn annotate(&mut self, ctx: &Context, trace: &Trace) -> Result<Vec<Note>> {
        let mut notes: Vec<Note> = Vec::new();
        let from = Some(ctx.request.from.as_str());
        let saw_syn = trace.flow().any(|p| first_flags(p).is_some_and(|f| f & SYN != 0));
        for p in &trace.packets {
            let first = &p.hops[0];
            let Some(pkt) = &first.decoded.packet else {
                continue;
            };
            let at = trace.point(first).heading();
            match &pkt.transport {
                Transport::Tcp { flags, sport, .. } if flags & RST != 0 => {
                    let why = if saw_syn
                        && trace
                            .flow()
                            .all(|q| first_flags(q) != Some(SYN | crate::decode::ACK))
                    {
                        format!("no process listens on port {sport} there: the kernel refused the connection")
                    } else {
                        "the connection was reset".to_string()
                    };
                    let text = format!("{} answered with RST (first seen at {at}): {why}", pkt.ip.src);
                    notes.push(Note::new("drop", text).at(p.id, 0, first.point));
                }
                Transport::Icmp { kind, code, quoted } if *kind == 3 || *kind == 11 => {
                    let about = quoted
                        .as_ref()
                        .map(|q| format!(" about {}:{} → {}:{}", q.src, q.sport, q.dst, q.dport))
                        .unwrap_or_default();
                    let who = match ctx.lab.node_by_address(pkt.ip.src) {
                        Some(n) => format!("{} ({})", n.name, pkt.ip.src),
                        None => pkt.ip.src.to_string(),
                    };
                    let text = format!(
                        "{who} sent ICMP {}{about} (first seen at {at}): {}",
                        icmp_name(*kind, *code),
                        icmp_cause(*kind, *code)
                    );
                    notes.push(Note::new("drop", text).at(p.id, 0, first.point));
                }
                _ => {}
            }
        }
        // Packets the source pod sent that never reached another pod.
        let mut routing = Routing::default();
        for p in trace.packets.iter().filter(|p| p.kind != Kind::Icmp) {
            if trace.point(&p.hops[0]).pod.as_deref() != from {
                continue;
            }
            let arrived = p.hops.iter().any(|h| {
                let pt = trace.point(h);
                pt.role == Role::PodEth && pt.pod.as_deref() != from
            });
            if arrived {
                continue;
            }
            let last_i = p.hops.len() - 1;
            let last = &p.hops[last_i];
            let pt = trace.point(last);
            let dst = last.decoded.packet.as_ref().map(|k| k.ip.dst);
            let mut text = format!(
                "last seen {} {}",
                if last.outgoing { "leaving" } else { "arriving at" },
                pt.heading()
            );
            if let (Some(dst), false) = (dst, last.outgoing) {
                text.push_str(&format!("; the route there: {}", routing.describe(pt, dst)?));
            }
            notes.push(Note::new("drop", text).at(p.id, last_i, last.point));
        }
        // The same story told once (A and AAAA queries share a socket).
        let mut seen = std::collections::HashSet::new();
        notes.retain(|n| seen.insert(n.text.clone()));
        Ok(notes)
    }
}

fn first_flags(p: &PacketTrace) -> Option<u8> {
    p.hops[0].decoded.packet.as_ref()?.tcp_flags()
}
