//! The verdict on one connection, straight from the policies' meaning
//! (not from any datapath's rules): egress is judged at the source pod,
//! ingress at the destination pod, and the connection passes only if
//! neither end refuses it. Replies of an allowed connection are not judged
//! again (conntrack's established state), so nothing here asks about them.

use std::fmt;
use std::net::Ipv4Addr;

use serde::Serialize;

use crate::model::{Cluster, Direction, Peer, Pod, Policy, PolicyPort, PolicyRef, PortMatch, Protocol};

/// A new connection: source and destination address, protocol and
/// destination port (after any Service translation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flow {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub protocol: Protocol,
    pub port: u16,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "verdict", rename_all = "snake_case")]
pub enum DirVerdict {
    /// No policy selects the pod for this direction.
    NotIsolated,
    /// The connection comes from the destination pod's own node.
    FromOwnNode,
    /// `peer` None: the rule allows every peer.
    Allowed {
        policy: PolicyRef,
        rule: usize,
        peer: Option<usize>,
    },
    /// Isolated by these policies, and no rule of theirs allows it.
    Denied { isolated_by: Vec<PolicyRef> },
}

impl DirVerdict {
    pub fn denied(&self) -> bool {
        matches!(self, Self::Denied { .. })
    }
}

/// One end's judgement: the pod judged and what it says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct End {
    pub pod: String,
    pub verdict: DirVerdict,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verdict {
    #[serde(skip)]
    pub flow: Flow,
    /// None when the source is no pod (nothing to judge on leaving).
    pub egress: Option<End>,
    /// None when the destination is no pod.
    pub ingress: Option<End>,
    /// How the peers are named in explanations: `ns/pod (ip)` or the ip.
    #[serde(skip)]
    names: (String, String),
}

impl Verdict {
    pub fn allowed(&self) -> bool {
        ![&self.egress, &self.ingress]
            .iter()
            .any(|e| e.as_ref().is_some_and(|e| e.verdict.denied()))
    }

    /// The end (and direction) that refuses the connection, egress first
    /// (the packet is dropped where it leaves, never reaching the other).
    pub fn dropped_at(&self) -> Option<(Direction, &End)> {
        match (&self.egress, &self.ingress) {
            (Some(e), _) if e.verdict.denied() => Some((Direction::Egress, e)),
            (_, Some(i)) if i.verdict.denied() => Some((Direction::Ingress, i)),
            _ => None,
        }
    }
}

fn explain_end(f: &mut fmt::Formatter<'_>, v: &Verdict, dir: Direction, end: &End) -> fmt::Result {
    let (proto, port) = (v.flow.protocol.as_str(), v.flow.port);
    let (verb, word, peer) = match dir {
        Direction::Egress => ("leaving", "to", &v.names.1),
        Direction::Ingress => ("entering", "from", &v.names.0),
    };
    match &end.verdict {
        DirVerdict::NotIsolated => write!(
            f,
            "{} {}: no policy selects it for {}",
            dir.as_str(),
            end.pod,
            dir.as_str()
        ),
        DirVerdict::FromOwnNode => write!(f, "ingress {}: allowed, from the pod's own node", end.pod),
        DirVerdict::Allowed {
            policy,
            rule,
            peer: p,
        } => {
            write!(
                f,
                "{} {}: allowed by {policy}, {} rule {rule}",
                dir.as_str(),
                end.pod,
                dir.as_str()
            )?;
            match p {
                Some(p) => write!(f, ", peer {p}"),
                None => write!(f, " (every peer)"),
            }
        }
        DirVerdict::Denied { isolated_by } => {
            let by: Vec<String> = isolated_by.iter().map(ToString::to_string).collect();
            write!(
                f,
                "dropped {verb} {}: no policy selecting it allows {proto} {port} {word} {peer}; it is isolated for {} by {}",
                end.pod,
                dir.as_str(),
                by.join(", ")
            )
        }
    }
}

