//! The journey as a story: the DNS leg, then the traced packet hop by hop
//! in path order with what changed at each hop (translation,
//! encapsulation, the underlay, arrival) and the explanations bound to
//! that hop, then how the answer came back. The text, the picture and the
//! pcapng comments all tell it from here, so they say the same thing.

use std::net::Ipv4Addr;

use crate::capture::Role;
use crate::decode::Packet;
use crate::explain::dns::{DNS_NOTE, RESOLV_NOTE};
use crate::model::{Kind, PacketTrace, Trace};

/// The DNS server that answered, where its answer was first seen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsServer {
    pub ip: Ipv4Addr,
    /// `namespace/name` when the answer was first seen at a pod's device.
    pub pod: Option<String>,
    pub node: String,
}

/// The lookups that came before the flow.
#[derive(Debug, Clone, Default)]
pub struct DnsLeg {
    /// `A name → NXDOMAIN (SOA …)`, one per answer, in order.
    pub lookups: Vec<String>,
    pub servers: Vec<DnsServer>,
    /// The address the client sent its queries to (the DNS ClusterIP).
    pub asked: Option<Ipv4Addr>,
    /// Indices into `Trace::notes`: the resolver configuration, the answers
    /// and the translation of the DNS ClusterIP.
    pub notes: Vec<usize>,
}

/// One hop of the traced packet.
#[derive(Debug, Clone)]
pub struct Step {
    /// Index into the packet's hops.
    pub hop: usize,
    /// Index into `Trace::points`.
    pub point: usize,
    pub outgoing: bool,
    /// What changed here, in short phrases.
    pub changes: Vec<String>,
    /// Indices into `Trace::notes` bound to this hop.
    pub notes: Vec<usize>,
}

/// The first packet of the answer and what was rewritten on its way back.
#[derive(Debug, Clone)]
pub struct Reply {
    pub packet: usize,
    pub hops: usize,
    /// (node, phrase) for each rewrite, in the order it happened.
    pub rewrites: Vec<(String, String)>,
}

#[derive(Debug, Clone, Default)]
pub struct Story {
    pub dns: Option<DnsLeg>,
    /// The traced packet (its id) and its hops.
    pub packet: Option<usize>,
    pub steps: Vec<Step>,
    pub reply: Option<Reply>,
    /// Per note: told in the story (else it belongs to the remainder).
    pub told: Vec<bool>,
}

fn endpoint(ip: Ipv4Addr, port: Option<u16>) -> String {
    match port {
        Some(p) => format!("{ip}:{p}"),
        None => ip.to_string(),
    }
}

fn ends(p: &Packet) -> (String, String) {
    let (s, d) = p.ports().map_or((None, None), |(s, d)| (Some(s), Some(d)));
    (endpoint(p.ip.src, s), endpoint(p.ip.dst, d))
}

/// What changed at hop `k` of `p` since the hop before, in short phrases
/// ("destination rewritten A → B (DNAT)", "encapsulated in VXLAN: …").
pub fn changes(trace: &Trace, p: &PacketTrace, k: usize) -> Vec<String> {
    let h = &p.hops[k];
    let pt = trace.point(h);
    let mut out = Vec::new();
    if k == 0 {
        out.push(match (&pt.pod, h.outgoing) {
            (Some(pod), true) => format!("sent by pod {pod}"),
            _ => "first seen here".to_string(),
        });
        return out;
    }
    let prev = &p.hops[k - 1];
    let ppt = trace.point(prev);
    if let (Some(a), Some(b)) = (&prev.decoded.packet, &h.decoded.packet) {
        let ((asrc, adst), (bsrc, bdst)) = (ends(a), ends(b));
        if adst != bdst {
            out.push(format!("destination rewritten {adst} → {bdst} (DNAT)"));
        }
        if asrc != bsrc {
            out.push(format!("source rewritten {asrc} → {bsrc}"));
        }
    }
    match (&prev.decoded.vxlan, &h.decoded.vxlan) {
        (None, Some(v)) => out.push(format!(
            "encapsulated in VXLAN: outer {} → {} UDP {} VNI {}",
            v.src, v.dst, v.dport, v.vni
        )),
        (Some(v), None) => out.push(format!(
            "decapsulated: VXLAN VNI {} from {} taken off",
            v.vni, v.src
        )),
        (Some(v), Some(_)) if ppt.node != pt.node => out.push(format!(
            "across the underlay from {}: {} → {} UDP {} VNI {}",
            ppt.node, v.src, v.dst, v.dport, v.vni
        )),
        (None, None) if ppt.node != pt.node => out.push(format!(
            "across the underlay from {}, routed without a tunnel",
            ppt.node
        )),
        _ => {}
    }
    if pt.role == Role::PodEth && !h.outgoing {
        if let Some(pod) = &pt.pod {
            out.push(format!("arrived in pod {pod}"));
        }
    }
    if out.is_empty() {
        out.push("unchanged".into());
    }
    out
}

