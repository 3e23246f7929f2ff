//! Kernel state of one attachment, through labyrinth-netlink: the veth pair
//! (host `lxc<hash>` ⇄ pod `CNI_IFNAME`), the pod's /32 and routes, and the
//! host side's /32 route and proxy-ARP.
//!
//! The pod reaches everything through the gateway address: a link-scope
//! route `<gw> dev eth0` and `default via <gw> dev eth0 src <pod ip>`. The
//! host side answers the pod's ARP for the gateway: with proxy-ARP on the
//! lxc device the node replies with the lxc MAC for any address it routes
//! elsewhere, and for its own gateway address it replies anyway.

use std::net::Ipv4Addr;

use anyhow::{Context, Result};
use labyrinth_contracts::node::POD_VETH_PREFIX;
use labyrinth_netlink::netns::NetNs;
use labyrinth_netlink::{Handle, Link, LinkKind, RouteSpec, VethSpec};

/// `POD_VETH_PREFIX` (`lxc`) + 12 hex digits of FNV-1a(container id,
/// ifname): 15 bytes, the kernel's limit, and stable so DEL and GC find it
/// from the attachment.
pub fn host_ifname(container_id: &str, ifname: &str) -> String {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in container_id.bytes().chain([0u8]).chain(ifname.bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x100000001b3);
    }
    format!("{POD_VETH_PREFIX}{:012x}", h >> 16)
}

/// Create the pair: the host side here (the node), the pod side directly
/// inside the pod's namespace under its final name.
pub fn create_veth(node: &mut Handle, pod_ns: &NetNs, host: &str, pod_if: &str, mtu: u32) -> Result<()> {
    node.add_veth(&VethSpec {
        name: host,
        peer: pod_if,
        peer_netns: Some(pod_ns),
        mtu: Some(mtu),
    })
    .with_context(|| format!("creating veth {host} with {pod_if} in the pod"))
}

/// Address, link and routes inside the pod. Returns the pod link.
pub fn configure_pod(
    pod: &mut Handle,
    ifname: &str,
    ip: Ipv4Addr,
    gw: Ipv4Addr,
    routes: &[ipnet::Ipv4Net],
) -> Result<Link> {
    let link = pod
        .link_by_name(ifname)?
        .with_context(|| format!("{ifname} vanished from the pod"))?;
    pod.add_addr(link.index, ip.into(), 32)
        .with_context(|| format!("adding {ip}/32 to {ifname}"))?;
    pod.set_up(link.index)
        .with_context(|| format!("setting {ifname} up"))?;
    let gw_route = RouteSpec {
        dst: gw,
        prefix_len: 32,
        gateway: None,
        oif: Some(link.index),
        link_scope: true,
        onlink: false,
        src: Some(ip),
    };
    pod.add_route(&gw_route)
        .with_context(|| format!("adding the link route to the gateway {gw}"))?;
    for dst in routes {
        let spec = RouteSpec {
            dst: dst.network(),
            prefix_len: dst.prefix_len(),
            gateway: Some(gw),
            oif: Some(link.index),
            link_scope: false,
            onlink: false,
            src: Some(ip),
        };
        pod.add_route(&spec)
            .with_context(|| format!("adding route {dst} via {gw}"))?;
    }
    Ok(link)
}

/// The host side: up, proxy-ARP, and the /32 route to the pod.
pub fn configure_host(node: &mut Handle, host: &str, ip: Ipv4Addr) -> Result<Link> {
    let link = node
        .link_by_name(host)?
        .with_context(|| format!("{host} vanished from the node"))?;
    // The sysctl file is the calling thread's namespace: the node's.
    let key = format!("/proc/sys/net/ipv4/conf/{host}/proxy_arp");
    std::fs::write(&key, "1").with_context(|| format!("enabling proxy-ARP ({key})"))?;
    node.set_up(link.index)
        .with_context(|| format!("setting {host} up"))?;
    node.add_route(&host_route(ip, link.index))
        .with_context(|| format!("adding route {ip}/32 dev {host}"))?;
    Ok(link)
}

pub fn host_route(ip: Ipv4Addr, oif: u32) -> RouteSpec {
    RouteSpec {
        dst: ip,
        prefix_len: 32,
        gateway: None,
        oif: Some(oif),
        link_scope: true,
        onlink: false,
        src: None,
    }
}

/// Delete our host-side veth if it exists (which takes the pod side with
/// it). Only a veth of exactly our name is touched.
pub fn delete_host_veth(node: &mut Handle, host: &str) -> Result<bool> {
    match node.link_by_name(host)? {
        Some(l) if l.kind == LinkKind::Veth => {
            node.del_link(l.index)
                .with_context(|| format!("deleting {host}"))?;
            Ok(true)
        }
        _ => Ok(false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_names_are_stable_short_and_distinct() {
        let a = host_ifname(
            "3f6940ab5ab43bc522569d15b23f8c1bbde1d7678b080398506924fc01d72755",
            "eth0",
        );
        assert_eq!(a.len(), 15);
        assert!(a.starts_with(POD_VETH_PREFIX));
        assert_eq!(
            a,
            host_ifname(
                "3f6940ab5ab43bc522569d15b23f8c1bbde1d7678b080398506924fc01d72755",
                "eth0"
            )
        );
        assert_ne!(
            a,
            host_ifname(
                "3f6940ab5ab43bc522569d15b23f8c1bbde1d7678b080398506924fc01d72755",
                "net1"
            )
        );
        // The separator keeps ("ab","c") and ("a","bc") apart.
        assert_ne!(host_ifname("ab", "c"), host_ifname("a", "bc"));
        assert!(crate::spec::env::validate_ifname(&a).is_ok());
    }
}
