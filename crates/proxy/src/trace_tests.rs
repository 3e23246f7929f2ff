use std::net::Ipv4Addr;

use super::trace::*;
use crate::model::Protocol;
use crate::testutil::sample;

fn dns_packet(src: Ipv4Addr) -> Packet {
    Packet {
        src,
        dst: Ipv4Addr::new(10, 96, 0, 10),
        proto: Protocol::Udp,
        dport: 53,
    }
}

/// A fixed xorshift stream: reproducible "random" draws.
fn draws(seed: u64) -> impl FnMut() -> u32 {
    let mut x = seed;
    move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        (x >> 32) as u32
    }
}

#[test]
fn iptables_trace_names_each_chain_and_rule() {
    let m = sample();
    // First statistic draw below 1/3 of 2^31 picks the first endpoint.
    let mut d = || 5u32;
    let t = trace_iptables(&m, &dns_packet(Ipv4Addr::new(10, 0, 2, 7)), &mut d);
    let chains: Vec<&str> = t.hops.iter().map(|h| h.chain.as_str()).collect();
    assert_eq!(chains[0], "nat KUBE-SERVICES");
    assert_eq!(chains[1], "KUBE-SVC-TCOU7JCQXEZGVUNU");
    assert!(chains[2].starts_with("KUBE-SEP-"));
    assert!(t.hops[1].rule.contains("-> 10.0.1.11:53"));
    assert!(t.hops[2].rule.ends_with("--to-destination 10.0.1.11:53"));
    match t.outcome {
        Outcome::Dnat { endpoint, masquerade } => {
            assert_eq!(endpoint.ip, Ipv4Addr::new(10, 0, 1, 11));
            assert!(!masquerade);
        }
        o => panic!("{o:?}"),
    }
    // Draws above every threshold fall through to the last endpoint.
    let mut high = || u32::MAX;
    let t = trace_iptables(&m, &dns_packet(Ipv4Addr::new(10, 0, 2, 7)), &mut high);
    assert!(
        matches!(t.outcome, Outcome::Dnat { ref endpoint, .. } if endpoint.ip == Ipv4Addr::new(10, 0, 1, 13))
    );
}

#[test]
fn nftables_trace_walks_service_chain_and_picker() {
    let m = sample();
    let src = Ipv4Addr::new(10, 0, 2, 7);
    // numgen mod 3 of 2^31 is (2^31 · 3) >> 32 = 1: the second endpoint.
    let t = trace_nftables(&m, &dns_packet(src), &mut || 1 << 31);
    let chains: Vec<&str> = t.hops.iter().map(|h| h.chain.as_str()).collect();
    assert_eq!(
        chains,
        [
            "services",
            "service-TCOU7JCQ-kube-system/kube-dns/udp/dns",
            "dnat-1-of-3"
        ]
    );
    assert_eq!(
        t.hops[0].rule,
        "@service-ips 10.96.0.10 . udp . 53 : goto service-TCOU7JCQ-kube-system/kube-dns/udp/dns"
    );
    assert_eq!(t.hops[1].rule, "goto dnat-1-of-3");
    assert!(
        t.hops[2].rule.ends_with(
            "numgen random mod 3 map @service-endpoints (10.96.0.10 . udp . 53 . 1 : 10.0.1.12 . 53)"
        ),
        "{}",
        t.hops[2].rule
    );
    assert!(
        matches!(t.outcome, Outcome::Dnat { ref endpoint, masquerade: false } if endpoint.ip == Ipv4Addr::new(10, 0, 1, 12))
    );
    let t = trace_nftables(&m, &dns_packet(src), &mut || u32::MAX);
    assert!(
        matches!(t.outcome, Outcome::Dnat { ref endpoint, .. } if endpoint.ip == Ipv4Addr::new(10, 0, 1, 13))
    );
}

