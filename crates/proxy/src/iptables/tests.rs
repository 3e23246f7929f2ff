use std::collections::BTreeSet;
use std::net::Ipv4Addr;

use super::compile::*;
use crate::model::{Endpoint, Protocol, ServicePortName};
use crate::testutil::sample;

fn dns() -> ServicePortName {
    ServicePortName::new("kube-system", "kube-dns", "dns", Protocol::Udp)
}

#[test]
fn kube_services_dispatches_to_the_kube_proxy_chain_name() {
    let c = compile(&sample());
    let r = &c.services[&dns()];
    assert_eq!(
        r.nat_services,
        vec!["-A KUBE-SERVICES -d 10.96.0.10/32 -p udp -m comment --comment \"kube-system/kube-dns:dns cluster IP\" -m udp --dport 53 -j KUBE-SVC-TCOU7JCQXEZGVUNU"]
    );
    let k = &c.services[&ServicePortName::new("default", "kubernetes", "https", Protocol::Tcp)];
    assert!(
        k.nat_services[0].ends_with("-m tcp --dport 443 -j KUBE-SVC-NPX46M4PTMTKRN6Y"),
        "{:?}",
        k.nat_services
    );
}

#[test]
fn svc_chain_masquerades_outsiders_then_splits_one_over_n() {
    let c = compile(&sample());
    let (name, rules) = &c.services[&dns()].chains[0];
    assert_eq!(name, "KUBE-SVC-TCOU7JCQXEZGVUNU");
    assert_eq!(rules.len(), 4);
    assert!(rules[0].starts_with("-A KUBE-SVC-TCOU7JCQXEZGVUNU ! -s 10.0.0.0/16 -d 10.96.0.10/32 -p udp"));
    assert!(rules[0].ends_with("-j KUBE-MARK-MASQ"));
    // Endpoints sorted: .11 with 1/3, .12 with 1/2 of the rest, .13 the remainder.
    assert!(rules[1].contains("--comment \"kube-system/kube-dns:dns -> 10.0.1.11:53\" -m statistic --mode random --probability 0.3333333333 -j KUBE-SEP-"));
    assert!(rules[2]
        .contains("-> 10.0.1.12:53\" -m statistic --mode random --probability 0.5000000000 -j KUBE-SEP-"));
    assert!(!rules[3].contains("statistic") && rules[3].contains("-> 10.0.1.13:53"));
    assert_eq!(saved_probability(&probability(3)), "0.33333333349");
    assert_eq!(saved_probability(&probability(2)), "0.50000000000");
}

#[test]
fn sep_chains_hairpin_and_dnat() {
    let c = compile(&sample());
    let r = &c.services[&dns()];
    let ep = Endpoint::new(Ipv4Addr::new(10, 0, 1, 11), 53);
    let sep = crate::hash::sep_chain(&dns(), &ep);
    let (_, rules) = r.chains.iter().find(|(n, _)| *n == sep).unwrap();
    assert_eq!(
        rules,
        &vec![
            format!("-A {sep} -s 10.0.1.11/32 -m comment --comment \"kube-system/kube-dns:dns\" -j KUBE-MARK-MASQ"),
            format!("-A {sep} -p udp -m comment --comment \"kube-system/kube-dns:dns\" -m udp -j DNAT --to-destination 10.0.1.11:53"),
        ]
    );
    assert!(r.chains[1..].iter().all(|(n, _)| n.starts_with("KUBE-SEP-")));
    assert_eq!(r.chains.len(), 4);
}

#[test]
fn no_endpoints_rejects_in_filter_and_has_no_nat_rules() {
    let c = compile(&sample());
    let r = &c.services[&ServicePortName::new("wrk-2", "idle", "", Protocol::Tcp)];
    assert!(r.nat_services.is_empty() && r.chains.is_empty());
    assert_eq!(
        r.filter_services,
        vec!["-A KUBE-SERVICES -d 10.96.0.77/32 -p tcp -m comment --comment \"wrk-2/idle has no endpoints\" -m tcp --dport 9999 -j REJECT --reject-with icmp-port-unreachable"]
    );
}

