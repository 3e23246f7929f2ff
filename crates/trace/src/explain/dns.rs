//! DNS: each query of the resolver's walk with its answer (NXDOMAIN with the
//! zone's SOA, NODATA, the address), and who really answered: the source of
//! the response where it was first seen, before any reverse translation;
//! and the source pod's resolv.conf, whose search path made the walk.

use anyhow::Result;
use labyrinth_contracts::sandbox::{self, PODS_DIR, RESOLV_FILE};

use super::annotator::{Annotator, Context};
use crate::model::{Kind, Note, Trace};

/// The note kind of the answers.
pub const DNS_NOTE: &str = "dns";
/// The note kind of the source pod's resolver configuration.
pub const RESOLV_NOTE: &str = "resolv";

pub struct Dns;

/// The source pod's /etc/resolv.conf in one line (nameserver, search path,
/// options), read through its node's root as the runtime wrote it.
fn resolv_note(ctx: &Context) -> Option<Note> {
    let pod = ctx.lab.pod(&ctx.request.from).ok()?;
    let node = ctx.lab.node(&pod.node).ok()?;
    let path = sandbox::pod_dir(&node.path(PODS_DIR), &pod.uid).join(RESOLV_FILE);
    let text = match std::fs::read_to_string(&path) {
        Ok(conf) => {
            let lines: Vec<&str> = conf
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
                .collect();
            format!("{}'s /etc/resolv.conf: {}", pod.label(), lines.join("; "))
        }
        Err(e) => format!(
            "{}'s resolv.conf could not be read ({}: {e})",
            pod.label(),
            path.display()
        ),
    };
    Some(Note::new(RESOLV_NOTE, text))
}

impl Annotator for Dns {
    fn name(&self) -> &'static str {
        DNS_NOTE
    }

    fn annotate(&mut self, ctx: &Context, trace: &Trace) -> Result<Vec<Note>> {
        let asked = trace.packets.iter().any(|p| p.kind == Kind::Dns);
        let mut notes: Vec<Note> = resolv_note(ctx).filter(|_| asked).into_iter().collect();
        for (p, pkt, dns) in trace.dns_answers() {
            let first = &p.hops[0];
            let mut text = dns.verdict();
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
            notes.push(Note::new(DNS_NOTE, text).at(p.id, 0, first.point));
        }
        Ok(notes)
    }
}
