//! The node's network as the agent made it, taken apart: NetworkPolicy
//! rules (iptables chains or the nftables table), the Service datapath
//! (kube-proxy's chains, our nftables table, or the eBPF programs, maps
//! and pins), our routes (peer routes, LoadBalancer addresses), and the
//! devices (gateway pair, VXLAN device, pods' veths left behind).

use std::path::Path;

use anyhow::{Context, Result};
use labyrinth_contracts::iptables_save::Save;
use labyrinth_contracts::modes::Datapath;
use labyrinth_contracts::node::{
    HOST_DEV, NET_DEV, POD_VETH_PREFIX, RETIRED_VETH_PREFIX, ROUTE_PROTO, VXLAN_DEV,
};
use labyrinth_netlink::Handle;
use labyrinth_proxy::exec;

use super::report::Report;

pub(super) fn remove_all(r: &mut Report, underlay_dev: &str) {
    r.step("network policy", policy());
    r.step("service datapath", services());
    r.step("iptables tables", empty_iptables_tables());
    r.step("eBPF datapath", ebpf(underlay_dev));
    r.step("routes", routes());
    r.step("devices", devices());
}

/// The tables of `family` nft lists.
fn nft_tables() -> Result<Vec<String>> {
    let out = exec::run("nft", &["list", "tables", "ip"], None)?;
    Ok(exec::stdout(&out).lines().map(|l| l.trim().to_string()).collect())
}

fn has_nft_table(name: &str) -> Result<bool> {
    Ok(nft_tables()?.iter().any(|l| *l == format!("table ip {name}")))
}

/// The policy rules of either rendering.
fn policy() -> Result<Vec<String>> {
    use labyrinth_policy::names::{CHAIN_PREFIX, NFT_TABLE};
    let mut done = Vec::new();
    let filter = exec::stdout(&exec::run("iptables-save", &["-t", "filter"], None)?);
    let ours = Save::parse(&filter)?
        .table("filter")
        .is_some_and(|t| t.chains.iter().any(|c| c.name.starts_with(CHAIN_PREFIX)));
    if ours {
        labyrinth_proxy::netpol::PolicyIptables::remove()?;
        done.push(format!(
            "iptables filter chains {CHAIN_PREFIX}* and the jump to them"
        ));
    }
    if has_nft_table(NFT_TABLE)? {
        labyrinth_proxy::netpol::PolicyNftables::remove()?;
        done.push(format!("nftables table ip {NFT_TABLE}"));
    }
    Ok(done)
}

/// kube-proxy's iptables chains or our nftables table, whichever is there
/// (the proxy's own cleanup, as for a datapath switch).
fn services() -> Result<Vec<String>> {
    let mut done = Vec::new();
    let save = exec::stdout(&exec::run("iptables-save", &[], None)?);
    let kube = Save::parse(&save)?;
    let chains = ["nat", "filter"]
        .iter()
        .filter_map(|t| kube.table(t))
        .flat_map(|t| t.chains.iter())
        .filter(|c| c.name.starts_with("KUBE-"))
        .count();
    if chains > 0 {
        labyrinth_proxy::datapath::factory::build(Datapath::Iptables)?.cleanup()?;
        done.push(format!("{chains} iptables KUBE-* chains and the jumps to them"));
    }
    let table = labyrinth_proxy::nftables::rules::TABLE;
    if has_nft_table(table)? {
        labyrinth_proxy::datapath::factory::build(Datapath::Nftables)?.cleanup()?;
        done.push(format!("nftables table ip {table}"));
    }
    Ok(done)
}

/// The tables iptables (its nftables backend) makes on first use, kept
/// by the rules' removal: dropped once nothing is in them but empty
/// built-in chains that accept, which is what a node without them does.
/// A table with any rule, set, or chain of someone's stays.
fn empty_iptables_tables() -> Result<Vec<String>> {
    let mut done = Vec::new();
    for table in ["nat", "filter"] {
        let Ok(out) = exec::run("nft", &["-j", "list", "table", "ip", table], None) else {
            // Not there (or iptables keeps its tables elsewhere).
            continue;
        };
        let listing: serde_json::Value = serde_json::from_slice(&out.stdout)
            .with_context(|| format!("reading `nft -j list table ip {table}`"))?;
        if only_empty_base_chains(&listing) {
            exec::run("nft", &["delete", "table", "ip", table], None)?;
            done.push(format!("empty table ip {table}"));
        }
    }
    Ok(done)
}

/// `nft -j` output holding a table and chains only, every chain a base
/// chain (on a hook) whose policy is accept.
fn only_empty_base_chains(listing: &serde_json::Value) -> bool {
    let Some(items) = listing["nftables"].as_array() else {
        return false;
    };
    items.iter().all(|item| {
        let Some(obj) = item.as_object() else {
            return false;
        };
        match obj.keys().next().map(String::as_str) {
            Some("metainfo" | "table") => true,
            Some("chain") => {
                let c = &obj["chain"];
                c.get("hook").is_some() && c["policy"] == "accept"
            }
            _ => false,
        }
    })
}

