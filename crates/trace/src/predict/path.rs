//! The path a packet would take, walked through the kernel's own decisions
//! without sending it: `ip route get` in the pod and in each node, the
//! Service rules programmed in the source node, the tunnel device's
//! settings, and who listens at the destination.

use std::net::Ipv4Addr;

use anyhow::Result;
use labyrinth_contracts::modes::PodDelivery;
use labyrinth_contracts::node::{UPLINK_DEV, VXLAN_DEV};
use labyrinth_netlink::netns::NetNs;
use labyrinth_netlink::Handle;
use serde::Serialize;

use super::ebpf::Maps;
use super::policy::Judgement;
use super::policy_nodes::NodePolicy;
use crate::explain::service::{in_node, iptables, nftables};
use crate::explain::sockets;
use crate::topology::{Lab, Pod};
use labyrinth_policy::Direction;

/// One predicted step: where (node, namespace, device) and what happens.
#[derive(Debug, Clone, Serialize)]
pub struct Step {
    pub node: String,
    /// `host`, or the pod `namespace/name`.
    pub netns: String,
    pub device: Option<String>,
    pub kind: &'static str,
    pub text: String,
}

pub(super) fn step(node: &str, netns: &str, device: Option<&str>, kind: &'static str, text: String) -> Step {
    Step {
        node: node.into(),
        netns: netns.into(),
        device: device.map(String::from),
        kind,
        text,
    }
}

/// `(device, description)` of the route to `dst` in a namespace.
pub(super) fn route(ns_path: &std::path::Path, label: &str, dst: Ipv4Addr) -> Result<(String, String)> {
    let ns = NetNs::open(ns_path, label)?;
    let mut h = Handle::in_netns(&ns)?;
    let d = match h.route_get(dst) {
        Ok(d) => d,
        Err(e) => return Ok((String::new(), format!("no route to {dst} ({e})"))),
    };
    if d.local {
        return Ok(("lo".into(), format!("{dst} is local")));
    }
    let links = h.links()?;
    let dev = d
        .oif
        .and_then(|i| links.iter().find(|l| l.index == i))
        .map(|l| l.name.clone())
        .unwrap_or_default();
    let mut s = format!("route {dst}");
    if let Some(gw) = d.gateway {
        s.push_str(&format!(" via {gw}"));
    }
    s.push_str(&format!(" dev {dev}"));
    Ok((dev, s))
}

/// The Service rules' choice for `vip:port`: `Ok(None)` when no rule names
/// it (not a ClusterIP), `Ok(Some((text, backends)))` otherwise.
fn service(
    lab: &str,
    node: &str,
    proto: &str,
    vip: Ipv4Addr,
    port: u16,
) -> Result<Option<(String, Vec<String>)>> {
    if let Ok(save) = in_node(lab, node, &["iptables-save", "-t", "nat"]) {
        if let Some((chain, eps)) = iptables::endpoints(&save, proto, vip, port) {
            let list: Vec<String> = eps
                .iter()
                .map(|(sep, be, p)| format!("{be} via {sep} (chance {:.0}%)", p * 100.0))
                .collect();
            let text = format!(
                "iptables KUBE-SERVICES → {chain} → DNAT to one of: {}",
                list.join(", ")
            );
            return Ok(Some((text, eps.into_iter().map(|(_, b, _)| b).collect())));
        }
    }
    // kube-proxy rejects Services without endpoints in the filter table.
    if let Ok(filter) = in_node(lab, node, &["iptables-save", "-t", "filter"]) {
        if let Some(rule) = iptables::rejected(&filter, proto, vip, port) {
            return Ok(Some((format!("iptables filter `{rule}`"), vec![])));
        }
    }
    if let Ok(ruleset) = in_node(lab, node, &["nft", "list", "table", "ip", "labyrinth"]) {
        if let Some((element, eps)) = nftables::endpoints(&ruleset, proto, vip, port) {
            let text = format!(
                "nftables map service-ips element `{element}` → DNAT by numgen to one of: {}",
                eps.join(", ")
            );
            return Ok(Some((text, eps)));
        }
        let key = format!("{vip} . {proto} . {port}");
        if ruleset.contains(&key) {
            return Ok(Some(("nftables no-endpoint-services element".into(), vec![])));
        }
    }
    Ok(None)
}

