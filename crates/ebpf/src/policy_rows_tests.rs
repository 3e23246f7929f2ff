use std::net::Ipv4Addr;

use labyrinth_policy::{Allow, PodRules, PolicyRef};

use super::*;

fn allow(nets: Option<&str>, protocol: Option<Protocol>, ports: Option<(u16, u16)>) -> Allow {
    Allow {
        policy: PolicyRef {
            namespace: "x".into(),
            name: "p".into(),
        },
        rule: 0,
        peer: Some(0),
        nets: nets.map(|n| n.split(',').map(|n| n.parse().unwrap()).collect()),
        protocol,
        ports,
    }
}

fn pod(direction: Direction, allows: Vec<Allow>) -> PodRules {
    PodRules {
        namespace: "x".into(),
        name: "a".into(),
        ip: Ipv4Addr::new(10, 0, 1, 5),
        direction,
        isolated_by: vec![],
        allows,
    }
}

/// What the program does with the rows: the longest prefix of the
/// protocol's rows must hold the port, or a row for every protocol exist.
fn lookup(rows: &PolicyRows, pod: Ipv4Addr, dir: u8, peer: Ipv4Addr, proto: u8, port: u16) -> bool {
    let longest = |proto: u8| {
        rows.rules
            .iter()
            .filter(|((len, k), _)| {
                let bits = len - POL_KEY_FIXED_BITS;
                let net = Ipv4Net::new(labyrinth_contracts::bpf::abi::addr_of(k.peer), bits as u8).unwrap();
                k.pod == be_addr(pod) && k.dir == dir && k.proto == proto && net.contains(&peer)
            })
            .max_by_key(|((len, _), _)| *len)
            .map(|(_, v)| *v)
    };
    longest(POL_PROTO_ANY).is_some()
        || longest(proto).is_some_and(|v| v.ranges().iter().any(|r| (r.lo..=r.hi).contains(&port)))
}

#[test]
fn longest_prefix_lookup_agrees_with_the_allow_list() {
    let allows = vec![
        allow(Some("10.0.0.0/16"), Some(Protocol::Tcp), Some((80, 80))),
        allow(
            Some("10.0.2.7/32,10.0.3.0/24"),
            Some(Protocol::Tcp),
            Some((90, 95)),
        ),
        allow(Some("10.0.2.0/24"), Some(Protocol::Udp), None),
        allow(Some("192.168.0.0/16"), None, None),
        allow(None, Some(Protocol::Sctp), Some((7, 7))),
    ];
    let r = pod(Direction::Ingress, allows.clone());
    let rows = rows(&Compiled {
        pods: vec![r.clone()],
    })
    .unwrap();
    let me = r.ip;
    assert_eq!(rows.pods[&be_addr(me)].isolated, POL_ISOLATED_INGRESS);
    // The /32 row carries the /16's port too: its ranges are merged in.
    let k32 = key(be_addr(me), POL_DIR_INGRESS, 6, "10.0.2.7/32".parse().unwrap());
    let v = rows.rules[&k32];
    assert_eq!(
        v.ranges(),
        &[PolicyRange { lo: 80, hi: 80 }, PolicyRange { lo: 90, hi: 95 }]
    );
    let peers = [
        "10.0.2.7",
        "10.0.2.8",
        "10.0.3.9",
        "10.0.200.1",
        "10.1.0.1",
        "192.168.4.4",
    ];
    let mut allowed = 0;
    for peer in peers.map(|p| p.parse::<Ipv4Addr>().unwrap()) {
        for (proto, p) in [(6, Protocol::Tcp), (17, Protocol::Udp), (132, Protocol::Sctp)] {
            for port in [7, 53, 80, 81, 90, 95, 96] {
                let want = allows.iter().any(|a| a.matches(peer, p, port));
                let got = lookup(&rows, me, POL_DIR_INGRESS, peer, proto, port);
                assert_eq!(got, want, "{peer} {p:?} {port}");
                allowed += usize::from(got);
            }
            // The other direction has no rows: nothing allowed there.
            assert!(!lookup(&rows, me, POL_DIR_EGRESS, peer, proto, 80));
        }
    }
    assert!(allowed > 10 && allowed < 100, "{allowed}");
}

#[test]
fn isolation_without_allows_is_a_pod_row_alone() {
    let rows = rows(&Compiled {
        pods: vec![pod(Direction::Ingress, vec![]), pod(Direction::Egress, vec![])],
    })
    .unwrap();
    assert_eq!(rows.pods.len(), 1);
    assert_eq!(
        rows.pods.values().next().unwrap().isolated,
        POL_ISOLATED_INGRESS | POL_ISOLATED_EGRESS
    );
    assert!(rows.rules.is_empty());
}

#[test]
fn too_many_ranges_for_one_peer_is_an_error_naming_the_pod() {
    let allows = (0..17u16)
        .map(|i| allow(Some("10.0.0.0/8"), Some(Protocol::Tcp), Some((i * 10, i * 10))))
        .collect();
    let err = rows(&Compiled {
        pods: vec![pod(Direction::Egress, allows)],
    })
    .unwrap_err()
    .to_string();
    assert!(err.contains("x/a egress: 17 separate port ranges"), "{err}");
}
