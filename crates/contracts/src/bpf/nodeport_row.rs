//! A row of `lby_lb4_nodeport_v2` (`labyrinth bpf map get nodeport`): an
//! external frontend (a NodePort on the node's address, or a LoadBalancer
//! address) with its Service and externalTrafficPolicy, which decides
//! whether the program rewrites the client's address to the node's.

use std::net::SocketAddrV4;

use serde::{Deserialize, Serialize};

use super::abi::{sock_of, Lb4NodePort, Lb4NodePortKey, NP_F_LOCAL};
use super::rows::IpProto;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodePortRow {
    pub frontend: SocketAddrV4,
    pub proto: IpProto,
    /// The frontend's service id (its row in the services map has the
    /// same address and port).
    pub rev_nat_index: u16,
    /// externalTrafficPolicy Local: the client's address is kept and only
    /// this node's backends serve; Cluster (false) masquerades to the node.
    pub local: bool,
    pub name: String,
}

impl NodePortRow {
    pub fn new(k: &Lb4NodePortKey, v: &Lb4NodePort, name: String) -> NodePortRow {
        NodePortRow {
            frontend: sock_of(k.address, k.port),
            proto: IpProto(k.proto),
            rev_nat_index: v.rev_nat_index,
            local: v.flags & NP_F_LOCAL != 0,
            name,
        }
    }

    /// What the policy does to the packet, in words.
    pub fn policy(&self) -> &'static str {
        if self.local {
            "externalTrafficPolicy Local: the client's address is kept, only this node's backends serve"
        } else {
            "externalTrafficPolicy Cluster: the source is rewritten to the node's address (CT_F_SNAT)"
        }
    }
}
