//! Synthetic frames and a synthetic trace for the unit tests: the journey's
//! TCP handshake across NAT and VXLAN, and a DNS exchange.

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::time::Duration;

use etherparse::PacketBuilder;
use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::rdata::{A, SOA};
use hickory_proto::rr::{Name, RData, Record, RecordType};

use crate::capture::{CapturePoint, Frame, Role};
use crate::decode::{ACK, SYN};
use crate::model::{Request, Trace};

pub const MAC: [u8; 6] = [2, 0, 0, 0, 0, 1];
pub const CLIENT: Ipv4Addr = Ipv4Addr::new(10, 0, 1, 7);
pub const SERVER: Ipv4Addr = Ipv4Addr::new(10, 0, 2, 9);
pub const VIP: Ipv4Addr = Ipv4Addr::new(10, 96, 0, 20);
pub const DNS_VIP: Ipv4Addr = Ipv4Addr::new(10, 96, 0, 10);
pub const DNS_POD: Ipv4Addr = Ipv4Addr::new(10, 0, 2, 5);
pub const NODE1: Ipv4Addr = Ipv4Addr::new(10, 168, 0, 3);
pub const NODE2: Ipv4Addr = Ipv4Addr::new(10, 168, 0, 4);

pub struct Tcp {
    pub src: (Ipv4Addr, u16),
    pub dst: (Ipv4Addr, u16),
    pub id: u16,
    pub seq: u32,
    pub ack: u32,
    pub flags: u8,
}

impl Tcp {
    pub fn syn(src: (Ipv4Addr, u16), dst: (Ipv4Addr, u16), id: u16, seq: u32) -> Tcp {
        Tcp {
            src,
            dst,
            id,
            seq,
            ack: 0,
            flags: SYN,
        }
    }
}

/// The server's SYN-ACK to [`Tcp::syn`]'s client.
pub fn synack() -> Tcp {
    Tcp {
        src: (SERVER, 9999),
        dst: (CLIENT, 44312),
        id: 0,
        seq: 5000,
        ack: 1001,
        flags: SYN | ACK,
    }
}

pub fn tcp(t: &Tcp, payload: &[u8]) -> Vec<u8> {
    let mut b = PacketBuilder::ethernet2(MAC, MAC)
        .ipv4(t.src.0.octets(), t.dst.0.octets(), 64)
        .tcp(t.src.1, t.dst.1, t.seq, 64240);
    if t.flags & SYN != 0 {
        b = b.syn();
    }
    if t.flags & ACK != 0 {
        b = b.ack(t.ack);
    }
    let mut out = Vec::new();
    b.write(&mut out, payload).unwrap();
    set_ip_id(&mut out, t.id);
    out
}

pub fn udp(src: (Ipv4Addr, u16), dst: (Ipv4Addr, u16), id: u16, payload: &[u8]) -> Vec<u8> {
    let b = PacketBuilder::ethernet2(MAC, MAC)
        .ipv4(src.0.octets(), dst.0.octets(), 64)
        .udp(src.1, dst.1);
    let mut out = Vec::new();
    b.write(&mut out, payload).unwrap();
    set_ip_id(&mut out, id);
    out
}

/// Wrap an inner frame in Ethernet/IPv4/UDP 8472/VXLAN.
pub fn vxlan(outer_src: Ipv4Addr, outer_dst: Ipv4Addr, vni: u32, inner: &[u8]) -> Vec<u8> {
    let mut payload = vec![0x08, 0, 0, 0];
    payload.extend_from_slice(&(vni << 8).to_be_bytes());
    payload.extend_from_slice(inner);
    udp((outer_src, 40_000), (outer_dst, 8472), 7, &payload)
}

/// The IP ID is not a builder option: patch it (the checksum is not
/// checked by anything here).
fn set_ip_id(frame: &mut [u8], id: u16) {
    frame[18..20].copy_from_slice(&id.to_be_bytes());
}

pub fn dns_query(id: u16, name: &str, qtype: RecordType) -> Vec<u8> {
    let mut m = Message::new(id, MessageType::Query, OpCode::Query);
    m.queries
        .push(Query::query(Name::from_ascii(name).unwrap(), qtype));
    m.to_vec().unwrap()
}

pub fn dns_response(
    id: u16,
    name: &str,
    qtype: RecordType,
    rcode: ResponseCode,
    answer: Option<Ipv4Addr>,
) -> Vec<u8> {
    let mut m = Message::new(id, MessageType::Response, OpCode::Query);
    m.metadata.response_code = rcode;
    let qname = Name::from_ascii(name).unwrap();
    m.queries.push(Query::query(qname.clone(), qtype));
    match answer {
        Some(ip) => m.answers.push(Record::from_rdata(qname, 5, RData::A(A(ip)))),
        None => {
            let soa = SOA::new(
                Name::from_ascii("ns.dns.cluster.local.").unwrap(),
                Name::from_ascii("hostmaster.cluster.local.").unwrap(),
                1,
                7200,
                1800,
                86400,
                5,
            );
            m.authorities.push(Record::from_rdata(
                Name::from_ascii("cluster.local.").unwrap(),
                5,
                RData::SOA(soa),
            ))
        }
    }
    m.to_vec().unwrap()
}

