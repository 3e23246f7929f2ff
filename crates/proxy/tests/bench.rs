//! The sync benchmarks (JSON on stdout). Bounded: a datapath whose full sync
//! exceeds 60 s skips the larger sizes. Run as root:
//!   cargo test -p labyrinth-proxy --release --test bench -- --ignored --nocapture
mod common;

#[test]
#[ignore]
fn sync_benchmarks() {
    require_root!("sync_benchmarks");
    let sizes: Vec<usize> = std::env::var("PROXY_BENCH_SIZES")
        .unwrap_or_else(|_| "1000,10000,30000".into())
        .split(',')
        .map(|s| s.trim().parse().expect("PROXY_BENCH_SIZES"))
        .collect();
    let change_at: usize =
        std::env::var("PROXY_BENCH_CHANGE_AT").map_or(10_000, |s| s.parse().expect("PROXY_BENCH_CHANGE_AT"));
    let v = labyrinth_proxy::bench::bench(&sizes, 5, change_at, std::time::Duration::from_secs(60))
        .expect("bench");
    println!("{}", serde_json::to_string_pretty(&v).unwrap());
    for r in v["results"].as_array().unwrap() {
        if r.get("skipped").is_none() {
            assert!(r["full_sync_seconds"].as_f64().unwrap() > 0.0);
        }
    }
}

/// A tiny run of the same code so the benchmark cannot rot.
#[test]
fn bench_smoke() {
    require_root!("bench_smoke");
    let v = labyrinth_proxy::bench::bench(&[50], 3, 50, std::time::Duration::from_secs(60)).expect("bench");
    let results = v["results"].as_array().unwrap();
    assert_eq!(results.len(), 2);
    for r in results {
        assert!(r["full_sync_seconds"].as_f64().unwrap() > 0.0, "{r}");
        assert!(
            r["one_change"]["partial_sync_seconds"].as_f64().unwrap() > 0.0,
            "{r}"
        );
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
    let m = labyrinth_proxy::bench::synthetic_model(n, 5);
    let ipt = labyrinth_proxy::iptables::compile::render_full(&labyrinth_proxy::iptables::compile(&m), None);
    let nft = labyrinth_proxy::nftables::render_full(&labyrinth_proxy::nftables::compile(&m));
    std::fs::write(format!("{dir}/proxy-{n}.iptables"), &ipt).unwrap();
    std::fs::write(format!("{dir}/proxy-{n}.nft"), &nft).unwrap();
    assert!(ipt.len() > n && nft.len() > n);
}
