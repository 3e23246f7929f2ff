//! The pure service model every datapath compiles from: ClusterIP service
//! ports and the endpoints behind them. Nothing here touches the kernel.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

pub use crate::external::{NodePort, ThisNode};

/// Transport protocol of a service port (SCTP is not supported: a Service
/// with an SCTP port is left out of the model, `ServiceStore::model_for`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Protocol {
    Tcp,
    Udp,
}

impl Protocol {
    /// The lower-case spelling kube-proxy feeds into its chain hashes and
    /// iptables/nft use on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
        }
    }

    /// Parse the API spelling ("TCP", "UDP"; empty means TCP as in the API).
    pub fn from_api(s: Option<&str>) -> Result<Self, String> {
        match s.unwrap_or("TCP") {
            "TCP" | "tcp" => Ok(Protocol::Tcp),
            "UDP" | "udp" => Ok(Protocol::Udp),
            other => Err(format!("unsupported protocol {other:?} (only TCP and UDP)")),
        }
    }
}

/// kube-proxy's `ServicePortName`: namespace, service, port name and protocol.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ServicePortName {
    pub namespace: String,
    pub name: String,
    /// The port's name; empty for a service's single unnamed port.
    pub port: String,
    pub protocol: Protocol,
}

impl ServicePortName {
    pub fn new(namespace: &str, name: &str, port: &str, protocol: Protocol) -> Self {
        ServicePortName {
            namespace: namespace.into(),
            name: name.into(),
            port: port.into(),
            protocol,
        }
    }
}

/// "ns/name:port", or "ns/name" for an unnamed port, exactly as kube-proxy
/// prints it (the hash input and the rule comments depend on it).
impl fmt::Display for ServicePortName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)?;
        if !self.port.is_empty() {
            write!(f, ":{}", self.port)?;
        }
        Ok(())
    }
}

/// One backend of a service port.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Endpoint {
    pub ip: Ipv4Addr,
    /// The target port, as resolved by the EndpointSlice.
    pub port: u16,
    pub ready: bool,
    /// Still answering: ready, or terminating while it serves (the slice's
    /// `serving` condition). New flows go only to ready endpoints, but a
    /// UDP flow already pinned to a serving one keeps its conntrack entry:
    /// a server in lame duck still answers the queries it was sent.
    pub serving: bool,
    pub node_name: Option<String>,
}

impl Endpoint {
    pub fn new(ip: Ipv4Addr, port: u16) -> Self {
        Endpoint {
            ip,
            port,
            ready: true,
            serving: true,
            node_name: None,
        }
    }

    /// "ip:port", the endpoint string kube-proxy hashes into KUBE-SEP names.
    pub fn addr(&self) -> String {
        format!("{}:{}", self.ip, self.port)
    }
}

/// A ClusterIP service port with its endpoints.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServicePort {
    pub name: ServicePortName,
    pub cluster_ip: Ipv4Addr,
    pub port: u16,
    /// Sorted by (ip, port) so compiled output is deterministic.
    pub endpoints: Vec<Endpoint>,
    /// Set for NodePort (and LoadBalancer) Services.
    pub node_port: Option<NodePort>,
    /// internalTrafficPolicy: Local (traffic to the ClusterIP only to
    /// endpoints on the client's node, none means drop).
    pub internal_local: bool,
    /// sessionAffinity ClientIP: how long (seconds) a client sticks to
    /// the endpoint it first got.
    pub affinity_seconds: Option<u32>,
    /// A LoadBalancer's addresses (status.loadBalancer.ingress[].ip):
    /// answered on the Service's port like the NodePort, with the same
    /// externalTrafficPolicy (programmed only with a NodePort).
    pub load_balancer_ips: Vec<Ipv4Addr>,
    /// Set when zone hints (trafficDistribution: PreferClose) narrowed
    /// `endpoints` to those hinted for this node's zone.
    pub topology_zone: Option<String>,
}

impl ServicePort {
    pub fn new(name: ServicePortName, cluster_ip: Ipv4Addr, port: u16, mut endpoints: Vec<Endpoint>) -> Self {
        endpoints.sort();
        endpoints.dedup_by(|a, b| a.ip == b.ip && a.port == b.port);
        ServicePort {
            name,
            cluster_ip,
            port,
            endpoints,
            node_port: None,
            internal_local: false,
            affinity_seconds: None,
            load_balancer_ips: Vec::new(),
            topology_zone: None,
        }
    }

    pub fn with_node_port(mut self, np: NodePort) -> Self {
        self.node_port = Some(np);
        self
    }

    pub fn protocol(&self) -> Protocol {
        self.name.protocol
    }

    /// The endpoints traffic is balanced over: the ready ones.
    pub fn ready_endpoints(&self) -> Vec<&Endpoint> {
        self.endpoints.iter().filter(|e| e.ready).collect()
    }

    /// The endpoints that still answer flows already sent to them: the
    /// ready ones and the terminating ones that serve.
    pub fn serving_endpoints(&self) -> impl Iterator<Item = &Endpoint> {
        self.endpoints.iter().filter(|e| e.ready || e.serving)
    }
}

/// Which endpoints serve which traffic (the traffic policies).
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

/// Everything one node's proxy programs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServiceModel {
    /// Sources outside this range are masqueraded (kube-proxy's
    /// `--cluster-cidr`); None masquerades nothing but hairpin traffic.
    pub cluster_cidr: Option<Ipv4Net>,
    pub services: BTreeMap<ServicePortName, ServicePort>,
    /// The node programmed (None: no NodePorts are programmed).
    pub node: Option<ThisNode>,
}