/// The first flow packet going the other way (SYN-ACK, UDP answer).
pub fn reply_to<'a>(trace: &'a Trace, main: &PacketTrace) -> Option<&'a PacketTrace> {
    let src = main.hops[0].decoded.packet.as_ref()?.ip.src;
    trace.flow().find(|p| {
        p.id != main.id
            && p.hops
                .last()
                .and_then(|h| h.decoded.packet.as_ref())
                .is_some_and(|k| k.ip.dst == src)
    })
}

fn dns_leg(trace: &Trace, told: &mut [bool]) -> Option<DnsLeg> {
    let mut leg = DnsLeg::default();
    let dns_packets: Vec<usize> = trace
        .packets
        .iter()
        .filter(|p| p.kind == Kind::Dns)
        .map(|p| p.id)
        .collect();
    if dns_packets.is_empty() {
        return None;
    }
    leg.asked = trace
        .packets
        .iter()
        .filter(|p| p.kind == Kind::Dns)
        .find_map(|p| {
            p.hops[0]
                .decoded
                .packet
                .as_ref()
                .filter(|k| k.dns.as_ref().is_some_and(|d| !d.response))
        })
        .map(|k| k.ip.dst);
    for (p, pkt, dns) in trace.dns_answers() {
        let first = &p.hops[0];
        leg.lookups.push(dns.verdict());
        let at = trace.point(first);
        let server = DnsServer {
            ip: pkt.ip.src,
            pod: at.pod.clone().or_else(|| at.peer_pod.clone()),
            node: at.node.clone(),
        };
        if !leg.servers.contains(&server) {
            leg.servers.push(server);
        }
    }
    for (i, n) in trace.notes.iter().enumerate() {
        let on_dns = n.packet.is_some_and(|p| dns_packets.contains(&p));
        let about = n.kind == RESOLV_NOTE || n.kind == DNS_NOTE || (on_dns && n.kind == "service");
        if about {
            leg.notes.push(i);
            told[i] = true;
        }
    }
    Some(leg)
}

/// Tell the trace's story.
pub fn tell(trace: &Trace) -> Story {
    let mut told = vec![false; trace.notes.len()];
    let dns = dns_leg(trace, &mut told);
    let Some(main) = super::main_packet(trace).filter(|p| p.kind != Kind::Dns) else {
        return Story {
            dns,
            told,
            ..Story::default()
        };
    };
    let steps = main
        .hops
        .iter()
        .enumerate()
        .map(|(k, h)| {
            let notes: Vec<usize> = trace
                .notes
                .iter()
                .enumerate()
                .filter(|(_, n)| n.packet == Some(main.id) && n.hop == Some(k))
                .map(|(i, _)| i)
                .collect();
            for &i in &notes {
                told[i] = true;
            }
            Step {
                hop: k,
                point: h.point,
                outgoing: h.outgoing,
                changes: changes(trace, main, k),
                notes,
            }
        })
        .collect();
    let reply = reply_to(trace, main).map(|r| Reply {
        packet: r.id,
        hops: r.hops.len(),
        rewrites: (1..r.hops.len())
            .flat_map(|k| {
                let node = trace.point(&r.hops[k]).node.clone();
                changes(trace, r, k)
                    .into_iter()
                    .filter(|c| c.contains("rewritten"))
                    .map(move |c| (node.clone(), c))
            })
            .collect(),
    });
    Story {
        dns,
        packet: Some(main.id),
        steps,
        reply,
        told,
    }
}
