//! A "virtual packet" walked through the compiled rules: which chain and rule
//! it hits, which endpoint it ends at, for given random draws. The kernel's
//! own arithmetic is reproduced so a draw means the same thing here as in
//! the datapath (`statistic`: `(r & 0x7fffffff) < round(2^31·p)`;
//! `numgen random mod n`: `(r · n) >> 32`).

use std::net::Ipv4Addr;

use crate::hash::{nft_endpoint_chain, nft_service_chain};
use crate::iptables::compile::{self as ipt, KUBE_MARK_MASQ, KUBE_SERVICES};
use crate::model::{Endpoint, Protocol, ServiceModel, ServicePort};
use crate::nftables::compile::{self as nft, MARK_MASQ, NO_ENDPOINTS, REJECT_CHAIN, SERVICE_IPS};

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
    let (svc, svc_rules) = &rules.chains[0];
    let mut masquerade = false;
    let mut chosen = None;
    for rule in svc_rules {
        if rule.ends_with(KUBE_MARK_MASQ) {
            if masq_by_cidr(model, p.src) {
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

/// Through the nftables table; `draw` is the one value `numgen` takes.
pub fn trace_nftables(model: &ServiceModel, p: &Packet, draw: u32) -> Trace {
    let mut hops = Vec::new();
    let Some(sp) = find(model, p) else {
        return Trace {
            hops,
            outcome: Outcome::NotAService,
        };
    };
    let objs = nft::compile_service(sp, model);
    let (map, element) = objs.element.clone().expect("every service port has an element");
    if map == NO_ENDPOINTS {
        hops.push(Hop {
            chain: "service-endpoints-check".into(),
            rule: format!("@{NO_ENDPOINTS} {element}"),
        });
        hops.push(Hop {
            chain: REJECT_CHAIN.into(),
            rule: "reject".into(),
        });
        return Trace {
            hops,
            outcome: Outcome::Reject,
        };
    }
    hops.push(Hop {
        chain: "services".into(),
        rule: format!("@{SERVICE_IPS} {element}"),
    });
    let svc = nft_service_chain(&sp.name);
    let mut masquerade = false;
    let svc_rules = &objs.chains[0].1;
    if masq_by_cidr(model, p.src) {
        hops.push(Hop {
            chain: svc.clone(),
            rule: svc_rules[0].clone(),
        });
        masquerade = true;
    }
    let eps = sp.ready_endpoints();
    let idx = ((u64::from(draw) * eps.len() as u64) >> 32) as usize;
    hops.push(Hop {
        chain: svc,
        rule: format!("{} (numgen = {idx})", svc_rules.last().expect("numgen rule")),
    });
    let map = objs
        .endpoint_map
        .clone()
        .expect("a service with endpoints has an endpoint map");
    hops.push(Hop {
        chain: format!("@{map}"),
        rule: objs.endpoints[idx].clone(),
    });
    let endpoint = eps[idx].clone();
    let chain = nft_endpoint_chain(&sp.name, &endpoint);
    if p.src == endpoint.ip {
        hops.push(Hop {
            chain: chain.clone(),
            rule: format!("ip saddr {} jump {MARK_MASQ}", endpoint.ip),
        });
        masquerade = true;
    }
    hops.push(Hop {
        chain,
        rule: format!("meta l4proto {} dnat to {}", p.proto.as_str(), endpoint.addr()),
    });
    Trace {
        hops,
        outcome: Outcome::Dnat { endpoint, masquerade },
    }
}
