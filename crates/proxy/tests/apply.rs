//! Programming real rules in a scratch namespace: the kernel accepts what
//! we compile, a listing right after a sync shows no drift, partial syncs
//! apply, cleanup leaves nothing.
mod common;

use std::net::Ipv4Addr;

use common::Netns;
use labyrinth_proxy::external::{NodePort, ThisNode};
use labyrinth_proxy::{
    Datapath, Endpoint, IptablesDatapath, NftablesDatapath, Protocol, ServiceModel, ServicePort,
    ServicePortName,
};

fn sample() -> ServiceModel {
    let mut m = ServiceModel::new(Some("10.0.0.0/16".parse().unwrap()));
    let dns = |d| Endpoint::new(Ipv4Addr::new(10, 0, 1, d), 53);
    m.insert(ServicePort::new(
        ServicePortName::new("kube-system", "kube-dns", "dns", Protocol::Udp),
        Ipv4Addr::new(10, 96, 0, 10),
        53,
        vec![dns(12), dns(11), dns(13)],
    ));
    m.insert(ServicePort::new(
        ServicePortName::new("default", "kubernetes", "https", Protocol::Tcp),
        Ipv4Addr::new(10, 96, 0, 1),
        443,
        vec![Endpoint::new(Ipv4Addr::new(10, 168, 0, 2), 6443)],
    ));
    m.insert(ServicePort::new(
        ServicePortName::new("wrk-2", "idle", "", Protocol::Tcp),
        Ipv4Addr::new(10, 96, 0, 77),
        9999,
        vec![],
    ));
    add_node_ports(&mut m);
    m
}

/// NodePorts (Cluster with ClientIP affinity; Local with its endpoint on
/// this node; Local without one) and an internalTrafficPolicy Local
/// Service, as node-1 programs them: the rules the kernel must list back
/// exactly as compiled (the `recent` and `addrtype` matches included).
fn add_node_ports(m: &mut ServiceModel) {
    m.node = Some(ThisNode {
        name: "node-1".into(),
        ip: Ipv4Addr::new(10, 168, 0, 3),
        zone: None,
    });
    let ep = |n: u8| Endpoint {
        node_name: Some(format!("node-{n}")),
        ..Endpoint::new(Ipv4Addr::new(10, 0, n, 5), 8080)
    };
    let np = |port, local| NodePort {
        port,
        local,
        health_check: local.then_some(port + 2000),
    };
    let svc = |name: &str, last: u8, eps| {
        ServicePort::new(
            ServicePortName::new("wrk-3", name, "", Protocol::Tcp),
            Ipv4Addr::new(10, 96, 1, last),
            80,
            eps,
        )
    };
    let mut sticky = svc("sticky", 1, vec![ep(1), ep(2)]).with_node_port(np(30080, false));
    sticky.affinity_seconds = Some(10800);
    m.insert(sticky);
    m.insert(svc("here", 2, vec![ep(1), ep(2)]).with_node_port(np(30081, true)));
    m.insert(svc("away", 3, vec![ep(2)]).with_node_port(np(30082, true)));
    let mut inside = svc("inside", 4, vec![ep(1), ep(2)]);
    inside.internal_local = true;
    m.insert(inside);
}

fn roundtrip(mut dp: Box<dyn Datapath>, ns: &Netns) -> Box<dyn Datapath> {
    let model = sample();
    ns.run(move || {
        dp.full_sync(&model).expect("full sync");
        assert_eq!(
            dp.check_drift().unwrap(),
            None,
            "{} drifted right after a full sync",
            dp.name()
        );
        let mut m2 = model.clone();
        let dns = ServicePortName::new("kube-system", "kube-dns", "dns", Protocol::Udp);
        m2.services.get_mut(&dns).unwrap().endpoints.remove(1);
        m2.services
            .get_mut(&ServicePortName::new("wrk-2", "idle", "", Protocol::Tcp))
            .unwrap()
            .endpoints = vec![Endpoint::new(Ipv4Addr::new(10, 0, 1, 40), 80)];
        m2.services.remove(&ServicePortName::new(
            "default",
            "kubernetes",
            "https",
            Protocol::Tcp,
        ));
        let changed = m2.changed_since(&model);
        dp.partial_sync(&m2, &changed).expect("partial sync");
        assert_eq!(
            dp.check_drift().unwrap(),
            None,
            "{} drifted right after a partial sync",
            dp.name()
        );
        dp.partial_sync(&model, &model.changed_since(&m2))
            .expect("partial sync back");
        assert_eq!(
            dp.check_drift().unwrap(),
            None,
            "{} drifted after syncing back",
            dp.name()
        );
        dp
    })
}

