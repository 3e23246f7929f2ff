//! Per pod of one node and per direction in which it is isolated, the list
//! of what is allowed: the form every datapath renders (an iptables chain
//! per pod, nftables elements, eBPF map entries). Selectors and named ports
//! are resolved here, so a datapath only matches addresses and ports.

use std::net::Ipv4Addr;

use ipnet::Ipv4Net;
use serde::Serialize;

use crate::cidr;
use crate::model::{Cluster, Direction, Peer, Pod, Policy, PolicyPort, PolicyRef, PortMatch, Protocol, Rule};

/// One allowed (peer, protocol, port range), and the rule it comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Allow {
    pub policy: PolicyRef,
    pub rule: usize,
    /// None: the rule has no peers (every peer).
    pub peer: Option<usize>,
    /// The peer's addresses; None: every address.
    pub nets: Option<Vec<Ipv4Net>>,
    /// None: every protocol and port.
    pub protocol: Option<Protocol>,
    /// None: every port of `protocol`.
    pub ports: Option<(u16, u16)>,
}

impl Allow {
    /// "wrk-2/allow-frontend ingress rule 0 peer 1", as rule comments and
    /// explanations name it.
    pub fn describe(&self, dir: Direction) -> String {
        let peer = match self.peer {
            Some(p) => format!("peer {p}"),
            None => "every peer".to_string(),
        };
        format!("{} {} rule {} {peer}", self.policy, dir.as_str(), self.rule)
    }

    pub fn matches(&self, peer: Ipv4Addr, proto: Protocol, port: u16) -> bool {
        self.nets
            .as_ref()
            .is_none_or(|n| n.iter().any(|n| n.contains(&peer)))
            && self.protocol.is_none_or(|p| p == proto)
            && self.ports.is_none_or(|(a, b)| (a..=b).contains(&port))
    }
}

/// One pod's rules in one direction (only where the pod is isolated).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PodRules {
    pub namespace: String,
    pub name: String,
    pub ip: Ipv4Addr,
    pub direction: Direction,
    pub isolated_by: Vec<PolicyRef>,
    pub allows: Vec<Allow>,
}

