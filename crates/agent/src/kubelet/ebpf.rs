//! The eBPF datapath in the agent (`--datapath ebpf`): opened once in the
//! node's namespace after the node network is built, shared between the
//! Proxier (Services → maps), the pod loop (a program on every pod's host
//! veth) and the peer sync (the ipcache: other nodes' pod CIDRs → their
//! underlay addresses). All calls block (bpf syscalls, netlink), so callers
//! run them on blocking threads.

use std::net::Ipv4Addr;

use anyhow::{Context, Result};
use ipnet::Ipv4Net;
use labyrinth_ebpf::{
    AttachMode, Config, EbpfDatapath, PodEndpoint, SharedDatapath, TraceLevel, DEFAULT_PIN_DIR,
};
use serde_json::Value;

use crate::agent::context::Agent;
use crate::nodenet::{gateway_of, Peer, Routing, HOST_DEV, NET_DEV, VXLAN_DEV};
use crate::runtime::sandbox::SandboxRecord;

/// Load the programs, open (or take over) the pinned maps and attach the
/// tunnel device's programs. Needs the node network in place.
pub fn open(agent: &Agent, pod_cidr: Ipv4Net) -> Result<SharedDatapath> {
    let a = &agent.args;
    let tunnel = a.routing == Routing::Tunnel;
    let cfg = Config {
        tunnel_dev: tunnel.then(|| VXLAN_DEV.into()),
        native_dev: (!tunnel).then(|| a.underlay_dev.clone()),
        vni: a.vni,
        routing: if tunnel {
            labyrinth_ebpf::Routing::Tunnel
        } else {
            labyrinth_ebpf::Routing::Native
        },
        node_ip: a.node_ip,
        hairpin_ip: gateway_of(pod_cidr),
        // clsact rather than tcx: `bpftool net show` (Debian's 7.1) lists
        // only clsact filters, and that is how an operator checks a node.
        attach: AttachMode::Clsact,
        trace: TraceLevel::Flows,
    };
    let mut dp = EbpfDatapath::open(DEFAULT_PIN_DIR, cfg)
        .with_context(|| format!("opening the eBPF datapath under {DEFAULT_PIN_DIR}"))?;
    route_services_through_host(&mut dp, pod_cidr, a.service_cidr)?;
    Ok(SharedDatapath::new(dp))
}

/// The node's own connections to ClusterIPs (its resolver asking the
/// cluster DNS, health checks) meet no program on a pod veth: the Service
/// range is routed out lby_host (ARP off, so frames need no neighbour) and
/// the pod program on its peer lby_net translates them. Replies come back
/// through the programs that reverse the translation (a local backend's
/// veth, or the tunnel's ingress). A backend outside the pod network (the
/// API server on a node address) is left to the stack on lby_net: it
/// takes the frame as its own only with lby_host's MAC (ARP off addresses
/// frames to the sender's own MAC, so both ends share it), and forwards
/// a packet from one of the node's addresses only with accept_local.
fn route_services_through_host(
    dp: &mut EbpfDatapath,
    pod_cidr: Ipv4Net,
    service_cidr: Ipv4Net,
) -> Result<()> {
    let mut h = labyrinth_netlink::Handle::current("node")?;
    let host_link = h
        .link_by_name(HOST_DEV)?
        .with_context(|| format!("no {HOST_DEV}"))?;
    let host = host_link.index;
    h.set_arp(host, false)?;
    let net = h
        .link_by_name(NET_DEV)?
        .with_context(|| format!("no {NET_DEV}"))?;
    if let Some(mac) = host_link.mac.filter(|m| net.mac.as_ref() != Some(m)) {
        h.set_mac(net.index, mac)?;
    }
    labyrinth_netlink::netns::NetNs::open("/proc/self/ns/net", "node")?
        .sysctl(&format!("net.ipv4.conf.{NET_DEV}.accept_local"), "1")?;
    dp.attach_host_dev(NET_DEV)
        .with_context(|| format!("the Service program on {NET_DEV}"))?;
    h.add_route(&service_route(service_cidr, host, pod_cidr))
        .with_context(|| format!("routing the Service range {service_cidr} through {HOST_DEV}"))
}

