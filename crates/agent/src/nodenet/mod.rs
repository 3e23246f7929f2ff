//! The node's side of the pod network, in the roles Cilium's devices play:
//!
//! - `lby_host` / `lby_net`: a veth pair; `lby_host` holds the node's
//!   gateway address (the first address of its pod CIDR), the next hop of
//!   every pod's default route (cilium_host / cilium_net).
//! - `lby_vxlan`: the VXLAN device on UDP 8472 (cilium_vxlan), in tunnel mode;
//!   in collect-metadata mode under the eBPF datapath.
//! - a route to every other node's pod CIDR: through `lby_vxlan` (tunnel) or
//!   via the peer's underlay address (native routing), kept equal to the
//!   Node objects (`peer_watch`);
//! - under `--datapath ebpf`, the programs on those devices (`ebpf`), and on
//!   a switch of datapath, the removal of what the previous one left
//!   (`leftovers`).
//!
//! The names, port and modes are the node's contract with the tracer and
//! the eBPF loader: they come from labyrinth-contracts.

pub mod cni_endpoints;
mod devices;
pub mod ebpf;
pub mod leftovers;
pub mod peer_watch;
mod peers;

use std::net::Ipv4Addr;

use ipnet::Ipv4Net;
use serde::{Deserialize, Serialize};

pub use devices::setup_devices;
pub use labyrinth_contracts::modes::Routing;
pub use labyrinth_contracts::node::{HOST_DEV, NET_DEV, ROUTE_PROTO, VXLAN_DEV, VXLAN_OVERHEAD, VXLAN_PORT};
pub use peers::{sync_peers, PeerSync};

/// What this node's pod network looks like.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NodeNetConfig {
    pub node_name: String,
    pub underlay_ip: Ipv4Addr,
    pub underlay_dev: String,
    pub underlay_mtu: u32,
    pub pod_cidr: Ipv4Net,
    pub routing: Routing,
    pub vni: u32,
    /// The eBPF datapath sets each packet's tunnel key itself: the VXLAN
    /// device is made in collect-metadata ("external") mode and needs no
    /// fdb entries.
    #[serde(default)]
    pub collect_md: bool,
}

impl NodeNetConfig {
    /// The gateway address pods route through: the first of the pod CIDR.
    pub fn gateway(&self) -> Ipv4Addr {
        gateway_of(self.pod_cidr)
    }

    /// MTU for pod interfaces and the overlay devices.
    pub fn pod_mtu(&self) -> u32 {
        match self.routing {
            Routing::Tunnel => self.underlay_mtu - VXLAN_OVERHEAD,
            Routing::Native => self.underlay_mtu,
        }
    }
}

/// Another node, as the agent learns it from the Node objects.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Peer {
    pub name: String,
    pub underlay_ip: Ipv4Addr,
    pub pod_cidr: Ipv4Net,
}

pub fn gateway_of(pod_cidr: Ipv4Net) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(pod_cidr.network()) + 1)
}

/// The MAC of a node's VXLAN device, derived from its underlay address so
/// every peer can compute it without asking (0e = locally administered).
pub fn vtep_mac(underlay_ip: Ipv4Addr) -> [u8; 6] {
    let o = underlay_ip.octets();
    [0x0e, 0x4c, o[0], o[1], o[2], o[3]]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gateway_and_mtu() {
        let cfg = NodeNetConfig {
            node_name: "node-1".into(),
            underlay_ip: "10.168.0.3".parse().unwrap(),
            underlay_dev: labyrinth_contracts::node::UPLINK_DEV.into(),
            underlay_mtu: 1460,
            pod_cidr: "10.0.1.0/24".parse().unwrap(),
            routing: Routing::Tunnel,
            vni: 1,
            collect_md: false,
        };
        assert_eq!(cfg.gateway(), Ipv4Addr::new(10, 0, 1, 1));
        assert_eq!(cfg.pod_mtu(), 1410);
        assert_eq!(
            NodeNetConfig {
                routing: Routing::Native,
                ..cfg
            }
            .pod_mtu(),
            1460
        );
    }

    #[test]
    fn vtep_macs_are_unicast_local_and_distinct() {
        let a = vtep_mac("10.168.0.3".parse().unwrap());
        let b = vtep_mac("10.168.0.4".parse().unwrap());
        assert_ne!(a, b);
        assert_eq!(a[0] & 0x01, 0, "multicast bit set");
        assert_eq!(a[0] & 0x02, 0x02, "not locally administered");
    }
}
