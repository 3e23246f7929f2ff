//! What the VPC's internal resolver answers, as a cloud network's DNS does
//! for its VMs: the lab writes it (`lab up`), `labyrinth vpc-dns` serves it.

use std::net::Ipv4Addr;

use ipnet::Ipv4Net;
use serde::{Deserialize, Serialize};

/// The resolver's whole configuration: one JSON file in the lab's state
/// directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VpcZone {
    /// The search domain of the nodes (`<lab>.internal`): every host is
    /// `<name>.<domain>`, and also its bare `<name>`.
    pub domain: String,
    /// The machines of the VPC, by name.
    pub hosts: Vec<VpcHost>,
    /// Address ranges whose reverse names this resolver owns: a host's
    /// address answers its name, any other address of them an authoritative
    /// NXDOMAIN at once (the VPC, the pod and the Service ranges).
    pub reverse: Vec<Ipv4Net>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VpcHost {
    pub name: String,
    pub address: Ipv4Addr,
}

impl VpcZone {
    /// The search domain of a lab's VPC.
    pub fn domain_of(lab: &str) -> String {
        format!("{lab}.internal")
    }
}

/// Where the resolver listens: port 53 of the VPC gateway, as a VM's
/// resolver sits at its network's gateway or a fixed address beside it.
pub const VPC_DNS_PORT: u16 = 53;
