//! DNS benchmark (prints JSON). Release build recommended:
//! `cargo test --release -p labyrinth-dns --test bench -- --ignored --nocapture`

#[test]
#[ignore]
fn dns_benchmark() {
    let opts = labyrinth_dns::bench::BenchOpts {
        bin: env!("CARGO_BIN_EXE_labyrinth-dns").into(),
        services: env_or("DNS_BENCH_SERVICES", 1000),
        memory_services: env_or("DNS_BENCH_MEMORY_SERVICES", 10_000),
        seconds: env_or("DNS_BENCH_SECONDS", 10) as u32,
        server_cpu: 1,
        client_cpu: 0,
    };
    let v = labyrinth_dns::bench::bench(&opts).expect("benchmark runs");
    println!("{}", serde_json::to_string_pretty(&v).unwrap());
    let fast = v["fast_path"]["dnsperf"]["qps"].as_f64().unwrap();
    let base = v["baseline_hickory_message"]["dnsperf"]["qps"].as_f64().unwrap();
    assert!(fast > 0.0 && base > 0.0, "both paths answered");
    assert!(v["memory"]["rss_kib_loaded"].as_u64().unwrap() > v["memory"]["rss_kib_empty"].as_u64().unwrap());
}

fn env_or(key: &str, default: usize) -> usize {
    std::env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}
