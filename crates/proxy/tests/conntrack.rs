//! The UDP conntrack flush against a real table: flows sent through DNAT
//! rules in a scratch namespace, the flush run there, and the independent
//! `conntrack -L` as the witness of what is left; and a draining endpoint's
//! late answer, received (or not) by a real client socket.
mod common;

use std::net::{Ipv4Addr, SocketAddr, TcpStream, UdpSocket};
use std::time::Duration;

use common::Netns;
use labyrinth_proxy::conntrack::{flush_udp_endpoint, Stale};

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

/// The tools these tests program and read the table with (a missing one
/// fails the test where root is required, see `labyrinth_testkit::root`).
fn tools(test: &str) -> bool {
    ["conntrack", "iptables"]
        .iter()
        .all(|t| labyrinth_testkit::root::tool(test, t).is_some())
}

#[test]
fn flush_deletes_the_udp_entries_of_a_removed_endpoint_and_nothing_else() {
    const NAME: &str = "flush_deletes_the_udp_entries_of_a_removed_endpoint_and_nothing_else";
    require_root!(NAME);
    if !tools(NAME) {
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

    let deleted = ns
        .run(|| flush_udp_endpoint(CLUSTER_IP, ENDPOINT, Stale::Gone))
        .unwrap();
    assert_eq!(deleted, 2);
    let after = listed(&ns);
    let expected: Vec<(String, u16)> = before
        .iter()
        .filter(|f| **f != udp(40001) && **f != udp(40002))
        .cloned()
        .collect();
    assert_eq!(after, expected, "only the two flows to the removed endpoint went");

    // Nothing left to delete is not an error.
    assert_eq!(
        ns.run(|| flush_udp_endpoint(CLUSTER_IP, ENDPOINT, Stale::Gone))
            .unwrap(),
        0
    );
}

/// A server at the endpoint address, local to the namespace, that answers
/// each query when told to: a query can be left waiting across a flush.
struct SlowServer {
    sock: UdpSocket,
}

impl SlowServer {
    /// Receive one query; answer it with `reply` now, or return who sent it
    /// so it can be answered later.
    fn take(&self) -> SocketAddr {
        let mut buf = [0u8; 64];
        self.sock.recv_from(&mut buf).expect("a query at the server").1
    }

    fn answer(&self, to: SocketAddr, reply: &str) {
        self.sock.send_to(reply.as_bytes(), to).unwrap();
    }
}

/// A client flow to the ClusterIP: a connected socket, so only an answer
/// from the ClusterIP's address reaches it (as with dig or a resolver).
fn client(port: u16) -> UdpSocket {
    let c = UdpSocket::bind(("0.0.0.0", port)).unwrap();
    c.set_read_timeout(Some(Duration::from_millis(1500))).unwrap();
    c.connect((CLUSTER_IP, 53)).unwrap();
    c
}

fn read(c: &UdpSocket) -> std::io::Result<String> {
    let mut buf = [0u8; 64];
    let n = c.recv(&mut buf)?;
    Ok(String::from_utf8_lossy(&buf[..n]).into_owned())
}

#[test]
fn a_draining_endpoint_still_answers_the_queries_it_was_sent() {
    const NAME: &str = "a_draining_endpoint_still_answers_the_queries_it_was_sent";
    require_root!(NAME);
    if !tools(NAME) {
        return;
    }
    let ns = Netns::new("ctdrain");
    // The endpoint is an address of the namespace itself; the Service rule
    // translates what this namespace sends to the ClusterIP.
    ns.sh(&format!(
        "ip link set lo up && ip addr add {ENDPOINT}/32 dev lo && ip route add 10.96.0.0/12 dev lo"
    ));
    ns.sh(&format!(
        "iptables -t nat -A OUTPUT -p udp -d {CLUSTER_IP} --dport 53 -j DNAT --to-destination {ENDPOINT}:53"
    ));
    let (done_then_waiting, lost) = ns.run(|| {
        let server = SlowServer {
            sock: UdpSocket::bind((ENDPOINT, 53)).unwrap(),
        };
        server
            .sock
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        // Flow 41001 is over (asked and answered); flow 41002 has asked and
        // waits. The endpoint starts draining: only the finished flow goes.
        let done = client(41001);
        done.send(b"q1").unwrap();
        let from = server.take();
        server.answer(from, "a1");
        assert_eq!(read(&done).unwrap(), "a1");
        let waiting = client(41002);
        waiting.send(b"q2").unwrap();
        let late = server.take();
        let drained = flush_udp_endpoint(CLUSTER_IP, ENDPOINT, Stale::Draining).unwrap();
        assert_eq!(drained, 1, "only the answered flow is drained");
        server.answer(late, "a2");
        let waited = read(&waiting);

        // The same when the endpoint is gone: the waiting flow's entry goes
        // too, so its late answer is not translated back and never arrives.
        let waiting = client(41003);
        waiting.send(b"q3").unwrap();
        let late = server.take();
        let gone = flush_udp_endpoint(CLUSTER_IP, ENDPOINT, Stale::Gone).unwrap();
        assert!(gone >= 2, "every flow goes: {gone}");
        server.answer(late, "a3");
        (
            (drained, waited.map_err(|e| e.kind())),
            read(&waiting).map_err(|e| e.kind()),
        )
    });
    assert_eq!(
        done_then_waiting.1,
        Ok("a2".to_string()),
        "the query sent before the drain got its answer through the ClusterIP"
    );
    assert!(
        lost.is_err(),
        "a late answer after a full flush arrived anyway ({lost:?}): the test proves nothing"
    );
}
