//! Scheduler throughput over a large cluster, indexed vs naive.
//! Run: `cargo test -p labyrinth-controllers --release -- --ignored --nocapture bench_scheduler`

use std::collections::BTreeMap;
use std::time::Instant;

use k8s_openapi::api::core::v1::Taint;

use super::naive::NaiveCluster;
use super::{Cluster, NodeInfo, PodRequirements, TolerationKey};

/// `nodes` nodes (node-0 tainted control-plane, the rest spread over 4
/// zones, every 50th cordoned) and `pods` pods of four kinds (no selector,
/// zone selector, tolerating control-plane, impossible selector).
pub fn workload(nodes: usize, pods: usize) -> (Vec<NodeInfo>, Vec<PodRequirements>) {
    let ns = (0..nodes)
        .map(|i| {
            let mut labels = BTreeMap::new();
            labels.insert("zone".to_string(), format!("z{}", i % 4));
            NodeInfo {
                name: format!("node-{i}"),
                labels,
                unschedulable: i % 50 == 49,
                taints: if i == 0 {
                    vec![Taint {
                        key: "node-role.kubernetes.io/control-plane".into(),
                        effect: "NoSchedule".into(),
                        ..Default::default()
                    }]
                } else {
                    vec![]
                },
            }
        })
        .collect();
    let ps = (0..pods)
        .map(|i| {
            let mut r = PodRequirements::default();
            match i % 10 {
                0..=5 => {}
                6..=8 => {
                    r.node_selector.insert("zone".into(), format!("z{}", i % 4));
                }
                _ if i % 100 == 99 => {
                    r.node_selector.insert("zone".into(), "nowhere".into());
                }
                _ => r.tolerations.push(TolerationKey {
                    key: "node-role.kubernetes.io/control-plane".into(),
                    operator: "Exists".into(),
                    effect: "NoSchedule".into(),
                    ..Default::default()
                }),
            }
            r
        })
        .collect();
    (ns, ps)
}

/// Runs both schedulers over the same workload, checks they decide alike,
/// and returns decisions per second for each and their ratio.
pub fn bench(nodes: usize, pods: usize) -> serde_json::Value {
    let (ns, ps) = workload(nodes, pods);

    let t = Instant::now();
    let mut fast = Cluster::new(ns.clone());
    let fast_out: Vec<_> = ps.iter().map(|p| fast.schedule(p)).collect();
    let fast_s = t.elapsed().as_secs_f64();

    let t = Instant::now();
    let mut naive = NaiveCluster::new(ns);
    let naive_out: Vec<_> = ps.iter().map(|p| naive.schedule(p)).collect();
    let naive_s = t.elapsed().as_secs_f64();

    assert_eq!(fast_out, naive_out, "indexed and naive schedulers disagree");
    let placed = fast_out.iter().filter(|r| r.is_ok()).count();
    let fast_rate = pods as f64 / fast_s;
    let naive_rate = pods as f64 / naive_s;
    serde_json::json!({
        "bench": "scheduler_decisions",
        "nodes": nodes,
        "pods": pods,
        "placed": placed,
        "unschedulable": pods - placed,
        "indexed_decisions_per_s": fast_rate.round(),
        "naive_decisions_per_s": naive_rate.round(),
        "speedup_vs_naive": (fast_rate / naive_rate * 100.0).round() / 100.0,
    })
}
