//! The lab's LoadBalancer address pool, on its VPC as a cloud's would be:
//! the lab file's `loadBalancerPool`, or by default the top of the underlay
//! (up to 15 addresses below its broadcast address, `.240`–`.254` in a /24)
//! above the last node. The controllers hand these out; the datapath makes
//! them answer. (Its own file, taking the lab file's values rather than the
//! config itself, so config.rs can call it without a loop back.)

use anyhow::{bail, Result};
use ipnet::Ipv4Net;
use labyrinth_contracts::lb_pool::AddressPool;
use std::net::Ipv4Addr;

/// Addresses the default pool takes from the top of the underlay.
const DEFAULT_SIZE: u32 = 15;

/// Node n sits at network+2+n (config.rs): the last node's address.
fn last_node(underlay: Ipv4Net, workers: u32) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(underlay.network()) + 2 + workers)
}

/// The pool in effect: the lab file's, or the default; None when a default
/// would find no room above the nodes (LoadBalancer Services then stay
/// pending).
pub fn effective(given: Option<AddressPool>, underlay: Ipv4Net, workers: u32) -> Option<AddressPool> {
    if given.is_some() {
        return given;
    }
    let top = u32::from(underlay.broadcast()).checked_sub(1)?;
    let first = top
        .saturating_sub(DEFAULT_SIZE - 1)
        .max(u32::from(last_node(underlay, workers)) + 1);
    (first <= top).then(|| AddressPool {
        first: Ipv4Addr::from(first),
        last: Ipv4Addr::from(top),
    })
}

/// A pool given in the lab file must sit on the underlay, clear of its
/// network, gateway and broadcast addresses and of every node.
pub fn validate(given: Option<AddressPool>, underlay: Ipv4Net, workers: u32) -> Result<()> {
    let Some(p) = given else {
        return Ok(());
    };
    let net = underlay;
    if !net.contains(&p.first) || !net.contains(&p.last) {
        bail!("loadBalancerPool: {p} is not inside underlayCIDR {net}");
    }
    let gateway = Ipv4Addr::from(u32::from(net.network()) + 1);
    for (what, a) in [
        ("network", net.network()),
        ("gateway", gateway),
        ("broadcast", net.broadcast()),
    ] {
        if p.contains(a) {
            bail!("loadBalancerPool: {p} includes the underlay's {what} address {a}");
        }
    }
    let first_node = Ipv4Addr::from(u32::from(net.network()) + 2);
    let last = last_node(underlay, workers);
    if p.first <= last && p.last >= first_node {
        bail!("loadBalancerPool: {p} overlaps the node addresses {first_node}-{last}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> Ipv4Net {
        s.parse().unwrap()
    }
    fn pool(s: &str) -> Option<AddressPool> {
        Some(s.parse().unwrap())
    }

    #[test]
    fn default_is_the_top_of_the_underlay_above_the_nodes() {
        let u = net("10.168.0.0/24");
        assert_eq!(
            effective(None, u, 2).unwrap().to_string(),
            "10.168.0.240-10.168.0.254"
        );
        assert_eq!(
            effective(None, u, 245).unwrap().to_string(),
            "10.168.0.248-10.168.0.254"
        );
        assert_eq!(
            effective(None, u, 250).unwrap().to_string(),
            "10.168.0.253-10.168.0.254"
        );
        assert_eq!(effective(None, net("10.168.0.0/29"), 4), None);
    }

    #[test]
    fn a_given_pool_is_checked_against_the_underlay_and_nodes() {
        let u = net("10.168.0.0/24");
        validate(pool("10.168.0.100-10.168.0.110"), u, 2).unwrap();
        assert_eq!(
            effective(pool("10.168.0.100-10.168.0.110"), u, 2),
            pool("10.168.0.100-10.168.0.110")
        );
        for (p, want) in [
            ("10.169.0.1-10.169.0.5", "is not inside underlayCIDR"),
            ("10.168.0.240/28", "broadcast address 10.168.0.255"),
            (
                "10.168.0.3-10.168.0.9",
                "overlaps the node addresses 10.168.0.2-10.168.0.4",
            ),
        ] {
            let e = format!("{:#}", validate(pool(p), u, 2).unwrap_err());
            assert!(
                e.starts_with("loadBalancerPool: ") && e.contains(want),
                "{p}: {e}"
            );
        }
    }
}
