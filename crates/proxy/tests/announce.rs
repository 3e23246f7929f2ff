//! LoadBalancer addresses announced as `local` routes in a scratch
//! namespace, read back with `ip route` (root).
mod common;

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

use common::Netns;
use labyrinth_proxy::announce;

/// Our local routes as `ip route` prints them: the addresses.
fn listed(ns: &Netns) -> BTreeSet<String> {
    ns.sh(&format!(
        "ip route show table local proto {}",
        announce::ROUTE_PROTO
    ))
    .lines()
    .filter_map(|l| l.split_whitespace().nth(1).map(str::to_string))
    .collect()
}

#[test]
fn many_addresses_are_announced_and_withdrawn_in_one_batch() {
    require_root!("many_addresses_are_announced_and_withdrawn_in_one_batch");
    let ns = Netns::unshared("announce", &[]);
    ns.sh("ip link set lo up");
    let addrs: BTreeSet<Ipv4Addr> = (0..1000u32)
        .map(|i| Ipv4Addr::from(u32::from(Ipv4Addr::new(10, 201, 0, 1)) + i))
        .collect();
    let got = ns.run(|| {
        announce::apply(&BTreeSet::new(), &addrs).expect("announcing");
        announce::announced().expect("reading back")
    });
    assert_eq!(got, addrs);
    let shown = listed(&ns);
    assert_eq!(shown.len(), 1000, "ip route shows every address");
    assert!(shown.contains("10.201.3.232"), "the last one: {:?}", shown.last());

    let keep: BTreeSet<Ipv4Addr> = addrs.iter().copied().take(10).collect();
    ns.run(|| announce::apply(&addrs, &keep).expect("withdrawing"));
    let shown = listed(&ns);
    let want: BTreeSet<String> = keep.iter().map(|a| a.to_string()).collect();
    assert_eq!(shown, want);
}
