//! A NodePort in kube-proxy's iptables layout: its rule in KUBE-NODEPORTS
//! (reached from KUBE-SERVICES for any local destination address), its
//! KUBE-EXT chain (masquerade for Cluster; for Local, pod and node traffic
//! still balanced over all endpoints, the rest to KUBE-SVL, the local
//! endpoints only), and a reject or drop in filter KUBE-EXTERNAL-SERVICES
//! when outside traffic has nowhere to go.

use super::syntax::{quote, ServiceRules, KUBE_EXTERNAL_SERVICES, KUBE_MARK_MASQ, KUBE_NODEPORTS};
use crate::hash::{ext_chain, svc_chain, svl_chain};
use crate::model::{ServiceModel, ServicePort};

/// Add `sp`'s NodePort rules (if it has one) to `rules`.
pub fn compile_node_port(sp: &ServicePort, model: &ServiceModel, rules: &mut ServiceRules) {
    let Some(np) = sp.node_port else { return };
    let name = sp.name.to_string();
    let proto = sp.protocol().as_str();
    let dport = format!("-m {proto} --dport {}", np.port);
    let ready = sp.ready_endpoints();
    let local = sp.local_endpoints(model.node.as_ref());
    // No endpoints at all: refused like the ClusterIP; Local without a
    // local one: dropped (the client's load balancer should not have sent
    // it here: the health check says so).
    let filter = if ready.is_empty() {
        Some((
            format!("{name} has no endpoints"),
            "REJECT --reject-with icmp-port-unreachable",
        ))
    } else if np.local && local.is_empty() {
        Some((format!("{name} has no local endpoints"), "DROP"))
    } else {
        None
    };
    let lb_dport = format!("-m {proto} --dport {}", sp.port);
    if let Some((comment, target)) = filter {
        let c = quote(&comment);
        rules.filter_external.push(format!(
            "-A {KUBE_EXTERNAL_SERVICES} -p {proto} -m comment --comment {c} -m addrtype --dst-type LOCAL {dport} -j {target}"
        ));
        for ip in &sp.load_balancer_ips {
            rules.filter_external.push(format!(
                "-A {KUBE_EXTERNAL_SERVICES} -d {ip}/32 -p {proto} -m comment --comment {c} {lb_dport} -j {target}"
            ));
        }
    }
    if ready.is_empty() {
        return;
    }
    let ext = ext_chain(&sp.name);
    let svc = svc_chain(&sp.name);
    let qname = quote(&name);
    rules.nat_nodeports.push(format!(
        "-A {KUBE_NODEPORTS} -p {proto} -m comment --comment {qname} {dport} -j {ext}"
    ));
    // A LoadBalancer address: the same external chain, from KUBE-SERVICES
    // (as kube-proxy writes it).
    let lb_comment = quote(&format!("{name} loadbalancer IP"));
    for ip in &sp.load_balancer_ips {
        rules.nat_services.push(format!(
            "-A KUBE-SERVICES -d {ip}/32 -p {proto} -m comment --comment {lb_comment} {lb_dport} -j {ext}"
        ));
    }
    let mut ext_rules = Vec::new();
    if !np.local {
        ext_rules.push(format!(
            "-A {ext} -m comment --comment {} -j {KUBE_MARK_MASQ}",
            quote(&format!("masquerade traffic for {name} external destinations"))
        ));
        ext_rules.push(format!("-A {ext} -j {svc}"));
        rules.chains.push((ext, ext_rules));
        return;
    }
    let svl = svl_chain(&sp.name);
    if let Some(cidr) = model.cluster_cidr {
        ext_rules.push(format!(
            "-A {ext} -s {cidr} -m comment --comment {} -j {svc}",
            quote(&format!("pod traffic for {name} external destinations"))
        ));
    }
    ext_rules.push(format!(
        "-A {ext} -m comment --comment {} -m addrtype --src-type LOCAL -j {KUBE_MARK_MASQ}",
        quote(&format!(
            "masquerade LOCAL traffic for {name} external destinations"
        ))
    ));
    ext_rules.push(format!(
        "-A {ext} -m comment --comment {} -m addrtype --src-type LOCAL -j {svc}",
        quote(&format!("route LOCAL traffic for {name} external destinations"))
    ));
    // KUBE-SVL, the local endpoints, is built with the service's chains.
    ext_rules.push(format!("-A {ext} -j {svl}"));
    rules.chains.push((ext, ext_rules));
}

