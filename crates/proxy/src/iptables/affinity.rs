//! sessionAffinity ClientIP in kube-proxy's iptables layout: each endpoint's
//! KUBE-SEP chain records the client's address in an xt_recent list named
//! after the chain as it translates, and the service's chain first sends a
//! client seen within the timeout back to that endpoint. Written as
//! iptables-save prints the `recent` match, so the drift check compares
//! them line by line.

use super::syntax::quote;
use crate::hash::sep_chain;
use crate::model::{Endpoint, ServicePort};

/// The match a KUBE-SEP chain's DNAT rule adds (empty without affinity).
pub fn remember(sp: &ServicePort, sep: &str) -> String {
    match sp.affinity_seconds {
        Some(_) => format!(" -m recent --set --name {sep} --mask 255.255.255.255 --rsource"),
        None => String::new(),
    }
}

/// `chain`'s rules, before the random split, sending a known client back
/// to its endpoint (none without affinity).
pub fn recall(chain: &str, sp: &ServicePort, eps: &[&Endpoint]) -> Vec<String> {
    let Some(seconds) = sp.affinity_seconds else {
        return vec![];
    };
    eps.iter()
        .map(|ep| {
            let sep = sep_chain(&sp.name, ep);
            let c = quote(&format!("{} -> {}", sp.name, ep.addr()));
            format!(
                "-A {chain} -m comment --comment {c} -m recent --rcheck --seconds {seconds} --reap --name {sep} --mask 255.255.255.255 --rsource -j {sep}"
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use crate::hash::{sep_chain, svc_chain};
    use crate::iptables::compile::compile;
    use crate::testutil::node_port;

    #[test]
    fn known_clients_go_back_to_their_endpoint_before_the_random_split() {
        let (mut m, name) = node_port(false, "node-1");
        m.services.get_mut(&name).unwrap().affinity_seconds = Some(600);
        let r = &compile(&m).services[&name];
        let (_, svc) = &r.chains[0];
        let ep = &m.services[&name].endpoints[0];
        let sep = sep_chain(&name, ep);
        assert_eq!(
            svc[1],
            format!(
                "-A {} -m comment --comment \"ns/web -> 10.0.1.5:8080\" -m recent --rcheck --seconds 600 --reap --name {sep} --mask 255.255.255.255 --rsource -j {sep}",
                svc_chain(&name)
            )
        );
        assert!(svc[3].contains("--probability"), "{svc:?}");
        let (_, sep_rules) = r.chains.iter().find(|(c, _)| *c == sep).unwrap();
        assert!(
            sep_rules[1].contains(&format!(
                "-m recent --set --name {sep} --mask 255.255.255.255 --rsource -m tcp -j DNAT"
            )),
            "{sep_rules:?}"
        );
        m.services.get_mut(&name).unwrap().affinity_seconds = None;
        let r = &compile(&m).services[&name];
        assert!(!r.chains.iter().flat_map(|(_, l)| l).any(|l| l.contains("recent")));
    }
}
