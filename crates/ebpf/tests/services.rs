//! The eBPF datapath end to end on two scratch nodes: real packets from a
//! client pod through ClusterIPs to backends on its own node (redirect into
//! the peer) and across the VXLAN tunnel, checked with sockets and bpftool.
mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::ErrorKind;
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::time::Duration;

use common::lab::{model, model_on_port, vip, Lab, EMPTY_VIP, HAIRPIN_VIP, VIP};
use common::traffic::{tcp_once, tcp_once_from, udp_ask, udp_once, PORT};
use labyrinth_ebpf::{AttachMode, EventReader, Routing};
use labyrinth_netexec::chisquare::{uniform_p_value, SUITE_REJECTS_BELOW};
use labyrinth_proxy::{Endpoint, Protocol, ServicePort, ServicePortName};

/// Node 1: p0, p1 (servers) and the client (pod 2); node 2: p2 (pod 3).
fn lab(tag: &str, attach: AttachMode, routing: Routing) -> Lab {
    let lab = Lab::with_routing(tag, &[3, 1], &[0, 1, 3], attach, routing);
    let backends: Vec<_> = [0, 1, 3].iter().map(|&i| lab.topo.pods[i].ip).collect();
    let mut m = model(&backends, lab.topo.pods[0].ip);
    // UDP Services whose one backend (p0 on this node, p2 across) has no
    // listener on the target port: the backend answers port unreachable.
    for (vip, pod) in [(CLOSED_LOCAL_VIP, 0), (CLOSED_REMOTE_VIP, 3)] {
        m.insert(ServicePort::new(
            ServicePortName::new("wrk-2", &format!("closed-{pod}"), "", Protocol::Udp),
            vip,
            80,
            vec![Endpoint::new(lab.topo.pods[pod].ip, 9)],
        ));
    }
    lab.sync_all(&m);
    lab
}

const CLOSED_LOCAL_VIP: Ipv4Addr = Ipv4Addr::new(10, 96, 0, 60);
const CLOSED_REMOTE_VIP: Ipv4Addr = Ipv4Addr::new(10, 96, 0, 61);

/// Who answered each of `n` new flows from the client, by name.
fn spread(lab: &Lab, n: usize, proto: Protocol) -> BTreeMap<String, u64> {
    let flow = move || match proto {
        Protocol::Tcp => tcp_once(vip(VIP)),
        Protocol::Udp => udp_once(vip(VIP)),
    };
    let names: Vec<String> = lab.topo.pods[2].ns.run(move || {
        (0..n)
            .map(|_| flow().expect("a flow through the ClusterIP"))
            .map(|r| r.split(' ').next().unwrap_or_default().to_string())
            .collect()
    });
    names.into_iter().fold(BTreeMap::new(), |mut m, who| {
        *m.entry(who).or_insert(0) += 1;
        m
    })
}

fn assert_even(counts: &BTreeMap<String, u64>, what: &str) {
    let c: Vec<u64> = ["p0", "p1", "p2"]
        .iter()
        .map(|k| counts.get(*k).copied().unwrap_or(0))
        .collect();
    let p = uniform_p_value(&c);
    eprintln!("{what}: {counts:?}, chi-square p = {p:.4}");
    assert!(
        p > SUITE_REJECTS_BELOW,
        "{what} is not even: {counts:?} (p = {p})"
    );
}

