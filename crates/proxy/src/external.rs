//! The parts of a Service that depend on where traffic comes from: its
//! NodePort and externalTrafficPolicy, internalTrafficPolicy, and the node
//! the proxy runs on (which endpoints are "local" depends on it).

use std::net::Ipv4Addr;

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
    /// Its `topology.kubernetes.io/zone`: with zone hints (PreferClose),
    /// Services prefer the endpoints hinted for it.
    pub zone: Option<String>,
}
