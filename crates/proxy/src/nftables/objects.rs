//! What a service port owns in the table: its map element (ClusterIP, or
//! for a NodePort the node's address, . proto . port), its chain and its
//! endpoint elements.

use std::collections::BTreeSet;
use std::net::{Ipv4Addr, SocketAddrV4};

use super::affinity::AffinityEndpoint;
use super::rules::{Chain, DROP_CHAIN, NO_ENDPOINTS, REJECT_CHAIN};
use crate::model::{Protocol, ServicePort};

/// A `service-ips` / `no-endpoint-services` key: ClusterIP . proto . port.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct ServiceKey {
    pub ip: Ipv4Addr,
    pub proto: Protocol,
    pub port: u16,
}

impl std::fmt::Display for ServiceKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} . {} . {}", self.ip, self.proto.as_str(), self.port)
    }
}

/// What one service port owns in the table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceObjects {
    /// SERVICE_IPS or NO_ENDPOINTS.
    pub map: &'static str,
    pub key: ServiceKey,
    /// Where its element sends packets: its own chain or `reject-chain`.
    pub target: String,
    /// Its chain (None without endpoints).
    pub chain: Option<Chain>,
    /// Its ready endpoints; the i-th is `service-endpoints` element `key . i`.
    pub endpoints: Vec<SocketAddrV4>,
    /// Its NodePort: the same kinds of objects keyed by the node's address
    /// and the NodePort (see nodeport.rs).
    pub external: Option<Box<ServiceObjects>>,
    /// sessionAffinity ClientIP: a set and a chain per ready endpoint
    /// (affinity.rs), on the ClusterIP's objects only; empty otherwise.
    pub affinity: Vec<AffinityEndpoint>,
    /// On a NodePort's objects: its LoadBalancer addresses, each one more
    /// element `<address> . <proto> . <port>` to the same chain, with its
    /// own endpoint elements (the pickers index by the packet's address).
    pub load_balancer: Vec<ServiceObjects>,
}

impl ServiceObjects {
    /// A frontend of `sp` with no endpoint to go to: its element in
    /// `no-endpoint-services`, refused when `sp` has no ready endpoint at
    /// all, dropped when only none is eligible here (a traffic policy
    /// Local), as kube-proxy does.
    pub fn dead_end(sp: &ServicePort, key: ServiceKey) -> ServiceObjects {
        let target = if sp.ready_endpoints().is_empty() {
            REJECT_CHAIN
        } else {
            DROP_CHAIN
        };
        ServiceObjects {
            map: NO_ENDPOINTS,
            key,
            target: target.into(),
            chain: None,
            endpoints: vec![],
            external: None,
            affinity: vec![],
            load_balancer: vec![],
        }
    }

    /// "key : goto target", as in the map listing.
    pub fn element(&self) -> String {
        format!("{} : goto {}", self.key, self.target)
    }

    /// Its distinct endpoint IPs (hairpin set members).
    pub fn endpoint_ips(&self) -> BTreeSet<Ipv4Addr> {
        self.endpoints.iter().map(|e| *e.ip()).collect()
    }

    /// Itself, then its NodePort's objects and LoadBalancer addresses.
    pub fn frontends(&self) -> impl Iterator<Item = &ServiceObjects> {
        let ext = self.external.as_deref();
        std::iter::once(self)
            .chain(ext)
            .chain(ext.into_iter().flat_map(|e| &e.load_balancer))
    }
}