/// VNI and UDP port of a node's VXLAN device (`ip -d -j link show`).
fn vxlan(lab: &str, node: &str, dev: &str) -> (u64, u64) {
    let json = in_node(lab, node, &["ip", "-d", "-j", "link", "show", dev]).unwrap_or_default();
    let v: serde_json::Value = serde_json::from_str(&json).unwrap_or_default();
    let data = &v[0]["linkinfo"]["info_data"];
    (
        data["id"].as_u64().unwrap_or(0),
        data["port"].as_u64().unwrap_or(0),
    )
}

/// Walk `src` → `dst:port`.
pub fn walk(lab: &Lab, src: &Pod, dst: Ipv4Addr, port: u16, proto: &str) -> Result<Vec<Step>> {
    let mut steps = Vec::new();
    let node = src.node.as_str();
    let (_, r) = route(&src.netns_path, &src.label(), dst)?;
    steps.push(step(node, &src.label(), Some("eth0"), "route", r));
    let veth = src.host_veth.clone().unwrap_or_else(|| "?".into());
    steps.push(step(
        node,
        "host",
        Some(&veth),
        "veth",
        format!("into {node} from {}", src.label()),
    ));

    let mut target = dst.to_string();
    let mut target_port = port;
    let bpf = Maps::read(&lab.name, node);
    if lab.pod_by_ip(dst).is_none() {
        let svc = match &bpf {
            Some(m) => m.service(proto, dst, port),
            None => service(&lab.name, node, proto, dst, port)?,
        };
        match svc {
            Some((text, backends)) if backends.is_empty() => {
                steps.push(step(
                    node,
                    "host",
                    None,
                    "drop",
                    format!("{dst}:{port} is a Service without endpoints ({text}): rejected here (TCP RST / ICMP port unreachable)"),
                ));
                return Ok(steps);
            }
            Some((text, backends)) => {
                steps.push(step(node, "host", None, "service", text));
                let (ip, p) = backends[0].split_once(':').unwrap_or((&backends[0], ""));
                target = ip.to_string();
                target_port = p.parse().unwrap_or(port);
            }
            None => {}
        }
    }
    let Ok(backend) = target.parse::<Ipv4Addr>() else {
        anyhow::bail!("backend {target}: not an IPv4 address");
    };
    let dst_pod = lab.pod_by_ip(backend);
    let dst_node = dst_pod.map(|p| p.node.as_str()).unwrap_or(node);
    let flow = PolicyFlow {
        lab,
        src,
        dst: backend,
        dst_label: dst_pod.map_or(backend.to_string(), |p| format!("{} ({backend})", p.label())),
        proto,
        port: target_port,
    };
    if policy_step(&mut steps, &flow, Direction::Egress, src) {
        return Ok(steps);
    }
    let forwarded = match &bpf {
        Some(m) => ebpf_forward(&mut steps, lab, m, "from-container", node, dst_node, backend)?,
        None => false,
    };
    if !forwarded {
        kernel_forward(&mut steps, lab, node, dst_node, backend)?;
    }
    if let Some(p) = dst_pod {
        if policy_step(&mut steps, &flow, Direction::Ingress, p) {
            return Ok(steps);
        }
    }
    delivery(&mut steps, dst_pod, dst_node, backend, target_port, proto);
    Ok(steps)
}

/// Who listens at the backend, as the last step.
pub(super) fn delivery(
    steps: &mut Vec<Step>,
    dst_pod: Option<&Pod>,
    dst_node: &str,
    backend: Ipv4Addr,
    target_port: u16,
    proto: &str,
) {
    match dst_pod {
        Some(p) => {
            let listener = sockets::listeners(&p.netns_path)
                .into_iter()
                .find(|l| l.port == target_port && l.udp == (proto == "udp"));
            let text = match listener {
                Some(l) => format!(
                    "delivered to {}:{target_port}: socket {}:{} held by pid {} ({})",
                    backend, l.addr, l.port, l.node_pid, l.cmdline
                ),
                None if proto == "tcp" => {
                    format!("nothing listens on {target_port}: the pod answers with a TCP RST")
                }
                None => format!("nothing listens on {target_port}: ICMP port unreachable"),
            };
            steps.push(step(dst_node, &p.label(), Some("eth0"), "delivery", text));
        }
        None => steps.push(step(
            dst_node,
            "host",
            None,
            "delivery",
            format!("{backend} is not a pod of this lab"),
        )),
    }
}

