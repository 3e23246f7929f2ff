//! A node whose agent now runs another --datapath than before keeps
//! nothing of the old one: two datapaths translating the same ClusterIP
//! would each have half of the flows. kube-proxy likewise removes the
//! other modes' rules when it starts. Cheap when there is nothing to do
//! (one iptables-save, one nft listing, one directory check).

use anyhow::Result;
use ipnet::Ipv4Net;
use labyrinth_contracts::modes::Datapath;
use labyrinth_proxy::datapath::factory;

use crate::agent::{args::ProxyMode, context::Agent};

pub fn remove_other_datapaths(agent: &Agent, pod_cidr: Ipv4Net) -> Result<()> {
    let mode = agent.args.datapath;
    // `none`: some other proxy may own the node's Service rules.
    if mode == ProxyMode::None {
        return Ok(());
    }
    let mut failures = Vec::new();
    let mut note = |what: &str, r: Result<()>| {
        if let Err(e) = r {
            failures.push(format!("{what}: {e:#}"));
        }
    };
    if mode != ProxyMode::Iptables && has_iptables_rules() {
        tracing::info!("removing kube-proxy iptables rules an earlier run left");
        note(
            "iptables",
            factory::build(Datapath::Iptables).and_then(|mut d| d.cleanup()),
        );
    }
    if mode != ProxyMode::Nftables && has_nftables_table() {
        tracing::info!("removing the nftables table an earlier run left");
        note(
            "nftables",
            factory::build(Datapath::Nftables).and_then(|mut d| d.cleanup()),
        );
    }
    if mode != ProxyMode::Ebpf {
        note("eBPF", super::ebpf::remove_leftovers(agent, pod_cidr));
    }
    if !failures.is_empty() {
        anyhow::bail!("removing another datapath's state: {}", failures.join("; "));
    }
    Ok(())
}

fn has_iptables_rules() -> bool {
    std::process::Command::new("iptables-save")
        .args(["-t", "nat"])
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains(":KUBE-SERVICES"))
}

fn has_nftables_table() -> bool {
    std::process::Command::new("nft")
        .args(["list", "tables", "ip"])
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("table ip labyrinth"))
}