impl ServiceModel {
    pub fn new(cluster_cidr: Option<Ipv4Net>) -> Self {
        ServiceModel {
            cluster_cidr,
            services: BTreeMap::new(),
            node: None,
        }
    }

    pub fn insert(&mut self, sp: ServicePort) {
        self.services.insert(sp.name.clone(), sp);
    }

    /// Service ports added, removed or changed between `old` and `self`:
    /// one merge pass over both sorted maps (this runs on every sync, at
    /// 10k services per-name lookups would cost more than the kernel work).
    pub fn changed_since(&self, old: &ServiceModel) -> BTreeSet<ServicePortName> {
        let mut changed = BTreeSet::new();
        let mut a = self.services.iter().peekable();
        let mut b = old.services.iter().peekable();
        loop {
            match (a.peek(), b.peek()) {
                (None, None) => break,
                (Some((n, _)), None) => {
                    changed.insert((*n).clone());
                    a.next();
                }
                (None, Some((n, _))) => {
                    changed.insert((*n).clone());
                    b.next();
                }
                (Some((na, sa)), Some((nb, sb))) => match na.cmp(nb) {
                    std::cmp::Ordering::Less => {
                        changed.insert((*na).clone());
                        a.next();
                    }
                    std::cmp::Ordering::Greater => {
                        changed.insert((*nb).clone());
                        b.next();
                    }
                    std::cmp::Ordering::Equal => {
                        if sa != sb {
                            changed.insert((*na).clone());
                        }
                        a.next();
                        b.next();
                    }
                },
            }
        }
        changed
    }

    /// Make `self` equal to `new` for the `changed` ports only (cheaper
    /// than cloning the whole model after a partial sync).
    pub fn apply_changes(&mut self, new: &ServiceModel, changed: &BTreeSet<ServicePortName>) {
        for name in changed {
            match new.services.get(name) {
                Some(sp) => {
                    self.services.insert(name.clone(), sp.clone());
                }
                None => {
                    self.services.remove(name);
                }
            }
        }
        self.cluster_cidr = new.cluster_cidr;
        self.node = new.node.clone();
    }

    /// Two service ports must not claim the same ClusterIP:port/protocol.
    pub fn validate(&self) -> Result<(), String> {
        let mut seen = std::collections::HashMap::with_capacity(self.services.len());
        let mut node_ports = std::collections::HashMap::new();
        for sp in self.services.values() {
            if let Some(np) = sp.node_port {
                if let Some(other) = node_ports.insert((np.port, sp.protocol()), &sp.name) {
                    return Err(format!(
                        "{} and {} both claim nodePort {}/{}",
                        other,
                        sp.name,
                        np.port,
                        sp.protocol().as_str()
                    ));
                }
            }
            let key = (sp.cluster_ip, sp.protocol(), sp.port);
            if let Some(other) = seen.insert(key, &sp.name) {
                return Err(format!(
                    "{} and {} both claim {}:{}/{}",
                    other,
                    sp.name,
                    sp.cluster_ip,
                    sp.port,
                    sp.protocol().as_str()
                ));
            }
            if sp.port == 0 {
                return Err(format!("{}: port 0", sp.name));
            }
            if let Some(e) = sp.endpoints.iter().find(|e| e.port == 0) {
                return Err(format!("{}: endpoint {} has target port 0", sp.name, e.ip));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_name_prints_like_kube_proxy() {
        let n = ServicePortName::new("kube-system", "kube-dns", "dns", Protocol::Udp);
        assert_eq!(n.to_string(), "kube-system/kube-dns:dns");
        let unnamed = ServicePortName::new("wrk-2", "web", "", Protocol::Tcp);
        assert_eq!(unnamed.to_string(), "wrk-2/web");
    }

    #[test]
    fn changed_since_finds_added_removed_and_modified() {
        let a = ServicePortName::new("ns", "a", "", Protocol::Tcp);
        let b = ServicePortName::new("ns", "b", "", Protocol::Tcp);
        let c = ServicePortName::new("ns", "c", "", Protocol::Tcp);
        let ip = Ipv4Addr::new(10, 96, 0, 1);
        let mut old = ServiceModel::new(None);
        old.insert(ServicePort::new(a.clone(), ip, 80, vec![]));
        old.insert(ServicePort::new(b.clone(), ip, 81, vec![]));
        let mut new = ServiceModel::new(None);
        new.insert(ServicePort::new(a.clone(), ip, 80, vec![]));
        new.insert(ServicePort::new(
            b.clone(),
            ip,
            81,
            vec![Endpoint::new(Ipv4Addr::new(10, 0, 1, 5), 8080)],
        ));
        new.insert(ServicePort::new(c.clone(), ip, 82, vec![]));
        let changed: Vec<_> = new.changed_since(&old).into_iter().collect();
        assert_eq!(changed, vec![b, c.clone()]);
        let back: Vec<_> = old.changed_since(&new).into_iter().collect();
        assert_eq!(back.len(), 2);
        assert!(back.contains(&c));
        let mut patched = old.clone();
        patched.apply_changes(&new, &new.changed_since(&old));
        assert_eq!(patched, new);
    }

    #[test]
    fn validate_rejects_duplicate_vip() {
        let ip = Ipv4Addr::new(10, 96, 0, 1);
        let mut m = ServiceModel::new(None);
        m.insert(ServicePort::new(
            ServicePortName::new("ns", "a", "", Protocol::Tcp),
            ip,
            80,
            vec![],
        ));
        m.insert(ServicePort::new(
            ServicePortName::new("ns", "b", "", Protocol::Tcp),
            ip,
            80,
            vec![],
        ));
        let err = m.validate().unwrap_err();
        assert!(err.contains("ns/a") && err.contains("ns/b"), "{err}");
    }
}
