//! Benchmarks (not a timed test: `cargo test -p labyrinth-ebpf --release
//! --test bench -- --ignored --nocapture` prints JSON). The same two-node
//! topology for the three datapaths: eBPF (programs, collect_md VXLAN),
//! iptables and nftables (kube-proxy rules from crates/proxy, classic
//! VXLAN, kernel routing), measured round by round in turn:
//! - TCP_RR: 1-byte request/response transactions per second on one
//!   connection, pod to pod on one node and across nodes, by pod IP and
//!   through a ClusterIP;
//! - throughput: iperf3, one TCP stream for a few seconds, pod to pod;
//! - new connections per second through one ClusterIP; for eBPF also with
//!   30,000 Services programmed, in pairs with 10.
//!
//! All of it on one pinned CPU (see `pin_to_last_cpu`).
//!
//! `bench_ebpf_delivery_peer_vs_host_veth`: the eBPF datapath alone, its
//! two ways into a local pod (out of the host veth, the default, or
//! bpf_redirect_peer past it) alternated on the same topology.
mod common;

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Instant;

use common::iperf;
use common::lab::{Lab, Shared};
use common::topo::{Topology, Vxlan};
use common::traffic::{conn_rate, tcp_hello, Servers, PORT};
use labyrinth_ebpf::{AttachMode, PodDelivery};
use labyrinth_proxy::{
    Datapath, Endpoint, IptablesDatapath, NftablesDatapath, Protocol, Proxier, ServiceModel, ServicePort,
    ServicePortName,
};
use serde_json::{json, Map, Value};

const SECS: f64 = 2.0;
const LOCAL_VIP: Ipv4Addr = Ipv4Addr::new(10, 96, 1, 1);
const REMOTE_VIP: Ipv4Addr = Ipv4Addr::new(10, 96, 1, 2);

/// Two single-backend Services (local and remote server) plus `extra`
/// filler Services on 10.100.0.0/16 with one backend each.
fn bench_model(local: Ipv4Addr, remote: Ipv4Addr, extra: usize) -> ServiceModel {
    let mut m = ServiceModel::new(Some("10.0.0.0/16".parse().unwrap()));
    let svc = |name: String, vip: Ipv4Addr, ep: Ipv4Addr| {
        ServicePort::new(
            ServicePortName::new("bench", &name, "", Protocol::Tcp),
            vip,
            80,
            vec![Endpoint::new(ep, PORT)],
        )
    };
    m.insert(svc("local".into(), LOCAL_VIP, local));
    m.insert(svc("remote".into(), REMOTE_VIP, remote));
    for i in 0..extra {
        let vip = Ipv4Addr::new(10, 100, (i / 250) as u8, (i % 250) as u8 + 1);
        m.insert(svc(format!("filler-{i}"), vip, local));
    }
    m
}

fn tcp_rr(to: SocketAddr) -> f64 {
    let (mut s, _) = tcp_hello(to).expect("connect");
    s.set_nodelay(true).unwrap();
    let (start, mut n, mut b) = (Instant::now(), 0u64, [0u8; 1]);
    while start.elapsed().as_secs_f64() < SECS {
        s.write_all(b"x").unwrap();
        s.read_exact(&mut b).unwrap();
        n += 1;
    }
    n as f64 / start.elapsed().as_secs_f64()
}

const KEYS: [&str; 7] = [
    "tcp_rr_same_node",
    "tcp_rr_cross_node",
    "tcp_rr_same_node_clusterip",
    "tcp_rr_cross_node_clusterip",
    "iperf3_gbit_s_same_node",
    "iperf3_gbit_s_cross_node",
    "conn_rate_clusterip",
];

const IPERF_SECS: u32 = 3;

