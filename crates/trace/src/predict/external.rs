//! `labyrinth explain client NODE-IP:NODEPORT`: the path of a new
//! connection from the client host outside the cluster (the VPC gateway,
//! a laptop in the same VPC) to a NodePort, predicted from what the
//! receiving node holds: its route out of the VPC, the NodePort rule
//! (iptables KUBE-NODEPORTS → KUBE-EXT), map element (nftables
//! `service-ips` → `external-…` chain) or map row (eBPF services and
//! `lby_lb4_nodeport_v2`) with its masquerade (Cluster) or its absence
//! (Local), then the node's forwarding to the backend and who listens.
//! No NetworkPolicy step: the client is no pod the policy compiler knows.

use std::net::Ipv4Addr;
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use labyrinth_contracts::bpf::MapKind;
use labyrinth_contracts::node::UPLINK_DEV;

use super::ebpf::Maps;
use super::path::{delivery, ebpf_forward, kernel_forward, route, step, Step};
use crate::explain::service::external::ebpf_policy;
use crate::explain::service::{bpf_map, in_node, iptables_nodeport, nftables, Translation};
use crate::topology::Lab;

/// The source name `explain` takes for the client host.
pub const CLIENT: &str = "client";

/// Walk client → `dst:port`, `dst` a node's address.
pub fn walk(lab: &Lab, dst: Ipv4Addr, port: u16, proto: &'static str) -> Result<Vec<Step>> {
    let vpc = lab
        .vpc_pid
        .with_context(|| format!("lab {}: its VPC (the client host) is not running", lab.name))?;
    let Some(node) = lab.node_by_address(dst) else {
        bail!(
            "explain from the {CLIENT}: {dst} is not a node's address (a NodePort is reached on a node's \
             address; LoadBalancer addresses are not followed yet)"
        );
    };
    let node = node.name.as_str();
    let mut steps = Vec::new();
    let (_, r) = route(&PathBuf::from(format!("/proc/{vpc}/ns/net")), "vpc", dst)?;
    steps.push(step("vpc", CLIENT, None, "route", r));
    steps.push(step(
        node,
        "host",
        Some(UPLINK_DEV),
        "underlay",
        format!("into {node} from the {CLIENT} host"),
    ));
    let bpf = Maps::read(&lab.name, node);
    let found = match &bpf {
        Some(m) => m.service(proto, dst, port).map(|(text, backends)| {
            // The NodePort's own row says what the program does to the source.
            let rows = bpf_map(&lab.name, node, MapKind::Nodeport).unwrap_or_default();
            let t = Translation {
                node: node.into(),
                proto,
                vip: dst,
                vport: port,
                backend: Ipv4Addr::UNSPECIFIED,
                bport: 0,
            };
            let policy = ebpf_policy(&t, &rows).unwrap_or_else(|| "no NodePort row: not a NodePort".into());
            (format!("{text}; {policy}"), backends)
        }),
        None => rules(&lab.name, node, proto, dst, port),
    };
    let Some((text, backends)) = found else {
        steps.push(step(
            node,
            "host",
            None,
            "delivery",
            format!("no Service rule names {dst}:{port}/{proto}: the node's own sockets answer, if any"),
        ));
        return Ok(steps);
    };
    let Some(first) = backends.first() else {
        steps.push(step(
            node,
            "host",
            None,
            "drop",
            format!("{text}: no endpoint for this client here: dropped or refused"),
        ));
        return Ok(steps);
    };
    steps.push(step(node, "host", None, "service", text));
    let (ip, p) = first.split_once(':').unwrap_or((first, ""));
    let backend: Ipv4Addr = ip
        .parse()
        .with_context(|| format!("backend {first}: not an IPv4 address"))?;
    let target_port = p.parse().unwrap_or(port);
    let dst_pod = lab.pod_by_ip(backend);
    let dst_node = dst_pod.map(|p| p.node.as_str()).unwrap_or(node);
    let forwarded = match &bpf {
        Some(m) => ebpf_forward(&mut steps, lab, m, "from-network", node, dst_node, backend)?,
        None => false,
    };
    if !forwarded {
        kernel_forward(&mut steps, lab, node, dst_node, backend)?;
    }
    delivery(&mut steps, dst_pod, dst_node, backend, target_port, proto);
    Ok(steps)
}

/// The iptables or nftables rules of `node` for the NodePort.
fn rules(lab: &str, node: &str, proto: &str, dst: Ipv4Addr, port: u16) -> Option<(String, Vec<String>)> {
    if let Ok(nat) = in_node(lab, node, &["iptables-save", "-t", "nat"]) {
        let filter = in_node(lab, node, &["iptables-save", "-t", "filter"]).unwrap_or_default();
        if let Some(found) = iptables_nodeport::node_port(&nat, &filter, proto, port) {
            return Some(found);
        }
    }
    let ruleset = in_node(lab, node, &["nft", "list", "table", "ip", "labyrinth"]).ok()?;
    if let Some((element, eps)) = nftables::endpoints(&ruleset, proto, dst, port) {
        let policy = nftables::element_policy(&ruleset, &element).unwrap_or_default();
        let text = format!(
            "nftables map service-ips element `{element}` → DNAT by numgen to one of: {}; {policy}",
            eps.join(", ")
        );
        return Some((text, eps));
    }
    // Local without an endpoint here (or no endpoints at all): the
    // no-endpoint-services element sends it to drop-chain or reject.
    let key = format!("{dst} . {proto} . {port} : ");
    let line = ruleset.lines().find(|l| l.contains(&key))?;
    let element = line.split(&key).nth(1)?.split(',').next()?.trim();
    Some((
        format!("nftables map no-endpoint-services element `{key}{element}`"),
        vec![],
    ))
}
