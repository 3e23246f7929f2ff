//! CHECK: the attachment still looks like the prevResult of its ADD: both
//! veth ends, the pod's address and routes, the host route, the reservation.

use std::net::IpAddr;

use labyrinth_contracts::cni::format_mac;
use labyrinth_netlink::{Handle, LinkKind};

use super::namespaces::{node_handle, open_netns};
use crate::config::NetConf;
use crate::ipam::Ipam;
use crate::netsetup;
use crate::spec::{code, CniError, Request};

fn mismatch(details: String) -> CniError {
    CniError::new(code::CHECK_MISMATCH, "attachment is not as ADD left it", details)
}

fn nl(what: &str, e: impl std::fmt::Display) -> CniError {
    CniError::internal(format!("CHECK: {what}"), e.to_string())
}

pub fn check(req: &Request, conf: &NetConf) -> Result<(), CniError> {
    let env = &req.env;
    let prev = req
        .prev_result
        .as_ref()
        .expect("the dispatcher requires prevResult for CHECK");
    let netns = env
        .netns
        .as_deref()
        .expect("the dispatcher requires CNI_NETNS for CHECK");
    super::namespaces::refuse_own_netns(netns)?;
    let pod_ns =
        open_netns(netns).map_err(|e| CniError::unknown_container(format!("CNI_NETNS {netns}: {e}")))?;

    let (pod_idx, pod_if) = prev
        .interfaces
        .iter()
        .enumerate()
        .find(|(_, i)| i.name == env.ifname && i.sandbox.as_deref() == Some(netns))
        .ok_or_else(|| {
            mismatch(format!(
                "prevResult lists no interface {} in sandbox {netns}",
                env.ifname
            ))
        })?;
    let host_name = netsetup::host_ifname(&env.container_id, &env.ifname);

    let mut pod = Handle::in_netns(&pod_ns).map_err(|e| nl("opening netlink in the pod", e))?;
    let link = pod
        .link_by_name(&env.ifname)
        .map_err(|e| nl("reading pod links", e))?
        .ok_or_else(|| mismatch(format!("{} is missing in {netns}", env.ifname)))?;
    if link.kind != LinkKind::Veth {
        return Err(mismatch(format!(
            "{} in the pod is {:?}, not a veth",
            env.ifname, link.kind
        )));
    }
    if let (Some(want), Some(got)) = (&pod_if.mac, link.mac.map(format_mac)) {
        if !want.eq_ignore_ascii_case(&got) {
            return Err(mismatch(format!(
                "{} has MAC {got}, prevResult says {want}",
                env.ifname
            )));
        }
    }
    if link.mtu != conf.mtu {
        return Err(mismatch(format!(
            "{} has MTU {}, config says {}",
            env.ifname, link.mtu, conf.mtu
        )));
    }
    if !link.up {
        return Err(mismatch(format!("{} is down", env.ifname)));
    }

    let addrs = pod.addrs().map_err(|e| nl("reading pod addresses", e))?;
    let mine: Vec<_> = prev
        .ips
        .iter()
        .filter(|ip| ip.interface == Some(pod_idx))
        .collect();
    if mine.is_empty() {
        return Err(mismatch(format!(
            "prevResult assigns no address to {}",
            env.ifname
        )));
    }
    let ipam = Ipam::new(conf);
    let reserved = ipam.lookup(&env.container_id, &env.ifname)?;
    for ip in &mine {
        let found = addrs.iter().any(|a| {
            a.index == link.index && a.addr == ip.address.addr() && a.prefix_len == ip.address.prefix_len()
        });
        if !found {
            return Err(mismatch(format!(
                "{} is not on {} in the pod",
                ip.address, env.ifname
            )));
        }
        if let IpAddr::V4(v4) = ip.address.addr() {
            if !reserved.contains(&v4) {
                return Err(mismatch(format!(
                    "{v4} is not reserved for {} {} in IPAM",
                    env.container_id, env.ifname
                )));
            }
        }
    }

    let routes = pod.routes().map_err(|e| nl("reading pod routes", e))?;
    for r in &prev.routes {
        let (IpAddr::V4(dst), gw) = (r.dst.network(), r.gw.or(mine[0].gateway)) else {
            continue;
        };
        let found = routes.iter().any(|k| {
            k.dst == dst
                && k.prefix_len == r.dst.prefix_len()
                && match (r.scope, gw) {
                    (Some(253), _) => k.scope_link && k.oif == Some(link.index),
                    (_, Some(IpAddr::V4(g))) => k.gateway == Some(g),
                    _ => true,
                }
        });
        if !found {
            return Err(mismatch(format!("route {} is missing in the pod", r.dst)));
        }
    }

    let mut node = node_handle()?;
    let host = node
        .link_by_name(&host_name)
        .map_err(|e| nl("reading node links", e))?
        .ok_or_else(|| mismatch(format!("host side {host_name} is missing")))?;
    if host.kind != LinkKind::Veth || !host.up {
        return Err(mismatch(format!("host side {host_name} is not an up veth")));
    }
    let node_routes = node.routes().map_err(|e| nl("reading node routes", e))?;
    for ip in &mine {
        let IpAddr::V4(v4) = ip.address.addr() else {
            continue;
        };
        if !node_routes
            .iter()
            .any(|r| r.dst == v4 && r.prefix_len == 32 && r.oif == Some(host.index))
        {
            return Err(mismatch(format!("the node has no route {v4}/32 dev {host_name}")));
        }
    }
    Ok(())
}
