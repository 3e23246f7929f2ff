//! Benchmark (not a timed test): CNI ADD+DEL latency and 50 concurrent ADDs,
//! labyrinth-cni against the reference ptp + host-local in the same run,
//! reported as JSON with ratios (goal: ours ≤ 0.5× the reference).
//!
//! Run: `cargo test -p labyrinth-cni --release --test bench -- --ignored --nocapture`
//! Both plugins are exec'd exactly as a runtime does (env + stdin), entering
//! the node namespace with setns() before exec so nsenter is not timed.

mod common;

use std::time::Instant;

use common::*;
use serde_json::{json, Value};

const ROUNDS: usize = 40;
const WARMUP: usize = 3;
const CONCURRENT: usize = 50;

fn stats(mut ms: Vec<f64>) -> Value {
    ms.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let pct = |p: f64| ms[((ms.len() as f64 - 1.0) * p).round() as usize];
    let mean = ms.iter().sum::<f64>() / ms.len() as f64;
    json!({ "n": ms.len(), "mean_ms": round(mean), "p50_ms": round(pct(0.5)), "p90_ms": round(pct(0.9)),
            "min_ms": round(ms[0]) })
}

fn round(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

struct Rig {
    plugin: PluginUnderTest,
    node: Holder,
    node_ns: std::fs::File,
    net: Net,
    pod: Holder,
}

impl Rig {
    fn new(plugin: PluginUnderTest, tag: &str, subnet: &str) -> Rig {
        let node = Holder::node();
        let net = Net::new(tag, subnet);
        plugin.prepare_node(&node, &net);
        let node_ns = std::fs::File::open(node.netns()).unwrap();
        Rig {
            plugin,
            node,
            node_ns,
            net,
            pod: Holder::pod(),
        }
    }

    /// One ADD then DEL; returns (add ms, del ms).
    fn add_del(&self, i: usize) -> (f64, f64) {
        let conf = self.plugin.config("1.0.0", &self.net);
        let id = format!("bench{i}");
        let t = Instant::now();
        let res = self.plugin.call_setns(
            &self.node_ns,
            &Call::new("ADD", &id, Some(&self.pod.netns()), "eth0"),
            &conf.to_string(),
        );
        let add = t.elapsed().as_secs_f64() * 1e3;
        let res = res.ok("bench ADD").clone();
        let with = with_prev(&conf, &res).to_string();
        let t = Instant::now();
        let del = self.plugin.call_setns(
            &self.node_ns,
            &Call::new("DEL", &id, Some(&self.pod.netns()), "eth0"),
            &with,
        );
        let del_ms = t.elapsed().as_secs_f64() * 1e3;
        del.ok("bench DEL");
        (add, del_ms)
    }

    /// Wall time of CONCURRENT parallel ADDs into fresh pods (then DEL all).
    fn concurrent(&self) -> f64 {
        let pods: Vec<Holder> = (0..CONCURRENT).map(|_| Holder::pod()).collect();
        let conf = self.plugin.config("1.0.0", &self.net).to_string();
        let t = Instant::now();
        std::thread::scope(|s| {
            for (i, pod) in pods.iter().enumerate() {
                let conf = &conf;
                s.spawn(move || {
                    let call = Call::new("ADD", &format!("par{i}"), Some(&pod.netns()), "eth0");
                    self.plugin
                        .call_setns(&self.node_ns, &call, conf)
                        .ok("concurrent ADD");
                });
            }
        });
        let wall = t.elapsed().as_secs_f64() * 1e3;
        assert_eq!(
            self.net.reservations().len(),
            CONCURRENT,
            "every ADD holds a distinct address"
        );
        std::thread::scope(|s| {
            for (i, pod) in pods.iter().enumerate() {
                let conf = &conf;
                s.spawn(move || {
                    let call = Call::new("DEL", &format!("par{i}"), Some(&pod.netns()), "eth0");
                    self.plugin
                        .call_setns(&self.node_ns, &call, conf)
                        .ok("concurrent DEL");
                });
            }
        });
        assert!(self.net.reservations().is_empty());
        assert_eq!(self.node.link_names(), vec!["lo"]);
        wall
    }
}

#[test]
#[ignore = "benchmark; run with --ignored --nocapture"]
fn bench_add_del_ours_vs_reference() {
    if skip_unless_root("bench_add_del_ours_vs_reference") {
        return;
    }
    let ours = Rig::new(PluginUnderTest::ours(), "bo", "10.80.0.0/24");
    let reference = Rig::new(PluginUnderTest::reference(), "br", "10.81.0.0/24");
    for i in 0..WARMUP {
        ours.add_del(i);
        reference.add_del(i);
    }
    // Interleaved so machine noise hits both alike.
    let (mut o_add, mut o_del, mut o_sum, mut r_add, mut r_del, mut r_sum) = Default::default();
    let push = |v: &mut Vec<f64>, x| v.push(x);
    for i in 0..ROUNDS {
        let (a, d) = ours.add_del(1000 + i);
        push(&mut o_add, a);
        push(&mut o_del, d);
        push(&mut o_sum, a + d);
        let (a, d) = reference.add_del(1000 + i);
        push(&mut r_add, a);
        push(&mut r_del, d);
        push(&mut r_sum, a + d);
    }
    let o_conc = ours.concurrent();
    let r_conc = reference.concurrent();
    let p50 = |v: &Value| v["p50_ms"].as_f64().unwrap();
    let mean = |v: &Value| v["mean_ms"].as_f64().unwrap();
    let (os, rs) = (stats(o_sum), stats(r_sum));
    let report = json!({
        "benchmark": "cni_add_del_latency",
        "rounds": ROUNDS,
        "labyrinth_cni": { "add": stats(o_add), "del": stats(o_del), "add_plus_del": os.clone() },
        "reference_ptp_host_local": { "add": stats(r_add), "del": stats(r_del), "add_plus_del": rs.clone() },
        "ratio_add_plus_del_p50": round(p50(&os) / p50(&rs)),
        "ratio_add_plus_del_mean": round(mean(&os) / mean(&rs)),
        "goal_ratio_max": 0.5,
        "concurrent_adds": {
            "n": CONCURRENT,
            "labyrinth_cni_wall_ms": round(o_conc),
            "reference_wall_ms": round(r_conc),
            "ratio": round(o_conc / r_conc),
        },
    });
    println!("{}", serde_json::to_string_pretty(&report).unwrap());
}
