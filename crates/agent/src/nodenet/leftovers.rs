//! A node whose agent now runs another --datapath than before keeps
//! nothing of the old one: two datapaths translating the same ClusterIP
//! would each have half of the flows. kube-proxy likewise removes the
//! other modes' rules when it starts. Cheap when there is nothing to do
//! (one iptables-save, one nft listing, one directory check).

use anyhow::Result;
use labyrinth_contracts::iptables_save::Save;
use labyrinth_contracts::modes::Datapath;

use super::ebpf::{self, EbpfNode};

/// Remove what every datapath but `mode` left on the node. `None` (the
/// agent programs no Services): some other proxy may own the node's
/// Service rules, so nothing is touched.
pub fn remove_other_datapaths(mode: Option<Datapath>, node: &EbpfNode) -> Result<()> {
    let Some(mode) = mode else {
        return Ok(());
    };
    let mut failures = Vec::new();
    let mut note = |what: &str, r: Result<()>| {
        if let Err(e) = r {
            failures.push(format!("{what}: {e:#}"));
        }
    };
    for kernel in [Datapath::Iptables, Datapath::Nftables] {
        let Some(what) = left_rules(kernel).filter(|_| mode != kernel) else {
            continue;
        };
        tracing::info!("removing {what} an earlier run left");
        note(
            kernel.as_str(),
            labyrinth_proxy::datapath::factory::build(kernel).and_then(|mut dp| dp.cleanup()),
        );
    }
    if mode != Datapath::Ebpf {
        note("eBPF", ebpf::remove_leftovers(node));
    }
    if !failures.is_empty() {
        anyhow::bail!("removing another datapath's state: {}", failures.join("; "));
    }
    Ok(())
}

/// What of a kernel datapath's rules is on the node, in words; `None`
/// when there is nothing.
fn left_rules(kernel: Datapath) -> Option<&'static str> {
    match kernel {
        Datapath::Iptables => has_iptables_rules().then_some("kube-proxy iptables rules"),
        Datapath::Nftables => std::process::Command::new("nft")
            .args(["list", "tables", "ip"])
            .output()
            // A whole line: the policy table `labyrinth-policy` is not the
            // Service datapath's.
            .is_ok_and(|o| {
                String::from_utf8_lossy(&o.stdout)
                    .lines()
                    .any(|l| l.trim() == "table ip labyrinth")
            })
            .then_some("the nftables table"),
        Datapath::Ebpf => None,
    }
}

/// A dump that does not parse counts as rules (the cleanup then says why).
fn has_iptables_rules() -> bool {
    std::process::Command::new("iptables-save")
        .args(["-t", "nat"])
        .output()
        .is_ok_and(|o| {
            let text = String::from_utf8_lossy(&o.stdout);
            Save::parse(&text).map_or(true, |s| {
                s.table("nat").is_some_and(|t| t.chain("KUBE-SERVICES").is_some())
            })
        })
}