/// The node's own routing: `ip route get` in each node, the tunnel device.
pub(super) fn kernel_forward(
    steps: &mut Vec<Step>,
    lab: &Lab,
    node: &str,
    dst_node: &str,
    backend: Ipv4Addr,
) -> Result<()> {
    let host = lab.node(node)?;
    let (dev, r) = route(&host.netns_path(), node, backend)?;
    steps.push(step(node, "host", Some(&dev), "route", r));
    if dst_node != node {
        let far = lab.node(dst_node)?;
        if dev.contains("vxlan") {
            let (vni, udp) = vxlan(&lab.name, node, &dev);
            let hop = Crossing {
                node,
                dst_node,
                src: host.address,
                dst: far.address,
            };
            hop.push(steps, &vni.to_string(), udp, &dev, String::new());
        } else {
            steps.push(step(
                dst_node,
                "host",
                Some(UPLINK_DEV),
                "underlay",
                format!("from {node}, not encapsulated"),
            ));
        }
        let (dev2, r2) = route(&far.netns_path(), dst_node, backend)?;
        steps.push(step(dst_node, "host", Some(&dev2), "route", r2));
    }
    Ok(())
}

/// The eBPF programs' forwarding (see predict/ebpf.rs); false when they
/// hand the packet to the node's stack (not a pod they know).
pub(super) fn ebpf_forward(
    steps: &mut Vec<Step>,
    lab: &Lab,
    m: &Maps,
    program: &str,
    node: &str,
    dst_node: &str,
    backend: Ipv4Addr,
) -> Result<bool> {
    // The lab starts every node's agent with the same delivery, so this
    // node's config speaks for the far node too.
    let peer = m.delivery() == PodDelivery::PeerRedirect;
    let into_pod = |how: &str| {
        if peer {
            format!(
                "{how}: endpoints map {backend} → redirected into the pod's eth0 (bpf_redirect_peer), \
                 past its host veth"
            )
        } else {
            format!(
                "{how}: endpoints map {backend} → redirected out of the pod's host veth \
                 (bpf_redirect to its egress) into its eth0"
            )
        }
    };
    // Delivered out of the host veth: that device is on the path.
    let host_veth = |steps: &mut Vec<Step>| {
        let pod = lab.pod_by_ip(backend);
        if let (false, Some(p), Some(v)) = (peer, pod, pod.and_then(|p| p.host_veth.as_deref())) {
            steps.push(step(
                &p.node,
                "host",
                Some(v),
                "veth",
                format!("out of {v} into {}", p.label()),
            ));
        }
    };
    if m.is_local_endpoint(backend) {
        steps.push(step(node, "host", None, "redirect", into_pod(program)));
        host_veth(steps);
        return Ok(true);
    }
    let Some((cidr, far_ip)) = m.tunnel_endpoint(backend) else {
        return Ok(false);
    };
    let (host, far) = (lab.node(node)?, lab.node(dst_node)?);
    if m.native_routing() {
        let (dev, r) = route(&host.netns_path(), node, backend)?;
        let text = format!("{program}: ipcache {cidr} → node {far_ip}; FIB lookup: {r}");
        steps.push(step(node, "host", Some(&dev), "redirect", text));
        let from = format!("from {node}, not encapsulated; {}", into_pod("from-network"));
        steps.push(step(dst_node, "host", Some(UPLINK_DEV), "underlay", from));
        host_veth(steps);
        return Ok(true);
    }
    let dev = VXLAN_DEV;
    let (_, udp) = vxlan(&lab.name, node, dev);
    let vni = m.vni();
    let text =
        format!("{program}: ipcache {cidr} → node {far_ip}: tunnel key VNI {vni}, redirected to {dev}");
    steps.push(step(node, "host", Some(dev), "redirect", text));
    let hop = Crossing {
        node,
        dst_node,
        src: host.address,
        dst: far.address,
    };
    hop.push(steps, &vni, udp, dev, format!("; {}", into_pod("from-overlay")));
    host_veth(steps);
    Ok(true)
}