pub fn point(node: &str, pod: Option<&str>, device: &str, role: Role) -> CapturePoint {
    CapturePoint {
        node: node.into(),
        netns: pod.map_or("host".into(), |_| format!("cni-{device}-{node}")),
        pod: pod.map(str::to_string),
        peer_pod: None,
        device: device.into(),
        role,
        ns_path: PathBuf::from(format!("/nonexistent/{node}/{}", pod.unwrap_or("host"))),
    }
}

/// The journey's capture points: client pod eth0 (0), its lxc (1), node-1
/// tunnel (2) and uplink (3), node-2 uplink (4), tunnel (5), server lxc
/// (6) and eth0 (7).
pub fn journey_points() -> Vec<CapturePoint> {
    vec![
        point("node-1", Some("wrk-1/client"), "eth0", Role::PodEth),
        point("node-1", None, "lxc1", Role::HostVeth),
        point("node-1", None, "lby_vxlan", Role::Tunnel),
        point("node-1", None, "ens4", Role::Uplink),
        point("node-2", None, "ens4", Role::Uplink),
        point("node-2", None, "lby_vxlan", Role::Tunnel),
        point("node-2", None, "lxc2", Role::HostVeth),
        point("node-2", Some("wrk-2/server"), "eth0", Role::PodEth),
    ]
}

/// Show `frame_at(point)` at every point in order, `step` µs apart; from
/// point `nat_from` on the frame is `after` instead of `before`.
pub fn across(frames: &mut Vec<Frame>, t0: u64, pts: &[usize], frame_at: &dyn Fn(usize) -> Vec<u8>) {
    for (k, &p) in pts.iter().enumerate() {
        frames.push(Frame {
            point: p,
            ts: Duration::from_micros(t0 + 10 * k as u64),
            outgoing: matches!(p, 0 | 2 | 3 | 6),
            data: frame_at(p),
        });
    }
}

/// A SYN to the ClusterIP, DNATed on node-1 to the server pod, over VXLAN;
/// the SYN-ACK back, un-NATed on node-1; a DNS query and its NXDOMAIN.
pub fn journey_frames() -> Vec<Frame> {
    let mut frames = Vec::new();
    let syn_pre = Tcp::syn((CLIENT, 44312), (VIP, 9999), 0x1111, 1000);
    let syn_post = Tcp {
        dst: (SERVER, 9999),
        ..syn_pre
    };
    let synack = synack();
    let synack_unnat = Tcp {
        src: (VIP, 9999),
        ..synack
    };
    across(&mut frames, 1_000, &[0, 1, 2, 3, 4, 5, 6, 7], &|p| match p {
        0 | 1 => tcp(&syn_pre, b""),
        3 | 4 => vxlan(NODE1, NODE2, 1, &tcp(&syn_post, b"")),
        _ => tcp(&syn_post, b""),
    });
    across(&mut frames, 2_000, &[7, 6, 5, 4, 3, 2, 1, 0], &|p| match p {
        3 | 4 => vxlan(NODE2, NODE1, 1, &tcp(&synack, b"")),
        1 | 0 => tcp(&synack_unnat, b""),
        _ => tcp(&synack, b""),
    });
    let q = dns_query(0x1c2a, "x.wrk-2.wrk-1.svc.cluster.local.", RecordType::A);
    across(&mut frames, 100, &[0, 1], &|p| match p {
        0 => udp((CLIENT, 5353), (DNS_VIP, 53), 0x2222, &q),
        _ => udp((CLIENT, 5353), (DNS_POD, 53), 0x2222, &q),
    });
    let r = dns_response(
        0x1c2a,
        "x.wrk-2.wrk-1.svc.cluster.local.",
        RecordType::A,
        ResponseCode::NXDomain,
        None,
    );
    across(&mut frames, 300, &[1, 0], &|p| match p {
        1 => udp((DNS_POD, 53), (CLIENT, 5353), 0x3333, &r),
        _ => udp((DNS_VIP, 53), (CLIENT, 5353), 0x3333, &r),
    });
    frames.sort_by_key(|f| f.ts);
    frames
}

pub fn journey_trace() -> Trace {
    let frames = journey_frames();
    Trace {
        lab: "test".into(),
        request: Request {
            from: "wrk-1/client".into(),
            to: VIP.to_string(),
            port: 9999,
            udp: false,
        },
        points: journey_points(),
        absent: vec![],
        capture_drops: vec![0; 8],
        packets: crate::correlate::correlate(&frames, 9999),
        notes: vec![],
        start: frames[0].ts,
        frames,
    }
}
