//! One line per packet in the style of tshark's summary:
//! `SRC → DST PROTO LEN INFO`, with VXLAN frames showing their envelope
//! and the packet inside.

use super::{Decoded, Packet, Transport, ACK, FIN, PSH, RST, SYN};

/// Ethernet + IPv4 + UDP + VXLAN around an inner frame.
const VXLAN_OVERHEAD: usize = 14 + 20 + 8 + 8;

/// Bases for relative TCP numbers (the ISN of each direction), when known.
#[derive(Debug, Clone, Copy, Default)]
pub struct SeqBase {
    pub seq: Option<u32>,
    pub ack: Option<u32>,
}

pub fn frame_line(d: &Decoded, base: SeqBase) -> String {
    let inner = match &d.packet {
        Some(p) => {
            let len = match d.vxlan {
                Some(_) => d.frame_len.saturating_sub(VXLAN_OVERHEAD),
                None => d.frame_len,
            };
            packet_line(p, len, base)
        }
        None => format!("(not IPv4) {} bytes", d.frame_len),
    };
    match &d.vxlan {
        Some(v) => format!(
            "{} → {} UDP {} VXLAN VNI {} [{inner}]",
            v.src, v.dst, v.dport, v.vni
        ),
        None => inner,
    }
}

pub fn packet_line(p: &Packet, len: usize, base: SeqBase) -> String {
    let (src, dst) = (p.ip.src, p.ip.dst);
    match &p.transport {
        Transport::Tcp {
            sport,
            dport,
            seq,
            ack,
            flags,
            win,
            payload_len,
        } => {
            let rel = |v: u32, b: Option<u32>| b.map_or(v, |b| v.wrapping_sub(b));
            let mut info = format!(
                "{sport} → {dport} [{}] Seq={}",
                flag_names(*flags),
                rel(*seq, base.seq)
            );
            if flags & ACK != 0 {
                info.push_str(&format!(" Ack={}", rel(*ack, base.ack)));
            }
            info.push_str(&format!(" Win={win} Len={payload_len}"));
            format!("{src} → {dst} TCP {len} {info}")
        }
        Transport::Udp {
            sport,
            dport,
            payload_len,
        } => match &p.dns {
            Some(dns) => format!("{src} → {dst} DNS {len} {}", dns.summary()),
            None => format!("{src} → {dst} UDP {len} {sport} → {dport} Len={payload_len}"),
        },
        Transport::Icmp { kind, code, quoted } => {
            let mut info = icmp_name(*kind, *code);
            if let Some(q) = quoted {
                info.push_str(&format!(" (for {}:{} → {}:{})", q.src, q.sport, q.dst, q.dport));
            }
            format!("{src} → {dst} ICMP {len} {info}")
        }
        Transport::Other { number } => format!("{src} → {dst} IP proto {number} {len}"),
    }
}

pub fn flag_names(flags: u8) -> String {
    let names: Vec<&str> = [
        (FIN, "FIN"),
        (SYN, "SYN"),
        (RST, "RST"),
        (PSH, "PSH"),
        (ACK, "ACK"),
    ]
    .iter()
    .filter(|(bit, _)| flags & bit != 0)
    .map(|(_, n)| *n)
    .collect();
    names.join(", ")
}

pub fn icmp_name(kind: u8, code: u8) -> String {
    match (kind, code) {
        (0, _) => "Echo (ping) reply".into(),
        (8, _) => "Echo (ping) request".into(),
        (3, 0) => "Destination unreachable (Network unreachable)".into(),
        (3, 1) => "Destination unreachable (Host unreachable)".into(),
        (3, 3) => "Destination unreachable (Port unreachable)".into(),
        (3, 4) => "Destination unreachable (Fragmentation needed)".into(),
        (3, 13) => "Destination unreachable (Communication administratively filtered)".into(),
        (3, c) => format!("Destination unreachable (code {c})"),
        (11, _) => "Time-to-live exceeded".into(),
        (k, c) => format!("type {k} code {c}"),
    }
}