/// The programs off the devices they are attached to (pods' veths, the
/// tunnel, lby_net, the underlay), then the pins: the maps go with the
/// last reference.
fn ebpf(underlay_dev: &str) -> Result<Vec<String>> {
    let pins = Path::new(labyrinth_ebpf::DEFAULT_PIN_DIR);
    let devices = [VXLAN_DEV, NET_DEV, underlay_dev];
    let removed = labyrinth_ebpf::leftovers::remove(pins, &devices)?;
    Ok(if removed {
        vec![format!(
            "the programs on {} and the pods' veths, and the pins under {}",
            devices.join(", "),
            pins.display()
        )]
    } else {
        Vec::new()
    })
}

/// Our routes by their protocol: the peer routes (every table) and the
/// LoadBalancer addresses a node answers for (table local).
fn routes() -> Result<Vec<String>> {
    let mut done = Vec::new();
    for (proto, what) in [
        (ROUTE_PROTO.to_string(), "route"),
        (
            labyrinth_proxy::announce::ROUTE_PROTO.to_string(),
            "LoadBalancer address",
        ),
    ] {
        let args = ["-4", "route", "show", "table", "all", "proto", proto.as_str()];
        let listed = exec::stdout(&exec::run("ip", &args, None)?);
        for route in listed.lines().filter(|l| !l.trim().is_empty()) {
            let mut del = vec!["-4", "route", "del"];
            // `ip route show` prints what `ip route del` takes back.
            let words: Vec<&str> = route.split_whitespace().collect();
            del.extend(&words);
            if !words.contains(&"table") {
                del.extend(["table", "main"]);
            }
            exec::run("ip", &del, None).with_context(|| format!("deleting the {what} {route}"))?;
            done.push(format!("{what} {}", route.trim()));
        }
    }
    Ok(done)
}

/// Is `name` a device of ours (the gateway pair goes with its host end)?
fn ours(name: &str) -> bool {
    name == HOST_DEV
        || name == VXLAN_DEV
        || name.starts_with(POD_VETH_PREFIX)
        || name.starts_with(RETIRED_VETH_PREFIX)
}

fn devices() -> Result<Vec<String>> {
    let mut h = Handle::current("node")?;
    let mut done = Vec::new();
    let mut errors = Vec::new();
    for link in h.links()?.into_iter().filter(|l| ours(&l.name)) {
        match h.del_link_by_name(&link.name) {
            Ok(true) if link.name == HOST_DEV => done.push(format!("{HOST_DEV} and its peer {NET_DEV}")),
            Ok(true) => done.push(link.name),
            // The peer of one removed before it.
            Ok(false) => {}
            Err(e) => errors.push(format!("{}: {e:#}", link.name)),
        }
    }
    if !errors.is_empty() {
        anyhow::bail!("removed {done:?}, but not {}", errors.join("; "));
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drops_only_tables_of_empty_accepting_base_chains() {
        let chain = |name: &str, hook: Option<&str>, policy: &str| {
            let mut c = serde_json::json!({"family": "ip", "table": "nat", "name": name, "policy": policy});
            if let Some(h) = hook {
                c["hook"] = serde_json::json!(h);
            }
            serde_json::json!({"chain": c})
        };
        let listing = |items: Vec<serde_json::Value>| {
            let mut all = vec![
                serde_json::json!({"metainfo": {"version": "1.0.6"}}),
                serde_json::json!({"table": {"family": "ip", "name": "nat"}}),
            ];
            all.extend(items);
            serde_json::json!({ "nftables": all })
        };
        let empty = listing(vec![
            chain("PREROUTING", Some("prerouting"), "accept"),
            chain("POSTROUTING", Some("postrouting"), "accept"),
        ]);
        assert!(only_empty_base_chains(&empty));
        let rule = serde_json::json!({"rule": {"chain": "PREROUTING", "expr": []}});
        for kept in [
            listing(vec![chain("PREROUTING", Some("prerouting"), "accept"), rule]),
            listing(vec![chain("MINE", None, "accept")]),
            listing(vec![chain("INPUT", Some("input"), "drop")]),
            serde_json::json!({}),
        ] {
            assert!(!only_empty_base_chains(&kept), "{kept}");
        }
    }

    #[test]
    fn only_our_devices() {
        for name in [HOST_DEV, VXLAN_DEV, "lxc0123456789ab", "lxd17"] {
            assert!(ours(name), "{name}");
        }
        for name in ["lo", "eth0", "ens4", "docker0", "vxlan0"] {
            assert!(!ours(name), "{name}");
        }
    }
}
