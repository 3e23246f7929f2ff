//! End to end, for both datapaths: a mini node with three server pods and a
//! client pod, real packets through the ClusterIP.
mod common;

use std::collections::BTreeMap;
use std::io::ErrorKind;
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::time::Duration;

use common::lab::{pod_ip, tcp_once, udp_exchange, udp_once, Lab, GATEWAY, SERVER_PORT};
use labyrinth_netexec::chisquare::{uniform_p_value, SUITE_REJECTS_BELOW};
use labyrinth_proxy::conntrack::Stale;
use labyrinth_proxy::{
    Datapath, Endpoint, IptablesDatapath, NftablesDatapath, Protocol, ServiceModel, ServicePort,
    ServicePortName, SyncKind,
};

const VIP: Ipv4Addr = Ipv4Addr::new(10, 96, 0, 50);
const EMPTY_VIP: Ipv4Addr = Ipv4Addr::new(10, 96, 0, 51);
const HAIRPIN_VIP: Ipv4Addr = Ipv4Addr::new(10, 96, 0, 52);

fn web(p: Protocol) -> ServicePortName {
    ServicePortName::new(
        "wrk-2",
        "web",
        if p == Protocol::Tcp { "http" } else { "dgram" },
        p,
    )
}

fn model(servers: &[usize]) -> ServiceModel {
    model_with(servers, None)
}

/// `servers` behind the Services, and `terminating` among them in lame
/// duck: not ready, still serving.
fn model_with(servers: &[usize], terminating: Option<usize>) -> ServiceModel {
    let mut m = ServiceModel::new(Some("10.0.0.0/16".parse().unwrap()));
    let eps: Vec<Endpoint> = servers
        .iter()
        .map(|&i| Endpoint {
            ready: Some(i) != terminating,
            ..Endpoint::new(pod_ip(i), SERVER_PORT)
        })
        .collect();
    for p in [Protocol::Tcp, Protocol::Udp] {
        m.insert(ServicePort::new(web(p), VIP, 80, eps.clone()));
        m.insert(ServicePort::new(
            ServicePortName::new("wrk-2", "empty", "", p),
            EMPTY_VIP,
            80,
            vec![],
        ));
    }
    m.insert(ServicePort::new(
        ServicePortName::new("wrk-1", "self", "", Protocol::Tcp),
        HAIRPIN_VIP,
        80,
        vec![Endpoint::new(pod_ip(0), SERVER_PORT)],
    ));
    m
}

fn vip(ip: Ipv4Addr) -> SocketAddr {
    SocketAddr::from((ip, 80))
}

/// Who answered each of `n` new flows from the client.
fn spread(lab: &Lab, n: usize, proto: Protocol) -> BTreeMap<String, u64> {
    lab.client().run(move || {
        let mut seen = BTreeMap::new();
        for _ in 0..n {
            let reply = match proto {
                Protocol::Tcp => tcp_once(vip(VIP)),
                Protocol::Udp => udp_once(vip(VIP)),
            }
            .expect("flow through the ClusterIP");
            let who = reply.split(' ').next().unwrap().to_string();
            *seen.entry(who).or_insert(0) += 1;
        }
        seen
    })
}

fn check_even(counts: &BTreeMap<String, u64>, what: &str) {
    let c = [0, 1, 2].map(|i| counts.get(&format!("p{i}")).copied().unwrap_or(0));
    let p = uniform_p_value(&c);
    eprintln!("{what}: {counts:?} chi-square p = {p:.4}");
    assert!(
        p > SUITE_REJECTS_BELOW,
        "{what} is not even: {counts:?} (p = {p})"
    );
}

