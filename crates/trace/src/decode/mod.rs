//! Frames to facts: the (inner) IPv4 packet, its transport header, the VXLAN
//! envelope around it if any, and a DNS message in a UDP port-53 payload.

pub mod dns;
pub mod summary;

use std::hash::{Hash, Hasher};
use std::net::Ipv4Addr;

use etherparse::{NetSlice, SlicedPacket, TransportSlice};
use labyrinth_contracts::node::VXLAN_PORT;
use serde::Serialize;

pub use dns::DnsInfo;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Ipv4Info {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub id: u16,
    pub ttl: u8,
    /// IP total length.
    pub len: u16,
}

/// TCP flag bits as in the header (FIN 0x01 … CWR 0x80).
pub const FIN: u8 = 0x01;
pub const SYN: u8 = 0x02;
pub const RST: u8 = 0x04;
pub const PSH: u8 = 0x08;
pub const ACK: u8 = 0x10;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "proto", rename_all = "lowercase")]
pub enum Transport {
    Tcp {
        sport: u16,
        dport: u16,
        seq: u32,
        ack: u32,
        flags: u8,
        win: u16,
        payload_len: usize,
    },
    Udp {
        sport: u16,
        dport: u16,
        payload_len: usize,
    },
    Icmp {
        kind: u8,
        code: u8,
        /// The packet an ICMP error is about (its first bytes).
        quoted: Option<Quoted>,
    },
    Other {
        number: u8,
    },
}

/// The header of the packet quoted in an ICMP error.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Quoted {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub proto: u8,
    pub sport: u16,
    pub dport: u16,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Packet {
    pub ip: Ipv4Info,
    pub transport: Transport,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dns: Option<DnsInfo>,
    /// Hash of the transport payload (unchanged by NAT and tunnels).
    #[serde(skip)]
    pub payload_hash: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Vxlan {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub sport: u16,
    pub dport: u16,
    pub vni: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Decoded {
    /// The envelope, when the frame is a VXLAN frame on the underlay.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vxlan: Option<Vxlan>,
    /// The (inner) IPv4 packet.
    pub packet: Option<Packet>,
    pub frame_len: usize,
}

/// What identifies one packet at every hop: the fields NAT and tunnels
/// leave alone (IP ID, TCP sequence and acknowledgement numbers, flags,
/// payload), never the addresses or the destination port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Ident {
    pub proto: u8,
    pub ip_id: u16,
    pub a: u32,
    pub b: u32,
    pub c: u32,
    pub payload_hash: u64,
}

impl Packet {
    pub fn ident(&self) -> Ident {
        let (proto, a, b, c) = match &self.transport {
            Transport::Tcp {
                seq,
                ack,
                flags,
                payload_len,
                ..
            } => (6, *seq, *ack, ((*flags as u32) << 16) | *payload_len as u32),
            Transport::Udp { payload_len, .. } => (17, *payload_len as u32, 0, 0),
            Transport::Icmp { kind, code, .. } => (1, ((*kind as u32) << 8) | *code as u32, 0, 0),
            Transport::Other { number } => (*number, 0, 0, 0),
        };
        Ident {
            proto,
            ip_id: self.ip.id,
            a,
            b,
            c,
            payload_hash: self.payload_hash,
        }
    }

    /// (source port, destination port) for TCP and UDP.
    pub fn ports(&self) -> Option<(u16, u16)> {
        match self.transport {
            Transport::Tcp { sport, dport, .. } | Transport::Udp { sport, dport, .. } => Some((sport, dport)),
            _ => None,
        }
    }

    pub fn tcp_flags(&self) -> Option<u8> {
        match self.transport {
            Transport::Tcp { flags, .. } => Some(flags),
            _ => None,
        }
    }
}

/// Decode one Ethernet frame.
pub fn decode(frame: &[u8]) -> Decoded {
    let mut d = Decoded {
        vxlan: None,
        packet: None,
        frame_len: frame.len(),
    };
    let Ok(sliced) = SlicedPacket::from_ethernet(frame) else {
        return d;
    };
    let Some((ip, transport, payload)) = ipv4_parts(&sliced) else {
        return d;
    };
    if let Transport::Udp { sport, dport, .. } = transport {
        if dport == VXLAN_PORT && payload.len() >= 8 + 14 && payload[0] & 0x08 != 0 {
            let vni = u32::from_be_bytes([0, payload[4], payload[5], payload[6]]);
            d.vxlan = Some(Vxlan {
                src: ip.src,
                dst: ip.dst,
                sport,
                dport,
                vni,
            });
            d.packet = SlicedPacket::from_ethernet(&payload[8..])
                .ok()
                .and_then(|inner| ipv4_parts(&inner).map(|(ip, t, p)| packet(ip, t, p)));
            return d;
        }
    }
    d.packet = Some(packet(ip, transport, payload));
    d
}

fn packet(ip: Ipv4Info, transport: Transport, payload: &[u8]) -> Packet {
    let dns = match transport {
        Transport::Udp { sport, dport, .. } if sport == 53 || dport == 53 => dns::parse(payload),
        _ => None,
    };
    let mut h = std::hash::DefaultHasher::new();
    payload.hash(&mut h);
    Packet {
        ip,
        transport,
        dns,
        payload_hash: h.finish(),
    }
}

fn ipv4_parts<'a>(s: &SlicedPacket<'a>) -> Option<(Ipv4Info, Transport, &'a [u8])> {
    let Some(NetSlice::Ipv4(v4)) = &s.net else {
        return None;
    };
    let h = v4.header();
    let ip = Ipv4Info {
        src: h.source_addr(),
        dst: h.destination_addr(),
        id: h.identification(),
        ttl: h.ttl(),
        len: h.total_len(),
    };
    let (t, payload) = match &s.transport {
        Some(TransportSlice::Tcp(t)) => {
            let flags = t.header_slice()[13];
            (
                Transport::Tcp {
                    sport: t.source_port(),
                    dport: t.destination_port(),
                    seq: t.sequence_number(),
                    ack: t.acknowledgment_number(),
                    flags,
                    win: t.window_size(),
                    payload_len: t.payload().len(),
                },
                t.payload(),
            )
        }
        Some(TransportSlice::Udp(u)) => (
            Transport::Udp {
                sport: u.source_port(),
                dport: u.destination_port(),
                payload_len: u.payload().len(),
            },
            u.payload(),
        ),
        Some(TransportSlice::Icmpv4(i)) => (
            Transport::Icmp {
                kind: i.type_u8(),
                code: i.code_u8(),
                quoted: quoted(i.payload()),
            },
            i.payload(),
        ),
        _ => (
            Transport::Other {
                number: h.protocol().0,
            },
            v4.payload().payload,
        ),
    };
    Some((ip, t, payload))
}

/// The IP header and ports of the packet inside an ICMP error.
fn quoted(p: &[u8]) -> Option<Quoted> {
    let h = etherparse::Ipv4HeaderSlice::from_slice(p).ok()?;
    let rest = &p[h.slice().len()..];
    let port = |i: usize| rest.get(i..i + 2).map(|b| u16::from_be_bytes([b[0], b[1]]));
    Some(Quoted {
        src: h.source_addr(),
        dst: h.destination_addr(),
        proto: h.protocol().0,
        sport: port(0).unwrap_or(0),
        dport: port(2).unwrap_or(0),
    })
}