/// Our programs as bpftool sees them: under `net show` on every pod veth and
/// the tunnel (clsact); for tcx, Debian 12's bpftool 7.1 predates tcx in
/// `net show`, so its `link show` (tcx links, type 11) and `prog show`.
fn check_bpftool(lab: &Lab, attach: AttachMode) {
    if attach == AttachMode::Clsact {
        let net = lab.node_sh(0, "bpftool net show");
        for i in lab.topo.pods_on(0) {
            let dev = &lab.topo.pods[i].host_if;
            let line = net
                .lines()
                .find(|l| l.starts_with(dev.as_str()))
                .unwrap_or_else(|| panic!("{dev} not in:\n{net}"));
            assert!(
                line.contains("clsact/ingress") && line.contains("lby_from_contai"),
                "{line}"
            );
        }
        let vx: Vec<&str> = net.lines().filter(|l| l.starts_with("lby_vxlan")).collect();
        assert!(
            vx.iter()
                .any(|l| l.contains("clsact/ingress") && l.contains("lby_from_overla")),
            "{net}"
        );
        assert!(
            vx.iter()
                .any(|l| l.contains("clsact/egress") && l.contains("lby_to_overlay")),
            "{net}"
        );
        return;
    }
    let links: serde_json::Value =
        serde_json::from_str(&lab.node_bpftool(0, "bpftool -j link show")).unwrap();
    let progs: serde_json::Value =
        serde_json::from_str(&lab.node_bpftool(0, "bpftool -j prog show")).unwrap();
    let name_of = |id: &serde_json::Value| {
        progs
            .as_array()
            .unwrap()
            .iter()
            .find(|p| &p["id"] == id)
            .map(|p| p["name"].as_str().unwrap_or("").to_string())
    };
    let tcx: Vec<String> = links
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["type"] == 11 || l["type"] == "tcx")
        .filter_map(|l| name_of(&l["prog_id"]))
        .collect();
    let count = |n: &str| tcx.iter().filter(|t| t.as_str() == n).count();
    // Four pods and two tunnel devices over both nodes.
    assert!(
        count("lby_from_container") >= 4 && count("lby_from_overlay") >= 2 && count("lby_to_overlay") >= 2,
        "{tcx:?}"
    );
}

/// Native routing: the SYN to the other node's pod left by the FIB
/// redirect (to-network), not through the node's stack.
fn check_fib_path(lab: &Lab) {
    let mut events = EventReader::open(std::path::Path::new(&common::lab::pin_dir(1))).unwrap();
    events.poll(Duration::ZERO).unwrap();
    let to = SocketAddr::from((lab.topo.pods[3].ip, PORT));
    lab.topo.pods[2]
        .ns
        .run(move || tcp_once(to))
        .expect("pod to remote pod");
    let mut seen = Vec::new();
    for _ in 0..50 {
        seen.extend(events.poll(Duration::from_millis(100)).unwrap());
        if seen
            .iter()
            .any(|f| f.point == "to-network" && f.tcp_flags == ["SYN"])
        {
            return;
        }
    }
    panic!("no to-network event: {seen:#?}");
}