impl PodRules {
    pub fn pod(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Compiled {
    pub pods: Vec<PodRules>,
}

/// The rules for the pods on `node` (every pod when None), in a stable
/// order (namespace, name, direction).
pub fn compile_node(c: &Cluster, node: Option<&str>) -> Compiled {
    compile_node_with(c, node, |pol, pod, dir| policy_allows(c, pol, pod, dir))
}

/// [`compile_node`], with `allows_of(policy, subject, direction)` giving
/// what one isolating policy allows the subject (computed, or cached by
/// the compile cache).
pub(crate) fn compile_node_with(
    c: &Cluster,
    node: Option<&str>,
    mut allows_of: impl FnMut(&Policy, &Pod, Direction) -> Vec<Allow>,
) -> Compiled {
    let mut pods = Vec::new();
    for pod in c.pods.iter().filter(|p| node.is_none_or(|n| p.node == n)) {
        let Some(ip) = pod.ip else { continue };
        for dir in [Direction::Ingress, Direction::Egress] {
            let isolating = c.isolating(pod, dir);
            if isolating.is_empty() {
                continue;
            }
            let mut allows = Vec::new();
            for pol in &isolating {
                allows.extend(allows_of(pol, pod, dir));
            }
            pods.push(PodRules {
                namespace: pod.namespace.clone(),
                name: pod.name.clone(),
                ip,
                direction: dir,
                isolated_by: isolating.iter().map(|p| p.reference()).collect(),
                allows,
            });
        }
    }
    pods.sort_by(|a, b| (&a.namespace, &a.name, a.direction).cmp(&(&b.namespace, &b.name, b.direction)));
    Compiled { pods }
}

/// What `pol`'s rules for `dir` allow `subject`, in rule order.
pub(crate) fn policy_allows(c: &Cluster, pol: &Policy, subject: &Pod, dir: Direction) -> Vec<Allow> {
    let mut allows = Vec::new();
    for (ri, rule) in pol.rules(dir).unwrap_or_default().iter().enumerate() {
        rule_allows(c, pol, subject, dir, ri, rule, &mut allows);
    }
    allows
}

/// Does what `pol` allows for `dir` depend on the cluster's pods and
/// namespace labels? Only through pod peers, and through the destination
/// pods that resolve a named egress port; ipBlocks and every-peer rules
/// with numbered ports do not.
pub(crate) fn reads_pods(pol: &Policy, dir: Direction) -> bool {
    pol.rules(dir).unwrap_or_default().iter().any(|r| {
        r.peers.iter().any(|p| matches!(p, Peer::Pods { .. }))
            || (dir == Direction::Egress && r.ports.iter().any(|p| matches!(p.port, PortMatch::Named(_))))
    })
}

/// A peer's addresses and the pods among them (for named egress ports).
fn peer_targets<'a>(
    c: &'a Cluster,
    pol: &Policy,
    peer: Option<&Peer>,
) -> (Option<Vec<Ipv4Net>>, Vec<&'a Pod>) {
    let with_ip = c.pods.iter().filter(|p| p.ip.is_some());
    match peer {
        None => (None, with_ip.collect()),
        Some(Peer::Pods { namespaces, pods }) => {
            let matched: Vec<&Pod> = with_ip
                .filter(|p| c.pod_peer_matches(pol, namespaces, pods, p))
                .collect();
            let nets = matched.iter().filter_map(|p| p.ip.map(Ipv4Net::from)).collect();
            (Some(nets), matched)
        }
        Some(Peer::IpBlock { cidr: block, except }) => {
            let inside = with_ip
                .filter(|p| {
                    p.ip.is_some_and(|ip| block.contains(&ip) && !except.iter().any(|e| e.contains(&ip)))
                })
                .collect();
            (Some(cidr::minus(*block, except)), inside)
        }
    }
}

fn rule_allows(
    c: &Cluster,
    pol: &Policy,
    subject: &Pod,
    dir: Direction,
    ri: usize,
    rule: &Rule,
    out: &mut Vec<Allow>,
) {
    let peers: Vec<(Option<usize>, Option<&Peer>)> = if rule.peers.is_empty() {
        vec![(None, None)]
    } else {
        rule.peers
            .iter()
            .enumerate()
            .map(|(i, p)| (Some(i), Some(p)))
            .collect()
    };
    let any_port = [None];
    let ports: Vec<Option<&PolicyPort>> = if rule.ports.is_empty() {
        any_port.to_vec()
    } else {
        rule.ports.iter().map(Some).collect()
    };
    for (pi, peer) in peers {
        let (nets, pods) = peer_targets(c, pol, peer);
        if nets.as_ref().is_some_and(Vec::is_empty) {
            continue;
        }
        let allow = |nets: Option<Vec<Ipv4Net>>, protocol, ports| Allow {
            policy: pol.reference(),
            rule: ri,
            peer: pi,
            nets,
            protocol,
            ports,
        };
        for port in &ports {
            let Some(port) = port else {
                out.push(allow(nets.clone(), None, None));
                continue;
            };
            let proto = Some(port.protocol);
            match &port.port {
                PortMatch::Any => out.push(allow(nets.clone(), proto, None)),
                PortMatch::Range(a, b) => out.push(allow(nets.clone(), proto, Some((*a, *b)))),
                // Ingress: the port is the subject's own.
                PortMatch::Named(n) if dir == Direction::Ingress => {
                    if let Some(p) = subject.named_port(n, port.protocol) {
                        out.push(allow(nets.clone(), proto, Some((p, p))));
                    }
                }
                // Egress: each destination pod's own number for the name.
                PortMatch::Named(n) => {
                    for d in &pods {
                        if let (Some(ip), Some(p)) = (d.ip, d.named_port(n, port.protocol)) {
                            out.push(allow(Some(vec![Ipv4Net::from(ip)]), proto, Some((p, p))));
                        }
                    }
                }
            }
        }
    }
}
