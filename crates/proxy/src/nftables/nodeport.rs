//! A NodePort in the nftables table. Chosen over kube-proxy's separate
//! `nodeport-ips` set and `service-nodeports` map: the NodePort is one
//! more frontend `<node IP> . <proto> . <nodePort>` in the same
//! `service-ips` / `no-endpoint-services` maps, so the one dispatch rule
//! and the shared `dnat-1-of-<n>` chains (which index `service-endpoints`
//! by the packet's own address and port) serve it unchanged. Its chain is
//! named as kube-proxy names it, `external-<hash8>-<ns>/<svc>/<proto>/<port>`:
//! Cluster marks for masquerade then balances over all ready endpoints;
//! Local balances over this node's endpoints only and keeps the client's
//! address, and without one new connections go to `drop-chain`.

use std::net::SocketAddrV4;

use super::affinity::{pick_rules, AffinityEndpoint};
use super::objects::{ServiceKey, ServiceObjects};
use super::rules::{Chain, Rule, MARK_MASQ, SERVICE_IPS};
use crate::hash::nft_external_chain;
use crate::model::{ServiceModel, ServicePort};

/// `sp`'s NodePort objects on this node (None without a NodePort or
/// without a known node address).
pub fn compile_node_port(
    sp: &ServicePort,
    model: &ServiceModel,
    affinity: &[AffinityEndpoint],
) -> Option<ServiceObjects> {
    let np = sp.node_port?;
    let node = model.node.as_ref()?;
    let key = ServiceKey {
        ip: node.ip,
        proto: sp.protocol(),
        port: np.port,
    };
    let endpoints: Vec<SocketAddrV4> = sp
        .external_endpoints(Some(node))
        .iter()
        .map(|e| SocketAddrV4::new(e.ip, e.port))
        .collect();
    if endpoints.is_empty() {
        return Some(with_load_balancers(ServiceObjects::dead_end(sp, key), sp));
    }
    let name = nft_external_chain(&sp.name);
    let mut rules = Vec::with_capacity(2);
    if !np.local {
        rules.push(Rule::Jump(MARK_MASQ));
    }
    rules.extend(pick_rules(affinity, &endpoints));
    let np = ServiceObjects {
        map: SERVICE_IPS,
        key,
        target: name.clone(),
        chain: Some(Chain {
            name,
            hook: None,
            rules,
        }),
        endpoints,
        external: None,
        affinity: vec![],
        load_balancer: vec![],
    };
    Some(with_load_balancers(np, sp))
}

/// The LoadBalancer addresses of `sp` as elements beside its NodePort's:
/// same map and target (its external chain, or the drop/reject chain),
/// keyed by the address and the Service's port.
fn with_load_balancers(mut np: ServiceObjects, sp: &ServicePort) -> ServiceObjects {
    np.load_balancer = sp
        .load_balancer_ips
        .iter()
        .map(|ip| ServiceObjects {
            map: np.map,
            key: ServiceKey {
                ip: *ip,
                proto: sp.protocol(),
                port: sp.port,
            },
            target: np.target.clone(),
            chain: None,
            endpoints: np.endpoints.clone(),
            external: None,
            affinity: vec![],
            load_balancer: vec![],
        })
        .collect();
    np
}

#[cfg(test)]
mod tests {
    use crate::nftables::compile::compile;
    use crate::nftables::rules::{DROP_CHAIN, NO_ENDPOINTS, SERVICE_IPS};
    use crate::testutil::node_port;

    #[test]
    fn cluster_policy_is_a_frontend_on_the_node_address_that_masquerades() {
        let (m, name) = node_port(false, "node-1");
        let c = compile(&m);
        let ext = c.services[&name].external.as_deref().unwrap();
        assert_eq!(ext.map, SERVICE_IPS);
        assert_eq!(
            ext.element(),
            "10.168.0.3 . tcp . 30080 : goto external-2E3CGTP4-ns/web/tcp/"
        );
        let rules: Vec<String> = ext
            .chain
            .as_ref()
            .unwrap()
            .rules
            .iter()
            .map(|r| r.to_string())
            .collect();
        assert_eq!(rules, ["jump mark-for-masquerade", "goto dnat-1-of-2"]);
    }

    #[test]
    fn local_policy_uses_local_endpoints_or_drops() {
        let (m, name) = node_port(true, "node-2");
        let c = compile(&m);
        let ext = c.services[&name].external.as_deref().unwrap();
        let rules: Vec<String> = ext
            .chain
            .as_ref()
            .unwrap()
            .rules
            .iter()
            .map(|r| r.to_string())
            .collect();
        assert_eq!(rules, ["goto dnat-1-of-1"]);
        assert_eq!(ext.endpoints, ["10.0.2.5:8080".parse().unwrap()]);
        assert!(c.pickers.contains_key(&1) && c.pickers.contains_key(&2));
        let (m, name) = node_port(true, "node-0");
        let ext = compile(&m).services[&name].external.clone().unwrap();
        assert_eq!((ext.map, ext.target.as_str()), (NO_ENDPOINTS, DROP_CHAIN));
    }

    #[test]
    fn internal_local_keeps_the_cluster_ip_on_the_node() {
        let (mut m, name) = node_port(false, "node-2");
        m.services.get_mut(&name).unwrap().internal_local = true;
        let o = compile(&m).services[&name].clone();
        assert_eq!(o.endpoints, ["10.0.2.5:8080".parse().unwrap()]);
        let (mut m, name) = node_port(false, "node-0");
        m.services.get_mut(&name).unwrap().internal_local = true;
        let o = compile(&m).services[&name].clone();
        assert_eq!(o.element(), "10.96.0.20 . tcp . 80 : goto drop-chain");
        assert_eq!(o.map, NO_ENDPOINTS);
    }
}