fn scenario(tag: &str, attach: AttachMode, routing: Routing) {
    common::private_bpffs();
    let lab = lab(tag, attach, routing);
    let client = &lab.topo.pods[2];
    let cip = client.ip;

    if routing == Routing::Tunnel {
        check_bpftool(&lab, attach);
    } else {
        check_fib_path(&lab);
    }

    // Pod to pod by address, on the node and across the tunnel: the server
    // sees the client's own address.
    for server in [0usize, 3] {
        let to = SocketAddr::from((lab.topo.pods[server].ip, PORT));
        let reply = client.ns.run(move || tcp_once(to)).expect("pod to pod");
        assert!(reply.ends_with(&format!(" {cip}")), "{reply}");
    }

    // ClusterIP, TCP and UDP: no source NAT, and the UDP answer arriving on
    // a connected socket proves it came back from the ClusterIP.
    let reply = client
        .ns
        .run(|| tcp_once(vip(VIP)))
        .expect("TCP through the ClusterIP");
    assert!(
        reply.starts_with('p') && reply.ends_with(&format!(" {cip}")),
        "{reply}"
    );
    let reply = client
        .ns
        .run(|| udp_once(vip(VIP)))
        .expect("UDP through the ClusterIP");
    assert!(reply.ends_with(&format!(" {cip}")), "{reply}");

    // Spread over the three backends (two local, one across the tunnel).
    assert_even(&spread(&lab, 1500, Protocol::Tcp), &format!("{tag} TCP"));
    assert_even(&spread(&lab, 1500, Protocol::Udp), &format!("{tag} UDP"));

    // A backend's ICMP port unreachable reaches the client as coming from
    // the ClusterIP and quoting it (as netfilter's NAT does for
    // kube-proxy), so the connected socket fails at once; untranslated,
    // the kernel would match the error to no socket and the read would
    // time out. On this node and across the tunnel.
    for closed in [CLOSED_LOCAL_VIP, CLOSED_REMOTE_VIP] {
        let kind = client.ns.run(move || {
            let s = UdpSocket::bind("0.0.0.0:0").unwrap();
            s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
            s.connect(vip(closed)).unwrap();
            udp_ask(&s).expect_err("nothing listens behind it").kind()
        });
        assert_eq!(kind, ErrorKind::ConnectionRefused, "{closed}");
    }

    // A client reusing its source port once its connection is closed (here
    // by a RST) opens a new flow each time: a fresh backend choice, not the
    // closed flow's conntrack entry.
    // Fixed ports above the ephemeral range (32768-60999): none of the
    // earlier flows can hold them (in TIME_WAIT, say).
    let from = SocketAddr::from((cip, 61999));
    let backends: BTreeSet<String> = client.ns.run(move || {
        (0..30)
            .map(|_| tcp_once_from(from, vip(VIP)).expect("from a reused port"))
            .map(|r| r.split(' ').next().unwrap_or_default().to_string())
            .collect()
    });
    assert!(
        backends.len() > 1,
        "30 connections from one port all went to {backends:?}"
    );

    // The backend refuses (nothing listens on the target port: its kernel
    // answers the SYN with a RST, and the client sends nothing more); once
    // the Service targets a listening port, a retry from the same source
    // port is a new flow, and is answered.
    let p0 = lab.topo.pods[0].ip;
    lab.sync_all(&model_on_port(&[p0], p0, PORT + 1));
    let from = SocketAddr::from((cip, 61998));
    let refused = client.ns.run(move || tcp_once_from(from, vip(VIP)));
    assert_eq!(refused.map_err(|e| e.kind()), Err(ErrorKind::ConnectionRefused));
    let all: Vec<_> = [0, 1, 3].iter().map(|&i| lab.topo.pods[i].ip).collect();
    lab.sync_all(&model(&all, p0));
    let retry = client.ns.run(move || tcp_once_from(from, vip(VIP)));
    assert!(retry.is_ok(), "the retry after a refusal: {retry:?}");

    // No backends: refused at once by the program's RST / ICMP answer.
    let (t, u) = client.ns.run(|| {
        let t = tcp_once(vip(EMPTY_VIP)).expect_err("no backends must refuse TCP");
        let u = udp_once(vip(EMPTY_VIP)).expect_err("no backends must refuse UDP");
        (t.kind(), u.kind())
    });
    assert_eq!(
        (t, u),
        (ErrorKind::ConnectionRefused, ErrorKind::ConnectionRefused)
    );

    // Hairpin: p0 reaches itself through its own Service, and sees the node's
    // gateway as the client (as with kube-proxy's masquerade).
    let gw = lab.topo.nodes[0].gateway();
    let reply = lab.topo.pods[0]
        .ns
        .run(|| tcp_once(vip(HAIRPIN_VIP)))
        .expect("hairpin");
    assert_eq!(reply, format!("p0 {gw}"));

    // A UDP flow held by p1; p1 leaves the Service: the same flow moves and
    // no new connection reaches p1.
    let sock = client.ns.run(|| {
        for _ in 0..300 {
            let s = UdpSocket::bind("0.0.0.0:0").unwrap();
            s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
            s.connect(vip(VIP)).unwrap();
            if udp_ask(&s).unwrap().starts_with("p1") {
                return s;
            }
        }
        panic!("no UDP flow landed on p1");
    });
    let without_p1: Vec<_> = [0, 3].iter().map(|&i| lab.topo.pods[i].ip).collect();
    lab.sync_all(&model(&without_p1, lab.topo.pods[0].ip));
    let moved = client
        .ns
        .run(move || udp_ask(&sock).expect("the flow after removal"));
    assert!(
        !moved.starts_with("p1"),
        "the UDP flow still reaches the removed backend: {moved}"
    );
    let after = spread(&lab, 300, Protocol::Tcp);
    assert!(!after.contains_key("p1") && after.len() == 2, "{after:?}");

    // No kube-proxy rules anywhere: the programs did all of it.
    let nat = lab.node_sh(
        0,
        "iptables-save -t nat 2>/dev/null; nft list ruleset 2>/dev/null",
    );
    assert!(!nat.contains("KUBE-") && !nat.contains("10.96.0.50"), "{nat}");
}

#[test]
fn services_over_tcx() {
    need_root!("services_over_tcx");
    scenario("ebpf-tcx", AttachMode::Tcx, Routing::Tunnel);
}

#[test]
fn services_over_clsact_fallback() {
    need_root!("services_over_clsact_fallback");
    scenario("ebpf-cls", AttachMode::Clsact, Routing::Tunnel);
}

/// No tunnel: a FIB lookup sends packets for the other node out of the
/// underlay, whose ingress program reverses the replies.
#[test]
fn services_over_native_routing() {
    need_root!("services_over_native_routing");
    scenario("ebpf-nat", AttachMode::Tcx, Routing::Native);
}
