//! Service translation: where a packet's destination changed from a
//! ClusterIP:port to a pod's IP:port, and exactly what did it — the iptables
//! chains and rule (with the packet counters that rose during the trace) or
//! the nftables map element and chain, or the eBPF services map's frontend
//! and backend slots, read from the node that translated.

pub mod ebpf;
pub mod external;
pub mod iptables;
pub mod iptables_nodeport;
pub mod nftables;
mod translation;

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

use anyhow::{bail, Context as _, Result};
use labyrinth_contracts::bpf::MapKind;

use super::annotator::{Annotator, Context};
use crate::decode::Transport;
use crate::model::{Note, Trace};

pub use translation::Translation;

/// `iptables-save -c -t nat` of every node before the capture, so the
/// counters that rose can be told apart from old traffic.
#[derive(Default)]
pub struct Service {
    before: BTreeMap<String, String>,
}

/// Run a command inside a lab node (as `lab ssh` does) and return stdout.
pub fn in_node(lab: &str, node: &str, argv: &[&str]) -> Result<String> {
    let exe = std::env::current_exe().context("finding our executable")?;
    let out = Command::new(exe)
        .args(["lab", "ssh", "--name", lab, node, "--"])
        .args(argv)
        .stdin(std::process::Stdio::null())
        .output()?;
    if !out.status.success() {
        bail!(
            "{node}: {}: {}",
            argv.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// A node's eBPF map as typed rows (`labyrinth bpf map get MAP --json` in
/// the node); None when the node runs no eBPF datapath.
pub fn bpf_map<R: serde::de::DeserializeOwned>(lab: &str, node: &str, map: MapKind) -> Option<Vec<R>> {
    let exe = std::env::current_exe().ok()?;
    let exe = exe.to_string_lossy();
    let out = in_node(lab, node, &[&exe, "bpf", "map", "get", map.as_str(), "--json"]).ok()?;
    let dump: labyrinth_contracts::bpf::MapDump<R> = serde_json::from_str(&out).ok()?;
    Some(dump.entries)
}

fn ports(t: &Transport) -> Option<(&'static str, u16, u16)> {
    match t {
        Transport::Tcp { sport, dport, .. } => Some(("tcp", *sport, *dport)),
        Transport::Udp { sport, dport, .. } => Some(("udp", *sport, *dport)),
        _ => None,
    }
}

/// Translations in the trace with the packet and hop where each was first
/// seen translated.
pub fn translations(trace: &Trace) -> Vec<(Translation, usize, usize)> {
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for p in &trace.packets {
        let Some(first) = p.hops.first().and_then(|h| h.decoded.packet.as_ref()) else {
            continue;
        };
        let Some((proto, _, vport)) = ports(&first.transport) else {
            continue;
        };
        for (i, hop) in p.hops.iter().enumerate() {
            let Some(pkt) = &hop.decoded.packet else { continue };
            let Some((_, _, dport)) = ports(&pkt.transport) else {
                continue;
            };
            if pkt.ip.dst == first.ip.dst && dport == vport {
                continue;
            }
            let t = Translation {
                node: trace.point(&p.hops[i.saturating_sub(1)]).node.clone(),
                proto,
                vip: first.ip.dst,
                vport,
                backend: pkt.ip.dst,
                bport: dport,
            };
            if seen.insert(t.clone()) {
                out.push((t, p.id, i));
            }
            break;
        }
    }
    out
}

impl Annotator for Service {
    fn name(&self) -> &'static str {
        "service"
    }

    fn before(&mut self, ctx: &Context) -> Result<()> {
        for node in &ctx.lab.nodes {
            // A node without iptables rules simply has nothing to compare.
            if let Ok(save) = in_node(&ctx.lab.name, &node.name, &["iptables-save", "-c", "-t", "nat"]) {
                self.before.insert(node.name.clone(), save);
            }
        }
        Ok(())
    }

    fn annotate(&mut self, ctx: &Context, trace: &Trace) -> Result<Vec<Note>> {
        let mut notes = Vec::new();
        for (t, packet, hop) in translations(trace) {
            let point = trace.packets[packet].hops[hop].point;
            let text = match self.explain(&ctx.lab.name, &t) {
                Ok(text) => text,
                Err(e) => format!(
                    "{}: {}:{} → {}:{} ({}) translated, but the rule was not found: {e:#}",
                    t.node, t.vip, t.vport, t.backend, t.bport, t.proto
                ),
            };
            notes.push(Note::new("service", text).at(packet, hop, point));
        }
        Ok(notes)
    }
}

impl Service {
    fn explain(&self, lab: &str, t: &Translation) -> Result<String> {
        let save = in_node(lab, &t.node, &["iptables-save", "-c", "-t", "nat"])?;
        if let Some(text) = iptables::explain(t, self.before.get(&t.node).map(String::as_str), &save)? {
            return Ok(text);
        }
        let exe = std::env::current_exe().context("finding our executable")?;
        let exe = exe.to_string_lossy();
        let services = MapKind::Services.as_str();
        if let Ok(dump) = in_node(lab, &t.node, &[&exe, "bpf", "map", "get", services, "--json"]) {
            if let Some(text) = ebpf::explain(t, &dump)? {
                // A NodePort or LoadBalancer frontend also has its policy row.
                let rows = bpf_map(lab, &t.node, MapKind::Nodeport).unwrap_or_default();
                return Ok(match external::ebpf_policy(t, &rows) {
                    Some(p) => format!("{text}; {p}"),
                    None => text,
                });
            }
        }
        let ruleset = in_node(lab, &t.node, &["nft", "list", "table", "ip", "labyrinth"])?;
        nftables::explain(t, &ruleset)
            .context("neither the iptables nor the nftables rules nor the eBPF maps name this Service")
    }
}