#[test]
fn full_render_declares_every_chain_before_its_rules() {
    let text = render_full(&compile(&sample()), None);
    // The nat section first names no chain (see NAME_ALL_CHAINS).
    assert!(text.starts_with(&format!("*nat\n{NAME_ALL_CHAINS}\n:KUBE-SERVICES - [0:0]\n")));
    assert!(text.contains(":KUBE-SVC-TCOU7JCQXEZGVUNU - [0:0]\n"));
    assert!(text.contains("-A KUBE-POSTROUTING -m comment --comment \"kubernetes service traffic requiring SNAT\" -j MASQUERADE --random-fully\n"));
    let nat = &text[..text.find("*filter").unwrap()];
    let nodeports = nat
        .find("-m addrtype --dst-type LOCAL -j KUBE-NODEPORTS")
        .unwrap();
    let last_svc = nat.rfind("-A KUBE-SERVICES -d").unwrap();
    assert!(
        nodeports > last_svc,
        "the nodeports rule must be last in KUBE-SERVICES"
    );
    assert!(text.contains("*filter\n:KUBE-SERVICES - [0:0]\n:KUBE-EXTERNAL-SERVICES - [0:0]\n"));
    assert_eq!(text.matches("COMMIT\n").count(), 2);
    for line in text.lines().filter(|l| l.starts_with("-A ")) {
        let chain = line.split(' ').nth(1).unwrap();
        assert!(
            text.contains(&format!(":{chain} - [0:0]")),
            "{chain} used but not declared"
        );
    }
}

#[test]
fn partial_render_touches_only_the_changed_service() {
    let old_model = sample();
    let mut new_model = old_model.clone();
    let sp = new_model.services.get_mut(&dns()).unwrap();
    sp.endpoints.retain(|e| e.ip != Ipv4Addr::new(10, 0, 1, 12));
    let (old, new) = (compile(&old_model), compile(&new_model));
    let changed: BTreeSet<_> = new_model.changed_since(&old_model);
    assert_eq!(changed.len(), 1);
    let text = render_partial(&old, &new, &changed);
    let gone = crate::hash::sep_chain(&dns(), &Endpoint::new(Ipv4Addr::new(10, 0, 1, 12), 53));
    let kept = crate::hash::sep_chain(&dns(), &Endpoint::new(Ipv4Addr::new(10, 0, 1, 11), 53));
    assert!(text.contains(":KUBE-SVC-TCOU7JCQXEZGVUNU - [0:0]\n"));
    assert!(text.contains(&format!("-X {gone}\n")));
    assert!(!text.contains(&kept.to_string()[..]) || text.contains(&format!("-j {kept}")));
    assert!(
        !text.contains(&format!(":{kept} ")),
        "unchanged endpoint chains are left alone"
    );
    assert!(
        !text.contains("KUBE-SVC-NPX46M4PTMTKRN6Y"),
        "other services untouched"
    );
    assert!(!text.contains("-D KUBE-SERVICES") && !text.contains("-I KUBE-SERVICES"));
    // Now 1/2 for the first of the two remaining endpoints.
    assert!(text.contains("--probability 0.5000000000 -j ".to_string().as_str()));

    // Removing every endpoint moves the service from nat to a filter reject.
    let mut empty = new_model.clone();
    empty.services.get_mut(&dns()).unwrap().endpoints.clear();
    let text = render_partial(&new, &compile(&empty), &empty.changed_since(&new_model));
    assert!(text.contains("-D KUBE-SERVICES -d 10.96.0.10/32 -p udp"));
    assert!(text.contains("*filter\n-I KUBE-SERVICES 1 -d 10.96.0.10/32 -p udp -m comment --comment \"kube-system/kube-dns:dns has no endpoints\""));
    assert!(text.contains("-X KUBE-SVC-TCOU7JCQXEZGVUNU\n"));
}
