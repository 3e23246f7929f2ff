//! Our own nf_tables netlink batches against the `nft` tool: the same
//! plan loaded both ways, in two scratch namespaces, must list back
//! identically with `nft list table` (nft decodes what the kernel holds,
//! so this checks every expression we encode), after full and partial
//! syncs alike; and a bad batch is refused whole, naming the culprit.
mod common;

use std::net::Ipv4Addr;

use common::model::synthetic_model;
use common::Netns;
use labyrinth_proxy::nftables::{netlink, plan, Loader};
use labyrinth_proxy::{Datapath, Endpoint, NftablesDatapath, ServiceModel};

fn listing(ns: &Netns) -> String {
    ns.sh("nft list table ip labyrinth")
}

/// A synthetic model plus the awkward cases: a service without
/// endpoints, UDP, a non-byte-aligned cluster CIDR, a shared endpoint,
/// session affinity.
fn model(cidr: &str) -> ServiceModel {
    let mut m = synthetic_model(40, 3);
    m.cluster_cidr = Some(cidr.parse().unwrap());
    let mut names = m.services.keys().cloned();
    let (a, b, c) = (
        names.next().unwrap(),
        names.next().unwrap(),
        names.next().unwrap(),
    );
    m.services.get_mut(&a).unwrap().endpoints.clear();
    let shared = m.services[&b].endpoints[0].clone();
    m.services.get_mut(&c).unwrap().endpoints.push(shared);
    // sessionAffinity ClientIP: per-endpoint dynamic sets and chains.
    m.services.get_mut(&c).unwrap().affinity_seconds = Some(600);
    let udp = labyrinth_proxy::ServicePortName::new(
        "kube-system",
        "kube-dns",
        "dns",
        labyrinth_proxy::Protocol::Udp,
    );
    m.insert(labyrinth_proxy::ServicePort::new(
        udp,
        Ipv4Addr::new(10, 96, 0, 10),
        53,
        vec![Endpoint::new(Ipv4Addr::new(10, 0, 1, 11), 53)],
    ));
    m
}

fn changed(m: &ServiceModel) -> ServiceModel {
    let mut m2 = m.clone();
    let mut it = m2.services.values_mut();
    it.next().unwrap().endpoints = vec![Endpoint::new(Ipv4Addr::new(10, 7, 0, 1), 80)];
    it.next().unwrap().endpoints.clear();
    let third = it.next().unwrap();
    third.endpoints.remove(0);
    let gone = m2.services.keys().nth(5).unwrap().clone();
    m2.services.remove(&gone);
    m2
}

/// `nft list table` from the calling thread's namespace.
fn list_here(json: bool) -> String {
    let args: &[&str] = if json {
        &["-j", "list", "table", "ip", "labyrinth"]
    } else {
        &["list", "table", "ip", "labyrinth"]
    };
    let out = std::process::Command::new("nft")
        .args(args)
        .output()
        .expect("nft");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// Full sync of m1 then a partial sync to m2 through netlink, against a
/// full load of m2 by the nft tool.
/// chain → its rules, set → its sorted elements, from `nft -j list`.
fn contents(json: &str) -> std::collections::BTreeMap<String, String> {
    let v: serde_json::Value = serde_json::from_str(json).expect("nft -j output");
    let mut out = std::collections::BTreeMap::new();
    for obj in v["nftables"].as_array().unwrap() {
        if let Some(r) = obj.get("rule") {
            let e = out
                .entry(format!("chain {}", r["chain"]))
                .or_insert_with(String::new);
            e.push_str(&r["expr"].to_string());
            e.push('\n');
        } else if let Some(c) = obj.get("chain") {
            out.entry(format!("chain {}", c["name"])).or_default();
        } else if let Some(m) = obj.get("map").or_else(|| obj.get("set")) {
            let mut elems: Vec<String> = m["elem"]
                .as_array()
                .map(|a| a.iter().map(|e| e.to_string()).collect())
                .unwrap_or_default();
            elems.sort();
            out.insert(format!("set {}", m["name"]), elems.join("\n"));
        }
    }
    out
}

fn same_both_ways(cidr: &str) {
    let tool = Netns::new("nft-tool");
    let ours = Netns::new("nft-netlink");
    let m1 = model(cidr);
    let m2 = changed(&m1);
    let (a, b) = (m1.clone(), m2.clone());
    let (ours_full, ours_partial) = ours.run(move || {
        let mut dp = NftablesDatapath::new();
        dp.full_sync(&a).expect("full sync");
        let full = list_here(false);
        dp.partial_sync(&b, &b.changed_since(&a)).expect("partial sync");
        assert_eq!(dp.check_drift().unwrap(), None, "drifted after a partial sync");
        (full, list_here(true))
    });
    let tool_full = tool.run(move || {
        let mut dp = NftablesDatapath::with_loader(Loader::NftTool);
        dp.full_sync(&m1).expect("nft -f of m1");
        let full = list_here(false);
        dp.full_sync(&m2).expect("nft -f of m2");
        full
    });
    assert_eq!(ours_full, tool_full, "full sync listings differ");
    // Listing order follows creation order, so compare contents.
    let want = contents(&tool.sh("nft -j list table ip labyrinth"));
    let have = contents(&ours_partial);
    for (k, v) in &want {
        assert_eq!(have.get(k), Some(v), "after the partial sync, {k} differs");
    }
    assert_eq!(have.len(), want.len(), "{:?}", have.keys().collect::<Vec<_>>());
    assert!(
        tool_full.contains("numgen random mod 3 map @service-endpoints"),
        "{tool_full}"
    );
    assert!(
        tool_full.contains("10.96.0.10 . udp . 53 : goto service-"),
        "{tool_full}"
    );
    // The affinity objects were in both listings.
    for part in [
        "flags dynamic,timeout",
        "update @affinity-",
        "ip saddr @affinity-",
        "numgen random mod",
    ] {
        assert!(tool_full.contains(part), "{part} not in {tool_full}");
    }
}

#[test]
fn netlink_and_nft_tool_list_back_identically() {
    require_root!("netlink_and_nft_tool_list_back_identically");
    same_both_ways("10.0.0.0/8");
}

#[test]
fn netlink_encodes_unaligned_cluster_cidrs_like_nft() {
    require_root!("netlink_encodes_unaligned_cluster_cidrs_like_nft");
    same_both_ways("10.0.0.0/14");
}

#[test]
fn a_rejected_batch_changes_nothing_and_names_the_message() {
    require_root!("a_rejected_batch_changes_nothing_and_names_the_message");
    let ns = Netns::new("nft-reject");
    let m = model("10.0.0.0/8");
    ns.run(move || NftablesDatapath::new().full_sync(&m).expect("full sync"));
    let listed = listing(&ns);
    let err = ns.run(|| {
        // Flushing a chain that does not exist fails in the kernel, after
        // the table reset that would have emptied everything.
        let ops = [plan::Op::ResetTable, plan::Op::FlushChain("no-such-chain".into())];
        format!("{:#}", netlink::apply(&ops).unwrap_err())
    });
    assert!(err.contains("flush chain ip labyrinth no-such-chain"), "{err}");
    assert!(err.contains("No such file or directory"), "{err}");
    assert_eq!(listing(&ns), listed, "a failed batch changed the table");
}
