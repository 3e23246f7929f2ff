//! Sync benchmarks, each in a scratch namespace, printed as JSON with a
//! baseline from the same run:
//! - full sync of N Services × 5 endpoints, per datapath; baseline is the
//!   iptables datapath (kube-proxy's classic mode) at the same N;
//! - one Service changed at N: partial sync vs the naive full rewrite of
//!   everything (kube-proxy's old behaviour on every change).

use std::net::Ipv4Addr;
use std::time::Duration;

use anyhow::Result;
use serde_json::{json, Value};

use crate::datapath::Datapath;
use crate::model::{Endpoint, Protocol, ServiceModel, ServicePort, ServicePortName};
use crate::scratch::ScratchNetns;
use crate::sync::Proxier;
use crate::{IptablesDatapath, NftablesDatapath};

/// `services` ClusterIP services with `endpoints` endpoints each.
pub fn synthetic_model(services: usize, endpoints: usize) -> ServiceModel {
    let mut m = ServiceModel::new(Some("10.0.0.0/8".parse().expect("cidr")));
    for i in 0..services {
        let vip = Ipv4Addr::from(u32::from(Ipv4Addr::new(10, 96, 0, 0)) + 1 + i as u32);
        let eps = (0..endpoints)
            .map(|e| {
                Endpoint::new(
                    Ipv4Addr::from(u32::from(Ipv4Addr::new(10, 1, 0, 0)) + (i * endpoints + e) as u32),
                    8080,
                )
            })
            .collect();
        let name = ServicePortName::new(
            &format!("ns-{}", i % 50),
            &format!("svc-{i}"),
            "http",
            Protocol::Tcp,
        );
        m.insert(ServicePort::new(name, vip, 80, eps));
    }
    m
}

fn datapath(name: &str) -> Box<dyn Datapath> {
    match name {
        "iptables" => Box::new(IptablesDatapath::new()),
        _ => Box::new(NftablesDatapath::new()),
    }
}

/// Replace the first endpoint of service `i` by a fresh address.
fn change_one(m: &mut ServiceModel, i: usize, round: u32) {
    let sp = m.services.values_mut().nth(i).expect("service index");
    sp.endpoints[0].ip = Ipv4Addr::new(10, 200, (round >> 8) as u8, round as u8);
    sp.endpoints.sort();
}

fn secs(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e6).round() / 1e6
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

struct Measured {
    full: Duration,
    change: Option<(Duration, Duration)>,
}

fn measure(dp: &str, n: usize, endpoints: usize, changes: u32) -> Result<Measured> {
    let ns = ScratchNetns::new()?;
    let dp = dp.to_string();
    ns.run(move || -> Result<Measured> {
        let mut model = synthetic_model(n, endpoints);
        let mut p = Proxier::new(datapath(&dp));
        p.flush_conntrack = false;
        p.set_model(model.clone(), None);
        let full = p.full_sync()?.took;
        if changes == 0 {
            return Ok(Measured { full, change: None });
        }
        let (mut partial, mut naive) = (Vec::new(), Vec::new());
        for round in 0..changes {
            change_one(&mut model, (round as usize * 7919) % n, round);
            p.set_model(model.clone(), None);
            partial.push(p.sync()?.took);
            change_one(&mut model, (round as usize * 7919 + 1) % n, round + 1000);
            p.set_model(model.clone(), None);
            naive.push(p.full_sync()?.took);
        }
        Ok(Measured {
            full,
            change: Some((median(partial), median(naive))),
        })
    })?
}

/// Run the benchmarks. `sizes` e.g. [1000, 10000, 30000]; the one-change
/// benchmark runs at `change_at` (e.g. 10000) if it is among them. A
/// datapath whose full sync took longer than `budget` skips larger sizes.
pub fn bench(sizes: &[usize], endpoints: usize, change_at: usize, budget: Duration) -> Result<Value> {
    let mut results = Vec::new();
    let mut ipt_full = std::collections::BTreeMap::new();
    for dp in ["iptables", "nftables"] {
        let mut skip = false;
        for &n in sizes {
            if skip {
                results.push(json!({"datapath": dp, "services": n, "skipped": "previous size exceeded the time budget"}));
                continue;
            }
            let changes = if n == change_at { 5 } else { 0 };
            let m = measure(dp, n, endpoints, changes)?;
            if dp == "iptables" {
                ipt_full.insert(n, m.full);
            }
            let mut r = json!({
                "datapath": dp,
                "services": n,
                "endpoints_per_service": endpoints,
                "full_sync_seconds": secs(m.full),
                "baseline": "iptables full sync at the same size",
                "baseline_seconds": ipt_full.get(&n).map(|d| secs(*d)),
                "ratio_vs_baseline": ipt_full.get(&n).map(|d| m.full.as_secs_f64() / d.as_secs_f64()),
            });
            if dp == "nftables" && n == 10_000 {
                r["goal_full_sync_10k_le_1s"] = json!(m.full <= Duration::from_secs(1));
            }
            if let Some((partial, naive)) = m.change {
                r["one_change"] = json!({
                    "partial_sync_seconds": secs(partial),
                    "baseline": "full rewrite on every change",
                    "baseline_seconds": secs(naive),
                    "ratio_vs_baseline": partial.as_secs_f64() / naive.as_secs_f64(),
                    "goal_le_20ms": partial <= Duration::from_millis(20),
                });
            }
            eprintln!("{r}");
            results.push(r);
            skip = m.full > budget;
        }
    }
    Ok(json!({"benchmark": "labyrinth-proxy sync", "results": results}))
}
