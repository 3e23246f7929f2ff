//! Create (or converge) the node's gateway pair and VXLAN device.

use std::net::IpAddr;

use anyhow::{Context, Result};
use labyrinth_netlink::netns::NetNs;
use labyrinth_netlink::{Handle, LinkKind, VethSpec, VxlanSpec};

use super::{vtep_mac, NodeNetConfig, Routing, HOST_DEV, NET_DEV, VXLAN_DEV, VXLAN_PORT};

/// Idempotent: an agent restart finds the devices and leaves them (and every
/// pod's traffic through them) alone.
pub fn setup_devices(ns: &NetNs, h: &mut Handle, cfg: &NodeNetConfig) -> Result<()> {
    let mtu = cfg.pod_mtu();
    if h.link_by_name(HOST_DEV)?.is_none() {
        h.add_veth(&VethSpec {
            name: HOST_DEV,
            peer: NET_DEV,
            peer_netns: None,
            mtu: Some(mtu),
        })?;
    }
    let host = h.index_of(HOST_DEV)?;
    let net = h.index_of(NET_DEV)?;
    h.set_mtu(host, mtu)?;
    h.set_mtu(net, mtu)?;
    h.add_addr(host, IpAddr::V4(cfg.gateway()), 32)?;
    h.set_up(net)?;
    h.set_up(host)?;

    match cfg.routing {
        Routing::Tunnel => {
            let existing = h.link_by_name(VXLAN_DEV)?;
            if existing.as_ref().is_some_and(|l| l.kind != LinkKind::Vxlan) {
                anyhow::bail!("{VXLAN_DEV} exists and is not a vxlan device");
            }
            // Left from the other datapath (classic vs collect_md): the
            // mode cannot be changed on a live device, so it is made anew.
            let existing = match existing {
                Some(l) if l.collect_metadata != cfg.collect_md => {
                    h.del_link_by_name(VXLAN_DEV)?;
                    None
                }
                other => other,
            };
            if existing.is_none() {
                let underlay = h.index_of(&cfg.underlay_dev)?;
                h.add_vxlan(&VxlanSpec {
                    name: VXLAN_DEV,
                    vni: cfg.vni,
                    port: VXLAN_PORT,
                    local: Some(cfg.underlay_ip),
                    underlay_index: Some(underlay),
                    mtu: Some(mtu),
                    learning: false,
                    collect_metadata: cfg.collect_md,
                })?;
            }
            let link = h.link_by_name(VXLAN_DEV)?.context("vxlan device vanished")?;
            let vx = link.index;
            // Setting a MAC, even the same one, flushes the device's
            // neighbours (our permanent VTEP entries among them).
            if link.mac != Some(vtep_mac(cfg.underlay_ip)) {
                h.set_mac(vx, vtep_mac(cfg.underlay_ip))?;
            }
            h.set_mtu(vx, mtu)?;
            h.set_up(vx)?;
        }
        Routing::Native => {
            // A leftover tunnel from an earlier mode would attract no routes,
            // but it would confuse anyone reading `ip link`.
            h.del_link_by_name(VXLAN_DEV)?;
        }
    }

    // Forwarding between pods, the gateway and the tunnel; strict reverse
    // path filtering would drop replies that return over another device.
    for (key, value) in [
        ("net.ipv4.ip_forward", "1"),
        ("net.ipv4.conf.all.rp_filter", "0"),
        ("net.ipv4.conf.default.rp_filter", "0"),
    ] {
        ns.sysctl(key, value)
            .with_context(|| format!("node {}", cfg.node_name))?;
    }
    for dev in [HOST_DEV, NET_DEV, VXLAN_DEV, cfg.underlay_dev.as_str()] {
        let _ = ns.sysctl(&format!("net.ipv4.conf.{dev}.rp_filter"), "0");
    }
    Ok(())
}
