//! Follow the same packet across hops. A packet keeps its IP ID, TCP
//! sequence/acknowledgement numbers, flags and payload through veths,
//! routing, NAT and VXLAN; NAT rewrites one side's address and port, never
//! both. So sightings with the same identity are one packet when they share
//! the source or the destination endpoint with an earlier sighting and
//! follow it closely in time. VXLAN frames are matched by the packet inside.

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::time::Duration;

use crate::capture::Frame;
use crate::decode::summary::{frame_line, SeqBase};
use crate::decode::{decode, Decoded, Ident, Packet, Transport, SYN};
use crate::model::{Hop, Kind, PacketTrace};

/// Sightings further apart than this are different packets.
const SAME_PACKET_WINDOW: Duration = Duration::from_secs(1);

type Endpoint = (Ipv4Addr, u16);

fn endpoints(p: &Packet) -> (Endpoint, Endpoint) {
    let (sp, dp) = p.ports().unwrap_or((0, 0));
    ((p.ip.src, sp), (p.ip.dst, dp))
}

struct Group {
    last: Duration,
    ends: Vec<(Endpoint, Endpoint)>,
    /// (frame index, point, outgoing)
    sightings: Vec<(usize, usize, bool)>,
}

/// Group frames into packets and give each hop its summary line. `port` is
/// the traced port: TCP/UDP packets with it on either side (before or after
/// translation), DNS and ICMP are kept; other traffic of the pod is not.
pub fn correlate(frames: &[Frame], port: u16) -> Vec<PacketTrace> {
    let decoded: Vec<Decoded> = frames.iter().map(|f| decode(&f.data)).collect();
    let mut groups: Vec<Group> = Vec::new();
    let mut by_ident: HashMap<Ident, Vec<usize>> = HashMap::new();
    for (i, (f, d)) in frames.iter().zip(&decoded).enumerate() {
        let Some(p) = &d.packet else { continue };
        let ident = p.ident();
        let ends = endpoints(p);
        let candidates = by_ident.entry(ident).or_default();
        let found = candidates.iter().rev().copied().find(|&g| {
            let g = &groups[g];
            f.ts.saturating_sub(g.last) <= SAME_PACKET_WINDOW
                && g.ends.iter().any(|(s, d)| *s == ends.0 || *d == ends.1)
                && !g
                    .sightings
                    .iter()
                    .any(|(_, pt, out)| *pt == f.point && *out == f.outgoing)
        });
        let g = match found {
            Some(g) => g,
            None => {
                groups.push(Group {
                    last: f.ts,
                    ends: Vec::new(),
                    sightings: Vec::new(),
                });
                candidates.push(groups.len() - 1);
                groups.len() - 1
            }
        };
        let g = &mut groups[g];
        g.last = f.ts;
        if !g.ends.contains(&ends) {
            g.ends.push(ends);
        }
        g.sightings.push((i, f.point, f.outgoing));
    }

    let bases = isn_table(&decoded);
    let start = frames.first().map(|f| f.ts).unwrap_or_default();
    let mut out = Vec::new();
    for g in groups {
        let kind = match kind_of(&g, &decoded, port) {
            Some(k) => k,
            None => continue,
        };
        let hops = g
            .sightings
            .iter()
            .map(|&(fi, point, outgoing)| {
                let d = &decoded[fi];
                Hop {
                    point,
                    t: (frames[fi].ts.saturating_sub(start)).as_secs_f64(),
                    outgoing,
                    summary: frame_line(d, base_for(d, &bases)),
                    decoded: d.clone(),
                    frame: fi,
                }
            })
            .collect();
        out.push(PacketTrace {
            id: out.len(),
            kind,
            hops,
        });
    }
    out
}

fn kind_of(g: &Group, decoded: &[Decoded], port: u16) -> Option<Kind> {
    let p = decoded[g.sightings[0].0].packet.as_ref()?;
    if matches!(p.transport, Transport::Icmp { .. }) {
        return Some(Kind::Icmp);
    }
    if p.dns.is_some() {
        return Some(Kind::Dns);
    }
    let on_port = g.sightings.iter().any(|(fi, _, _)| {
        decoded[*fi]
            .packet
            .as_ref()
            .and_then(Packet::ports)
            .is_some_and(|(s, d)| s == port || d == port)
    });
    on_port.then_some(Kind::Flow)
}

/// The initial sequence number of every TCP direction seen with a SYN, by
/// (source, destination) as it appeared at that hop.
fn isn_table(decoded: &[Decoded]) -> HashMap<(Endpoint, Endpoint), u32> {
    let mut t = HashMap::new();
    for d in decoded {
        if let Some(p) = &d.packet {
            if let Transport::Tcp { seq, flags, .. } = p.transport {
                if flags & SYN != 0 {
                    t.entry(endpoints(p)).or_insert(seq);
                }
            }
        }
    }
    t
}

fn base_for(d: &Decoded, bases: &HashMap<(Endpoint, Endpoint), u32>) -> SeqBase {
    let Some(p) = &d.packet else {
        return SeqBase::default();
    };
    let (s, t) = endpoints(p);
    SeqBase {
        seq: bases.get(&(s, t)).copied(),
        ack: bases.get(&(t, s)).copied(),
    }
}
