//! sessionAffinity ClientIP in the nftables table, the way kube-proxy's
//! nftables mode does it: each endpoint of such a Service gets its own
//! chain `endpoint-<hash8>-<ns>/<svc>/<proto>/<port>__<ip>/<port>`, which
//! records the client in the dynamic set `affinity-<same>` (an element
//! per client address, expiring after the Service's timeoutSeconds) and
//! DNATs to the endpoint. The Service's chain first sends a client found
//! in an endpoint's set to that endpoint's chain, then picks one endpoint
//! chain at random (`numgen random mod k == 0` rules in turn, each taking
//! its share of what the earlier ones left, as kube-proxy's iptables
//! probabilities do). Services without affinity keep the shared
//! `dnat-1-of-<n>` chains: the per-endpoint objects cost one chain and one
//! set per endpoint, paid only where affinity asks for them.

use std::net::SocketAddrV4;

use super::rules::{Chain, Rule};
use crate::hash::hash16;
use crate::model::{Protocol, ServicePort, ServicePortName};

/// One endpoint's affinity set and chain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AffinityEndpoint {
    pub endpoint: SocketAddrV4,
    pub set: String,
    pub timeout_seconds: u32,
    pub chain: Chain,
}

/// The `<hash8>-<ns>/<svc>/<proto>/<port>__<ip>/<port>` both names share.
fn base(name: &ServicePortName, ep: SocketAddrV4) -> String {
    let proto = name.protocol.as_str();
    let hash = hash16(&format!("{name}{proto}{ep}"));
    format!(
        "{}-{}/{}/{proto}/{}__{}/{}",
        &hash[..8],
        name.namespace,
        name.name,
        name.port,
        ep.ip(),
        ep.port()
    )
}

/// The per-endpoint objects of `sp` over all its ready endpoints (None
/// without affinity). Both of its frontends pick among their own subset.
pub fn compile_affinity(sp: &ServicePort) -> Vec<AffinityEndpoint> {
    let Some(timeout_seconds) = sp.affinity_seconds else {
        return vec![];
    };
    sp.ready_endpoints()
        .iter()
        .map(|e| {
            let endpoint = SocketAddrV4::new(e.ip, e.port);
            let b = base(&sp.name, endpoint);
            let set = format!("affinity-{b}");
            AffinityEndpoint {
                endpoint,
                chain: Chain {
                    name: format!("endpoint-{b}"),
                    hook: None,
                    rules: vec![
                        Rule::AffinityRemember(set.clone()),
                        Rule::DnatTo(sp.protocol(), endpoint),
                    ],
                },
                set,
                timeout_seconds,
            }
        })
        .collect()
}

/// The rules that choose one of `endpoints` for a new connection: with
/// affinity (`aff` not empty), a known client back to its endpoint, then
/// a random endpoint chain; without, the shared picker.
pub fn pick_rules(aff: &[AffinityEndpoint], endpoints: &[SocketAddrV4]) -> Vec<Rule> {
    if aff.is_empty() {
        return vec![Rule::PickOneOf(endpoints.len() as u32)];
    }
    let chains: Vec<&AffinityEndpoint> = endpoints
        .iter()
        .filter_map(|e| aff.iter().find(|a| a.endpoint == *e))
        .collect();
    let mut rules: Vec<Rule> = chains
        .iter()
        .map(|a| Rule::AffinityRecall(a.set.clone(), a.chain.name.clone()))
        .collect();
    let n = chains.len();
    for (i, a) in chains.iter().enumerate() {
        if i + 1 == n {
            rules.push(Rule::Goto(a.chain.name.clone()));
        } else {
            rules.push(Rule::GotoOneIn((n - i) as u32, a.chain.name.clone()));
        }
    }
    rules
}

/// `tcp`/`udp` as `meta l4proto` compares it.
pub fn proto_number(p: Protocol) -> u8 {
    match p {
        Protocol::Tcp => 6,
        Protocol::Udp => 17,
    }
}

#[cfg(test)]
mod tests {
    use crate::nftables::compile::compile;
    use crate::testutil::node_port;

    #[test]
    fn affinity_recalls_known_clients_then_spreads_over_endpoint_chains() {
        let (mut m, name) = node_port(false, "node-1");
        m.services.get_mut(&name).unwrap().affinity_seconds = Some(600);
        let o = compile(&m).services[&name].clone();
        assert_eq!(o.affinity.len(), 2);
        let a = &o.affinity[0];
        assert!(a.set.starts_with("affinity-"), "{}", a.set);
        assert!(a.set.ends_with("-ns/web/tcp/__10.0.1.5/8080"), "{}", a.set);
        let rules: Vec<String> = a.chain.rules.iter().map(|r| r.to_string()).collect();
        assert_eq!(
            rules,
            [
                format!("update @{} {{ ip saddr }}", a.set),
                "meta l4proto tcp dnat ip to 10.0.1.5:8080".into()
            ]
        );
        let svc: Vec<String> = o.chain.unwrap().rules.iter().map(|r| r.to_string()).collect();
        let (e0, e1) = (&o.affinity[0].chain.name, &o.affinity[1].chain.name);
        assert_eq!(
            svc[1..],
            [
                format!("ip saddr @{} goto {e0}", o.affinity[0].set),
                format!("ip saddr @{} goto {e1}", o.affinity[1].set),
                format!("numgen random mod 2 == 0 goto {e0}"),
                format!("goto {e1}"),
            ]
        );
        // Switched off: back to the shared picker, no per-endpoint objects.
        m.services.get_mut(&name).unwrap().affinity_seconds = None;
        let o = compile(&m).services[&name].clone();
        assert!(o.affinity.is_empty());
        let svc: Vec<String> = o.chain.unwrap().rules.iter().map(|r| r.to_string()).collect();
        assert_eq!(svc.last().unwrap(), "goto dnat-1-of-2");
    }

    #[test]
    fn a_local_node_port_picks_among_its_local_endpoint_chains_only() {
        let (mut m, name) = node_port(true, "node-2");
        m.services.get_mut(&name).unwrap().affinity_seconds = Some(60);
        let o = compile(&m).services[&name].clone();
        let ext = o.external.unwrap();
        let rules: Vec<String> = ext.chain.unwrap().rules.iter().map(|r| r.to_string()).collect();
        assert_eq!(rules.len(), 2, "{rules:?}");
        assert!(rules[0].starts_with("ip saddr @affinity-") && rules[0].contains("__10.0.2.5/8080"));
        assert!(rules[1].starts_with("goto endpoint-") && rules[1].ends_with("__10.0.2.5/8080"));
    }
}
