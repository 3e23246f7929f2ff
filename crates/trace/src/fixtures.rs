//! Whole journeys for the presentation tests, shaped as the real ones
//! (journey runs of the three datapaths): the DNS walk through the search
//! path to a DNS pod, the SYN to the ClusterIP translated on node-1 and
//! carried to the server pod on node-2, the SYN-ACK back, and the notes
//! the annotators attach, in their words. Node-0 carries nothing but may
//! hold the DNS pod.

use std::net::Ipv4Addr;
use std::time::Duration;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;

use crate::capture::{CapturePoint, Frame, Role};
use crate::model::{Kind, Note, Request, Trace};
use crate::testutil::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Case {
    /// iptables, VXLAN between the nodes; the DNS pod on node-1.
    Tunnel,
    /// iptables, routes between the nodes, no tunnel; the DNS pod on node-0.
    Native,
    /// eBPF over VXLAN, delivered into pods past their host veths (peer
    /// redirect); the DNS pod on node-1.
    Ebpf,
}

pub const CASES: [Case; 3] = [Case::Tunnel, Case::Native, Case::Ebpf];

pub const TARGET: &str = "node-wrk-2-ubuntu24.wrk-2";
pub const CLIENT_POD: &str = "wrk-1/node-wrk-1-ubuntu24-5597c949bb-pdwdh";
pub const SERVER_POD: &str = "wrk-2/node-wrk-2-ubuntu24-84487c944c-rh8mh";
pub const DNS_POD_NAME: &str = "kube-system/coredns-6c6d7dc866-qvwt2";

// Capture points, by index.
const C_ETH: usize = 0;
const C_LXC: usize = 1;
const N1_VX: usize = 2;
const N1_UP: usize = 3;
const N0_UP: usize = 4;
const D_LXC: usize = 5;
const D_ETH: usize = 6;
const N2_UP: usize = 7;
const N2_VX: usize = 8;
const S_LXC: usize = 9;
const S_ETH: usize = 10;

fn points(case: Case) -> Vec<CapturePoint> {
    let dns_node = if case == Case::Native { "node-0" } else { "node-1" };
    let veth = |node: &str, dev: &str, peer: &str| CapturePoint {
        peer_pod: Some(peer.into()),
        ..point(node, None, dev, Role::HostVeth)
    };
    vec![
        point("node-1", Some(CLIENT_POD), "eth0", Role::PodEth),
        veth("node-1", "lxcc610e2212d0c", CLIENT_POD),
        point("node-1", None, "lby_vxlan", Role::Tunnel),
        point("node-1", None, "ens4", Role::Uplink),
        point("node-0", None, "ens4", Role::Uplink),
        veth(dns_node, "lxc9034a221dcc2", DNS_POD_NAME),
        point(dns_node, Some(DNS_POD_NAME), "eth0", Role::PodEth),
        point("node-2", None, "ens4", Role::Uplink),
        point("node-2", None, "lby_vxlan", Role::Tunnel),
        veth("node-2", "lxcf69bafb120bd", SERVER_POD),
        point("node-2", Some(SERVER_POD), "eth0", Role::PodEth),
    ]
}

/// Which form a packet has at a hop: as sent (`Pre`), as translated
/// (`Post`), or translated inside VXLAN between two node addresses.
#[derive(Clone, Copy)]
enum Form {
    Pre,
    Post,
    Vx(Ipv4Addr, Ipv4Addr),
}

type Path = Vec<(usize, bool, Form)>;

/// Where the SYN goes, hop by hop (point, outgoing, form).
fn syn_path(case: Case) -> Path {
    use Form::*;
    let mut p = vec![(C_ETH, true, Pre), (C_LXC, false, Pre)];
    match case {
        Case::Native => p.extend([(N1_UP, true, Post), (N2_UP, false, Post)]),
        _ => p.extend([
            (N1_VX, true, Post),
            (N1_UP, true, Vx(NODE1, NODE2)),
            (N2_UP, false, Vx(NODE1, NODE2)),
            (N2_VX, false, Post),
        ]),
    }
    if case != Case::Ebpf {
        p.push((S_LXC, true, Post));
    }
    p.push((S_ETH, false, Post));
    p
}

/// The SYN-ACK's way back: the SYN's reversed, directions flipped; the
/// eBPF datapath redirects it into the client's eth0 past its veth.
fn reply_path(case: Case) -> Path {
    let mut p: Path = syn_path(case)
        .into_iter()
        .rev()
        .map(|(pt, out, f)| {
            let f = match f {
                Form::Vx(a, b) => Form::Vx(b, a),
                other => other,
            };
            (pt, !out, f)
        })
        .collect();
    if case == Case::Ebpf {
        p.retain(|(pt, _, _)| *pt != C_LXC);
        p.insert(0, (S_LXC, false, Form::Post));
    }
    p
}

