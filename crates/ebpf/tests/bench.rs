//! Benchmarks (not a timed test: `cargo test -p labyrinth-ebpf --test bench
//! -- --ignored --nocapture` prints JSON). Same two-node topology for both
//! datapaths: eBPF (programs, collect_md VXLAN) and iptables (kube-proxy
//! rules from crates/proxy, classic VXLAN, kernel routing).
//! - TCP_RR: 1-byte request/response transactions per second on one
//!   connection, pod to pod on one node and across nodes, by pod IP and
//!   through a ClusterIP;
//! - throughput: bytes/s echoed on one connection (both directions loaded);
//! - new connections per second through one ClusterIP with 10 and 30,000
//!   Services programmed.
mod common;

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr};
use std::os::fd::AsRawFd;
use std::time::Instant;

use common::lab::{Lab, Shared};
use common::topo::{Topology, Vxlan};
use common::traffic::{tcp_hello, Servers, PORT};
use labyrinth_ebpf::AttachMode;
use labyrinth_proxy::{
    Endpoint, IptablesDatapath, Protocol, Proxier, ServiceModel, ServicePort, ServicePortName,
};
use serde_json::json;

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

fn throughput(to: SocketAddr) -> f64 {
    let (mut s, _) = tcp_hello(to).expect("connect");
    let mut r = s.try_clone().unwrap();
    let reader = std::thread::spawn(move || {
        let (mut total, mut buf) = (0u64, vec![0u8; 1 << 16]);
        while let Ok(n) = r.read(&mut buf) {
            if n == 0 {
                break;
            }
            total += n as u64;
        }
        total
    });
    let (start, chunk) = (Instant::now(), vec![7u8; 1 << 16]);
    while start.elapsed().as_secs_f64() < SECS {
        s.write_all(&chunk).unwrap();
    }
    s.shutdown(std::net::Shutdown::Write).unwrap();
    reader.join().unwrap() as f64 / start.elapsed().as_secs_f64()
}

/// Connect, read the greeting, close. The close is an abort (SO_LINGER 0)
/// so tens of thousands of connections leave no TIME_WAIT behind to slow
/// the client's port search (which would measure the client, not us).
fn conn_rate(to: SocketAddr) -> f64 {
    let (start, mut n) = (Instant::now(), 0u64);
    while start.elapsed().as_secs_f64() < SECS {
        let (s, _) = tcp_hello(to).expect("connection through the ClusterIP");
        let linger = libc::linger {
            l_onoff: 1,
            l_linger: 0,
        };
        // SAFETY: a valid socket and a linger struct of the size given.
        unsafe {
            libc::setsockopt(
                s.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_LINGER,
                (&linger as *const libc::linger).cast(),
                std::mem::size_of::<libc::linger>() as libc::socklen_t,
            )
        };
        n += 1;
    }
    n as f64 / start.elapsed().as_secs_f64()
}

const KEYS: [&str; 7] = [
    "tcp_rr_same_node",
    "tcp_rr_cross_node",
    "tcp_rr_same_node_clusterip",
    "tcp_rr_cross_node_clusterip",
    "throughput_bytes_s_same_node",
    "throughput_bytes_s_cross_node",
    "conn_rate_clusterip",
];

/// One measurement from client pod 1 (node 1) towards pod 0 (node 1) or
/// pod 2 (node 2), directly or through their ClusterIPs.
fn measure(topo: &Topology, key: &'static str) -> f64 {
    let (lip, rip) = (topo.pods[0].ip, topo.pods[2].ip);
    let at = |ip: Ipv4Addr| SocketAddr::from((ip, PORT));
    let vip = |ip: Ipv4Addr| SocketAddr::from((ip, 80));
    topo.pods[1].ns.run(move || match key {
        "tcp_rr_same_node" => tcp_rr(at(lip)),
        "tcp_rr_cross_node" => tcp_rr(at(rip)),
        "tcp_rr_same_node_clusterip" => tcp_rr(vip(LOCAL_VIP)),
        "tcp_rr_cross_node_clusterip" => tcp_rr(vip(REMOTE_VIP)),
        "throughput_bytes_s_same_node" => throughput(at(lip)),
        "throughput_bytes_s_cross_node" => throughput(at(rip)),
        _ => conn_rate(vip(LOCAL_VIP)),
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

fn iptables_topo() -> (Topology, Servers) {
    let topo = Topology::new("bench-ipt", &[2, 1], Vxlan::Classic);
    let servers = Servers::start(&[(&topo.pods[0].ns, "p0".into()), (&topo.pods[2].ns, "p1".into())]);
    let m = bench_model(topo.pods[0].ip, topo.pods[2].ip, 8);
    for node in &topo.nodes {
        let m = m.clone();
        // iptables-restore runs in the calling thread's namespace: the node's.
        node.ns.run(move || {
            let mut p = Proxier::new(Box::new(IptablesDatapath::new()));
            p.flush_conntrack = false;
            p.set_model(m, None);
            p.sync().expect("iptables sync");
        });
    }
    (topo, servers)
}

const ROUNDS: usize = 3;

#[test]
#[ignore = "benchmark: run with --ignored --nocapture"]
fn bench_ebpf_vs_iptables() {
    need_root!("bench_ebpf_vs_iptables");
    common::private_bpffs();
    let lab = ebpf_lab();
    let (ipt, _servers) = iptables_topo();
    // Both datapaths side by side, interleaved round by round, so load from
    // elsewhere on the machine hits both alike; medians of the rounds.
    let (mut e, mut i) = (serde_json::Map::new(), serde_json::Map::new());
    for key in KEYS {
        let (mut ev, mut iv) = (vec![], vec![]);
        for _ in 0..ROUNDS {
            ev.push(measure(&lab.topo, key));
            iv.push(measure(&ipt, key));
        }
        e.insert(key.into(), json!(median(ev)));
        i.insert(key.into(), json!(median(iv)));
    }
    let ratios: serde_json::Map<String, serde_json::Value> = KEYS
        .iter()
        .map(|k| {
            (
                k.to_string(),
                json!(e[*k].as_f64().unwrap() / i[*k].as_f64().unwrap()),
            )
        })
        .collect();

    // The same ClusterIP among 30,000 Services (one full sync to get there).
    let m = bench_model(lab.topo.pods[0].ip, lab.topo.pods[2].ip, 29_998);
    let took = sync(&lab.proxiers[0], &m);
    let with_30k = median(
        (0..ROUNDS)
            .map(|_| measure(&lab.topo, "conn_rate_clusterip"))
            .collect(),
    );
    let with_10 = e["conn_rate_clusterip"].as_f64().unwrap();
    e.insert("conn_rate_clusterip_30000_services".into(), json!(with_30k));
    e.insert("sync_to_30000_services_s".into(), json!(took));
    let report = json!({
        "seconds_per_measurement": SECS,
        "rounds": ROUNDS,
        "ebpf": e,
        "iptables": i,
        "ebpf_over_iptables": ratios,
        "ebpf_conn_rate_30000_over_10_services": with_30k / with_10,
    });
    println!("{}", serde_json::to_string_pretty(&report).unwrap());
}