fn scenario(tag: &str, dp: Box<dyn Datapath>) {
    let lab = Lab::new(tag, dp);
    let kind = lab.proxy(|p| {
        p.set_model(model(&[0, 1, 2]), None);
        p.sync().expect("first sync").kind
    });
    assert_eq!(kind, SyncKind::Full);
    let is_ipt = lab.proxy(|p| p.datapath_name() == "iptables");

    // Delivery, and the client (inside the cluster CIDR) is not masqueraded.
    let reply = lab
        .client()
        .run(|| tcp_once(vip(VIP)))
        .expect("TCP through the ClusterIP");
    assert!(
        reply.starts_with('p') && reply.ends_with(&pod_ip(3).to_string()),
        "{reply}"
    );

    // What a user sees with the classic tools inside the node.
    if is_ipt {
        let save = lab.node.sh("iptables-save -c -t nat");
        let line = save
            .lines()
            .find(|l| l.contains("-A KUBE-SERVICES -d 10.96.0.50/32 -p tcp"))
            .unwrap_or_else(|| panic!("no KUBE-SERVICES rule for the VIP:\n{save}"));
        let pkts: u64 = line[1..line.find(':').unwrap()].parse().unwrap();
        assert!(pkts >= 1, "KUBE-SERVICES counter did not rise: {line}");
        assert!(line.contains("--comment \"wrk-2/web:http cluster IP\""), "{line}");
        let listing = lab.node.sh("iptables -t nat -L -v -n");
        assert!(
            listing.contains("Chain KUBE-SVC-")
                && listing.contains("statistic mode random probability 0.33333333349")
        );
    } else {
        let ruleset = lab.node.sh("nft list ruleset");
        assert!(
            ruleset.contains("10.96.0.50 . tcp . 80 : goto service-"),
            "{ruleset}"
        );
        assert!(
            ruleset.contains("goto dnat-1-of-3")
                && ruleset.contains("10.96.0.50 . tcp . 80 . 0 : 10.0.1.10 . 8080"),
            "{ruleset}"
        );
    }

    // Spread over 3 endpoints.
    check_even(&spread(&lab, 3000, Protocol::Tcp), &format!("{tag} TCP spread"));
    check_even(&spread(&lab, 3000, Protocol::Udp), &format!("{tag} UDP spread"));

    // No endpoints: refused at once, not a timeout.
    let (tcp_err, udp_err) = lab.client().run(|| {
        let t = tcp_once(vip(EMPTY_VIP)).expect_err("no endpoints must refuse");
        let u = udp_once(vip(EMPTY_VIP)).expect_err("no endpoints must refuse");
        (t.kind(), u.kind())
    });
    assert_eq!(tcp_err, ErrorKind::ConnectionRefused);
    assert_eq!(udp_err, ErrorKind::ConnectionRefused);

    // Hairpin: pod 0 reaches itself through its own service, masqueraded to
    // the node so the reply comes back through the node.
    let reply = lab.pods[0].run(|| tcp_once(vip(HAIRPIN_VIP))).expect("hairpin");
    assert_eq!(reply, format!("p0 {GATEWAY}"));

    // A UDP flow pinned to pod 1 by conntrack; after pod 1 leaves the
    // service, the same flow (same source port) must move: its conntrack
    // entry is flushed.
    let (sock, tries) = lab.client().run(|| {
        for t in 0..200 {
            let s = UdpSocket::bind("0.0.0.0:0").unwrap();
            s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
            s.connect(vip(VIP)).unwrap();
            if udp_exchange(&s).unwrap().starts_with("p1") {
                return (s, t);
            }
        }
        panic!("no UDP flow landed on p1");
    });
    assert!(tries < 200);
    // Pod 1 starts terminating and still serves (a DNS server in lame
    // duck): its answered flows are drained, so the pinned flow, whose
    // exchange is over, moves to a ready endpoint, and no new flow reaches
    // pod 1, not even from a client port used before.
    let report = lab.proxy(|p| {
        p.set_model(model_with(&[0, 1, 2], Some(1)), None);
        p.sync().expect("partial sync")
    });
    assert!(
        matches!(report.kind, SyncKind::Partial { changed: 2 }),
        "{report:?}"
    );
    assert_eq!(report.flushed, vec![(VIP, pod_ip(1), Stale::Draining)]);
    let moved = lab
        .client()
        .run(move || udp_exchange(&sock).expect("flow after its endpoint began terminating"));
    assert!(
        !moved.starts_with("p1"),
        "UDP flow still goes to the terminating endpoint: {moved}"
    );
    let during = spread(&lab, 300, Protocol::Udp);
    assert!(
        !during.contains_key("p1"),
        "new flows still reach the terminating endpoint: {during:?}"
    );
    // Pod 1 goes: whatever it still had is flushed.
    let report = lab.proxy(|p| {
        p.set_model(model(&[0, 2]), None);
        p.sync().expect("partial sync")
    });
    assert!(
        matches!(report.kind, SyncKind::Partial { changed: 2 }),
        "{report:?}"
    );
    assert_eq!(report.flushed, vec![(VIP, pod_ip(1), Stale::Gone)]);
    let after = spread(&lab, 300, Protocol::Tcp);
    assert!(
        !after.contains_key("p1"),
        "new connections still reach the removed endpoint: {after:?}"
    );
    assert!(after.contains_key("p0") && after.contains_key("p2"), "{after:?}");

    // Someone deletes our rules by hand; the periodic resync puts them back.
    if is_ipt {
        let save = lab.node.sh("iptables-save -t nat");
        let chain = save
            .lines()
            .find(|l| l.starts_with("-A KUBE-SERVICES -d 10.96.0.50/32 -p tcp"))
            .and_then(|l| l.rsplit(' ').next())
            .unwrap()
            .to_string();
        lab.node.sh(&format!("iptables -t nat -F {chain}"));
    } else {
        lab.node
            .sh("nft delete element ip labyrinth service-ips { 10.96.0.50 . tcp . 80 }");
    }
    let broken = lab.client().run(|| tcp_once(vip(VIP)));
    assert!(
        broken.is_err(),
        "the hand-made damage did not break the service: {broken:?}"
    );
    let report = lab.proxy(|p| p.resync().expect("resync"));
    assert!(matches!(report.kind, SyncKind::Repaired(_)), "{report:?}");
    assert!(
        lab.client().run(|| tcp_once(vip(VIP))).is_ok(),
        "resync did not repair the service"
    );
    assert_eq!(lab.proxy(|p| p.check_drift().unwrap()), None);
    assert_eq!(lab.proxy(|p| p.resync().unwrap().kind), SyncKind::Noop);

    // Metrics saw every sync.
    let metrics = lab.proxy(|p| p.metrics_text());
    assert!(
        metrics.contains("kubeproxy_sync_proxy_rules_duration_seconds_count 4\n"),
        "{metrics}"
    );
    assert!(
        metrics.contains("labyrinth_proxy_drift_repairs_total 1\n"),
        "{metrics}"
    );

    lab.proxy(|p| p.cleanup().expect("cleanup"));
    let leftover = if is_ipt {
        lab.node.sh("iptables-save")
    } else {
        lab.node.sh("nft list ruleset")
    };
    assert!(
        !leftover.contains("KUBE-SVC") && !leftover.contains("labyrinth"),
        "{leftover}"
    );
}

#[test]
fn iptables_datapath_end_to_end() {
    require_root!("iptables_datapath_end_to_end");
    scenario("ipt", Box::new(IptablesDatapath::new()));
}

#[test]
fn nftables_datapath_end_to_end() {
    require_root!("nftables_datapath_end_to_end");
    scenario("nft", Box::new(NftablesDatapath::new()));
}
