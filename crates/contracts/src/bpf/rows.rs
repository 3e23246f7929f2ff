//! The eBPF maps' entries as typed rows: addresses as addresses (host
//! order, no more network-order integers), protocols, directions and flow
//! states by name, each service row with the name of its Service. These are
//! what `labyrinth bpf map get --json` prints (the table for people is drawn
//! from the same rows) and what the tracer deserializes.

use std::fmt;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::str::FromStr;

use ipnet::Ipv4Net;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::abi::*;
use crate::modes::{PodDelivery, Routing};

/// An IP protocol number; shown and serialized by name (`TCP`, `UDP`,
/// `ICMP`) or, for the others, as the number.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct IpProto(pub u8);

impl IpProto {
    pub const ICMP: IpProto = IpProto(1);
    pub const TCP: IpProto = IpProto(PROTO_TCP);
    pub const UDP: IpProto = IpProto(PROTO_UDP);
}

impl fmt::Display for IpProto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            IpProto::TCP => f.write_str("TCP"),
            IpProto::UDP => f.write_str("UDP"),
            IpProto::ICMP => f.write_str("ICMP"),
            IpProto(n) => write!(f, "{n}"),
        }
    }
}

impl FromStr for IpProto {
    type Err = String;

    /// A name in either case (`tcp`, `TCP`) or a number.
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_uppercase().as_str() {
            "TCP" => Ok(IpProto::TCP),
            "UDP" => Ok(IpProto::UDP),
            "ICMP" => Ok(IpProto::ICMP),
            n => n
                .parse()
                .map(IpProto)
                .map_err(|_| format!("unknown IP protocol {s:?} (TCP, UDP, ICMP or a number)")),
        }
    }
}

impl Serialize for IpProto {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for IpProto {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Which half of a translated flow a conntrack entry is, or which policy
/// judgement (bpf/lib/policy.h) let a connection through.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CtDir {
    /// Client → ClusterIP:port, as the client sent it.
    Service,
    /// Backend → client: reversed by the programs.
    Reply,
    /// A connection a pod's egress policy judgement let through.
    #[serde(rename = "policy-egress")]
    PolicyEgress,
    /// A connection a pod's ingress policy judgement let through.
    #[serde(rename = "policy-ingress")]
    PolicyIngress,
}

impl CtDir {
    pub fn of(raw: u8) -> CtDir {
        match raw {
            CT_DIR_SERVICE => CtDir::Service,
            super::policy::CT_DIR_POL_EGRESS => CtDir::PolicyEgress,
            super::policy::CT_DIR_POL_INGRESS => CtDir::PolicyIngress,
            _ => CtDir::Reply,
        }
    }

    pub const fn as_str(self) -> &'static str {
        match self {
            CtDir::Service => "service",
            CtDir::Reply => "reply",
            CtDir::PolicyEgress => "policy-egress",
            CtDir::PolicyIngress => "policy-ingress",
        }
    }
}

/// A flow's state, judged from the TCP flags its entries have seen.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FlowState {
    /// Only a SYN so far.
    Opening,
    Established,
    /// A FIN or RST seen.
    Closing,
    /// UDP and anything else without states.
    Stateless,
}

impl FlowState {
    pub fn of(proto: u8, tcp_seen: u8) -> FlowState {
        if proto != PROTO_TCP {
            FlowState::Stateless
        } else if tcp_seen & (TCP_FIN | TCP_RST) != 0 {
            FlowState::Closing
        } else if tcp_seen & TCP_ACK != 0 {
            FlowState::Established
        } else {
            // A bare SYN (or nothing seen yet).
            FlowState::Opening
        }
    }

    /// As the table shows it (`-` for no state).
    pub fn name(self) -> &'static str {
        match self {
            FlowState::Opening => "opening",
            FlowState::Established => "established",
            FlowState::Closing => "closing",
            FlowState::Stateless => "-",
        }
    }
}

/// A frontend (slot 0: how many backend slots follow) or one backend slot
/// of a Service port.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceRow {
    /// ClusterIP:port.
    pub frontend: SocketAddrV4,
    pub proto: IpProto,
    pub slot: u16,
    pub backend_id: u32,
    /// Backend slots (on the frontend slot; 0 on backend slots).
    pub count: u16,
    /// The Service port's id (reverse NAT, names).
    pub rev_nat_index: u16,
    /// A backend slot's backend (None on the frontend slot, or when the
    /// backends map lacks the id).
    pub backend: Option<SocketAddrV4>,
    /// `namespace/name:port`, empty if the names map lacks the id.
    pub name: String,
}

impl ServiceRow {
    /// `backend` is the backends map's entry for `v.backend_id`.
    pub fn new(k: &Lb4Key, v: &Lb4Service, backend: Option<&Lb4Backend>, name: String) -> ServiceRow {
        ServiceRow {
            frontend: sock_of(k.address, k.dport),
            proto: IpProto(k.proto),
            slot: k.slot,
            backend_id: v.backend_id,
            count: v.count,
            rev_nat_index: v.rev_nat_index,
            backend: backend.filter(|_| k.slot > 0).map(|b| sock_of(b.address, b.port)),
            name,
        }
    }

    pub fn is_frontend(&self) -> bool {
        self.slot == 0
    }