/// A packet crossing from one node to another through the tunnel.
struct Crossing<'a> {
    node: &'a str,
    dst_node: &'a str,
    src: Ipv4Addr,
    dst: Ipv4Addr,
}

impl Crossing<'_> {
    /// Encapsulation out of ens4, the underlay, decapsulation on `dev`
    /// (then `after`).
    fn push(&self, steps: &mut Vec<Step>, vni: &str, udp: u64, dev: &str, after: String) {
        let (node, far) = (self.node, self.dst_node);
        let encap = format!(
            "VXLAN VNI {vni}: outer {} → {} UDP {udp} ({far})",
            self.src, self.dst
        );
        steps.push(step(node, "host", Some(UPLINK_DEV), "encap", encap));
        steps.push(step(
            far,
            "host",
            Some(UPLINK_DEV),
            "underlay",
            format!("from {node}"),
        ));
        let decap = format!("VNI {vni} decapsulated{after}");
        steps.push(step(far, "host", Some(dev), "decap", decap));
    }
}

/// A new connection, as the policy chains see it.
struct PolicyFlow<'a> {
    lab: &'a Lab,
    src: &'a Pod,
    dst: Ipv4Addr,
    dst_label: String,
    proto: &'a str,
    port: u16,
}

/// The judgement of the policy state `node` holds, whichever datapath
/// wrote it (policy_nodes), with the name of the rules that judged.
pub(super) fn node_judgement(
    lab: &Lab,
    node: &str,
    dir: Direction,
    me: Ipv4Addr,
    peer: Ipv4Addr,
    proto: &str,
    port: u16,
) -> Option<(Judgement, &'static str)> {
    let protocol = labyrinth_policy::Protocol::parse(&proto.to_uppercase())?;
    // The eBPF maps hold no names: the API's objects, compiled as the agent does.
    let cluster = || crate::policy_cmd::cluster(&lab.name).ok();
    NodePolicy::read(&lab.name, node).judge(cluster, node, dir, (me, peer), protocol, port)
}

/// The judgement of `pod`'s node's policy chains in `dir` (egress: the
/// source pod, where the packet leaves it; ingress: the destination pod,
/// where it is delivered), as a step; true if the packet is dropped there.
fn policy_step(steps: &mut Vec<Step>, f: &PolicyFlow, dir: Direction, pod: &Pod) -> bool {
    let Some(src_ip) = f.src.ip else { return false };
    let (me, peer) = match dir {
        Direction::Ingress => (f.dst, src_ip),
        Direction::Egress => (src_ip, f.dst),
    };
    let Some((j, rules)) = node_judgement(f.lab, &pod.node, dir, me, peer, f.proto, f.port) else {
        return false;
    };
    let (verb, word, other) = match dir {
        Direction::Ingress => ("entering", "from", format!("{} ({src_ip})", f.src.label())),
        Direction::Egress => ("leaving", "to", f.dst_label.clone()),
    };
    let proto = f.proto.to_uppercase();
    let (text, dropped) = match j {
        Judgement::Allowed { chain, by } => (
            format!("allowed {verb} {} on {} by {by} ({rules} {chain})", pod.label(), pod.node),
            false,
        ),
        Judgement::Dropped { chain, isolated_by, .. } => (
            format!(
                "dropped {verb} {} on {} ({rules} {chain}): no policy selecting it allows {proto} {} {word} {other}; \
                 it is isolated for {} by {}",
                pod.label(),
                pod.node,
                f.port,
                dir.as_str(),
                isolated_by.join(", ")
            ),
            true,
        ),
    };
    let kind = if dropped { "drop" } else { "policy" };
    steps.push(step(&pod.node, "host", pod.host_veth.as_deref(), kind, text));
    dropped
}
