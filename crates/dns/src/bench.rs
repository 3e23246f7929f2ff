//! The DNS benchmark: dnsperf against one server process pinned to one
//! core, fast path versus a hickory-`Message` baseline served from the same
//! catalog, our own bounded client for latency percentiles, and memory per
//! 1,000 Services.
//!
//! Run: `cargo test --release -p labyrinth-dns --test bench -- --ignored --nocapture`

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};

use crate::catalog::{Store, ZoneConfig};

/// Benchmark settings.
#[derive(Debug, Clone)]
pub struct BenchOpts {
    /// The `labyrinth-dns` binary.
    pub bin: PathBuf,
    /// Services in the catalog while measuring throughput.
    pub services: usize,
    /// Services for the memory measurement.
    pub memory_services: usize,
    /// dnsperf run length (seconds).
    pub seconds: u32,
    pub server_cpu: usize,
    pub client_cpu: usize,
}

/// A records file with `n` ClusterIP Services, each with two named ports and
/// an EndpointSlice of 5 endpoints (the shape of the sync benchmarks).
pub fn records_yaml(n: usize) -> String {
    let mut s = String::with_capacity(n * 700);
    s.push_str("apiVersion: v1\nkind: List\nitems:\n");
    for i in 0..n {
        let ns = format!("ns-{}", i % 50);
        let ip = format!("10.96.{}.{}", 1 + i / 250, 1 + i % 250);
        s.push_str(&format!(
            "- {{apiVersion: v1, kind: Service, metadata: {{name: svc-{i}, namespace: {ns}}}, spec: {{clusterIP: {ip}, clusterIPs: [{ip}], ports: [{{name: http, port: 80, protocol: TCP}}, {{name: dns, port: 53, protocol: UDP}}]}}}}\n"
        ));
        let eps: Vec<String> = (0..5)
            .map(|e| {
                format!(
                    "{{addresses: [10.{}.{}.{}], conditions: {{ready: true}}}}",
                    128 + e,
                    i / 250,
                    1 + i % 250
                )
            })
            .collect();
        s.push_str(&format!(
            "- {{apiVersion: discovery.k8s.io/v1, kind: EndpointSlice, metadata: {{name: svc-{i}-x, namespace: {ns}, labels: {{kubernetes.io/service-name: svc-{i}}}}}, addressType: IPv4, ports: [{{name: http, port: 8080, protocol: TCP}}], endpoints: [{}]}}\n",
            eps.join(", ")
        ));
    }
    s
}

/// dnsperf query lines: 80% A hits, 10% AAAA NODATA, 10% search-path NXDOMAIN.
pub fn query_lines(services: usize, count: usize) -> Vec<(String, u16)> {
    (0..count)
        .map(|k| {
            let i = (k * 7919) % services.max(1);
            let name = format!("svc-{i}.ns-{}.svc.cluster.local", i % 50);
            match k % 10 {
                8 => (name, 28),
                9 => (format!("svc-{i}.ns-{}.other.svc.cluster.local", i % 50), 1),
                _ => (name, 1),
            }
        })
        .collect()
}

struct Proc(Child);
impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn spawn_server(opts: &BenchOpts, records: &Path, naive: bool) -> Result<(Proc, SocketAddr)> {
    let mut cmd = Command::new("taskset");
    cmd.arg("-c")
        .arg(opts.server_cpu.to_string())
        .arg(&opts.bin)
        .args(["--listen", "127.0.0.1:0", "--records"])
        .arg(records)
        .stderr(Stdio::piped())
        .stdout(Stdio::null());
    if naive {
        cmd.arg("--naive");
    }
    let mut child = cmd.spawn().context("spawning the server under taskset")?;
    let stderr = child.stderr.take().context("server stderr")?;
    let proc = Proc(child);
    let mut line = String::new();
    BufReader::new(stderr).read_line(&mut line)?;
    let addr = line
        .split(" on ")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .and_then(|s| s.parse().ok())
        .with_context(|| format!("server did not report its address: {line:?}"))?;
    Ok((proc, addr))
}

fn rss_kib(pid: u32) -> Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .context("VmRSS missing")
}

fn field<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    text.lines()
        .find_map(|l| l.trim().strip_prefix(key))
        .map(str::trim)
}

