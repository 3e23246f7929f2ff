//! The packet, the hops and the outcome a trace reports, and the walk of
//! a KUBE-SVC or KUBE-SVL chain on to its endpoint that ClusterIP and
//! NodePort traces share.

use std::net::Ipv4Addr;

use crate::iptables::compile::{self as ipt, KUBE_MARK_MASQ};
use crate::model::{Endpoint, Protocol, ServiceModel, ServicePort};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Packet {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub proto: Protocol,
    pub dport: u16,
}

/// One rule the packet matched (or a chain it entered).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hop {
    pub chain: String,
    pub rule: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Dropped: a NodePort with externalTrafficPolicy Local and no
    /// endpoint on this node.
    Drop,
    /// Translated to this endpoint; `masquerade` if the source is rewritten.
    Dnat { endpoint: Endpoint, masquerade: bool },
    /// The service has no endpoints: refused (ICMP port unreachable).
    Reject,
    /// Not a service address: the proxy leaves the packet alone.
    NotAService,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trace {
    pub hops: Vec<Hop>,
    pub outcome: Outcome,
}

pub(crate) fn masq_by_cidr(model: &ServiceModel, src: Ipv4Addr) -> bool {
    model.cluster_cidr.is_some_and(|c| !c.contains(&src))
}

/// From a KUBE-SVC or KUBE-SVL chain `to` of `rules` (the chain it
/// names, or KUBE-SVC) on to a KUBE-SEP chain and its DNAT.
#[allow(clippy::too_many_arguments)]
pub(crate) fn walk_iptables(
    model: &ServiceModel,
    sp: &ServicePort,
    rules: &ipt::ServiceRules,
    to: &str,
    p: &Packet,
    draw: &mut dyn FnMut() -> u32,
    mut hops: Vec<Hop>,
    mut masquerade: bool,
) -> Trace {
    let (svc, svc_rules) = rules
        .chains
        .iter()
        .find(|(c, _)| c == to)
        .unwrap_or(&rules.chains[0]);
    let mut chosen = None;
    for rule in svc_rules {
        // Session affinity: the packet is traced as a new client's, which
        // no `recent` list knows yet.
        if rule.contains(" -m recent ") {
            continue;
        }
        if rule.ends_with(KUBE_MARK_MASQ) {
            // `! -s <cluster CIDR> -d <ClusterIP>`: not NodePort traffic.
            if masq_by_cidr(model, p.src) && p.dst == sp.cluster_ip {
                hops.push(Hop {
                    chain: svc.clone(),
                    rule: rule.clone(),
                });
                masquerade = true;
            }
            continue;
        }
        let hit = match rule.split_once("--probability ") {
            Some((_, tail)) => {
                let prob: f64 = tail.split(' ').next().unwrap_or("0").parse().unwrap_or(0.0);
                let threshold = (prob * 2147483648.0).round() as u64;
                u64::from(draw() & 0x7fff_ffff) < threshold
            }
            None => true,
        };
        if hit {
            hops.push(Hop {
                chain: svc.clone(),
                rule: rule.clone(),
            });
            chosen = rule.rsplit(' ').next().map(str::to_string);
            break;
        }
    }
    let sep = chosen.expect("the last KUBE-SVC rule always matches");
    let (_, sep_rules) = rules
        .chains
        .iter()
        .find(|(c, _)| *c == sep)
        .expect("KUBE-SEP chain compiled");
    let endpoint = sp
        .ready_endpoints()
        .into_iter()
        .find(|e| crate::hash::sep_chain(&sp.name, e) == sep)
        .cloned()
        .expect("endpoint of KUBE-SEP chain");
    if p.src == endpoint.ip {
        hops.push(Hop {
            chain: sep.clone(),
            rule: sep_rules[0].clone(),
        });
        masquerade = true;
    }
    hops.push(Hop {
        chain: sep,
        rule: sep_rules[1].clone(),
    });
    Trace {
        hops,
        outcome: Outcome::Dnat { endpoint, masquerade },
    }
}
