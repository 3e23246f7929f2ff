//! The proxy benchmarks (run by tests/bench.rs), each in scratch namespaces, printed as JSON with a baseline
//! measured in the same run:
//! - full sync of N services × 5 endpoints per datapath, against the raw
//!   tool (`nft -f` / `iptables-restore`) loading the same rules in a fresh
//!   namespace, and nftables against iptables (sync.rs);
//! - one service changed at N: partial sync against a full rewrite;
//! - new TCP connections per second through one ClusterIP, one NodePort
//!   or one LoadBalancer address with few vs many services programmed
//!   (conn.rs).
//!
//! Elapsed times are wall clock; `cpu_seconds` (this thread plus the
//! tools it ran) shows how much of it was work on a loaded machine.

pub mod conn;
mod sync;
mod topo;

use std::time::{Duration, Instant};

use anyhow::Result;
use serde_json::{json, Value};

use labyrinth_contracts::modes::Datapath as Mode;
use labyrinth_proxy::datapath::{factory, Datapath};

pub use crate::common::model::synthetic_model;
pub use conn::{connections, Via};
pub use sync::sync_benchmarks;

pub const DATAPATHS: [&str; 2] = ["iptables", "nftables"];

fn datapath(name: &str) -> Box<dyn Datapath> {
    let mode = if name == "iptables" {
        Mode::Iptables
    } else {
        Mode::Nftables
    };
    factory::build(mode).expect("the proxy builds its own datapaths")
}

fn secs(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e6).round() / 1e6
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// CPU seconds (user, system) used so far by this thread and by the
/// finished children of this process.
fn cpu() -> (f64, f64) {
    let get = |who| {
        // SAFETY: getrusage fills the zeroed struct we pass.
        let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
        unsafe { libc::getrusage(who, &mut ru) };
        let t = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
        (t(ru.ru_utime), t(ru.ru_stime))
    };
    let (tu, ts) = get(libc::RUSAGE_THREAD);
    let (cu, cs) = get(libc::RUSAGE_CHILDREN);
    (tu + cu, ts + cs)
}

/// Wall time and (user, system) CPU seconds of `f`.
fn measure<T>(f: impl FnOnce() -> Result<T>) -> Result<(T, Duration, f64, f64)> {
    let (u0, s0) = cpu();
    let start = Instant::now();
    let v = f()?;
    let took = start.elapsed();
    let (u1, s1) = cpu();
    Ok((v, took, round(u1 - u0), round(s1 - s0)))
}

fn round(x: f64) -> f64 {
    (x * 1e3).round() / 1e3
}

/// What to run.
#[derive(Clone, Debug)]
pub struct Plan {
    pub sizes: Vec<usize>,
    pub endpoints: usize,
    /// The size at which one service is changed (must be among `sizes`).
    pub change_at: usize,
    /// Partial-sync rounds per change kind.
    pub change_rounds: usize,
    /// A datapath whose full sync at one size took longer skips the larger.
    pub budget: Duration,
    /// Connections per round, and the service counts compared.
    pub connections: usize,
    pub conn_sizes: (usize, usize),
    /// iptables' "many" through a NodePort or LoadBalancer address, if
    /// smaller than `conn_sizes.1` (an override; none by default).
    pub iptables_conn_many: Option<usize>,
}

impl Default for Plan {
    fn default() -> Self {
        Plan {
            sizes: vec![1_000, 10_000, 30_000],
            endpoints: 5,
            change_at: 10_000,
            change_rounds: 5,
            budget: Duration::from_secs(60),
            connections: 5_000,
            conn_sizes: (10, 10_000),
            iptables_conn_many: None,
        }
    }
}

/// Everything, as one JSON document.
pub fn bench(plan: &Plan) -> Result<Value> {
    let started = Instant::now();
    // PROXY_BENCH_ONLY=nodeport: the NodePort and LoadBalancer-address
    // connection benchmarks alone.
    if std::env::var("PROXY_BENCH_ONLY").as_deref() == Ok("nodeport") {
        return Ok(json!({
            "benchmark": "labyrinth-proxy",
            "machine": machine(),
            "node_port_connections": connections(plan, Via::NodePort)?,
            "load_balancer_connections": connections(plan, Via::LoadBalancer)?,
            "total_seconds": secs(started.elapsed()),
        }));
    }
    let sync = sync_benchmarks(plan)?;
    let conns = connections(plan, Via::ClusterIp)?;
    let node_ports = connections(plan, Via::NodePort)?;
    let load_balancers = connections(plan, Via::LoadBalancer)?;
    Ok(json!({
        "benchmark": "labyrinth-proxy",
        "machine": machine(),
        "sync": sync,
        "connections": conns,
        "node_port_connections": node_ports,
        "load_balancer_connections": load_balancers,
        "total_seconds": secs(started.elapsed()),
    }))
}

/// Load and cores, so numbers from a shared machine can be read fairly.
pub fn machine() -> Value {
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    json!({
        "cpus": std::thread::available_parallelism().map_or(0, |n| n.get()),
        "loadavg": load.split_whitespace().take(3).collect::<Vec<_>>().join(" "),
        "kernel": std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default().trim(),
    })
}