fn dnsperf(opts: &BenchOpts, addr: SocketAddr, qfile: &Path) -> Result<Value> {
    let out = Command::new("taskset")
        .arg("-c")
        .arg(opts.client_cpu.to_string())
        .arg("dnsperf")
        .args(["-s", &addr.ip().to_string(), "-p", &addr.port().to_string()])
        .arg("-d")
        .arg(qfile)
        .args([
            "-l",
            &opts.seconds.to_string(),
            "-c",
            "8",
            "-T",
            "1",
            "-q",
            "256",
            "-t",
            "2",
        ])
        .output()
        .context("running dnsperf")?;
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let qps: f64 = field(&text, "Queries per second:")
        .and_then(|v| v.parse().ok())
        .with_context(|| format!("dnsperf output without qps: {text}"))?;
    let avg = field(&text, "Average Latency (s):")
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse::<f64>().ok());
    let lost = field(&text, "Queries lost:").map(|v| v.split_whitespace().next().unwrap_or("").to_string());
    Ok(json!({"qps": qps, "avg_latency_us": avg.map(|a| a * 1e6), "queries_lost": lost}))
}

fn encode_query(id: u16, name: &str, qtype: u16) -> Vec<u8> {
    let mut q = vec![(id >> 8) as u8, id as u8, 0x01, 0, 0, 1, 0, 0, 0, 0, 0, 0];
    for l in name.split('.') {
        q.push(l.len() as u8);
        q.extend_from_slice(l.as_bytes());
    }
    q.push(0);
    q.extend_from_slice(&qtype.to_be_bytes());
    q.extend_from_slice(&1u16.to_be_bytes());
    q
}

/// Closed-loop client with `window` queries in flight; per-query latency.
fn latency_client(addr: SocketAddr, queries: &[(String, u16)], total: usize, window: usize) -> Result<Value> {
    let sock = UdpSocket::bind("127.0.0.1:0")?;
    sock.set_read_timeout(Some(Duration::from_millis(500)))?;
    let mut sent_at: Vec<Option<Instant>> = vec![None; 65536];
    let mut lat_ns: Vec<u64> = Vec::with_capacity(total);
    let (mut sent, mut lost) = (0usize, 0usize);
    let mut inflight = 0usize;
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut buf = [0u8; 4096];
    let start = Instant::now();
    while lat_ns.len() + lost < total && Instant::now() < deadline {
        while inflight < window && sent < total {
            let id = (sent % 65536) as u16;
            let (name, t) = &queries[sent % queries.len()];
            sock.send_to(&encode_query(id, name, *t), addr)?;
            sent_at[id as usize] = Some(Instant::now());
            sent += 1;
            inflight += 1;
        }
        match sock.recv_from(&mut buf) {
            Ok((n, _)) if n >= 12 => {
                let id = u16::from_be_bytes([buf[0], buf[1]]) as usize;
                if let Some(t0) = sent_at[id].take() {
                    lat_ns.push(t0.elapsed().as_nanos() as u64);
                    inflight -= 1;
                }
            }
            Ok(_) => {}
            Err(_) => {
                // Timed out: count what is outstanding as lost and refill.
                lost += inflight;
                inflight = 0;
                sent_at.iter_mut().for_each(|s| *s = None);
            }
        }
    }
    let secs = start.elapsed().as_secs_f64();
    lat_ns.sort_unstable();
    let pct = |p: f64| -> f64 {
        if lat_ns.is_empty() {
            return f64::NAN;
        }
        let i = ((lat_ns.len() as f64 * p) as usize).min(lat_ns.len() - 1);
        lat_ns[i] as f64 / 1000.0
    };
    Ok(json!({
        "window": window, "answered": lat_ns.len(), "lost": lost,
        "qps": lat_ns.len() as f64 / secs,
        "p50_us": pct(0.50), "p99_us": pct(0.99), "p999_us": pct(0.999),
    }))
}

fn pin_self(cpu: usize) {
    let mut set = nix::sched::CpuSet::new();
    if set.set(cpu).is_ok() {
        let _ = nix::sched::sched_setaffinity(nix::unistd::Pid::from_raw(0), &set);
    }
}

