//! The incremental policy loads against the whole ones, in the kernel: a
//! fixed-seed random sequence of compiles (pods isolated and released,
//! allows added and removed, addresses moved, isolating policies changed)
//! is loaded change by change into one scratch namespace and whole into
//! another; after every step both must read back the same, so what the
//! incremental path leaves in the kernel is exactly what a full render
//! gives. nftables: `nft -j list table` (handles dropped, elements and
//! objects in a fixed order); iptables: `iptables-save -t filter`
//! (counters dropped, chains in a fixed order). Root only.
mod common;

use common::Netns;
use labyrinth_policy::names::NFT_TABLE;
use labyrinth_policy::{Allow, Compiled, Direction, PodRules, PolicyRef, Protocol};
use labyrinth_proxy::netpol::{Load, PolicyIptables, PolicyNftables};
use labyrinth_testkit::rng::Rng;
use serde_json::Value;

const NETS: [&str; 6] = [
    "10.0.1.3/32",
    "10.0.1.0/24",
    "10.0.0.0/16",
    "10.0.2.9/32",
    "192.168.0.0/30",
    "10.0.1.128/25",
];

fn random_allow(r: &mut Rng) -> Allow {
    let protocol = [
        None,
        Some(Protocol::Tcp),
        Some(Protocol::Udp),
        Some(Protocol::Sctp),
    ][r.below(4)];
    let ports = protocol.and_then(|_| {
        let lo = [53u16, 80, 81, 8080][r.below(4)];
        [None, Some((lo, lo)), Some((lo, lo + 9))][r.below(3)]
    });
    let nets = (r.below(4) != 0).then(|| {
        (0..1 + r.below(2))
            .map(|_| NETS[r.below(NETS.len())].parse().unwrap())
            .collect()
    });
    Allow {
        policy: PolicyRef {
            namespace: "ns".into(),
            name: format!("p{}", r.below(3)),
        },
        rule: r.below(2),
        peer: Some(r.below(2)),
        nets,
        protocol,
        ports,
    }
}

/// Pods 0–4 in either direction, each present or not, with 0–4 allows.
fn random_compile(r: &mut Rng) -> Compiled {
    let mut pods = Vec::new();
    for i in 0..5 {
        for direction in [Direction::Ingress, Direction::Egress] {
            if r.below(3) == 0 {
                continue;
            }
            pods.push(PodRules {
                namespace: "ns".into(),
                name: format!("pod-{i}"),
                // Sometimes a pod comes back at another address.
                ip: format!("10.0.9.{}", 10 + i + 10 * r.below(2)).parse().unwrap(),
                direction,
                isolated_by: (0..1 + r.below(2))
                    .map(|k| PolicyRef {
                        namespace: "ns".into(),
                        name: format!("iso-{k}"),
                    })
                    .collect(),
                allows: (0..r.below(5)).map(|_| random_allow(r)).collect(),
            });
        }
    }
    Compiled { pods }
}

/// Drop every "handle" (they count loads, not content).
fn strip_handles(v: &mut Value) {
    match v {
        Value::Object(m) => {
            m.remove("handle");
            m.values_mut().for_each(strip_handles);
        }
        Value::Array(a) => a.iter_mut().for_each(strip_handles),
        _ => {}
    }
}

/// The table as `nft -j` lists it, comparable across namespaces: no
/// handles, no metainfo, set elements sorted, objects sorted by kind and
/// chain or name (a stable sort: each chain's rules keep their order).
fn table(ns: &Netns) -> Vec<Value> {
    let text = ns.sh(&format!("nft -j list table ip {NFT_TABLE}"));
    let mut v: Value = serde_json::from_str(&text).unwrap();
    strip_handles(&mut v);
    let mut objs: Vec<Value> = v["nftables"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o.get("metainfo").is_none())
        .cloned()
        .collect();
    for o in &mut objs {
        for kind in ["set", "map"] {
            if let Some(Value::Array(els)) = o.get_mut(kind).and_then(|s| s.get_mut("elem")) {
                els.sort_by_key(|e| e.to_string());
            }
        }
    }
    let key = |o: &Value| {
        let (kind, body) = o.as_object().unwrap().iter().next().unwrap();
        let at = body
            .get("chain")
            .or_else(|| body.get("name"))
            .map(ToString::to_string);
        (kind.clone(), at.unwrap_or_default())
    };
    objs.sort_by_key(key);
    objs
}

