//! DNS: each query of the resolver's walk with its answer (NXDOMAIN with the
//! zone's SOA, NODATA, the address), and who really answered: the source of
//! the response where it was first seen, before any reverse translation.

use anyhow::Result;

use super::annotator::{Annotator, Context};
use crate::model::{Kind, Note, Trace};

pub struct Dns;

impl Annotator for Dns {
    fn name(&self) -> &'static str {
        "dns"
    }

    fn annotate(&mut self, ctx: &Context, trace: &Trace) -> Result<Vec<Note>> {
        let mut notes = Vec::new();
        for p in trace.packets.iter().filter(|p| p.kind == Kind::Dns) {
            let first = &p.hops[0];
            let Some(pkt) = &first.decoded.packet else {
                continue;
            };
            let Some(dns) = &pkt.dns else { continue };
            if !dns.response {
                continue;
            }
            let mut text = format!("{} {} → {}", dns.qtype, dns.qname, dns.outcome());
            if let Some(soa) = &dns.soa {
                text.push_str(&format!(" (SOA {soa})"));
            }
            let who = match ctx.lab.pod_by_ip(pkt.ip.src) {
                Some(pod) => format!("{} (pod {} on {})", pkt.ip.src, pod.label(), pod.node),
                None => pkt.ip.src.to_string(),
            };
            text.push_str(&format!(
                "; answered by {who}, first seen at {}",
                trace.point(first).heading()
            ));
            let last = p.hops.last().unwrap_or(first);
            if let Some(l) = &last.decoded.packet {
                if l.ip.src != pkt.ip.src {
                    text.push_str(&format!(", reaching the client from {}", l.ip.src));
                }
            }
            notes.push(Note::new("dns", text).at(p.id, 0, first.point));
        }
        Ok(notes)
    }
}