#[test]
fn outsiders_and_hairpin_are_masqueraded() {
    let m = sample();
    let mut d = || 5u32;
    let t = trace_iptables(&m, &dns_packet(Ipv4Addr::new(192, 168, 9, 9)), &mut d);
    assert!(t
        .hops
        .iter()
        .any(|h| h.rule.contains("! -s 10.0.0.0/16") && h.rule.ends_with("KUBE-MARK-MASQ")));
    assert!(matches!(t.outcome, Outcome::Dnat { masquerade: true, .. }));
    let t = trace_iptables(&m, &dns_packet(Ipv4Addr::new(10, 0, 1, 11)), &mut d);
    assert!(t
        .hops
        .iter()
        .any(|h| h.rule.contains("-s 10.0.1.11/32") && h.rule.ends_with("KUBE-MARK-MASQ")));
    assert!(matches!(t.outcome, Outcome::Dnat { masquerade: true, .. }));
    // nftables: a first draw of 0 picks the first endpoint, .11 itself.
    let t = trace_nftables(&m, &dns_packet(Ipv4Addr::new(10, 0, 1, 11)), &mut || 0);
    assert!(
        matches!(t.outcome, Outcome::Dnat { masquerade: true, ref endpoint } if endpoint.ip == Ipv4Addr::new(10, 0, 1, 11))
    );
    let last = t.hops.last().unwrap();
    assert_eq!(last.chain, "nat-postrouting");
    assert!(last.rule.contains("@hairpin") && last.rule.ends_with("(10.0.1.11 . 10.0.1.11)"));
    let t = trace_nftables(&m, &dns_packet(Ipv4Addr::new(192, 168, 9, 9)), &mut || 0);
    assert_eq!(t.hops[1].rule, "ip saddr != 10.0.0.0/16 jump mark-for-masquerade");
    assert!(matches!(t.outcome, Outcome::Dnat { masquerade: true, .. }));
}

#[test]
fn no_endpoints_and_non_services() {
    let m = sample();
    let p = Packet {
        src: Ipv4Addr::new(10, 0, 1, 5),
        dst: Ipv4Addr::new(10, 96, 0, 77),
        proto: Protocol::Tcp,
        dport: 9999,
    };
    let t = trace_iptables(&m, &p, &mut || 0);
    assert_eq!(t.outcome, Outcome::Reject);
    assert!(t.hops[0].rule.contains("wrk-2/idle has no endpoints"));
    let t = trace_nftables(&m, &p, &mut || 0);
    assert_eq!(t.outcome, Outcome::Reject);
    assert_eq!(
        t.hops[0].rule,
        "@no-endpoint-services 10.96.0.77 . tcp . 9999 : goto reject-chain"
    );
    assert_eq!(t.hops.last().unwrap().chain, "reject-chain");
    let udp_to_tcp_port = Packet {
        proto: Protocol::Udp,
        ..p
    };
    assert_eq!(
        trace_iptables(&m, &udp_to_tcp_port, &mut || 0).outcome,
        Outcome::NotAService
    );
}

/// Over many draws both datapaths' arithmetic spreads evenly (within 3%).
#[test]
fn draws_spread_evenly_in_both_datapaths() {
    let m = sample();
    let p = dns_packet(Ipv4Addr::new(10, 0, 2, 7));
    let mut d = draws(0x9e3779b97f4a7c15);
    let (mut ipt, mut nft) = ([0u32; 3], [0u32; 3]);
    let n = 12_000;
    for _ in 0..n {
        for (counts, outcome) in [
            (&mut ipt, trace_iptables(&m, &p, &mut d).outcome),
            (&mut nft, trace_nftables(&m, &p, &mut d).outcome),
        ] {
            let Outcome::Dnat { endpoint, .. } = outcome else {
                panic!()
            };
            counts[(endpoint.ip.octets()[3] - 11) as usize] += 1;
        }
    }
    for c in ipt.iter().chain(&nft) {
        let share = f64::from(*c) / f64::from(n);
        assert!((share - 1.0 / 3.0).abs() < 0.03, "ipt {ipt:?} nft {nft:?}");
    }
}
