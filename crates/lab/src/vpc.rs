//! The underlay: a bridge in the VPC namespace (the cloud network) and one
//! uplink per node, named `ens4` inside the node as on a GCE VM.

use std::net::IpAddr;
use std::os::fd::AsFd;
use std::process::Command;

use anyhow::{Context, Result};
use labyrinth_netlink::netns::NetNs;
use labyrinth_netlink::{Handle, RouteSpec, VethSpec};
use nix::sched::{setns, CloneFlags};

use crate::config::{LabConfig, NodePlan};
use crate::state::{Holder, LabDir};

/// The bridge that plays the VPC network.
pub const BRIDGE: &str = "vpc0";
/// The node's uplink, as a cloud VM names its first NIC.
pub const UPLINK: &str = labyrinth_contracts::node::UPLINK_DEV;

/// A GCE-style MAC (42:01 + the IPv4 address), so captures read easily.
pub fn node_mac(plan: &NodePlan) -> [u8; 6] {
    let o = plan.address.octets();
    [0x42, 0x01, o[0], o[1], o[2], o[3]]
}

/// Name of a node's port on the VPC bridge.
pub fn port_name(plan: &NodePlan) -> String {
    format!("vpc-{}", plan.name)
}

/// The VPC's router address, the underlay's first address (10.168.0.1),
/// as a cloud network's gateway.
pub fn gateway(cfg: &LabConfig) -> std::net::Ipv4Addr {
    std::net::Ipv4Addr::from(u32::from(cfg.underlay_cidr.network()) + 1)
}

/// Run `f` on a thread that has joined the VPC's network and pid
/// namespaces: what it starts lives in the VPC and ends with the lab. Only
/// that thread moves (setns changes the calling thread alone, and for pid
/// only where its children go).
pub fn in_vpc<T: Send>(vpc: &Holder, f: impl FnOnce() -> Result<T> + Send) -> Result<T> {
    let net = std::fs::File::open(vpc.ns_path("net")).context("opening the VPC network namespace")?;
    let pid = std::fs::File::open(vpc.ns_path("pid")).context("opening the VPC pid namespace")?;
    std::thread::scope(|s| {
        s.spawn(|| -> Result<T> {
            setns(net.as_fd(), CloneFlags::CLONE_NEWNET).context("joining the VPC network namespace")?;
            setns(pid.as_fd(), CloneFlags::CLONE_NEWPID).context("joining the VPC pid namespace")?;
            f()
        })
        .join()
        .expect("a thread in the VPC panicked")
    })
}

/// `setsid -f labyrinth ARGS…` with its output appended to the lab's log
/// `log`, for [`in_vpc`] to start: its own session (the terminal that ran
/// `up` hanging up must not reach it), and its parent exits at once, so the
/// service's parent is the VPC's init, inside the lab, which reaps it when
/// the lab ends (a parent outside the lab would hold the pid namespace
/// open). Its stdin is the caller's to set.
pub fn service_command(dir: &LabDir, log: &str, args: &[&str]) -> Result<Command> {
    let out = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.log_path(log))
        .with_context(|| format!("opening the log {}", dir.log_path(log).display()))?;
    let mut cmd = Command::new("setsid");
    cmd.arg("-f")
        .arg(std::env::current_exe().context("finding our own executable")?)
        .args(args)
        .stdout(out.try_clone()?)
        .stderr(out);
    Ok(cmd)
}

/// Bring up the VPC namespace: loopback and the bridge, holding the gateway
/// address. The VPC forwards nothing: there is no internet behind it.
pub fn build_vpc(vpc: &Holder, cfg: &LabConfig) -> Result<Handle> {
    let ns = NetNs::of_pid(vpc.pid, format!("vpc of lab {}", cfg.name))?;
    let mut h = Handle::in_netns(&ns)?;
    let lo = h.index_of("lo")?;
    h.set_up(lo)?;
    h.add_bridge(BRIDGE, Some(cfg.mtu))?;
    let br = h.index_of(BRIDGE)?;
    h.add_addr(br, IpAddr::V4(gateway(cfg)), cfg.underlay_cidr.prefix_len())?;
    h.set_up(br)?;
    Ok(h)
}

/// Plug one node into the VPC: a veth whose far end is born inside the node
/// as `ens4`, addressed, default route via the VPC gateway (as a VM has;
/// the node's own sockets need one to reach ClusterIPs, which no route
/// names), with forwarding on.
pub fn plug_node(vpc: &mut Handle, node: &Holder, plan: &NodePlan, cfg: &LabConfig) -> Result<()> {
    let ns = NetNs::of_pid(node.pid, plan.name.clone())?;
    let port = port_name(plan);
    vpc.add_veth(&VethSpec {
        name: &port,
        peer: UPLINK,
        peer_netns: Some(&ns),
        mtu: Some(cfg.mtu),
    })?;
    let port_idx = vpc.index_of(&port)?;
    let br = vpc.index_of(BRIDGE)?;
    vpc.set_master(port_idx, br)?;
    vpc.set_up(port_idx)?;

    let mut h = Handle::in_netns(&ns)?;
    let lo = h.index_of("lo")?;
    h.set_up(lo)?;
    let uplink = h.index_of(UPLINK)?;
    h.set_mac(uplink, node_mac(plan))?;
    h.add_addr(uplink, IpAddr::V4(plan.address), cfg.underlay_cidr.prefix_len())?;
    h.set_up(uplink)?;
    h.add_route(&RouteSpec {
        dst: std::net::Ipv4Addr::UNSPECIFIED,
        prefix_len: 0,
        gateway: Some(gateway(cfg)),
        oif: Some(uplink),
        link_scope: false,
        onlink: false,
        src: None,
    })?;
    ns.sysctl("net.ipv4.ip_forward", "1")
        .with_context(|| format!("enabling forwarding on {}", plan.name))?;
    Ok(())
}