/// One measurement from client pod 1 (node 1) towards pod 0 (node 1) or
/// pod 2 (node 2), directly or through their ClusterIPs.
fn measure(topo: &Topology, key: &'static str) -> f64 {
    let (lip, rip) = (topo.pods[0].ip, topo.pods[2].ip);
    let client = &topo.pods[1].ns;
    match key {
        "iperf3_gbit_s_same_node" => return iperf::gbit_s(client, &topo.pods[0].ns, lip, IPERF_SECS),
        "iperf3_gbit_s_cross_node" => return iperf::gbit_s(client, &topo.pods[2].ns, rip, IPERF_SECS),
        _ => {}
    }
    let at = |ip: Ipv4Addr| SocketAddr::from((ip, PORT));
    let vip = |ip: Ipv4Addr| SocketAddr::from((ip, 80));
    client.run(move || match key {
        "tcp_rr_same_node" => tcp_rr(at(lip)),
        "tcp_rr_cross_node" => tcp_rr(at(rip)),
        "tcp_rr_same_node_clusterip" => tcp_rr(vip(LOCAL_VIP)),
        "tcp_rr_cross_node_clusterip" => tcp_rr(vip(REMOTE_VIP)),
        _ => conn_rate(vip(LOCAL_VIP), SECS),
    })
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn sync(p: &Shared, m: &ServiceModel) -> f64 {
    let mut g = p.lock().unwrap();
    let p = g.as_mut().unwrap();
    p.set_model(m.clone(), None);
    p.sync().expect("sync").took.as_secs_f64()
}

fn ebpf_lab() -> Lab {
    let lab = Lab::new("bench-ebpf", &[2, 1], &[0, 2], AttachMode::Tcx);
    let m = bench_model(lab.topo.pods[0].ip, lab.topo.pods[2].ip, 8);
    for p in &lab.proxiers {
        sync(p, &m);
    }
    lab
}

/// The kube-proxy datapaths: the kernel's routing and VXLAN, the Service
/// rules of `datapath` synced once in each node.
fn kernel_topo(tag: &str, datapath: fn() -> Box<dyn Datapath>) -> (Topology, Servers) {
    let topo = Topology::new(tag, &[2, 1], Vxlan::Classic);
    let servers = Servers::start(&[(&topo.pods[0].ns, "p0".into()), (&topo.pods[2].ns, "p1".into())]);
    let m = bench_model(topo.pods[0].ip, topo.pods[2].ip, 8);
    for node in &topo.nodes {
        let m = m.clone();
        // iptables-restore and the nf_tables socket act in the calling
        // thread's namespace: the node's.
        node.ns.run(move || {
            let mut p = Proxier::new(datapath());
            p.flush_conntrack = false;
            p.set_model(m, None);
            p.sync().expect("first sync");
        });
    }
    (topo, servers)
}

/// Everything this test starts (pods' servers, clients, iperf3) runs on
/// one CPU. On a VM, a wake-up that crosses to an idle vCPU costs tens of
/// microseconds (its halt is a VM exit): left free, request/response
/// figures measure that and swing several-fold with the machine's load.
/// On one CPU they measure what the datapath costs per packet.
fn pin_to_last_cpu() -> usize {
    use nix::sched::{sched_getaffinity, sched_setaffinity, CpuSet};
    use nix::unistd::Pid;
    let allowed = sched_getaffinity(Pid::from_raw(0)).expect("affinity");
    let cpu = (0..CpuSet::count())
        .rev()
        .find(|&c| allowed.is_set(c).unwrap_or(false))
        .expect("some CPU");
    let mut one = CpuSet::new();
    one.set(cpu).unwrap();
    sched_setaffinity(Pid::from_raw(0), &one).expect("pinning the benchmark");
    cpu
}

const ROUNDS: usize = 5;
const PAIRS: usize = 15;
const PAIR_SECS: f64 = 0.5;

fn ratios(a: &Map<String, Value>, b: &Map<String, Value>) -> Map<String, Value> {
    KEYS.iter()
        .map(|k| {
            (
                k.to_string(),
                json!(a[*k].as_f64().unwrap() / b[*k].as_f64().unwrap()),
            )
        })
        .collect()
}

#[test]
#[ignore = "benchmark: run with --ignored --nocapture"]
fn bench_ebpf_vs_iptables_and_nftables() {
    need_root!("bench_ebpf_vs_iptables_and_nftables");
    common::private_bpffs();
    let cpu = pin_to_last_cpu();
    let lab = ebpf_lab();
    let (ipt, _ipt_servers) = kernel_topo("bench-ipt", || Box::new(IptablesDatapath::new()));
    let (nft, _nft_servers) = kernel_topo("bench-nft", || Box::new(NftablesDatapath::new()));
    let topos = [&lab.topo, &ipt, &nft];
    // The three side by side, interleaved round by round, so load from
    // elsewhere on the machine hits all alike; medians of the rounds.
    let mut out: [Map<String, Value>; 3] = Default::default();
    for key in KEYS {
        let mut v: [Vec<f64>; 3] = Default::default();
        for _ in 0..ROUNDS {
            for (i, t) in topos.iter().enumerate() {
                v[i].push(measure(t, key));
            }
        }
        for i in 0..3 {
            out[i].insert(key.into(), json!(median(v[i].clone())));
        }
    }
    let [mut e, i, n] = out;

    // The same ClusterIP among 30,000 Services: short measurements in
    // pairs, 30,000 then 10 (a full sync before each), and the median of
    // the pairs' ratios, so load from elsewhere (which swings the rate
    // several-fold over seconds here) hits both sides of a pair alike.
    let few = bench_model(lab.topo.pods[0].ip, lab.topo.pods[2].ip, 8);
    let many = bench_model(lab.topo.pods[0].ip, lab.topo.pods[2].ip, 29_998);
    let vip = SocketAddr::from((LOCAL_VIP, 80));
    let client = &lab.topo.pods[1].ns;
    let (mut pairs, mut took) = (vec![], vec![]);
    for _ in 0..PAIRS {
        took.push(sync(&lab.proxiers[0], &many));
        let with_30k = client.run(move || conn_rate(vip, PAIR_SECS));
        sync(&lab.proxiers[0], &few);
        let with_10 = client.run(move || conn_rate(vip, PAIR_SECS));
        pairs.push((with_10, with_30k));
    }
    let flat = median(pairs.iter().map(|(a, b)| b / a).collect());
    e.insert(
        "conn_rate_clusterip_pairs_10_vs_30000_services".into(),
        json!(pairs),
    );
    e.insert("sync_to_30000_services_s".into(), json!(median(took)));
    let report = json!({
        "seconds_per_measurement": SECS,
        "iperf3_seconds": IPERF_SECS,
        "rounds": ROUNDS,
        "pinned_cpu": cpu,
        "ebpf": e,
        "iptables": i,
        "nftables": n,
        "ebpf_over_iptables": ratios(&e, &i),
        "ebpf_over_nftables": ratios(&e, &n),
        "ebpf_conn_rate_30000_over_10_services_median_of_pairs": flat,
        "goals": {
            "tcp_rr_same_node_ebpf_ge_1_2x_iptables":
                e["tcp_rr_same_node"].as_f64().unwrap() >= 1.2 * i["tcp_rr_same_node"].as_f64().unwrap(),
            "conn_rate_flat_within_10_percent": (flat - 1.0).abs() <= 0.10,
            "throughput_same_node_ebpf_ge_iptables":
                e["iperf3_gbit_s_same_node"].as_f64().unwrap() >= i["iperf3_gbit_s_same_node"].as_f64().unwrap(),
            "throughput_cross_node_ebpf_ge_iptables":
                e["iperf3_gbit_s_cross_node"].as_f64().unwrap() >= i["iperf3_gbit_s_cross_node"].as_f64().unwrap(),
        },
    });
    println!("{}", serde_json::to_string_pretty(&report).unwrap());
}

#[test]
#[ignore = "benchmark: run with --ignored --nocapture"]
fn bench_ebpf_delivery_peer_vs_host_veth() {
    need_root!("bench_ebpf_delivery_peer_vs_host_veth");
    common::private_bpffs();
    let cpu = pin_to_last_cpu();
    let lab = ebpf_lab();
    // Alternated within each round on the same pods and programs (only
    // the config map changes), so load from elsewhere hits both alike;
    // every run's figure is reported, and the median of each round's
    // ratio peer / host veth.
    let (mut runs, mut ratio) = (Map::new(), Map::new());
    // Every measurement that ends in a pod: all but the connection rate
    // (the last key), which measures the conntrack.
    for &key in &KEYS[..KEYS.len() - 1] {
        let (mut host, mut peer, mut r) = (vec![], vec![], vec![]);
        for _ in 0..ROUNDS {
            lab.set_delivery(PodDelivery::HostVeth);
            let h = measure(&lab.topo, key);
            lab.set_delivery(PodDelivery::PeerRedirect);
            let p = measure(&lab.topo, key);
            host.push(h);
            peer.push(p);
            r.push(p / h);
        }
        runs.insert(key.to_string(), json!({"host_veth": host, "peer_redirect": peer}));
        ratio.insert(key.to_string(), json!(median(r)));
    }
    lab.set_delivery(PodDelivery::HostVeth);
    let report = json!({
        "seconds_per_measurement": SECS,
        "iperf3_seconds": IPERF_SECS,
        "rounds": ROUNDS,
        "pinned_cpu": cpu,
        "runs": runs,
        "peer_over_host_veth_median_of_rounds": ratio,
    });
    println!("{}", serde_json::to_string_pretty(&report).unwrap());
}
