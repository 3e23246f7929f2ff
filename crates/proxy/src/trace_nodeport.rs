//! The virtual packet through a NodePort's iptables rules: KUBE-SERVICES'
//! last rule (local destinations) to KUBE-NODEPORTS, the service's
//! KUBE-EXT chain (masquerade for Cluster), then KUBE-SVC or, for
//! externalTrafficPolicy Local, KUBE-SVL; or filter
//! KUBE-EXTERNAL-SERVICES' reject or drop.

use crate::iptables::compile::{
    self as ipt, nodeports_rule, KUBE_EXTERNAL_SERVICES, KUBE_NODEPORTS, KUBE_SERVICES,
};
use crate::model::{ServiceModel, ServicePort};
use crate::trace_walk::{walk_iptables, Hop, Outcome, Packet, Trace};

/// The service port whose NodePort `p` is addressed to on this node.
pub(crate) fn node_port_of<'a>(model: &'a ServiceModel, p: &Packet) -> Option<&'a ServicePort> {
    let node = model.node.as_ref()?;
    if p.dst != node.ip {
        return None;
    }
    model
        .services
        .values()
        .find(|s| s.protocol() == p.proto && s.node_port.is_some_and(|np| np.port == p.dport))
}

pub(crate) fn trace_iptables_node_port(
    model: &ServiceModel,
    sp: &ServicePort,
    p: &Packet,
    draw: &mut dyn FnMut() -> u32,
) -> Trace {
    let rules = ipt::compile_service(sp, model);
    let mut hops = Vec::new();
    if let Some(filter) = rules.filter_external.first() {
        hops.push(Hop {
            chain: format!("filter {KUBE_EXTERNAL_SERVICES}"),
            rule: filter.clone(),
        });
        let outcome = if filter.ends_with("DROP") {
            Outcome::Drop
        } else {
            Outcome::Reject
        };
        return Trace { hops, outcome };
    }
    hops.push(Hop {
        chain: format!("nat {KUBE_SERVICES}"),
        rule: nodeports_rule(),
    });
    let jump = rules.nat_nodeports[0].clone();
    let ext = jump.rsplit(' ').next().unwrap_or_default().to_string();
    hops.push(Hop {
        chain: format!("nat {KUBE_NODEPORTS}"),
        rule: jump,
    });
    let (_, ext_rules) = rules
        .chains
        .iter()
        .find(|(c, _)| *c == ext)
        .expect("KUBE-EXT chain compiled");
    // Cluster: mark, then KUBE-SVC. Local (a client off this node and
    // outside the pod network): the last rule, to KUBE-SVL.
    let local = sp.node_port.is_some_and(|np| np.local);
    let taken: Vec<&String> = if local {
        ext_rules.last().into_iter().collect()
    } else {
        ext_rules.iter().collect()
    };
    for rule in &taken {
        hops.push(Hop {
            chain: ext.clone(),
            rule: (*rule).clone(),
        });
    }
    let to = taken
        .last()
        .and_then(|r| r.rsplit(' ').next())
        .unwrap_or_default()
        .to_string();
    walk_iptables(model, sp, &rules, &to, p, draw, hops, !local)
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;
    use crate::model::Protocol;
    use crate::testutil::node_port;

    /// The trace of a packet to node-1's NodePort 30080.
    fn trace_iptables(m: &ServiceModel, p: &Packet, draw: &mut dyn FnMut() -> u32) -> Trace {
        let sp = node_port_of(m, p).expect("a NodePort");
        trace_iptables_node_port(m, sp, p, draw)
    }

    fn to_node_port() -> Packet {
        Packet {
            src: Ipv4Addr::new(10, 168, 0, 1),
            dst: Ipv4Addr::new(10, 168, 0, 3),
            proto: Protocol::Tcp,
            dport: 30080,
        }
    }

    #[test]
    fn names_the_node_port_and_external_chains() {
        let (m, _) = node_port(false, "node-1");
        let t = trace_iptables(&m, &to_node_port(), &mut || u32::MAX);
        let chains: Vec<&str> = t.hops.iter().map(|h| h.chain.as_str()).collect();
        assert_eq!(
            chains[..3],
            [
                "nat KUBE-SERVICES",
                "nat KUBE-NODEPORTS",
                "KUBE-EXT-2E3CGTP4Q4OVWDQZ"
            ]
        );
        assert!(t.hops[1].rule.contains("--dport 30080"), "{:?}", t.hops);
        assert!(chains.contains(&"KUBE-SVC-2E3CGTP4Q4OVWDQZ"), "{chains:?}");
        assert!(
            matches!(t.outcome, Outcome::Dnat { masquerade: true, ref endpoint } if endpoint.ip == Ipv4Addr::new(10, 0, 2, 5)),
            "{t:?}"
        );
    }

    #[test]
    fn local_policy_goes_to_the_local_endpoint_or_drops() {
        let (m, _) = node_port(true, "node-1");
        let t = trace_iptables(&m, &to_node_port(), &mut || 0);
        assert!(
            t.hops.iter().any(|h| h.chain == "KUBE-SVL-2E3CGTP4Q4OVWDQZ"),
            "{t:?}"
        );
        assert!(
            matches!(t.outcome, Outcome::Dnat { masquerade: false, ref endpoint } if endpoint.ip == Ipv4Addr::new(10, 0, 1, 5)),
            "{t:?}"
        );
        let (m, _) = node_port(true, "node-0");
        let t = trace_iptables(&m, &to_node_port(), &mut || 0);
        assert_eq!(t.outcome, Outcome::Drop);
        assert!(t.hops[0].rule.contains("has no local endpoints"), "{t:?}");
    }
}