fn measure_path(
    opts: &BenchOpts,
    records: &Path,
    qfile: &Path,
    queries: &[(String, u16)],
    naive: bool,
) -> Result<Value> {
    let (proc, addr) = spawn_server(opts, records, naive)?;
    let perf = dnsperf(opts, addr, qfile)?;
    let lat = latency_client(addr, queries, 50_000, 16)?;
    let rss = rss_kib(proc.0.id())?;
    Ok(json!({"dnsperf": perf, "own_client_latency": lat, "rss_kib": rss}))
}

/// Runs the whole benchmark and returns its JSON figures.
pub fn bench(opts: &BenchOpts) -> Result<Value> {
    for tool in ["dnsperf", "taskset"] {
        if Command::new("which")
            .arg(tool)
            .output()
            .map(|o| !o.status.success())
            .unwrap_or(true)
        {
            bail!("{tool} not installed");
        }
    }
    pin_self(opts.client_cpu);
    let dir = std::env::temp_dir().join(format!("labyrinth-dns-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let _cleanup = TempDir(dir.clone());
    let records = dir.join("records.yaml");
    std::fs::write(&records, records_yaml(opts.services))?;
    let queries = query_lines(opts.services, 20_000);
    let qfile = dir.join("queries.txt");
    let text: String = queries
        .iter()
        .map(|(n, t)| format!("{n} {}\n", if *t == 28 { "AAAA" } else { "A" }))
        .collect();
    std::fs::write(&qfile, text)?;

    let fast = measure_path(opts, &records, &qfile, &queries, false)?;
    let naive = measure_path(opts, &records, &qfile, &queries, true)?;
    let q = |v: &Value| v["dnsperf"]["qps"].as_f64().unwrap_or(0.0);

    // Memory: RSS of a server with N Services over one with none.
    let empty = dir.join("empty.yaml");
    std::fs::write(&empty, records_yaml(0))?;
    let big = dir.join("big.yaml");
    std::fs::write(&big, records_yaml(opts.memory_services))?;
    let (p0, _) = spawn_server(opts, &empty, false)?;
    let rss0 = rss_kib(p0.0.id())?;
    drop(p0);
    let (p1, _) = spawn_server(opts, &big, false)?;
    let rss1 = rss_kib(p1.0.id())?;
    drop(p1);

    // Catalog rebuild time at that size (what an API change costs).
    let objs = crate::records_file::parse(&records_yaml(opts.memory_services))?;
    let mut store = Store::new(ZoneConfig::new("cluster.local"));
    let t = Instant::now();
    for o in objs {
        store.apply(crate::catalog::Change::Apply(o));
    }
    let derive_ms = t.elapsed().as_secs_f64() * 1e3;
    let t = Instant::now();
    let snap = store.snapshot()?;
    let compile_ms = t.elapsed().as_secs_f64() * 1e3;

    Ok(json!({
        "benchmark": "labyrinth-dns",
        "setup": {
            "services": opts.services, "server_cpu": opts.server_cpu, "client_cpu": opts.client_cpu,
            "dnsperf": format!("-l {} -c 8 -T 1 -q 256", opts.seconds),
            "query_mix": "80% A hit, 10% AAAA NODATA, 10% NXDOMAIN",
            "loadavg_at_start": std::fs::read_to_string("/proc/loadavg").unwrap_or_default().trim(),
        },
        "fast_path": fast,
        "baseline_hickory_message": naive,
        "qps_ratio_fast_over_baseline": q(&fast) / q(&naive).max(1.0),
        "goal": {"qps": 100000, "p99_us": 1000},
        "memory": {
            "services": opts.memory_services,
            "rss_kib_empty": rss0, "rss_kib_loaded": rss1,
            "kib_per_1000_services": (rss1.saturating_sub(rss0)) as f64 * 1000.0 / opts.memory_services.max(1) as f64,
            "compiled_answer_bytes": snap.heap_bytes(),
            "ratio_loaded_over_empty": rss1 as f64 / rss0.max(1) as f64,
        },
        "catalog": {
            "services": opts.memory_services, "names": snap.name_count(),
            "derive_ms": derive_ms, "compile_ms": compile_ms,
        },
    }))
}

struct TempDir(PathBuf);
impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