impl fmt::Display for Verdict {
    /// One line per judged end, the refusing one first.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut ends: Vec<(Direction, &End)> = Vec::new();
        if let Some(e) = &self.egress {
            ends.push((Direction::Egress, e));
        }
        if let Some(i) = &self.ingress {
            ends.push((Direction::Ingress, i));
        }
        ends.sort_by_key(|(_, e)| !e.verdict.denied());
        for (n, (dir, end)) in ends.iter().enumerate() {
            if n > 0 {
                writeln!(f)?;
            }
            explain_end(f, self, *dir, end)?;
        }
        if ends.is_empty() {
            write!(f, "neither end is a pod: no NetworkPolicy applies")?;
        }
        Ok(())
    }
}

fn name_of(c: &Cluster, ip: Ipv4Addr) -> String {
    match c.pod_by_ip(ip) {
        Some(p) => format!("{}/{} ({ip})", p.namespace, p.name),
        None => ip.to_string(),
    }
}

/// The verdict on a new connection `flow` in cluster `c`.
pub fn check(c: &Cluster, flow: Flow) -> Verdict {
    let src_pod = c.pod_by_ip(flow.src);
    let dst_pod = c.pod_by_ip(flow.dst);
    let egress = src_pod.map(|p| End {
        pod: format!("{}/{}", p.namespace, p.name),
        verdict: judge(c, Direction::Egress, p, flow.dst, dst_pod, flow),
    });
    let ingress = dst_pod.map(|p| {
        let own_node = c.node_addresses.get(&flow.src).is_some_and(|n| *n == p.node);
        End {
            pod: format!("{}/{}", p.namespace, p.name),
            verdict: if own_node {
                DirVerdict::FromOwnNode
            } else {
                judge(c, Direction::Ingress, p, flow.src, src_pod, flow)
            },
        }
    });
    Verdict {
        flow,
        egress,
        ingress,
        names: (name_of(c, flow.src), name_of(c, flow.dst)),
    }
}

/// `subject`'s judgement in `dir` of a connection with `peer_ip`.
fn judge(
    c: &Cluster,
    dir: Direction,
    subject: &Pod,
    peer_ip: Ipv4Addr,
    peer_pod: Option<&Pod>,
    flow: Flow,
) -> DirVerdict {
    let isolating = c.isolating(subject, dir);
    if isolating.is_empty() {
        return DirVerdict::NotIsolated;
    }
    // The port belongs to the destination: the subject for ingress.
    let dst_pod = match dir {
        Direction::Ingress => Some(subject),
        Direction::Egress => peer_pod,
    };
    for pol in &isolating {
        for (ri, rule) in pol.rules(dir).unwrap_or_default().iter().enumerate() {
            if !ports_match(&rule.ports, dst_pod, flow.protocol, flow.port) {
                continue;
            }
            if rule.peers.is_empty() {
                return DirVerdict::Allowed {
                    policy: pol.reference(),
                    rule: ri,
                    peer: None,
                };
            }
            if let Some(pi) = rule
                .peers
                .iter()
                .position(|peer| peer_matches(c, pol, peer, peer_ip, peer_pod))
            {
                return DirVerdict::Allowed {
                    policy: pol.reference(),
                    rule: ri,
                    peer: Some(pi),
                };
            }
        }
    }
    DirVerdict::Denied {
        isolated_by: isolating.iter().map(|p| p.reference()).collect(),
    }
}

fn ports_match(ports: &[PolicyPort], dst_pod: Option<&Pod>, proto: Protocol, port: u16) -> bool {
    ports.is_empty()
        || ports.iter().any(|p| {
            p.protocol == proto
                && match &p.port {
                    PortMatch::Any => true,
                    PortMatch::Range(a, b) => (*a..=*b).contains(&port),
                    PortMatch::Named(n) => dst_pod.and_then(|d| d.named_port(n, proto)) == Some(port),
                }
        })
}

fn peer_matches(c: &Cluster, pol: &Policy, peer: &Peer, ip: Ipv4Addr, pod: Option<&Pod>) -> bool {
    match peer {
        Peer::Pods { namespaces, pods } => pod.is_some_and(|p| c.pod_peer_matches(pol, namespaces, pods, p)),
        Peer::IpBlock { cidr, except } => cidr.contains(&ip) && !except.iter().any(|e| e.contains(&ip)),
    }
}
