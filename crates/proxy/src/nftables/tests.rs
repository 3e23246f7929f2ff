use std::net::Ipv4Addr;

use super::compile::*;
use super::text::{render, render_full};
use super::{netlink, plan};
use crate::model::{Endpoint, Protocol, ServicePortName};
use crate::testutil::sample;

fn dns() -> ServicePortName {
    ServicePortName::new("kube-system", "kube-dns", "dns", Protocol::Udp)
}

const DNS_CHAIN: &str = "service-TCOU7JCQ-kube-system/kube-dns/udp/dns";

#[test]
fn service_is_an_element_and_a_chain_with_a_numgen_cascade() {
    let c = compile(&sample());
    let o = &c.services[&dns()];
    assert_eq!(o.map, SERVICE_IPS);
    assert_eq!(o.element(), format!("10.96.0.10 . udp . 53 : goto {DNS_CHAIN}"));
    let chain = o.chain.as_ref().unwrap();
    assert_eq!(chain.name, DNS_CHAIN);
    let rules: Vec<String> = chain.rules.iter().map(|r| r.to_string()).collect();
    assert_eq!(
        rules,
        [
            "ip saddr != 10.0.0.0/16 jump mark-for-masquerade",
            "goto dnat-1-of-3"
        ]
    );
    let eps: Vec<String> = o.endpoints.iter().map(|e| e.to_string()).collect();
    assert_eq!(eps, ["10.0.1.11:53", "10.0.1.12:53", "10.0.1.13:53"]);
    assert_eq!(c.hairpin.len(), 4, "{:?}", c.hairpin);
    // kube-dns has 3 endpoints, kubernetes 1: two shared pickers.
    assert_eq!(c.pickers.keys().copied().collect::<Vec<_>>(), [1, 3]);
    assert_eq!(
        pick_chain_of(3).rules[0].to_string(),
        "dnat ip to ip daddr . meta l4proto . th dport . numgen random mod 3 map @service-endpoints"
    );
}

#[test]
fn no_endpoints_is_an_element_pointing_at_the_reject_chain() {
    let c = compile(&sample());
    let o = &c.services[&ServicePortName::new("wrk-2", "idle", "", Protocol::Tcp)];
    assert_eq!(o.map, NO_ENDPOINTS);
    assert_eq!(o.element(), "10.96.0.77 . tcp . 9999 : goto reject-chain");
    assert!(o.chain.is_none());
}

#[test]
fn full_render_is_one_self_contained_transaction() {
    let text = render_full(&compile(&sample()));
    assert!(text.starts_with("add table ip labyrinth\ndelete table ip labyrinth\nadd table ip labyrinth\n"));
    assert!(text.contains(
        "add chain ip labyrinth nat-prerouting { type nat hook prerouting priority -100; policy accept; }"
    ));
    assert!(
        text.contains("add rule ip labyrinth services ip daddr . meta l4proto . th dport vmap @service-ips")
    );
    assert!(text.contains(
        "add element ip labyrinth no-endpoint-services { 10.96.0.77 . tcp . 9999 : goto reject-chain }"
    ));
    assert!(text.contains("add element ip labyrinth hairpin { 10.0.1.11 . 10.0.1.11, "));
    assert!(text.contains(
        "add element ip labyrinth service-endpoints { 10.96.0.1 . tcp . 443 . 0 : 10.168.0.2 . 6443, \
         10.96.0.10 . udp . 53 . 0 : 10.0.1.11 . 53, "
    ));
    // Every chain a rule or element names is added before that use, and
    // no hook is attached before the last chain exists.
    for (i, line) in text.lines().enumerate() {
        let words: Vec<&str> = line.split(' ').collect();
        for w in words.windows(2).filter(|w| w[0] == "goto" || w[0] == "jump") {
            let chain = w[1].trim_end_matches([',', '}']);
            let decl = text
                .find(&format!("add chain ip labyrinth {chain}"))
                .unwrap_or(usize::MAX);
            let at: usize = text.lines().take(i).map(|l| l.len() + 1).sum();
            assert!(decl < at, "{chain} used before it is added");
        }
    }
    let first_hook = text.find("hook").unwrap();
    assert!(
        text.rfind(&format!("add chain ip labyrinth {DNS_CHAIN}"))
            .unwrap()
            < first_hook
    );
}

fn drop_dns_endpoint(m: &mut crate::model::ServiceModel, last: u8) {
    m.services
        .get_mut(&dns())
        .unwrap()
        .endpoints
        .retain(|e| e.ip != Ipv4Addr::new(10, 0, 1, last));
}