/// iptables-save's filter table, comparable across namespaces: no
/// counters or comments, chains declared in sorted order, rules sorted by
/// chain (a stable sort: each chain's rules keep their order).
fn filter_table(ns: &Netns) -> Vec<String> {
    let text = ns.sh("iptables-save -t filter");
    let mut decls: Vec<String> = Vec::new();
    let mut rules: Vec<String> = Vec::new();
    for l in text.lines().filter(|l| !l.starts_with('#')) {
        if l.starts_with(':') {
            decls.push(l.split_whitespace().take(2).collect::<Vec<_>>().join(" "));
        } else {
            rules.push(l.to_string());
        }
    }
    decls.sort();
    rules.sort_by_key(|r| r.split_whitespace().nth(1).unwrap_or_default().to_string());
    decls.into_iter().chain(rules).collect()
}

/// A stream of 40 compiles: mostly small edits of the previous one, as a
/// stream of writes makes, now and then a fresh one.
fn steps() -> Vec<Compiled> {
    let mut rng = Rng(0x5eed_1820_2612);
    let mut out: Vec<Compiled> = Vec::new();
    for step in 0..40 {
        let mut c = out.last().cloned().unwrap_or_default();
        if step % 10 == 9 || c.pods.is_empty() {
            c = random_compile(&mut rng);
        } else {
            let i = rng.below(c.pods.len());
            match rng.below(3) {
                0 => c.pods[i].allows.push(random_allow(&mut rng)),
                1 if !c.pods[i].allows.is_empty() => {
                    let k = rng.below(c.pods[i].allows.len());
                    c.pods[i].allows.remove(k);
                }
                _ => c.pods[i].isolated_by.truncate(1),
            }
        }
        out.push(c);
    }
    out
}

/// The two renderings, as the test drives them.
trait Programmer: Default + Send {
    fn sync(&mut self, c: &Compiled, full: bool) -> anyhow::Result<Load>;
    fn last_input(&self) -> &str;
}

impl Programmer for PolicyNftables {
    fn sync(&mut self, c: &Compiled, full: bool) -> anyhow::Result<Load> {
        PolicyNftables::sync(self, c, full)
    }
    fn last_input(&self) -> &str {
        &self.last_input
    }
}

impl Programmer for PolicyIptables {
    fn sync(&mut self, c: &Compiled, full: bool) -> anyhow::Result<Load> {
        PolicyIptables::sync(self, c, full)
    }
    fn last_input(&self) -> &str {
        &self.last_input
    }
}

/// Every step synced incrementally in one namespace and whole (a fresh
/// programmer) in the other; `list` must read both back the same.
fn equivalence<P: Programmer, L: PartialEq + std::fmt::Debug>(list: impl Fn(&Netns) -> L) {
    let (inc_ns, full_ns) = (Netns::new("inc"), Netns::new("full"));
    let mut inc = P::default();
    let mut loads = Vec::new();
    for (step, c) in steps().iter().enumerate() {
        let load = inc_ns.run(|| inc.sync(c, false)).unwrap();
        full_ns.run(|| P::default().sync(c, true)).unwrap();
        assert_eq!(
            list(&inc_ns),
            list(&full_ns),
            "step {step} ({load:?}): the incremental state differs from the whole one; the change was\n{}",
            inc.last_input()
        );
        loads.push(load);
    }
    assert_eq!(loads[0], Load::Full, "the first sync loads everything");
    let incremental = loads.iter().filter(|l| **l == Load::Incremental).count();
    assert!(
        incremental >= 20,
        "only {incremental} of 40 steps were incremental: {loads:?}"
    );
}

#[test]
fn nftables_incremental_loads_equal_full_ones() {
    require_root!("nftables_incremental_loads_equal_full_ones");
    equivalence::<PolicyNftables, _>(table);
}

#[test]
fn iptables_partial_restores_equal_full_ones() {
    require_root!("iptables_partial_restores_equal_full_ones");
    equivalence::<PolicyIptables, _>(filter_table);
}