/// A query's way to the DNS pod (the reply goes back the same way).
fn dns_path(case: Case) -> Path {
    use Form::*;
    let mut p = vec![(C_ETH, true, Pre), (C_LXC, false, Pre)];
    if case == Case::Native {
        p.extend([(N1_UP, true, Post), (N0_UP, false, Post)]);
    }
    p.extend([(D_LXC, true, Post), (D_ETH, false, Post)]);
    p
}

fn push(frames: &mut Vec<Frame>, t0: u64, path: &Path, frame: &dyn Fn(Form) -> Vec<u8>) {
    for (k, &(point, outgoing, form)) in path.iter().enumerate() {
        frames.push(Frame {
            point,
            ts: Duration::from_micros(t0 + 10 * k as u64),
            outgoing,
            data: frame(form),
        });
    }
}

fn frames(case: Case) -> Vec<Frame> {
    let mut frames = Vec::new();
    let dns_pod = if case == Case::Native {
        Ipv4Addr::new(10, 0, 0, 5)
    } else {
        DNS_POD
    };
    let walk = [
        ("wrk-1.svc.cluster.local", None),
        ("svc.cluster.local", Some(VIP)),
    ];
    for (i, (suffix, answer)) in walk.iter().enumerate() {
        let name = format!("{TARGET}.{suffix}.");
        let (qid, rid, t) = (0x2200 + i as u16, 0x3300 + i as u16, 100 + 200 * i as u64);
        let q = dns_query(0x1c2a + i as u16, &name, RecordType::A);
        let path = dns_path(case);
        push(&mut frames, t, &path, &|f| match f {
            Form::Pre => udp((CLIENT, 5353), (DNS_VIP, 53), qid, &q),
            Form::Post => udp((CLIENT, 5353), (dns_pod, 53), qid, &q),
            Form::Vx(..) => unreachable!("no tunnel on the DNS leg"),
        });
        let rcode = if answer.is_some() {
            ResponseCode::NoError
        } else {
            ResponseCode::NXDomain
        };
        let r = dns_response(0x1c2a + i as u16, &name, RecordType::A, rcode, *answer);
        let back: Path = path.into_iter().rev().map(|(p, out, f)| (p, !out, f)).collect();
        push(&mut frames, t + 100, &back, &|f| match f {
            Form::Pre => udp((DNS_VIP, 53), (CLIENT, 5353), rid, &r),
            _ => udp((dns_pod, 53), (CLIENT, 5353), rid, &r),
        });
    }
    let syn = Tcp::syn((CLIENT, 44312), (VIP, 9999), 0x1111, 1000);
    push(&mut frames, 1_000, &syn_path(case), &|f| match f {
        Form::Pre => tcp(&syn, b""),
        Form::Post => tcp(
            &Tcp {
                dst: (SERVER, 9999),
                ..syn
            },
            b"",
        ),
        Form::Vx(a, b) => vxlan(
            a,
            b,
            1,
            &tcp(
                &Tcp {
                    dst: (SERVER, 9999),
                    ..syn
                },
                b"",
            ),
        ),
    });
    let synack = synack();
    push(&mut frames, 2_000, &reply_path(case), &|f| match f {
        Form::Pre => tcp(
            &Tcp {
                src: (VIP, 9999),
                ..synack
            },
            b"",
        ),
        Form::Post => tcp(&synack, b""),
        Form::Vx(a, b) => vxlan(a, b, 1, &tcp(&synack, b"")),
    });
    frames.sort_by_key(|f| f.ts);
    frames
}

