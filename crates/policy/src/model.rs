//! The cluster as NetworkPolicy sees it. Built from the API by
//! [`crate::from_k8s`], or by hand in tests.

use std::collections::BTreeMap;
use std::fmt;
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;
use serde::Serialize;

use crate::selector::{Labels, Selector};

/// The label every namespace carries with its own name (the API server
/// sets it); a namespace without it is treated as if labelled.
pub const NAMESPACE_NAME_LABEL: &str = "kubernetes.io/metadata.name";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum Protocol {
    #[serde(rename = "TCP")]
    Tcp,
    #[serde(rename = "UDP")]
    Udp,
    #[serde(rename = "SCTP")]
    Sctp,
}

impl Protocol {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "TCP" => Some(Self::Tcp),
            "UDP" => Some(Self::Udp),
            "SCTP" => Some(Self::Sctp),
            _ => None,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Tcp => "TCP",
            Self::Udp => "UDP",
            Self::Sctp => "SCTP",
        }
    }
    /// As iptables' `-p` and nft's meta l4proto spell it.
    pub fn lower(self) -> &'static str {
        match self {
            Self::Tcp => "tcp",
            Self::Udp => "udp",
            Self::Sctp => "sctp",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    Ingress,
    Egress,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ingress => "ingress",
            Self::Egress => "egress",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NamedPort {
    pub name: String,
    pub port: u16,
    pub protocol: Protocol,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Pod {
    pub namespace: String,
    pub name: String,
    pub labels: Labels,
    /// None until the pod has an address (it then can be no peer).
    pub ip: Option<Ipv4Addr>,
    pub node: String,
    pub ports: Vec<NamedPort>,
}

impl Pod {
    /// The container port named `name` for `protocol`, if any.
    pub fn named_port(&self, name: &str, protocol: Protocol) -> Option<u16> {
        self.ports
            .iter()
            .find(|p| p.name == name && p.protocol == protocol)
            .map(|p| p.port)
    }
}

/// `namespace/name` of a policy, as explanations print it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct PolicyRef {
    pub namespace: String,
    pub name: String,
}

impl fmt::Display for PolicyRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PortMatch {
    /// Every port of the protocol (an entry with a protocol and no port).
    Any,
    Range(u16, u16),
    /// Resolved per destination pod, from its containers' named ports.
    Named(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyPort {
    pub protocol: Protocol,
    pub port: PortMatch,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Peer {
    /// Pods: `namespaces` None means the policy's own namespace;
    /// `pods` None means every pod of the matched namespaces.
    Pods {
        namespaces: Option<Selector>,
        pods: Option<Selector>,
    },
    IpBlock {
        cidr: Ipv4Net,
        except: Vec<Ipv4Net>,
    },
}

/// One ingress or egress rule: empty `peers` allows every peer, empty
/// `ports` every port and protocol.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rule {
    pub peers: Vec<Peer>,
    pub ports: Vec<PolicyPort>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    pub namespace: String,
    pub name: String,
    pub pod_selector: Selector,
    /// Some: the policy isolates its pods for ingress and allows these.
    pub ingress: Option<Vec<Rule>>,
    pub egress: Option<Vec<Rule>>,
}

impl Policy {
    pub fn reference(&self) -> PolicyRef {
        PolicyRef {
            namespace: self.namespace.clone(),
            name: self.name.clone(),
        }
    }
    pub fn rules(&self, dir: Direction) -> Option<&[Rule]> {
        match dir {
            Direction::Ingress => self.ingress.as_deref(),
            Direction::Egress => self.egress.as_deref(),
        }
    }
    pub fn selects(&self, pod: &Pod) -> bool {
        pod.namespace == self.namespace && self.pod_selector.matches(&pod.labels)
    }
}

#[derive(Debug, Clone, Default)]
pub struct Cluster {
    pub namespaces: BTreeMap<String, Labels>,
    pub pods: Vec<Pod>,
    pub policies: Vec<Policy>,
    /// Node addresses and whose they are: a pod's own node may always
    /// connect to it (kubelet probes), as the documentation says.
    pub node_addresses: BTreeMap<Ipv4Addr, String>,
}

impl Cluster {
    /// A namespace's labels, with its name label even where it is missing.
    pub fn namespace_labels(&self, ns: &str) -> Labels {
        let l = self.namespaces.get(ns).cloned().unwrap_or_default();
        if l.get(NAMESPACE_NAME_LABEL).is_some() {
            return l;
        }
        let name = (NAMESPACE_NAME_LABEL.to_string(), ns.to_string());
        l.into_iter().chain([name]).collect()
    }

    pub fn pod_by_ip(&self, ip: Ipv4Addr) -> Option<&Pod> {
        self.pods.iter().find(|p| p.ip == Some(ip))
    }

    pub fn pod(&self, namespace: &str, name: &str) -> Option<&Pod> {
        self.pods
            .iter()
            .find(|p| p.namespace == namespace && p.name == name)
    }

    /// The policies that select `pod` for `dir`, in name order.
    pub fn isolating(&self, pod: &Pod, dir: Direction) -> Vec<&Policy> {
        let mut v: Vec<&Policy> = self
            .policies
            .iter()
            .filter(|p| p.rules(dir).is_some() && p.selects(pod))
            .collect();
        v.sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
        v
    }

    /// Does a `Pods` peer of `policy` match `pod`?
    pub fn pod_peer_matches(
        &self,
        policy: &Policy,
        namespaces: &Option<Selector>,
        pods: &Option<Selector>,
        pod: &Pod,
    ) -> bool {
        let ns_ok = match namespaces {
            None => pod.namespace == policy.namespace,
            Some(sel) => sel.matches(&self.namespace_labels(&pod.namespace)),
        };
        ns_ok && pods.as_ref().is_none_or(|s| s.matches(&pod.labels))
    }
}