fn service_route(service_cidr: Ipv4Net, host: u32, pod_cidr: Ipv4Net) -> labyrinth_netlink::RouteSpec {
    labyrinth_netlink::RouteSpec {
        dst: service_cidr.network(),
        prefix_len: service_cidr.prefix_len(),
        gateway: None,
        oif: Some(host),
        link_scope: true,
        onlink: false,
        src: Some(gateway_of(pod_cidr)),
    }
}

/// The node ran the eBPF datapath before and runs another one now: its
/// programs, pins and the Service route through lby_host would keep
/// translating behind the new datapath's back, so they go first.
pub fn remove_leftovers(agent: &Agent, pod_cidr: Ipv4Net) -> Result<()> {
    let a = &agent.args;
    let devices = [VXLAN_DEV, NET_DEV, a.underlay_dev.as_str()];
    if !labyrinth_ebpf::leftovers::remove(std::path::Path::new(DEFAULT_PIN_DIR), &devices)? {
        return Ok(());
    }
    let mut h = labyrinth_netlink::Handle::current("node")?;
    if let Some(host) = h.link_by_name(HOST_DEV)? {
        h.del_route(&service_route(a.service_cidr, host.index, pod_cidr))?;
        h.set_arp(host.index, true)?;
    }
    labyrinth_netlink::netns::NetNs::open("/proc/self/ns/net", "node")?
        .sysctl(&format!("net.ipv4.conf.{NET_DEV}.accept_local"), "0")?;
    tracing::info!("removed the eBPF datapath an earlier run left on this node");
    Ok(())
}

/// How often idle flows are expired from the programs' conntrack: often
/// enough that a closed connection's entries (10 s lifetime) do not pile
/// up, rarely enough that the walk costs nothing noticeable.
const CT_GC_EVERY: std::time::Duration = std::time::Duration::from_secs(15);

/// The programs only stamp flows; this expires them (the LRU is the
/// backstop). A failed walk is logged and retried at the next tick.
pub async fn collect_conntrack_forever(dp: SharedDatapath) {
    loop {
        tokio::time::sleep(CT_GC_EVERY).await;
        let d = dp.clone();
        match tokio::task::spawn_blocking(move || d.lock().gc_conntrack()).await {
            Ok(Ok(s)) if s.entries_deleted > 0 => {
                tracing::debug!(
                    flows = s.flows,
                    deleted = s.entries_deleted,
                    "conntrack collected"
                )
            }
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::warn!("conntrack collection: {e:#}"),
            Err(e) => tracing::warn!("conntrack collection task: {e}"),
        }
    }
}

/// The pod's endpoint as the CNI result describes it: the host-side
/// interface (no `sandbox`) and the MAC of the one inside the pod.
pub fn endpoint_of(rec: &SandboxRecord) -> Result<PodEndpoint> {
    let ip = rec.ip.context("the sandbox has no IPv4 address")?;
    let result = rec.cni_result.as_ref().context("the sandbox has no CNI result")?;
    let result: Value = serde_json::from_str(result.get()).context("reading the recorded CNI result")?;
    endpoint_from_result(ip, &result)
}

fn endpoint_from_result(ip: Ipv4Addr, result: &Value) -> Result<PodEndpoint> {
    let ifaces = result["interfaces"]
        .as_array()
        .context("CNI result without interfaces")?;
    let host = ifaces
        .iter()
        .find(|i| i["sandbox"].as_str().is_none_or(str::is_empty))
        .and_then(|i| i["name"].as_str())
        .context("CNI result without a host-side interface")?;
    let mac = ifaces
        .iter()
        .find(|i| i["sandbox"].as_str().is_some_and(|s| !s.is_empty()))
        .and_then(|i| i["mac"].as_str())
        .context("CNI result without the pod interface's MAC")?;
    Ok(PodEndpoint {
        ip,
        host_ifname: host.to_string(),
        pod_mac: parse_mac(mac)?,
    })
}

