//! The eBPF datapath's NodePort and LoadBalancer-address benchmark (issue
//! 19, point 5; not a timed test: `cargo test -p labyrinth-ebpf --release
//! --test bench_nodeport -- --ignored --nocapture` prints JSON). New TCP
//! connections per second from a client outside the cluster (node 1's
//! namespace, on the underlay, with no programs of its own) to node 2's
//! address and NodePort, and to a LoadBalancer address routed to node 2,
//! translated by the program on node 2's uplink to the server pod there,
//! with 10 and with 10,000 NodePort Services programmed, every one also
//! with a LoadBalancer address of its own (20,000 rows of the NodePort map,
//! `lby_lb4_nodeport_v2`). (The API's NodePort range holds only 2,768
//! ports; the bench widens it, as --service-node-port-range can.) Measured
//! in pairs, many then few (a full sync before each), so load from
//! elsewhere on the machine hits both sides of a pair alike; every pair's
//! figures and the median of the pairs' ratios.
mod common;

use std::net::{Ipv4Addr, SocketAddr};

use common::lab::{config, pin_dir};
use common::topo::{Topology, Vxlan};
use common::traffic::{conn_rate, Servers, PORT};
use common::Netns;
use labyrinth_ebpf::{AttachMode, EbpfDatapath, PodEndpoint, Routing, SharedDatapath};
use labyrinth_proxy::external::{NodePort, ThisNode};
use labyrinth_proxy::{Endpoint, Protocol, Proxier, ServiceModel, ServicePort, ServicePortName};
use serde_json::json;

const TARGET_NODE_PORT: u16 = 30080;
const TARGET_LB: Ipv4Addr = Ipv4Addr::new(10, 200, 0, 1);
const PAIRS: usize = 9;
const PAIR_SECS: f64 = 1.0;
const FEW: usize = 10;
const MANY: usize = 10_000;