#[cfg(test)]
mod tests {
    use crate::hash::{ext_chain, svc_chain, svl_chain};
    use crate::iptables::compile::compile;
    use crate::testutil::node_port;

    #[test]
    fn cluster_policy_masquerades_then_balances_over_all() {
        let (m, name) = node_port(false, "node-1");
        let r = &compile(&m).services[&name];
        let ext = ext_chain(&name);
        assert_eq!(
            r.nat_nodeports,
            vec![format!(
                "-A KUBE-NODEPORTS -p tcp -m comment --comment \"ns/web\" -m tcp --dport 30080 -j {ext}"
            )]
        );
        let (_, rules) = r.chains.iter().find(|(c, _)| *c == ext).unwrap();
        assert!(
            rules[0].ends_with("external destinations\" -j KUBE-MARK-MASQ"),
            "{rules:?}"
        );
        assert_eq!(rules[1], format!("-A {ext} -j {}", svc_chain(&name)));
        assert!(r.filter_external.is_empty());
    }

    #[test]
    fn local_policy_keeps_the_source_and_drops_where_no_endpoint_is() {
        let (m, name) = node_port(true, "node-2");
        let r = &compile(&m).services[&name];
        let svl = svl_chain(&name);
        let (_, ext) = r.chains.iter().find(|(c, _)| *c == ext_chain(&name)).unwrap();
        assert!(ext[0].contains("-s 10.0.0.0/16 -m comment --comment \"pod traffic for ns/web"));
        assert!(!ext
            .iter()
            .any(|l| l.ends_with("KUBE-MARK-MASQ") && !l.contains("--src-type LOCAL")));
        assert_eq!(ext.last().unwrap(), &format!("-A {} -j {svl}", ext_chain(&name)));
        let (_, local) = r.chains.iter().find(|(c, _)| *c == svl).unwrap();
        assert_eq!(local.len(), 1);
        assert!(local[0].contains("ns/web -> 10.0.2.5:8080"), "{local:?}");
        assert!(r.filter_external.is_empty());

        let (m, name) = node_port(true, "node-0");
        let r = &compile(&m).services[&name];
        let (_, local) = r.chains.iter().find(|(c, _)| *c == svl).unwrap();
        assert!(local.is_empty());
        assert_eq!(
            r.filter_external,
            vec!["-A KUBE-EXTERNAL-SERVICES -p tcp -m comment --comment \"ns/web has no local endpoints\" -m addrtype --dst-type LOCAL -m tcp --dport 30080 -j DROP"]
        );
    }

    #[test]
    fn internal_local_sends_cluster_ip_traffic_to_local_endpoints_or_drops() {
        let (mut m, name) = node_port(false, "node-1");
        m.services.get_mut(&name).unwrap().internal_local = true;
        let r = &compile(&m).services[&name];
        let svl = svl_chain(&name);
        assert!(
            r.nat_services[0].ends_with(&format!("-j {svl}")),
            "{:?}",
            r.nat_services
        );
        let (_, local) = r.chains.iter().find(|(c, _)| *c == svl).unwrap();
        assert!(
            local[0].contains("! -s 10.0.0.0/16 -d 10.96.0.20/32"),
            "{local:?}"
        );
        assert_eq!(local.len(), 2);
        assert!(local[1].contains("ns/web -> 10.0.1.5:8080"), "{local:?}");

        let (mut m, name) = node_port(false, "node-0");
        m.services.get_mut(&name).unwrap().internal_local = true;
        let r = &compile(&m).services[&name];
        assert!(r.nat_services.is_empty());
        assert_eq!(
            r.filter_services,
            vec!["-A KUBE-SERVICES -d 10.96.0.20/32 -p tcp -m comment --comment \"ns/web has no local endpoints\" -m tcp --dport 80 -j DROP"]
        );
    }
}
