//! A "virtual packet" walked through the compiled rules: which chain and rule
//! it hits, which endpoint it ends at, for given random draws. The kernel's
//! own arithmetic is reproduced so a draw means the same thing here as in
//! the datapath (`statistic`: `(r & 0x7fffffff) < round(2^31·p)`;
//! `numgen random mod k`: `(r · k) >> 32`).

use std::net::Ipv4Addr;

use crate::iptables::compile::{self as ipt, KUBE_MARK_MASQ, KUBE_SERVICES};
use crate::model::{Endpoint, Protocol, ServiceModel, ServicePort};
use crate::nftables::compile::{
    self as nft, pick_chain, Rule, ENDPOINTS_CHECK, NO_ENDPOINTS, REJECT_CHAIN, SERVICES_CHAIN, SERVICE_IPS,
};

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

fn find<'a>(model: &'a ServiceModel, p: &Packet) -> Option<&'a ServicePort> {
    model
        .services
        .values()
        .find(|s| s.cluster_ip == p.dst && s.port == p.dport && s.protocol() == p.proto)
}

fn masq_by_cidr(model: &ServiceModel, src: Ipv4Addr) -> bool {
    model.cluster_cidr.is_some_and(|c| !c.contains(&src))
}

/// Through the iptables rules; `draw` yields one 32-bit random value per
/// `statistic` rule evaluated.
pub fn trace_iptables(model: &ServiceModel, p: &Packet, draw: &mut dyn FnMut() -> u32) -> Trace {
    if let Some(sp) = crate::trace_nodeport::node_port_of(model, p) {
        return crate::trace_nodeport::trace_iptables_node_port(model, sp, p, draw);
    }
    let mut hops = Vec::new();
    let Some(sp) = find(model, p) else {
        return Trace {
            hops,
            outcome: Outcome::NotAService,
        };
    };
    let rules = ipt::compile_service(sp, model);
    if let Some(reject) = rules.filter_services.first() {
        hops.push(Hop {
            chain: format!("filter {KUBE_SERVICES}"),
            rule: reject.clone(),
        });
        return Trace {
            hops,
            outcome: Outcome::Reject,
        };
    }
    hops.push(Hop {
        chain: format!("nat {KUBE_SERVICES}"),
        rule: rules.nat_services[0].clone(),
    });
    // KUBE-SVC, or KUBE-SVL for internalTrafficPolicy Local.
    let to = rules.nat_services[0].rsplit(' ').next().unwrap_or_default();
    walk_iptables(model, sp, &rules, to, p, draw, hops, false)
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

/// Through the nftables table; `draw` yields the 32-bit random value the
/// one `numgen` takes.
pub fn trace_nftables(model: &ServiceModel, p: &Packet, draw: &mut dyn FnMut() -> u32) -> Trace {
    let mut hops = Vec::new();
    let Some(sp) = find(model, p) else {
        return Trace {
            hops,
            outcome: Outcome::NotAService,
        };
    };
    let objs = nft::compile_service(sp, model);
    let Some(chain) = &objs.chain else {
        hops.push(Hop {
            chain: ENDPOINTS_CHECK.into(),
            rule: format!("@{NO_ENDPOINTS} {}", objs.element()),
        });
        // reject-chain, or drop-chain where only other nodes have endpoints.
        let dead_end = if objs.target == REJECT_CHAIN {
            Rule::Reject
        } else {
            Rule::Drop
        };
        hops.push(Hop {
            chain: objs.target.clone(),
            rule: dead_end.to_string(),
        });
        return Trace {
            hops,
            outcome: Outcome::Reject,
        };
    };
    hops.push(Hop {
        chain: SERVICES_CHAIN.into(),
        rule: format!("@{SERVICE_IPS} {}", objs.element()),
    });
    let mut masquerade = false;
    for rule in &chain.rules {
        match rule {
            Rule::MarkOutside(_) if masq_by_cidr(model, p.src) => masquerade = true,
            Rule::MarkOutside(_) => continue,
            _ => {}
        }
        hops.push(Hop {
            chain: chain.name.clone(),
            rule: rule.to_string(),
        });
    }
    // dnat-1-of-n: the kernel's numgen is (r · n) >> 32, an index below n.
    let n = objs.endpoints.len() as u32;
    let index = ((u64::from(draw()) * u64::from(n)) >> 32) as u32;
    let to = objs.endpoints[index as usize];
    hops.push(Hop {
        chain: pick_chain(n),
        rule: format!(
            "{} ({} . {index} : {} . {})",
            Rule::DnatOneOf(n),
            objs.key,
            to.ip(),
            to.port()
        ),
    });
    let endpoint = sp
        .ready_endpoints()
        .into_iter()
        .find(|e| e.ip == *to.ip() && e.port == to.port())
        .cloned()
        .expect("endpoint of the map element");
    // After DNAT, postrouting sees ep -> ep for a pod reaching itself.
    if p.src == endpoint.ip {
        hops.push(Hop {
            chain: "nat-postrouting".into(),
            rule: format!("{} ({} . {})", Rule::Hairpin, endpoint.ip, endpoint.ip),
        });
        masquerade = true;
    }
    Trace {
        hops,
        outcome: Outcome::Dnat { endpoint, masquerade },
    }
}