/// `services` Services over the one server pod, the target first; every
/// one with a NodePort (the others from 40000 on) and a LoadBalancer
/// address.
fn model(node_ip: Ipv4Addr, server: Ipv4Addr, services: usize) -> ServiceModel {
    let mut m = ServiceModel::new(Some("10.0.0.0/16".parse().unwrap()));
    m.node = Some(ThisNode {
        name: "bench-node".into(),
        ip: node_ip,
        zone: None,
    });
    for i in 0..services {
        let (name, vip, node_port, lb) = if i == 0 {
            (
                "target".to_string(),
                Ipv4Addr::new(10, 96, 1, 1),
                TARGET_NODE_PORT,
                Some(TARGET_LB),
            )
        } else {
            let vip = Ipv4Addr::new(10, 100, (i / 250) as u8, (i % 250) as u8 + 1);
            let lb = Ipv4Addr::new(10, 201, (i / 250) as u8, (i % 250) as u8 + 1);
            (format!("filler-{i}"), vip, 40_000 + i as u16, Some(lb))
        };
        let mut sp = ServicePort::new(
            ServicePortName::new("bench", &name, "", Protocol::Tcp),
            vip,
            80,
            vec![Endpoint::new(server, PORT)],
        );
        sp.node_port = Some(NodePort {
            port: node_port,
            local: false,
            health_check: None,
        });
        sp.load_balancer_ips = lb.into_iter().collect();
        m.insert(sp);
    }
    m
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Sync `m` in the node's namespace (where the LoadBalancer addresses
/// are announced) and return the seconds it took.
fn sync(node: &Netns, p: &mut Proxier, m: &ServiceModel) -> f64 {
    node.run(|| {
        p.set_model(m.clone(), None);
        p.sync().expect("sync").took.as_secs_f64()
    })
}

#[test]
#[ignore = "benchmark: run with --ignored --nocapture"]
fn bench_ebpf_node_port_and_load_balancer_connections() {
    need_root!("bench_ebpf_node_port_and_load_balancer_connections");
    common::private_bpffs();
    // Node 1 is the client host: only its underlay address is used.
    let topo = Topology::new("bench-np", &[0, 1], Vxlan::CollectMd);
    let (client, node) = (&topo.nodes[0], &topo.nodes[1]);
    let pod = &topo.pods[0];
    let _servers = Servers::start(&[(&pod.ns, "p0".into())]);
    let mut cfg = config(node, AttachMode::Tcx, Routing::Tunnel);
    cfg.uplink_dev = Some("eth1".into());
    let (dir, ep) = (
        pin_dir(node.n),
        PodEndpoint {
            ip: pod.ip,
            host_ifname: pod.host_if.clone(),
            pod_mac: pod.mac,
        },
    );
    let peers = vec![(client.pod_cidr(), client.underlay_ip())];
    let dp = node.ns.run(move || {
        let mut dp = EbpfDatapath::open(&dir, cfg).expect("opening the datapath");
        dp.attach_endpoint(&ep).expect("attaching the pod");
        dp.sync_ipcache(&peers).expect("ipcache");
        dp
    });
    let mut proxier = Proxier::new(Box::new(SharedDatapath::new(dp)));
    // The programs keep their own conntrack; there is no kernel NAT state.
    proxier.flush_conntrack = false;
    // The VPC's route to the LoadBalancer address: node 2.
    client
        .ns
        .sh(&format!("ip route add {TARGET_LB}/32 via {}", node.underlay_ip()));

    let node_ip = node.underlay_ip();
    let (few, many) = (model(node_ip, pod.ip, FEW), model(node_ip, pod.ip, MANY));
    let targets = [
        ("node_port", SocketAddr::from((node_ip, TARGET_NODE_PORT))),
        ("load_balancer", SocketAddr::from((TARGET_LB, 80))),
    ];
    let mut report = serde_json::Map::new();
    let mut took = Vec::new();
    let mut pairs: [Vec<(f64, f64)>; 2] = Default::default();
    for _ in 0..PAIRS {
        took.push(sync(&node.ns, &mut proxier, &many));
        let with_many: Vec<f64> = targets
            .iter()
            .map(|&(_, to)| client.ns.run(move || conn_rate(to, PAIR_SECS)))
            .collect();
        sync(&node.ns, &mut proxier, &few);
        for (i, &(_, to)) in targets.iter().enumerate() {
            let with_few = client.ns.run(move || conn_rate(to, PAIR_SECS));
            pairs[i].push((with_few, with_many[i]));
        }
    }
    for (i, (name, to)) in targets.iter().enumerate() {
        let ratio = median(pairs[i].iter().map(|(f, m)| m / f).collect());
        let r = json!({
            "to": to.to_string(),
            "pairs_conn_per_s_few_then_many": pairs[i].iter().map(|(f, m)| [f.round(), m.round()]).collect::<Vec<_>>(),
            "baseline_conn_per_s_median": median(pairs[i].iter().map(|p| p.0).collect()).round(),
            "conn_per_s_median": median(pairs[i].iter().map(|p| p.1).collect()).round(),
            "ratio_many_over_few_median_of_pairs": (ratio * 1e3).round() / 1e3,
            "goal_within_10_percent": ratio >= 0.9,
        });
        eprintln!("{name}: {r}");
        assert!(r["baseline_conn_per_s_median"].as_f64().unwrap() > 0.0, "{r}");
        report.insert(name.to_string(), r);
    }
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let out = json!({
        "benchmark": "ebpf NodePort / LoadBalancer connections, few vs many NodePort Services with LoadBalancer addresses",
        "datapath": "ebpf",
        "few_services": FEW,
        "many_services": MANY,
        "seconds_per_measurement": PAIR_SECS,
        "pairs": PAIRS,
        "sync_few_to_many_s": took.iter().map(|t| (t * 1e4).round() / 1e4).collect::<Vec<_>>(),
        "sync_few_to_many_s_median": median(took),
        "loadavg": load.split_whitespace().take(3).collect::<Vec<_>>().join(" "),
        "results": report,
    });
    println!("{}", serde_json::to_string_pretty(&out).unwrap());
}
