use std::collections::BTreeSet;
use std::net::Ipv4Addr;

use super::compile::*;
use crate::model::{Endpoint, Protocol, ServicePortName};
use crate::testutil::sample;

fn dns() -> ServicePortName {
    ServicePortName::new("kube-system", "kube-dns", "dns", Protocol::Udp)
}

#[test]
fn service_element_dispatches_to_a_numgen_chain() {
    let c = compile(&sample());
    let o = &c.services[&dns()];
    let (map, el) = o.element.clone().unwrap();
    assert_eq!(map, SERVICE_IPS);
    assert_eq!(
        el,
        "10.96.0.10 . udp . 53 : goto service-TCOU7JCQ-kube-system/kube-dns/udp/dns"
    );
    let (svc, rules) = &o.chains[0];
    assert_eq!(svc, "service-TCOU7JCQ-kube-system/kube-dns/udp/dns");
    assert_eq!(rules[0], "ip saddr != 10.0.0.0/16 jump mark-for-masquerade");
    assert_eq!(rules[1], "numgen random mod 3 vmap @endpoints-TCOU7JCQXEZGVUNU");
    assert_eq!(o.endpoint_map.as_deref(), Some("endpoints-TCOU7JCQXEZGVUNU"));
    assert_eq!(o.endpoints.len(), 3);
    assert!(
        o.endpoints[0].starts_with("0 : goto endpoint-"),
        "{:?}",
        o.endpoints
    );
    assert!(o.endpoints[2].ends_with("kube-system/kube-dns/udp/dns__10.0.1.13/53"));
    let (ep, ep_rules) = &o.chains[1];
    assert!(ep.ends_with("kube-system/kube-dns/udp/dns__10.0.1.11/53"));
    assert_eq!(
        ep_rules,
        &vec![
            "ip saddr 10.0.1.11 jump mark-for-masquerade".to_string(),
            "meta l4proto udp dnat to 10.0.1.11:53".into()
        ]
    );
}

#[test]
fn no_endpoints_is_an_element_pointing_at_the_reject_chain() {
    let c = compile(&sample());
    let o = &c.services[&ServicePortName::new("wrk-2", "idle", "", Protocol::Tcp)];
    assert_eq!(
        o.element,
        Some((NO_ENDPOINTS, "10.96.0.77 . tcp . 9999 : goto reject-chain".into()))
    );
    assert!(o.chains.is_empty());
}

#[test]
fn full_render_is_one_self_contained_transaction() {
    let text = render_full(&compile(&sample()));
    assert!(text.starts_with("add table ip labyrinth\ndelete table ip labyrinth\nadd table ip labyrinth\n"));
    assert!(text.contains(
        "add chain ip labyrinth nat-prerouting { type nat hook prerouting priority dstnat; policy accept; }"
    ));
    assert!(
        text.contains("add rule ip labyrinth services ip daddr . meta l4proto . th dport vmap @service-ips")
    );
    assert!(text.contains(
        "add element ip labyrinth no-endpoint-services { 10.96.0.77 . tcp . 9999 : goto reject-chain }"
    ));
    // Every chain a rule or element names is added before that use.
    for (i, line) in text.lines().enumerate() {
        for target in line.split("goto ").skip(1) {
            let chain = target.split([',', ' ', '}']).next().unwrap();
            let decl = text
                .find(&format!("add chain ip labyrinth {chain}"))
                .unwrap_or(usize::MAX);
            let at: usize = text.lines().take(i).map(|l| l.len() + 1).sum();
            assert!(decl < at, "{chain} used before it is added");
        }
    }
}

#[test]
fn partial_render_touches_only_the_changed_service() {
    let old_model = sample();
    let mut new_model = old_model.clone();
    new_model
        .services
        .get_mut(&dns())
        .unwrap()
        .endpoints
        .retain(|e| e.ip != Ipv4Addr::new(10, 0, 1, 12));
    let changed: BTreeSet<_> = new_model.changed_since(&old_model);
    let text = render_partial(&compile(&old_model), &compile(&new_model), &changed);
    let gone = crate::hash::nft_endpoint_chain(&dns(), &Endpoint::new(Ipv4Addr::new(10, 0, 1, 12), 53));
    assert!(text.contains(&format!("flush chain ip labyrinth {gone}\n")));
    assert!(text.contains(&format!("delete chain ip labyrinth {gone}\n")));
    assert!(text.contains("flush chain ip labyrinth service-TCOU7JCQ-kube-system/kube-dns/udp/dns\n"));
    assert!(text.contains("numgen random mod 2 vmap"));
    assert!(
        !text.contains("service-ips"),
        "the service-ips element did not change: {text}"
    );
    // Its endpoint map is refilled: index 1 now points at .13.
    assert!(text.contains("flush map ip labyrinth endpoints-TCOU7JCQXEZGVUNU\n"));
    assert!(text.contains("add element ip labyrinth endpoints-TCOU7JCQXEZGVUNU { 0 : goto endpoint-"));
    assert!(text.contains("__10.0.1.13/53 }"));
    assert!(
        !text.contains("kubernetes") && !text.contains("idle"),
        "other services untouched: {text}"
    );
    // Delete comes after the flush of the chain that referenced it.
    assert!(
        text.find(&format!("delete chain ip labyrinth {gone}"))
            > text.find("flush chain ip labyrinth service-")
    );

    // Losing every endpoint moves the element to the reject map.
    let mut empty = new_model.clone();
    empty.services.get_mut(&dns()).unwrap().endpoints.clear();
    let text = render_partial(
        &compile(&new_model),
        &compile(&empty),
        &empty.changed_since(&new_model),
    );
    assert!(text.contains("delete element ip labyrinth service-ips { 10.96.0.10 . udp . 53 }"));
    assert!(text.contains(
        "add element ip labyrinth no-endpoint-services { 10.96.0.10 . udp . 53 : goto reject-chain }"
    ));
    assert!(text.contains("delete chain ip labyrinth service-TCOU7JCQ-kube-system/kube-dns/udp/dns"));
    assert!(text.find("delete map ip labyrinth endpoints-TCOU7JCQXEZGVUNU") < text.find("delete chain"));
}
