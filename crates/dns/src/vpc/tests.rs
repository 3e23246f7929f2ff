//! The VPC resolver's answers, through the fast path and decoded with
//! hickory-proto: node names (bare and in the search domain), PTR of node
//! addresses, an authoritative NXDOMAIN for any other lab address, REFUSED
//! for the rest.

use hickory_proto::rr::RecordType as T;
use labyrinth_contracts::vpc_dns::{VpcHost, VpcZone};

use super::zone::{compile, reverse_zones};
use crate::catalog::testutil::ask;

const NOERROR: u8 = 0;
const NXDOMAIN: u8 = 3;
const REFUSED: u8 = 5;

fn lab() -> VpcZone {
    VpcZone {
        domain: "lab1.internal".into(),
        hosts: (0..3)
            .map(|i| VpcHost {
                name: format!("node-{i}"),
                address: format!("10.168.0.{}", i + 2).parse().unwrap(),
            })
            .collect(),
        reverse: ["10.168.0.0/24", "10.244.0.0/16", "10.96.0.0/12"]
            .iter()
            .map(|n| n.parse().unwrap())
            .collect(),
    }
}

#[test]
fn node_names_answer_bare_and_in_the_search_domain() {
    let snap = compile(&lab()).unwrap();
    for name in ["node-1.lab1.internal.", "node-1.", "NODE-1.Lab1.Internal."] {
        let a = ask(&snap, name, T::A);
        assert_eq!((a.rcode, a.aa), (NOERROR, true), "{name}");
        assert_eq!(a.answers, vec!["A 10.168.0.3"], "{name}");
    }
    // The name exists without an IPv6 address: NODATA, not NXDOMAIN (a
    // resolver asking A and AAAA then keeps the A).
    let aaaa = ask(&snap, "node-1.lab1.internal.", T::AAAA);
    assert_eq!(
        (aaaa.rcode, aaaa.answers.len(), aaaa.authority.len()),
        (NOERROR, 0, 1)
    );
    let nx = ask(&snap, "node-9.lab1.internal.", T::A);
    assert_eq!((nx.rcode, nx.aa), (NXDOMAIN, true));
}

#[test]
fn node_addresses_reverse_to_their_full_names() {
    let snap = compile(&lab()).unwrap();
    let p = ask(&snap, "2.0.168.10.in-addr.arpa.", T::PTR);
    assert_eq!((p.rcode, p.aa), (NOERROR, true));
    assert_eq!(p.answers, vec!["PTR node-0.lab1.internal."]);
}

#[test]
fn other_lab_addresses_are_an_authoritative_nxdomain() {
    let snap = compile(&lab()).unwrap();
    for name in [
        "1.0.168.10.in-addr.arpa.",  // the gateway
        "77.0.168.10.in-addr.arpa.", // an unused VPC address
        "5.1.244.10.in-addr.arpa.",  // a pod
        "10.0.96.10.in-addr.arpa.",  // kube-dns's ClusterIP
        "3.2.111.10.in-addr.arpa.",  // the Service range's last /16
    ] {
        let r = ask(&snap, name, T::PTR);
        assert_eq!((r.rcode, r.aa), (NXDOMAIN, true), "{name}");
        assert_eq!(r.authority.len(), 1, "{name}: the SOA says how long to cache it");
    }
}

#[test]
fn everything_else_is_refused() {
    let snap = compile(&lab()).unwrap();
    for (name, t) in [
        ("example.com.", T::A),
        ("node-1.example.com.", T::A),
        ("8.8.8.8.in-addr.arpa.", T::PTR),
        ("3.2.112.10.in-addr.arpa.", T::PTR), // just past the Service range
        ("1.0.0.127.in-addr.arpa.", T::PTR),
        ("kubernetes.default.svc.cluster.local.", T::A),
    ] {
        assert_eq!(ask(&snap, name, t).rcode, REFUSED, "{name}");
    }
}

#[test]
fn ranges_off_an_octet_boundary_become_the_zones_that_cover_them() {
    let z = |n: &str| reverse_zones(&n.parse().unwrap());
    assert_eq!(z("10.168.0.0/24"), vec!["0.168.10.in-addr.arpa"]);
    assert_eq!(z("10.244.0.0/16"), vec!["244.10.in-addr.arpa"]);
    let svc = z("10.96.0.0/12");
    assert_eq!(svc.len(), 16);
    assert_eq!(svc.first().unwrap(), "96.10.in-addr.arpa");
    assert_eq!(svc.last().unwrap(), "111.10.in-addr.arpa");
    assert_eq!(z("192.168.4.0/22").len(), 4);
}

#[test]
fn bad_hosts_are_errors_naming_the_field() {
    let mut zone = lab();
    zone.hosts[1].name = "a.b".into();
    let e = format!("{:#}", compile(&zone).unwrap_err());
    assert!(e.contains("hosts[1].name"), "{e}");
    let mut zone = lab();
    zone.hosts[2].address = "192.0.2.1".parse().unwrap();
    let e = format!("{:#}", compile(&zone).unwrap_err());
    assert!(e.contains("hosts[2].address 192.0.2.1"), "{e}");
    let mut zone = lab();
    zone.domain = "bad..domain".into();
    let e = format!("{:#}", compile(&zone).unwrap_err());
    assert!(e.contains("domain"), "{e}");
}