#[test]
fn partial_plan_touches_only_the_changed_service() {
    let old_model = sample();
    let mut new_model = old_model.clone();
    drop_dns_endpoint(&mut new_model, 12);
    let changed = new_model.changed_since(&old_model);
    let mut c = compile(&old_model);
    let (old, shared) = c.update(&new_model, &changed);
    assert_eq!(c, compile(&new_model), "update equals a fresh compile");
    assert_eq!(shared.hairpin_removed, vec![Ipv4Addr::new(10, 0, 1, 12)]);
    assert!(shared.hairpin_added.is_empty());
    assert_eq!(
        (shared.pickers_added.clone(), shared.pickers_removed.clone()),
        (vec![2], vec![3])
    );
    let text = render(&plan::partial(&old, &c, &changed, &shared));
    assert_eq!(
        text,
        format!(
            "delete element ip labyrinth service-endpoints {{ 10.96.0.10 . udp . 53 . 1, 10.96.0.10 . udp . 53 . 2 }}\n\
             delete element ip labyrinth hairpin {{ 10.0.1.12 . 10.0.1.12 }}\n\
             add chain ip labyrinth dnat-1-of-2\n\
             add rule ip labyrinth dnat-1-of-2 dnat ip to ip daddr . meta l4proto . th dport . numgen random mod 2 map @service-endpoints\n\
             flush chain ip labyrinth {DNS_CHAIN}\n\
             add rule ip labyrinth {DNS_CHAIN} ip saddr != 10.0.0.0/16 jump mark-for-masquerade\n\
             add rule ip labyrinth {DNS_CHAIN} goto dnat-1-of-2\n\
             add element ip labyrinth service-endpoints {{ 10.96.0.10 . udp . 53 . 1 : 10.0.1.13 . 53 }}\n\
             delete chain ip labyrinth dnat-1-of-3\n"
        )
    );

    // Same count, another address: data elements only, no rule touched
    // (so the kernel need not re-validate the table).
    let mut moved = new_model.clone();
    moved.services.get_mut(&dns()).unwrap().endpoints[1].ip = Ipv4Addr::new(10, 0, 1, 14);
    let changed_m = moved.changed_since(&new_model);
    let mut cm = c.clone();
    let (old_m, shared_m) = cm.update(&moved, &changed_m);
    let text = render(&plan::partial(&old_m, &cm, &changed_m, &shared_m));
    assert_eq!(
        text,
        "delete element ip labyrinth service-endpoints { 10.96.0.10 . udp . 53 . 1 }\n\
         delete element ip labyrinth hairpin { 10.0.1.13 . 10.0.1.13 }\n\
         add element ip labyrinth service-endpoints { 10.96.0.10 . udp . 53 . 1 : 10.0.1.14 . 53 }\n\
         add element ip labyrinth hairpin { 10.0.1.14 . 10.0.1.14 }\n"
    );

    // Losing every endpoint moves the element to the reject map, and the
    // chain goes after the element that pointed at it.
    let mut empty = new_model.clone();
    empty.services.get_mut(&dns()).unwrap().endpoints.clear();
    let changed = empty.changed_since(&new_model);
    let (old, shared) = c.update(&empty, &changed);
    let text = render(&plan::partial(&old, &c, &changed, &shared));
    assert!(text.starts_with("delete element ip labyrinth service-ips { 10.96.0.10 . udp . 53 }\n"));
    assert!(text.contains(
        "add element ip labyrinth no-endpoint-services { 10.96.0.10 . udp . 53 : goto reject-chain }"
    ));
    assert!(text.ends_with(&format!(
        "delete chain ip labyrinth {DNS_CHAIN}\ndelete chain ip labyrinth dnat-1-of-2\n"
    )));
    assert_eq!(shared.hairpin_removed.len(), 2);
}

#[test]
fn hairpin_elements_are_shared_between_services() {
    let mut m = sample();
    let ep = Endpoint::new(Ipv4Addr::new(10, 0, 1, 11), 80);
    m.insert(crate::model::ServicePort::new(
        ServicePortName::new("ns", "other", "", Protocol::Tcp),
        Ipv4Addr::new(10, 96, 0, 90),
        80,
        vec![ep],
    ));
    let mut c = compile(&m);
    assert_eq!(c.hairpin[&Ipv4Addr::new(10, 0, 1, 11)], 2);
    // kube-dns drops .11: the element stays, the other service uses it.
    let mut m2 = m.clone();
    drop_dns_endpoint(&mut m2, 11);
    let (_, h) = c.update(&m2, &m2.changed_since(&m));
    assert!(
        h.hairpin_removed.is_empty() && h.hairpin_added.is_empty(),
        "{h:?}"
    );
    assert_eq!(c.hairpin[&Ipv4Addr::new(10, 0, 1, 11)], 1);
}

#[test]
fn netlink_batch_has_one_message_per_object_and_rule() {
    let c = compile(&sample());
    let skel = skeleton();
    let ops = plan::full(&c, &skel);
    let batch = netlink::encode(&ops, 0);
    let rules: usize = skel.iter().map(|c| c.rules.len()).sum::<usize>()
        + c.services
            .values()
            .filter_map(|o| o.chain.as_ref())
            .map(|c| c.rules.len())
            .sum::<usize>()
        + c.pickers.len();
    let chains = skel.len() + 2 + c.pickers.len();
    // begin + 3 table msgs + 4 sets + chains + rules + 4 element msgs + end
    assert_eq!(batch.origin.len(), 1 + 3 + 4 + chains + rules + 4 + 1);
    assert_eq!(batch.last_seq, batch.first_seq + batch.origin.len() as u32 - 2);
}
