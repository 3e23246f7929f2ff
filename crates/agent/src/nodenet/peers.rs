//! Routes to the other nodes' pod CIDRs, kept equal to the set of peers.
//!
//! Tunnel mode is the classic kernel VXLAN overlay without multicast: for
//! peer P with pod CIDR 10.0.2.0/24 and underlay 10.168.0.4,
//!   route  10.0.2.0/24 via 10.0.2.0 dev lby_vxlan onlink src <our gateway>
//!   neigh  10.0.2.0 lladdr <P's VTEP MAC> dev lby_vxlan permanent
//!   fdb    <P's VTEP MAC> dst 10.168.0.4 dev lby_vxlan
//! Native mode is one route: 10.0.2.0/24 via 10.168.0.4 dev ens4.
//! Under the eBPF datapath the VXLAN device is collect_md: the route and
//! neighbour stay (the node's own packets take them, and to_overlay gives
//! them their tunnel key from the ipcache), the fdb entry is not made.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

use anyhow::{Context, Result};
use ipnet::Ipv4Net;
use labyrinth_netlink::{Handle, RouteSpec};

use super::{vtep_mac, NodeNetConfig, Peer, Routing, ROUTE_PROTO, VXLAN_DEV};

/// What a sync changed, by pod CIDR.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct PeerSync {
    pub added: Vec<Ipv4Net>,
    pub removed: Vec<Ipv4Net>,
}

pub fn sync_peers(h: &mut Handle, cfg: &NodeNetConfig, peers: &[Peer]) -> Result<PeerSync> {
    let vx = match cfg.routing {
        Routing::Tunnel => Some(h.index_of(VXLAN_DEV)?),
        Routing::Native => None,
    };
    let underlay = h.index_of(&cfg.underlay_dev)?;
    let wanted: Vec<&Peer> = peers
        .iter()
        .filter(|p| p.name != cfg.node_name && p.pod_cidr != cfg.pod_cidr)
        .collect();

    let existing: Vec<_> = h
        .routes()?
        .into_iter()
        .filter(|r| r.protocol == ROUTE_PROTO)
        .collect();
    let existing_dsts: BTreeSet<(Ipv4Addr, u8)> = existing.iter().map(|r| (r.dst, r.prefix_len)).collect();
    let mut out = PeerSync::default();

    for p in &wanted {
        let spec = match vx {
            Some(vx) => {
                let vtep = p.pod_cidr.network();
                let mac = vtep_mac(p.underlay_ip);
                h.set_neighbour(vx, vtep, mac)?;
                if !cfg.collect_md {
                    h.set_fdb(vx, mac, p.underlay_ip)?;
                }
                RouteSpec {
                    dst: p.pod_cidr.network(),
                    prefix_len: p.pod_cidr.prefix_len(),
                    gateway: Some(vtep),
                    oif: Some(vx),
                    link_scope: false,
                    onlink: true,
                    src: Some(cfg.gateway()),
                }
            }
            None => RouteSpec {
                dst: p.pod_cidr.network(),
                prefix_len: p.pod_cidr.prefix_len(),
                gateway: Some(p.underlay_ip),
                oif: Some(underlay),
                link_scope: false,
                onlink: false,
                src: Some(cfg.gateway()),
            },
        };
        // Replace even when present: a peer may have changed address.
        h.add_route_with_protocol(&spec, ROUTE_PROTO)
            .with_context(|| format!("route to {} ({})", p.name, p.pod_cidr))?;
        if !existing_dsts.contains(&(spec.dst, spec.prefix_len)) {
            out.added.push(p.pod_cidr);
        }
    }

    let wanted_dsts: BTreeSet<(Ipv4Addr, u8)> = wanted
        .iter()
        .map(|p| (p.pod_cidr.network(), p.pod_cidr.prefix_len()))
        .collect();
    for r in existing {
        if wanted_dsts.contains(&(r.dst, r.prefix_len)) {
            continue;
        }
        let spec = RouteSpec {
            dst: r.dst,
            prefix_len: r.prefix_len,
            gateway: r.gateway,
            oif: r.oif,
            link_scope: false,
            onlink: false,
            src: None,
        };
        h.del_route(&spec)?;
        if let (Some(vx), Some(gw)) = (vx, r.gateway) {
            h.del_neighbour(vx, gw)?;
        }
        out.removed
            .push(Ipv4Net::new(r.dst, r.prefix_len).unwrap_or_default());
    }

    // Forwarding entries of peers that are gone.
    if let Some(vx) = vx {
        let keep: BTreeSet<[u8; 6]> = wanted.iter().map(|p| vtep_mac(p.underlay_ip)).collect();
        for f in h.fdb(vx)? {
            if f.mac[0..2] == [0x0e, 0x4c] && !keep.contains(&f.mac) {
                if let Some(dst) = f.dst {
                    h.del_fdb(vx, f.mac, dst)?;
                }
            }
        }
    }
    Ok(out)
}