#[test]
fn iptables_rules_load_and_list_back_identically() {
    require_root!("iptables_rules_load_and_list_back_identically");
    let ns = Netns::new("ipt-apply");
    // Someone else's nat rule: a full sync opens with `-Z` (so that
    // iptables-nft fetches all chains at once), which must leave it be.
    let other = "-A POSTROUTING -s 10.99.0.0/16 -m comment --comment \"not ours\" -j MASQUERADE";
    ns.sh(&format!("iptables -t nat {}", other.replace('"', "'")));
    let mut dp = roundtrip(Box::new(IptablesDatapath::new()), &ns);
    let save = ns.sh("iptables-save");
    assert!(save.contains(other), "{save}");
    assert!(save.contains(":KUBE-SVC-TCOU7JCQXEZGVUNU - [0:0]"), "{save}");
    assert!(save.contains("-j KUBE-SVC-NPX46M4PTMTKRN6Y"), "{save}");
    assert!(save.contains("--probability 0.33333333349"), "{save}");
    assert!(save.contains("-A KUBE-NODEPORTS -p tcp -m comment --comment \"wrk-3/sticky\" -m tcp --dport 30080 -j KUBE-EXT-"), "{save}");
    assert!(
        save.contains(
            "\"wrk-3/away has no local endpoints\" -m addrtype --dst-type LOCAL -m tcp --dport 30082 -j DROP"
        ),
        "{save}"
    );
    assert!(
        save.contains("-m recent --rcheck --seconds 10800 --reap --name KUBE-SEP-"),
        "{save}"
    );
    assert!(
        save.contains("-A PREROUTING -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES")
    );
    // A jump deleted by hand: the drift check names it, and the next full
    // sync puts it back inside its restore transaction.
    ns.sh("iptables -t nat -D OUTPUT -m comment --comment 'kubernetes service portals' -j KUBE-SERVICES");
    let mut dp = ns.run(move || {
        let drift = dp.check_drift().unwrap().expect("missing jump is drift");
        assert!(drift.contains("nat OUTPUT"), "{drift}");
        dp.full_sync(&sample()).expect("repair");
        assert_eq!(dp.check_drift().unwrap(), None);
        dp
    });
    let save = ns.sh("iptables-save -t nat");
    assert_eq!(
        save.matches("-A OUTPUT -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES")
            .count(),
        1,
        "{save}"
    );
    ns.run(move || dp.cleanup().expect("cleanup"));
    let save = ns.sh("iptables-save");
    assert!(!save.contains("KUBE-"), "cleanup left: {save}");
    assert!(save.contains(other), "cleanup took someone else's rule: {save}");
}

#[test]
fn nftables_table_loads_and_lists_back() {
    require_root!("nftables_table_loads_and_lists_back");
    let ns = Netns::new("nft-apply");
    let mut dp = roundtrip(Box::new(NftablesDatapath::new()), &ns);
    let listing = ns.sh("nft list table ip labyrinth");
    assert!(
        listing.contains("10.96.0.10 . udp . 53 : goto service-TCOU7JCQ-kube-system/kube-dns/udp/dns"),
        "{listing}"
    );
    assert!(
        listing.contains("10.96.0.77 . tcp . 9999 : goto reject-chain"),
        "{listing}"
    );
    assert!(
        listing.contains("10.96.0.10 . udp . 53 . 0 : 10.0.1.11 . 53"),
        "{listing}"
    );
    assert!(listing.contains("ct status dnat ip saddr . ip daddr @hairpin jump mark-for-masquerade"));
    assert!(
        listing.contains("10.168.0.3 . tcp . 30082 : goto drop-chain"),
        "{listing}"
    );
    assert!(
        listing.contains("10.168.0.3 . tcp . 30081 . 0 : 10.0.1.5 . 8080"),
        "{listing}"
    );
    assert!(
        listing.contains("10.96.1.4 . tcp . 80 . 0 : 10.0.1.5 . 8080"),
        "{listing}"
    );
    ns.run(move || dp.cleanup().expect("cleanup"));
    assert!(!ns.sh("nft list tables").contains("labyrinth"));
}
