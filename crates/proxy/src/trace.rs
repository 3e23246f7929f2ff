//! A "virtual packet" walked through the compiled rules: which chain and rule
//! it hits, which endpoint it ends at, for given random draws. The kernel's
//! own arithmetic is reproduced so a draw means the same thing here as in
//! the datapath (`statistic`: `(r & 0x7fffffff) < round(2^31·p)`;
//! `numgen random mod k`: `(r · k) >> 32`).

use crate::iptables::compile::{self as ipt, KUBE_SERVICES};
use crate::model::{ServiceModel, ServicePort};
use crate::nftables::compile::{
    self as nft, pick_chain, Rule, ENDPOINTS_CHECK, NO_ENDPOINTS, REJECT_CHAIN, SERVICES_CHAIN, SERVICE_IPS,
};
use crate::trace_walk::{masq_by_cidr, walk_iptables};
pub use crate::trace_walk::{Hop, Outcome, Packet, Trace};

fn find<'a>(model: &'a ServiceModel, p: &Packet) -> Option<&'a ServicePort> {
    model
        .services
        .values()
        .find(|s| s.cluster_ip == p.dst && s.port == p.dport && s.protocol() == p.proto)
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
