//! The policy state a node holds, whichever datapath wrote it (iptables
//! chains, eBPF policy maps, the nftables table), read once and judged
//! for as many connections as asked: `explain` judges one, `policy check
//! --matrix --programmed` every cell of a matrix with one read per node.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use labyrinth_contracts::bpf::policy::{PolicyPodRow, PolicyRuleRow};
use labyrinth_policy::names::{NFT_TABLE, POLICY_CHAIN};
use labyrinth_policy::{Cluster, Direction, Prediction, Protocol};

use super::policy::{judge, Judgement};
use super::{policy_ebpf, policy_nft};
use crate::explain::service::in_node;

/// One node's policy state as read, parsed once.
pub struct NodePolicy {
    /// iptables-save text (its parse borrows it: parsed per judgement).
    iptables: Option<String>,
    ebpf: Option<(Vec<PolicyPodRow>, Vec<PolicyRuleRow>)>,
    nft: Option<serde_json::Value>,
}

impl NodePolicy {
    /// Reads the state of the datapath that holds policy there: iptables
    /// chains if the dispatch chain exists, else the nftables table if it
    /// exists, else the eBPF maps (an agent removes the other datapaths'
    /// state when it starts, so a node holds one).
    pub fn read(lab: &str, node: &str) -> NodePolicy {
        let none = NodePolicy {
            iptables: None,
            ebpf: None,
            nft: None,
        };
        let iptables = in_node(lab, node, &["iptables-save", "-t", "filter"])
            .ok()
            .filter(|t| t.contains(POLICY_CHAIN));
        if iptables.is_some() {
            return NodePolicy { iptables, ..none };
        }
        let nft = in_node(lab, node, &["nft", "-j", "list", "table", "ip", NFT_TABLE])
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok());
        if nft.is_some() {
            return NodePolicy { nft, ..none };
        }
        NodePolicy {
            ebpf: policy_ebpf::rows(lab, node),
            ..none
        }
    }

    /// The judgement of a new connection in direction `dir` of the pod at
    /// `me` with `peer`, with the kind of rules that judged; None when
    /// nothing isolates the pod there. The eBPF maps' verdicts are named
    /// from `cluster` (the maps hold no names).
    #[allow(clippy::too_many_arguments)]
    pub fn judge(
        &self,
        cluster: impl FnOnce() -> Option<Cluster>,
        node: &str,
        dir: Direction,
        (me, peer): (Ipv4Addr, Ipv4Addr),
        proto: Protocol,
        port: u16,
    ) -> Option<(Judgement, &'static str)> {
        if let Some(j) = self
            .iptables
            .as_deref()
            .and_then(|f| judge(f, dir, me, peer, proto.lower(), port))
        {
            return Some((j, "iptables"));
        }
        if let Some((pods, rules)) = &self.ebpf {
            let cluster = cluster()?;
            return policy_ebpf::judge(pods, rules, &cluster, node, dir, (me, peer), proto, port)
                .map(|j| (j, "eBPF map"));
        }
        policy_nft::judge(self.nft.as_ref()?, dir, me, peer, proto, port).map(|j| (j, "nftables chain"))
    }
}

fn describe(j: &Judgement, rules: &str, dir: Direction) -> String {
    match j {
        Judgement::Allowed { chain, by } => format!("{} allowed by {by} ({rules} {chain})", dir.as_str()),
        Judgement::Dropped {
            chain,
            pod,
            isolated_by,
        } => format!(
            "{} dropped ({rules} {chain}): {pod} is isolated by {}; no rule allows",
            dir.as_str(),
            isolated_by.join(", ")
        ),
    }
}

/// Every ordered pair of `pods` (namespace/name, address, node), for each
/// protocol and port, judged where the datapaths judge: the source's
/// egress on its node, then the destination's ingress on its node. Each
/// node's state is read once.
pub fn programmed_matrix(
    lab: &str,
    cluster: &Cluster,
    pods: &[(String, Ipv4Addr, String)],
    ports: &[u16],
    protocols: &[Protocol],
) -> Vec<Prediction> {
    let mut nodes: BTreeMap<&str, NodePolicy> = BTreeMap::new();
    for (_, _, node) in pods {
        nodes
            .entry(node.as_str())
            .or_insert_with(|| NodePolicy::read(lab, node));
    }
    let mut out = Vec::new();
    for &protocol in protocols {
        for &port in ports {
            for (from, src, src_node) in pods {
                for (to, dst, dst_node) in pods {
                    if src == dst {
                        out.push(Prediction {
                            from: from.clone(),
                            to: to.clone(),
                            protocol,
                            port,
                            allowed: true,
                            reason: format!(
                                "{from} reaches its own address: the packet never leaves the pod"
                            ),
                            verdict: None,
                        });
                        continue;
                    }
                    let mut reasons = Vec::new();
                    let mut allowed = true;
                    for (node, dir, me, peer) in [
                        (src_node, Direction::Egress, *src, *dst),
                        (dst_node, Direction::Ingress, *dst, *src),
                    ] {
                        let state = &nodes[node.as_str()];
                        let Some((j, rules)) =
                            state.judge(|| Some(cluster.clone()), node, dir, (me, peer), protocol, port)
                        else {
                            continue;
                        };
                        reasons.push(describe(&j, rules, dir));
                        if matches!(j, Judgement::Dropped { .. }) {
                            allowed = false;
                            break;
                        }
                    }
                    let reason = if reasons.is_empty() {
                        "neither end is isolated".to_string()
                    } else {
                        reasons.join("; ")
                    };
                    out.push(Prediction {
                        from: from.clone(),
                        to: to.clone(),
                        protocol,
                        port,
                        allowed,
                        reason,
                        verdict: None,
                    });
                }
            }
        }
    }
    out
}
