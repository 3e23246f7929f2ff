//! ADD: address first, then the veth pair, the pod side, the host side; any
//! failure after the address is reserved undoes everything this call made.

use std::net::Ipv4Addr;

use anyhow::Context;
use labyrinth_contracts::cni::format_mac;
use labyrinth_netlink::Handle;

use super::namespaces::{node_handle, open_netns};

use crate::config::NetConf;
use crate::ipam::Ipam;
use crate::netsetup;
use crate::spec::{CniError, CniResult, Interface, IpConfig, Request, Route};

/// Steps after which a test can make ADD fail, to exercise the rollback.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailPoint {
    AfterIpam,
    AfterVeth,
    AfterPod,
    AfterHost,
}

pub fn add(req: &Request, conf: &NetConf, fail: Option<FailPoint>) -> Result<CniResult, CniError> {
    let env = &req.env;
    let netns_path = env
        .netns
        .as_deref()
        .expect("the dispatcher requires CNI_NETNS for ADD");
    super::namespaces::refuse_own_netns(netns_path)?;
    let pod_ns = open_netns(netns_path)
        .map_err(|e| CniError::invalid_env(&["CNI_NETNS"], format!("cannot open {netns_path}: {e}")))?;
    let mut node = node_handle()?;
    let host = netsetup::host_ifname(&env.container_id, &env.ifname);

    let ipam = Ipam::new(conf);
    let ip = ipam.allocate(&env.container_id, &env.ifname)?;
    let mut created_veth = false;
    let result = (|| -> anyhow::Result<CniResult> {
        trip(fail, FailPoint::AfterIpam)?;
        netsetup::create_veth(&mut node, &pod_ns, &host, &env.ifname, conf.mtu)?;
        created_veth = true;
        trip(fail, FailPoint::AfterVeth)?;
        let mut pod = Handle::in_netns(&pod_ns).context("opening netlink in the pod namespace")?;
        let pod_link = netsetup::configure_pod(&mut pod, &env.ifname, ip, conf.gateway, &conf.routes)?;
        trip(fail, FailPoint::AfterPod)?;
        let host_link = netsetup::configure_host(&mut node, &host, ip)?;
        trip(fail, FailPoint::AfterHost)?;
        let ours = result_for(conf, netns_path, &env.ifname, ip, &host_link, &pod_link);
        // Not first in a chain: pass the earlier result through, plus ours.
        Ok(match &req.prev_result {
            Some(prev) => ours.chained_onto(prev),
            None => ours,
        })
    })();
    match result {
        Ok(r) => Ok(r),
        Err(e) => {
            let mut err = CniError::from(e.context(format!("ADD {} {}", env.container_id, env.ifname)));
            if created_veth {
                if let Err(undo) = netsetup::delete_host_veth(&mut node, &host) {
                    err.details.push_str(&format!("; rollback: {undo:#}"));
                }
            }
            if let Err(undo) = ipam.release_ip(ip, &env.container_id, &env.ifname) {
                err.details.push_str(&format!("; rollback: {undo}"));
            }
            Err(err)
        }
    }
}

fn trip(fail: Option<FailPoint>, here: FailPoint) -> anyhow::Result<()> {
    match fail {
        Some(f) if f == here => anyhow::bail!("injected failure at {here:?}"),
        _ => Ok(()),
    }
}

fn result_for(
    conf: &NetConf,
    netns: &str,
    ifname: &str,
    ip: Ipv4Addr,
    host: &labyrinth_netlink::Link,
    pod: &labyrinth_netlink::Link,
) -> CniResult {
    let gw = conf.gateway;
    let mut routes = vec![Route {
        dst: ipnet::Ipv4Net::from(gw).into(),
        gw: None,
        scope: Some(253),
    }];
    routes.extend(conf.routes.iter().map(|d| Route {
        dst: (*d).into(),
        gw: Some(gw.into()),
        scope: None,
    }));
    CniResult {
        interfaces: vec![
            Interface {
                name: host.name.clone(),
                mac: host.mac.map(format_mac),
                mtu: Some(host.mtu),
                sandbox: None,
            },
            Interface {
                name: ifname.to_string(),
                mac: pod.mac.map(format_mac),
                mtu: Some(pod.mtu),
                sandbox: Some(netns.to_string()),
            },
        ],
        ips: vec![IpConfig {
            address: ipnet::Ipv4Net::from(ip).into(),
            gateway: Some(gw.into()),
            interface: Some(1),
        }],
        routes,
        dns: conf.dns.clone(),
    }
}