fn parse_mac(text: &str) -> Result<[u8; 6]> {
    let parts: Vec<&str> = text.split(':').collect();
    let mut mac = [0u8; 6];
    if parts.len() != 6 {
        anyhow::bail!("MAC {text:?}: expected six hex bytes");
    }
    for (b, p) in mac.iter_mut().zip(parts) {
        *b = u8::from_str_radix(p, 16).with_context(|| format!("MAC {text:?}: byte {p:?}"))?;
    }
    Ok(mac)
}

/// After CNI ADD (or for an adopted pod): the program on its host veth.
pub fn attach(dp: &SharedDatapath, rec: &SandboxRecord) -> Result<()> {
    let ep = endpoint_of(rec)?;
    dp.lock().attach_endpoint(&ep).with_context(|| {
        format!(
            "attaching pod {}/{} ({})",
            rec.pod.namespace, rec.pod.name, ep.host_ifname
        )
    })
}

/// A pod a previous agent started: the datapath reattached what it had
/// pinned at open; attaching again is idempotent and catches pods it missed.
/// Failures are logged: the pod keeps running either way.
pub async fn attach_adopted(agent: &Agent, rec: &SandboxRecord) {
    let Some(dp) = agent.ebpf.get().cloned() else {
        return;
    };
    let r = rec.clone();
    match tokio::task::spawn_blocking(move || attach(&dp, &r)).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::warn!("{e:#}"),
        Err(e) => tracing::warn!("attaching an adopted pod: {e}"),
    }
}

/// Before CNI DEL: the program off its veth, the pod out of the endpoints map.
pub fn detach(dp: &SharedDatapath, rec: &SandboxRecord) -> Result<()> {
    let ep = endpoint_of(rec)?;
    dp.lock()
        .detach_endpoint(ep.ip, &ep.host_ifname)
        .with_context(|| format!("detaching pod {}/{}", rec.pod.namespace, rec.pod.name))
}

/// The ipcache made equal to the other nodes' pod CIDRs.
pub fn sync_ipcache(dp: &SharedDatapath, own_cidr: Ipv4Net, peers: &[Peer]) -> Result<()> {
    let entries: Vec<(Ipv4Net, Ipv4Addr)> = peers
        .iter()
        .filter(|p| p.pod_cidr != own_cidr)
        .map(|p| (p.pod_cidr, p.underlay_ip))
        .collect();
    dp.lock().sync_ipcache(&entries).context("syncing the ipcache")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn endpoint_from_our_cni_result() {
        let r = json!({"interfaces": [
            {"name": "lxc0123456789ab", "mac": "aa:bb:cc:00:11:22"},
            {"name": "eth0", "mac": "0a:58:0a:00:01:05", "sandbox": "/run/netns/cni-x"}
        ]});
        let ep = endpoint_from_result("10.0.1.5".parse().unwrap(), &r).unwrap();
        assert_eq!(ep.host_ifname, "lxc0123456789ab");
        assert_eq!(ep.pod_mac, [0x0a, 0x58, 0x0a, 0, 1, 5]);
    }

    #[test]
    fn bad_results_name_what_is_missing() {
        let ip = "10.0.1.5".parse().unwrap();
        let e = endpoint_from_result(ip, &json!({})).unwrap_err();
        assert!(e.to_string().contains("interfaces"), "{e}");
        let r = json!({"interfaces": [{"name": "eth0", "mac": "zz:00:00:00:00:00", "sandbox": "/x"},
                                      {"name": "lxc1"}]});
        let e = format!("{:#}", endpoint_from_result(ip, &r).unwrap_err());
        assert!(e.contains("zz:00"), "{e}");
    }
}
