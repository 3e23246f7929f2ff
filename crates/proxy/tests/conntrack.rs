//! The UDP conntrack flush against a real table: flows sent through DNAT
//! rules in a scratch namespace, the flush run there, and the independent
//! `conntrack -L` as the witness of what is left.
mod common;

use std::net::{Ipv4Addr, SocketAddr, TcpStream, UdpSocket};
use std::time::Duration;

use common::Netns;
use labyrinth_proxy::conntrack::flush_udp_endpoint;

const CLUSTER_IP: Ipv4Addr = Ipv4Addr::new(10, 96, 0, 10);
const ENDPOINT: Ipv4Addr = Ipv4Addr::new(10, 1, 0, 2);

/// The (protocol, client port) of every flow `conntrack -L` lists, sorted.
fn listed(ns: &Netns) -> Vec<(String, u16)> {
    let mut flows: Vec<(String, u16)> = ns
        .sh("conntrack -L 2>/dev/null")
        .lines()
        .filter_map(|l| {
            let proto = l.split_whitespace().next()?.to_string();
            // The first sport= is the original direction's, the client's.
            let sport = l
                .split("sport=")
                .nth(1)?
                .split_whitespace()
                .next()?
                .parse()
                .ok()?;
            Some((proto, sport))
        })
        .collect();
    flows.sort();
    flows
}

#[test]
fn flush_deletes_the_udp_entries_of_a_removed_endpoint_and_nothing_else() {
    const NAME: &str = "flush_deletes_the_udp_entries_of_a_removed_endpoint_and_nothing_else";
    require_root!(NAME);
    if labyrinth_testkit::root::tool(NAME, "conntrack").is_none()
        || labyrinth_testkit::root::tool(NAME, "iptables").is_none()
    {
        return;
    }
    let ns = Netns::new("ctflush");
    // "Endpoints" behind a veth whose far end answers nothing: packets
    // leave (and are tracked), so every entry stays, unreplied.
    ns.sh("ip link add v0 type veth peer name v1 && ip link set v1 up");
    ns.sh("ip addr add 10.1.0.1/24 dev v0 && ip link set v0 up");
    for (ip, mac) in [
        ("10.1.0.2", "02:00:00:00:00:02"),
        ("10.1.0.3", "02:00:00:00:00:03"),
    ] {
        ns.sh(&format!("ip neigh add {ip} lladdr {mac} dev v0 nud permanent"));
    }
    ns.sh("ip route add 10.96.0.0/12 dev v0");
    // Client port -> what the flow is.
    let rules = [
        "-p udp -d 10.96.0.10 --sport 40001 -j DNAT --to-destination 10.1.0.2", // flushed
        "-p udp -d 10.96.0.10 --sport 40002 -j DNAT --to-destination 10.1.0.2", // flushed
        "-p udp -d 10.96.0.10 --sport 40003 -j DNAT --to-destination 10.1.0.3", // other endpoint
        "-p udp -d 10.96.0.11 --sport 40004 -j DNAT --to-destination 10.1.0.2", // other ClusterIP
        "-p tcp -d 10.96.0.10 -j DNAT --to-destination 10.1.0.2",               // TCP
    ];
    for r in rules {
        ns.sh(&format!("iptables -t nat -A OUTPUT {r}"));
    }
    ns.run(|| {
        for (port, to) in [
            (40001, "10.96.0.10:53"),
            (40002, "10.96.0.10:53"),
            (40003, "10.96.0.10:53"),
            (40004, "10.96.0.11:53"),
            // Straight to the endpoint, no translation.
            (40006, "10.1.0.2:53"),
        ] {
            let s = UdpSocket::bind(("0.0.0.0", port)).unwrap();
            s.send_to(b"flow", to).unwrap();
        }
        // The SYN is enough for an entry; nobody answers it, so the
        // connect gives up (after the SYN left, which is all we need).
        let to = SocketAddr::from((CLUSTER_IP, 53));
        let _ = TcpStream::connect_timeout(&to, Duration::from_millis(50));
    });
    let before = listed(&ns);
    let udp = |p: u16| ("udp".to_string(), p);
    for p in [40001, 40002, 40003, 40004, 40006] {
        assert!(before.contains(&udp(p)), "udp flow from {p} tracked: {before:?}");
    }
    assert_eq!(before.iter().filter(|f| f.0 == "tcp").count(), 1, "{before:?}");

    let deleted = ns.run(|| flush_udp_endpoint(CLUSTER_IP, ENDPOINT)).unwrap();
    assert_eq!(deleted, 2);
    let after = listed(&ns);
    let expected: Vec<(String, u16)> = before
        .iter()
        .filter(|f| **f != udp(40001) && **f != udp(40002))
        .cloned()
        .collect();
    assert_eq!(after, expected, "only the two flows to the removed endpoint went");

    // Nothing left to delete is not an error.
    assert_eq!(ns.run(|| flush_udp_endpoint(CLUSTER_IP, ENDPOINT)).unwrap(), 0);
}