/// The notes of a real journey of this case, bound to the hops they are
/// about.
fn notes(case: Case, t: &Trace) -> Vec<Note> {
    let mut notes = vec![Note::new(
        "resolv",
        format!("{CLIENT_POD}'s /etc/resolv.conf: search wrk-1.svc.cluster.local svc.cluster.local cluster.local; nameserver 10.96.0.10; options ndots:5"),
    )];
    for p in t.packets.iter().filter(|p| p.kind == Kind::Dns) {
        let first = &p.hops[0];
        let dns = first
            .decoded
            .packet
            .as_ref()
            .and_then(|k| k.dns.as_ref())
            .unwrap();
        if dns.response {
            let at = t.point(first);
            notes.push(
                Note::new(
                    "dns",
                    format!(
                        "A {} → {}; answered by {} (pod {DNS_POD_NAME} on {}), first seen at {}, reaching the client from {DNS_VIP}",
                        dns.qname,
                        dns.outcome(),
                        first.decoded.packet.as_ref().unwrap().ip.src,
                        at.node,
                        at.heading()
                    ),
                )
                .at(p.id, 0, first.point),
            );
        }
    }
    let main = crate::present::main_packet(t).unwrap();
    let translated = |p: &crate::model::PacketTrace| {
        let vip = p.hops[0].decoded.packet.as_ref().unwrap().ip.dst;
        p.hops
            .iter()
            .position(|h| h.decoded.packet.as_ref().unwrap().ip.dst != vip)
            .unwrap()
    };
    let rule = |vip: &str, to: &str| {
        match case {
        Case::Ebpf => format!("node-1: the eBPF program on the pod's veth rewrote {vip} to {to}: services map {vip} slot 1 → backends map id 8 {to}"),
        _ => format!("node-1: iptables nat PREROUTING → KUBE-SERVICES jumped to KUBE-SVC-IWPXKGE4TAJJE4GD [0 → 1 packets]; KUBE-SEP-A3BNSKZQCE67UTY3 `-j DNAT --to-destination {to}` [0 → 1 packets] rewrote {vip} to {to}"),
    }
    };
    if let Some(q) = t.packets.iter().find(|p| p.kind == Kind::Dns) {
        let k = translated(q);
        let to = q.hops[k].decoded.packet.as_ref().unwrap().ip.dst;
        notes.push(
            Note::new("service", rule("10.96.0.10:53", &format!("{to}:53"))).at(q.id, k, q.hops[k].point),
        );
    }
    let k = translated(main);
    notes.push(Note::new("service", rule("10.96.0.20:9999", "10.0.2.9:9999")).at(
        main.id,
        k,
        main.hops[k].point,
    ));
    let mut routed_here = std::collections::HashSet::new();
    for (k, h) in main.hops.iter().enumerate() {
        let pt = t.point(h);
        if h.outgoing && (routed_here.insert(pt.ns_path.clone()) || pt.role == Role::Uplink) {
            let what = match (pt.role, case) {
                (Role::PodEth, _) => "10.96.0.20 via 10.0.1.1 dev eth0 src 10.0.1.7".to_string(),
                (Role::Uplink, Case::Native) => "10.0.2.9 via 10.168.0.4 dev ens4 src 10.0.1.1".into(),
                (Role::Uplink, _) => "10.168.0.4 dev ens4 src 10.168.0.3".into(),
                (Role::Tunnel, _) => "10.0.2.9 via 10.0.2.0 dev lby_vxlan src 10.0.1.1".into(),
                _ => format!("10.0.2.9 dev {} src 10.168.0.4", pt.device),
            };
            notes.push(Note::new("route", format!("{}: route {what}", pt.node)).at(main.id, k, h.point));
        }
        if let Some(v) = &h.decoded.vxlan {
            let (kind, text) = if h.outgoing {
                ("encap", format!("node-1 encapsulates [10.0.1.7 → 10.0.2.9] on lby_vxlan: VXLAN VNI {}, outer {} → {} UDP 40000 → {} (to node-2)", v.vni, v.src, v.dst, v.dport))
            } else {
                ("decap", format!("node-2 decapsulates VXLAN VNI {} from {} (node-1) on UDP {}: [10.0.1.7 → 10.0.2.9] comes out of lby_vxlan", v.vni, v.src, v.dport))
            };
            notes.push(Note::new(kind, text).at(main.id, k, h.point));
        }
    }
    let last = main.hops.len() - 1;
    let through = match case {
        Case::Ebpf => "straight into eth0, past lxcf69bafb120bd (redirected to the veth's peer)",
        _ => "through lxcf69bafb120bd → eth0",
    };
    notes.push(
        Note::new(
            "delivery",
            format!("delivered to pod {SERVER_POD} on node-2 (netns cni-fc180121) {through}, to 10.0.2.9:9999; socket 0.0.0.0:9999 held by pid 52 (nc -l 0.0.0.0 9999) [host pid 31445]"),
        )
        .at(main.id, last, main.hops[last].point),
    );
    notes
}

pub fn trace(case: Case) -> Trace {
    let frames = frames(case);
    let points = points(case);
    let mut t = Trace {
        lab: format!("{case:?}").to_lowercase(),
        request: Request {
            from: CLIENT_POD.into(),
            to: TARGET.into(),
            port: 9999,
            udp: false,
        },
        capture_drops: vec![0; points.len()],
        points,
        absent: vec![],
        packets: crate::correlate::correlate(&frames, 9999),
        notes: vec![],
        start: frames[0].ts,
        frames,
    };
    t.notes = notes(case, &t);
    t
}
