//! Full and partial sync benchmarks.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::time::Duration;

use anyhow::{Context, Result};
use serde_json::{json, Value};

use super::{datapath, measure, median, secs, synthetic_model, Plan, DATAPATHS};
use crate::common::Netns;
use labyrinth_proxy::exec;
use labyrinth_proxy::iptables::{self, jumps};
use labyrinth_proxy::nftables;
use labyrinth_proxy::{Endpoint, Proxier, ServiceModel};

/// Service `i` gets a fresh address for its first endpoint (same count).
fn replace_one(m: &mut ServiceModel, i: usize, round: u32) {
    let sp = m.services.values_mut().nth(i).expect("service index");
    sp.endpoints[0].ip = Ipv4Addr::new(10, 200, (round >> 8) as u8, round as u8);
    sp.endpoints.sort();
}

/// Service `i` gets one more endpoint (its count changes).
fn add_one(m: &mut ServiceModel, i: usize, round: u32) {
    let sp = m.services.values_mut().nth(i).expect("service index");
    sp.endpoints.push(Endpoint::new(
        Ipv4Addr::new(10, 201, (round >> 8) as u8, round as u8),
        8080,
    ));
    sp.endpoints.sort();
}

/// The raw tool loading `model`'s rules in a fresh namespace: what our
/// sync would cost if it were nothing but the tool.
fn raw_tool(dp: &str, model: &ServiceModel) -> Result<Value> {
    let (tool, args, input): (&str, &[&str], String) = match dp {
        "iptables" => (
            "iptables-restore",
            &["-w", "--noflush"],
            jumps::splice(
                &iptables::compile::render_full(&iptables::compile(model), None),
                jumps::JUMPS,
            ),
        ),
        _ => (
            "nft",
            &["-f", "-"],
            nftables::render_full(&nftables::compile(model)),
        ),
    };
    let ns = Netns::unshared("bench-raw-tool", &[]);
    let ((), took, user, sys) = ns.run(move || {
        measure(|| {
            exec::run(tool, args, Some(input.as_bytes()))?;
            Ok(())
        })
    })?;
    Ok(json!({
        "what": format!("`{tool} {}` of the same rules in a fresh namespace", args.join(" ")),
        "seconds": secs(took),
        "user_seconds": user,
        "sys_seconds": sys,
    }))
}

/// One datapath at one size: full sync, then (at `plan.change_at`) the
/// one-service changes. Runs in its own scratch namespace.
fn one_size(dp: &'static str, n: usize, plan: &Plan) -> Result<(Duration, Value)> {
    let ns = Netns::unshared(&format!("bench-{dp}-{n}"), &[]);
    let plan = plan.clone();
    ns.run(move || -> Result<(Duration, Value)> {
        let mut model = synthetic_model(n, plan.endpoints);
        let mut p = Proxier::new(datapath(dp));
        p.flush_conntrack = false;
        p.set_model(model.clone(), None);
        let (_, full, user, sys) = measure(|| p.full_sync())?;
        let mut r = json!({
            "datapath": dp,
            "services": n,
            "endpoints_per_service": plan.endpoints,
            "full_sync_seconds": secs(full),
            "full_sync_cpu": {"user_seconds": user, "sys_seconds": sys},
        });
        if n != plan.change_at {
            return Ok((full, r));
        }
        let mut change = |kind: fn(&mut ServiceModel, usize, u32), base: u32| -> Result<Duration> {
            let mut took = Vec::new();
            for round in 0..plan.change_rounds as u32 {
                kind(
                    &mut model,
                    (round as usize * 7919 + base as usize) % n,
                    base + round,
                );
                p.set_model(model.clone(), None);
                took.push(p.sync()?.took);
            }
            Ok(median(took))
        };
        let replaced = change(replace_one, 0)?;
        let added = change(add_one, 100)?;
        replace_one(&mut model, n / 2, 999);
        p.set_model(model.clone(), None);
        let rewrite = p.full_sync()?.took;
        let goal = Duration::from_millis(20);
        r["one_change"] = json!({
            "rounds": plan.change_rounds,
            "endpoint_replaced_seconds": secs(replaced),
            "endpoint_added_seconds": secs(added),
            "baseline": "full rewrite of everything after the same kind of change",
            "baseline_seconds": secs(rewrite),
            "ratio_replaced_vs_baseline": replaced.as_secs_f64() / rewrite.as_secs_f64(),
            "ratio_added_vs_baseline": added.as_secs_f64() / rewrite.as_secs_f64(),
            "goal_le_20ms": {"endpoint_replaced": replaced <= goal, "endpoint_added": added <= goal},
        });
        Ok((full, r))
    })
}

/// Every datapath at every size, bounded by `plan.budget`.
pub fn sync_benchmarks(plan: &Plan) -> Result<Value> {
    let mut results = Vec::new();
    let mut ipt_full: BTreeMap<usize, Duration> = BTreeMap::new();
    for dp in DATAPATHS {
        let mut over: Option<(usize, Duration)> = None;
        for &n in &plan.sizes {
            if let Some((at, took)) = over {
                results.push(json!({
                    "datapath": dp,
                    "services": n,
                    "skipped": format!(
                        "the full sync at {at} services took {:.1} s, over the {} s budget",
                        took.as_secs_f64(),
                        plan.budget.as_secs()
                    ),
                }));
                continue;
            }
            let (full, mut r) = one_size(dp, n, plan).with_context(|| format!("{dp} at {n} services"))?;
            let base = raw_tool(dp, &synthetic_model(n, plan.endpoints))?;
            r["ratio_vs_baseline"] = json!(full.as_secs_f64() / base["seconds"].as_f64().unwrap_or(f64::NAN));
            r["baseline"] = base;
            if dp == "iptables" {
                ipt_full.insert(n, full);
            } else {
                if let Some(ipt) = ipt_full.get(&n) {
                    r["vs_iptables"] = json!({
                        "iptables_full_sync_seconds": secs(*ipt),
                        "ratio": full.as_secs_f64() / ipt.as_secs_f64(),
                    });
                }
                if n == 10_000 {
                    r["goal_full_sync_10k_le_1s"] = json!(full <= Duration::from_secs(1));
                }
            }
            eprintln!("{r}");
            results.push(r);
            if full > plan.budget {
                over = Some((n, full));
            }
        }
    }
    Ok(json!(results))
}
