//! The parts of a Service that depend on where traffic comes from: its
//! NodePort and externalTrafficPolicy, internalTrafficPolicy, and the node
//! the proxy runs on (which endpoints are "local" depends on it).

use std::net::Ipv4Addr;

use crate::model::{Endpoint, ServicePort};

/// Ports a NodePort may use (the API server's default range).
pub const NODE_PORT_RANGE: std::ops::RangeInclusive<u16> = 30000..=32767;

/// sessionAffinityConfig.clientIP.timeoutSeconds when not given, and the
/// largest allowed (the API's default and limit).
pub const AFFINITY_DEFAULT_SECONDS: u32 = 10800;
pub const AFFINITY_MAX_SECONDS: u32 = 86400;

/// A service port's NodePort.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NodePort {
    pub port: u16,
    /// externalTrafficPolicy: Local (the client's address is kept; only
    /// this node's endpoints serve, none means drop).
    pub local: bool,
    /// The port the health check answers on (Local only).
    pub health_check: Option<u16>,
}

/// The node this proxy programs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ThisNode {
    pub name: String,
    /// Its underlay address: NodePorts answer on it.
    pub ip: Ipv4Addr,
}

impl ServicePort {
    /// The ready endpoints running on `node` (externalTrafficPolicy Local).
    pub fn local_endpoints(&self, node: Option<&ThisNode>) -> Vec<&Endpoint> {
        let Some(node) = node else { return vec![] };
        self.ready_endpoints()
            .into_iter()
            .filter(|e| e.node_name.as_deref() == Some(node.name.as_str()))
            .collect()
    }

    /// The endpoints ClusterIP traffic is balanced over on `node`: all
    /// ready ones, or the local ones for internalTrafficPolicy Local.
    pub fn internal_endpoints(&self, node: Option<&ThisNode>) -> Vec<&Endpoint> {
        if self.internal_local {
            self.local_endpoints(node)
        } else {
            self.ready_endpoints()
        }
    }

    /// The endpoints outside traffic is balanced over on `node`: all ready
    /// ones for Cluster, the local ones for Local.
    pub fn external_endpoints(&self, node: Option<&ThisNode>) -> Vec<&Endpoint> {
        match self.node_port {
            Some(NodePort { local: true, .. }) => self.local_endpoints(node),
            _ => self.ready_endpoints(),
        }
    }
}