    /// As the programs look a Service port up: the frontend slot of
    /// `frontend`/`proto`, and its backend slots in slot order. None when
    /// the map has no frontend slot for it.
    pub fn lookup(
        rows: &[ServiceRow],
        frontend: SocketAddrV4,
        proto: IpProto,
    ) -> Option<(&ServiceRow, Vec<&ServiceRow>)> {
        let mut of: Vec<&ServiceRow> = rows
            .iter()
            .filter(|r| r.frontend == frontend && r.proto == proto)
            .collect();
        of.sort_by_key(|r| r.slot);
        let front = of.iter().position(|r| r.is_frontend())?;
        let front = of.remove(front);
        Some((front, of))
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackendRow {
    pub id: u32,
    pub address: SocketAddrV4,
    pub proto: IpProto,
}

impl BackendRow {
    pub fn new(id: u32, b: &Lb4Backend) -> BackendRow {
        BackendRow {
            id,
            address: sock_of(b.address, b.port),
            proto: IpProto(b.proto),
        }
    }
}

/// A Service port's id → the frontend replies are rewritten to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevNatRow {
    pub id: u16,
    pub frontend: SocketAddrV4,
    pub proto: IpProto,
    pub name: String,
}

impl RevNatRow {
    pub fn new(id: u16, r: &Lb4ReverseNat, name: String) -> RevNatRow {
        RevNatRow {
            id,
            frontend: sock_of(r.address, r.port),
            proto: IpProto(r.proto),
            name,
        }
    }
}

/// One direction of a translated flow.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CtRow {
    pub dir: CtDir,
    pub proto: IpProto,
    pub source: SocketAddrV4,
    pub destination: SocketAddrV4,
    /// Where the service direction sent the flow.
    pub backend: SocketAddrV4,
    pub rev_nat_index: u16,
    /// The client is its own backend: its source was rewritten.
    pub hairpin: bool,
    /// A reply entry an answer passed back through (UDP: the query was
    /// answered); a terminating backend's drain keeps the flows without it.
    #[serde(default)]
    pub answered: bool,
    pub state: FlowState,
    /// Nanoseconds since a packet last refreshed the entry.
    pub idle_ns: u64,
    /// The Service's name, empty if unknown.
    pub service: String,
}

impl CtRow {
    /// `now_ns` on CLOCK_MONOTONIC, the programs' clock.
    pub fn new(k: &Ct4Key, v: &Ct4Entry, now_ns: u64, service: String) -> CtRow {
        CtRow {
            dir: CtDir::of(k.dir),
            proto: IpProto(k.proto),
            source: sock_of(k.saddr, k.sport),
            destination: sock_of(k.daddr, k.dport),
            backend: sock_of(v.backend_addr, v.backend_port),
            rev_nat_index: v.rev_nat_index,
            hairpin: v.flags & CT_F_HAIRPIN != 0,
            answered: v.flags & CT_F_ANSWERED != 0,
            state: FlowState::of(k.proto, v.tcp_seen),
            idle_ns: now_ns.saturating_sub(v.last_seen_ns),
            service,
        }
    }
}

/// A pod CIDR (or address) and the node that holds it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IpcacheRow {
    pub prefix: Ipv4Net,
    /// The node's underlay address; 0.0.0.0 for this node.
    pub tunnel_endpoint: Ipv4Addr,
    pub identity: u32,
}

impl IpcacheRow {
    /// The trie key's prefix length and address (network order), and the
    /// value. A prefix longer than 32 is an error naming it.
    pub fn new(prefix_len: u32, addr: u32, v: &IpcacheValue) -> Result<IpcacheRow, String> {
        let prefix = u8::try_from(prefix_len)
            .ok()
            .and_then(|len| Ipv4Net::new(addr_of(addr), len).ok())
            .ok_or_else(|| {
                format!(
                    "ipcache key {}/{prefix_len}: prefix length over 32",
                    addr_of(addr)
                )
            })?;
        Ok(IpcacheRow {
            prefix,
            tunnel_endpoint: addr_of(v.tunnel_endpoint),
            identity: v.identity,
        })
    }
}

/// A pod on this node the programs deliver to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndpointRow {
    pub address: Ipv4Addr,
    /// The pod's host-side veth.
    pub ifindex: u32,
    /// The pod's eth0.
    pub pod_mac: [u8; 6],
    /// The host-side veth's.
    pub node_mac: [u8; 6],
}

impl EndpointRow {
    pub fn new(addr: u32, v: &EndpointValue) -> EndpointRow {
        EndpointRow {
            address: addr_of(addr),
            ifindex: v.ifindex,
            pod_mac: v.pod_mac,
            node_mac: v.node_mac,
        }
    }
}

/// The node's settings the loader wrote for the programs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigRow {
    pub tunnel_ifindex: u32,
    pub vni: u32,
    pub node_ip: Ipv4Addr,
    /// The source of a pod reaching itself through a Service.
    pub hairpin_ip: Ipv4Addr,
    pub routing: Routing,
    pub trace_level: u8,
    /// How the programs enter a local pod (absent in rows printed before
    /// the field existed: the host veth, as those programs did not).
    #[serde(default)]
    pub delivery: PodDelivery,
}

impl ConfigRow {
    pub fn new(c: &LbyConfig) -> ConfigRow {
        ConfigRow {
            tunnel_ifindex: c.tunnel_ifindex,
            vni: c.vni,
            node_ip: addr_of(c.node_ip),
            hairpin_ip: addr_of(c.hairpin_ip),
            routing: if c.routing == ROUTING_NATIVE {
                Routing::Native
            } else {
                Routing::Tunnel
            },
            trace_level: c.trace_level,
            delivery: if c.delivery == DELIVERY_PEER_REDIRECT {
                PodDelivery::PeerRedirect
            } else {
                PodDelivery::HostVeth
            },
        }
    }
}

#[cfg(test)]
mod tests;
