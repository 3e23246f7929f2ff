//! The proxy benchmarks (JSON on stdout; progress lines on stderr).
//! Bounded: a datapath whose full sync exceeds the budget (60 s, or
//! $PROXY_BENCH_BUDGET_S) skips the larger sizes. Run as root:
//!   cargo test -p labyrinth-proxy --release --test bench -- --ignored --nocapture
//! Knobs: PROXY_BENCH_SIZES=1000,10000,30000 PROXY_BENCH_CHANGE_AT=10000
//! PROXY_BENCH_CONNECTIONS=5000 PROXY_BENCH_CONN_SIZES=10,10000
//! PROXY_BENCH_CONN_DATAPATHS=nftables PROXY_BENCH_ONLY=nodeport
//! PROXY_BENCH_IPTABLES_MANY=2000 (iptables' many Services through a
//! NodePort or LoadBalancer address, if fewer than the others')
mod bench_harness;
mod common;

use bench_harness::{bench, Plan};

fn env_list(name: &str) -> Option<Vec<usize>> {
    std::env::var(name).ok().map(|v| {
        v.split(',')
            .map(|s| s.trim().parse().unwrap_or_else(|_| panic!("{name}: {v}")))
            .collect()
    })
}

fn env_num(name: &str) -> Option<usize> {
    env_list(name).map(|v| v[0])
}

#[test]
#[ignore]
fn proxy_benchmarks() {
    require_root!("proxy_benchmarks");
    let mut plan = Plan::default();
    if let Some(s) = env_list("PROXY_BENCH_SIZES") {
        plan.sizes = s;
    }
    if let Some(n) = env_num("PROXY_BENCH_CHANGE_AT") {
        plan.change_at = n;
    }
    if let Some(n) = env_num("PROXY_BENCH_CONNECTIONS") {
        plan.connections = n;
    }
    if let Some(v) = env_list("PROXY_BENCH_CONN_SIZES") {
        plan.conn_sizes = (v[0], v[1]);
    }
    if let Some(n) = env_num("PROXY_BENCH_IPTABLES_MANY") {
        plan.iptables_conn_many = Some(n);
    }
    if let Some(n) = env_num("PROXY_BENCH_BUDGET_S") {
        plan.budget = std::time::Duration::from_secs(n as u64);
    }
    let v = bench(&plan).expect("bench");
    println!("{}", serde_json::to_string_pretty(&v).unwrap());
    for r in v["sync"].as_array().into_iter().flatten() {
        if r.get("skipped").is_none() {
            assert!(r["full_sync_seconds"].as_f64().unwrap() > 0.0);
        }
    }
}

/// A tiny run of the same code so the benchmarks cannot rot.
#[test]
fn bench_smoke() {
    require_root!("bench_smoke");
    let plan = Plan {
        sizes: vec![30, 60],
        endpoints: 3,
        change_at: 60,
        change_rounds: 2,
        budget: std::time::Duration::from_secs(60),
        connections: 30,
        conn_sizes: (2, 60),
        iptables_conn_many: Some(40),
    };
    let v = bench(&plan).expect("bench");
    let sync = v["sync"].as_array().unwrap();
    assert_eq!(sync.len(), 4);
    for r in sync {
        assert!(r["full_sync_seconds"].as_f64().unwrap() > 0.0, "{r}");
        assert!(r["baseline"]["seconds"].as_f64().unwrap() > 0.0, "{r}");
        if r["services"] == 60 {
            let c = &r["one_change"];
            assert!(c["endpoint_replaced_seconds"].as_f64().unwrap() > 0.0, "{r}");
            assert!(c["endpoint_added_seconds"].as_f64().unwrap() > 0.0, "{r}");
        }
    }
    for r in v["connections"].as_array().unwrap() {
        assert!(r["conn_per_s"].as_f64().unwrap() > 0.0, "{r}");
        assert!(r["baseline_conn_per_s"].as_f64().unwrap() > 0.0, "{r}");
    }
    for (key, via) in [
        ("node_port_connections", "NodePort"),
        ("load_balancer_connections", "LoadBalancer"),
    ] {
        let rs = v[key].as_array().unwrap();
        assert_eq!(rs.len(), 2, "iptables and nftables through a {via}");
        for r in rs {
            assert_eq!(r["via"], via, "{r}");
            assert!(r["conn_per_s"].as_f64().unwrap() > 0.0, "{r}");
            assert!(r["baseline_conn_per_s"].as_f64().unwrap() > 0.0, "{r}");
            // iptables' many is bounded by the override (40 here), and says so.
            let many = if r["datapath"] == "iptables" { 40 } else { 60 };
            assert_eq!(r["many_services"], many, "{r}");
            assert_eq!(r.get("bounded").is_some(), many == 40, "{r}");
        }
    }
}

/// Write the full-sync inputs for N services to $PROXY_DUMP_DIR (for
/// timing the tools by hand).
#[test]
#[ignore]
fn dump_full_sync_inputs() {
    let dir = std::env::var("PROXY_DUMP_DIR").unwrap_or_else(|_| "/tmp".into());
    let n: usize = std::env::var("PROXY_DUMP_N")
        .unwrap_or_else(|_| "10000".into())
        .parse()
        .unwrap();
    // PROXY_DUMP_VIA=nodeport|loadbalancer: every Service with a NodePort
    // (and a LoadBalancer address), as the connection benchmark has them.
    let m = match std::env::var("PROXY_DUMP_VIA").as_deref() {
        Ok("nodeport") => bench_harness::conn::model(n, 5, bench_harness::Via::NodePort).0,
        Ok("loadbalancer") => bench_harness::conn::model(n, 5, bench_harness::Via::LoadBalancer).0,
        _ => common::model::synthetic_model(n, 5),
    };
    let ipt = labyrinth_proxy::iptables::compile::render_full(&labyrinth_proxy::iptables::compile(&m), None);
    let nft = labyrinth_proxy::nftables::render_full(&labyrinth_proxy::nftables::compile(&m));
    std::fs::write(format!("{dir}/proxy-{n}.iptables"), &ipt).unwrap();
    std::fs::write(format!("{dir}/proxy-{n}.nft"), &nft).unwrap();
    assert!(ipt.len() > n && nft.len() > n);
}
