//! The eBPF datapath in the agent (`--datapath ebpf`): opened once in the
//! node's namespace after the node network is built, shared between the
//! Proxier (Services → maps), the pod loop (a program on every pod's host
//! veth) and the peer sync (the ipcache: other nodes' pod CIDRs → their
//! underlay addresses). All calls block (bpf syscalls, netlink), so callers
//! run them on blocking threads.

use std::net::Ipv4Addr;

use anyhow::{Context, Result};
use ipnet::Ipv4Net;
use labyrinth_contracts::sandbox::SandboxRecord;
use labyrinth_ebpf::{
    AttachMode, Config, EbpfDatapath, PodDelivery, PodEndpoint, SharedDatapath, TraceLevel, DEFAULT_PIN_DIR,
};

use super::{gateway_of, Peer, Routing, HOST_DEV, NET_DEV, VXLAN_DEV};

/// What the eBPF datapath needs to know of this node (from the agent's
/// flags and the Node's pod CIDR).
#[derive(Debug, Clone)]
pub struct EbpfNode {
    pub routing: Routing,
    pub underlay_dev: String,
    pub vni: u32,
    pub node_ip: Ipv4Addr,
    pub pod_cidr: Ipv4Net,
    pub service_cidr: Ipv4Net,
    /// tcx or clsact (`auto`: tcx where the kernel has it).
    pub attach: AttachMode,
    /// Into local pods through their host veth, or by peer redirect.
    pub delivery: PodDelivery,
}

/// Load the programs, open (or take over) the pinned maps and attach the
/// tunnel device's programs. Needs the node network in place.
pub fn open(node: &EbpfNode) -> Result<SharedDatapath> {
    let tunnel = node.routing == Routing::Tunnel;
    let cfg = Config {
        tunnel_dev: tunnel.then(|| VXLAN_DEV.into()),
        native_dev: (!tunnel).then(|| node.underlay_dev.clone()),
        uplink_dev: Some(node.underlay_dev.clone()),
        vni: node.vni,
        routing: node.routing,
        node_ip: node.node_ip,
        hairpin_ip: gateway_of(node.pod_cidr),
        attach: node.attach,
        trace: TraceLevel::Flows,
        delivery: node.delivery,
    };
    let mut dp = EbpfDatapath::open(DEFAULT_PIN_DIR, cfg)
        .with_context(|| format!("opening the eBPF datapath under {DEFAULT_PIN_DIR}"))?;
    route_services_through_host(&mut dp, node.pod_cidr, node.service_cidr)?;
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
pub fn remove_leftovers(node: &EbpfNode) -> Result<()> {
    let devices = [VXLAN_DEV, NET_DEV, node.underlay_dev.as_str()];
    if !labyrinth_ebpf::leftovers::remove(std::path::Path::new(DEFAULT_PIN_DIR), &devices)? {
        return Ok(());
    }
    let mut h = labyrinth_netlink::Handle::current("node")?;
    if let Some(host) = h.link_by_name(HOST_DEV)? {
        h.del_route(&service_route(node.service_cidr, host.index, node.pod_cidr))?;
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
/// interface and the MAC of the one inside the pod.
pub fn endpoint_of(rec: &SandboxRecord) -> Result<PodEndpoint> {
    let ip = rec.ip.context("the sandbox has no IPv4 address")?;
    let result = rec
        .cni_result()
        .context("reading the recorded CNI result")?
        .context("the sandbox has no CNI result")?;
    let link = result.pod_link().context("the recorded CNI result")?;
    Ok(PodEndpoint {
        ip,
        host_ifname: link.host_ifname,
        pod_mac: link.pod_mac,
    })
}

/// After CNI ADD (or for an adopted pod): the program on its host veth.
pub fn attach(dp: &SharedDatapath, rec: &SandboxRecord) -> Result<()> {
    if rec.host_network {
        return Ok(()); // no veth of its own: the node's programs serve it
    }
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
pub async fn attach_adopted(dp: Option<SharedDatapath>, rec: &SandboxRecord) {
    let Some(dp) = dp else {
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

    fn record(result: &str) -> SandboxRecord {
        let rec = serde_json::json!({
            "pod": {"uid": "u", "namespace": "ns", "name": "p"},
            "id": "u", "netns": "cni-u", "pause": {"pid": 1, "start_time": 1},
            "ip": "10.0.1.5", "cni_network": "labyrinth", "containers": {},
        });
        let mut rec: SandboxRecord = serde_json::from_value(rec).unwrap();
        rec.cni_result = Some(serde_json::value::RawValue::from_string(result.to_string()).unwrap());
        rec
    }

    #[test]
    fn endpoint_from_our_cni_result() {
        let rec = record(
            r#"{"ips": [{"address": "10.0.1.5/32"}], "interfaces": [
                {"name": "lxc0123456789ab", "mac": "aa:bb:cc:00:11:22"},
                {"name": "eth0", "mac": "0a:58:0a:00:01:05", "sandbox": "/run/netns/cni-x"}]}"#,
        );
        let ep = endpoint_of(&rec).unwrap();
        assert_eq!(ep.host_ifname, "lxc0123456789ab");
        assert_eq!(ep.pod_mac, [0x0a, 0x58, 0x0a, 0, 1, 5]);
    }

    #[test]
    fn bad_results_name_what_is_wrong() {
        let e = format!(
            "{:#}",
            endpoint_of(&record(r#"{"ips": [{"address": "10.0.1.5/32"}]}"#)).unwrap_err()
        );
        assert!(e.contains("host-side"), "{e}");
        let rec = record(
            r#"{"ips": [{"address": "10.0.1.5/32"}], "interfaces": [
                {"name": "eth0", "mac": "zz:00:00:00:00:00", "sandbox": "/x"}, {"name": "lxc1"}]}"#,
        );
        let e = format!("{:#}", endpoint_of(&rec).unwrap_err());
        assert!(e.contains("zz:00"), "{e}");
        let mut rec = record("{}");
        rec.cni_result = None;
        let e = format!("{:#}", endpoint_of(&rec).unwrap_err());
        assert!(e.contains("no CNI result"), "{e}");
    }
}
