//! The VPC's internal resolver, as a cloud network gives its VMs: `lab up`
//! starts `labyrinth vpc-dns` on the VPC gateway and points every node's
//! /etc/resolv.conf at it. Node names resolve (bare and as
//! `<node>.<lab>.internal`), lab addresses reverse at once (a node's name
//! or an authoritative NXDOMAIN), the rest is REFUSED: no tool on a node
//! waits minutes for the host's resolver, which no node can reach.
//!
//! The resolver runs in the VPC's network and pid namespaces, so it ends
//! with the lab as every other process of it does.

use std::io::ErrorKind;
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use labyrinth_contracts::vpc_dns::{VpcHost, VpcZone, VPC_DNS_PORT};

use crate::config::LabConfig;
use crate::state::{Holder, LabDir};

/// The zone file in the lab's state directory.
pub const ZONE_FILE: &str = "vpc-dns.json";

/// What the resolver answers for a lab: its nodes, and the reverse names of
/// the VPC, pod and Service ranges.
pub fn zone(cfg: &LabConfig) -> VpcZone {
    VpcZone {
        domain: VpcZone::domain_of(&cfg.name),
        hosts: cfg
            .nodes()
            .into_iter()
            .map(|n| VpcHost {
                name: n.name,
                address: n.address,
            })
            .collect(),
        reverse: vec![cfg.underlay_cidr, cfg.pod_cidr, cfg.service_cidr],
    }
}

/// A node's /etc/resolv.conf: the resolver on the gateway, the lab's search
/// domain.
pub fn resolv_conf(cfg: &LabConfig) -> String {
    format!(
        "# The VPC's resolver (labyrinth vpc-dns on the gateway): node names, lab addresses.\n\
         nameserver {}\nsearch {}\n",
        crate::vpc::gateway(cfg),
        VpcZone::domain_of(&cfg.name)
    )
}

/// Start the resolver in the VPC and wait until it answers there.
pub fn start(vpc: &Holder, cfg: &LabConfig, dir: &LabDir) -> Result<()> {
    let zone_path = dir.path.join(ZONE_FILE);
    std::fs::write(&zone_path, serde_json::to_vec_pretty(&zone(cfg))?)
        .with_context(|| format!("writing {}", zone_path.display()))?;
    let listen = SocketAddr::from((crate::vpc::gateway(cfg), VPC_DNS_PORT));
    let zone_arg = zone_path.to_string_lossy();
    let listen_arg = listen.to_string();
    let mut cmd = crate::vpc::service_command(
        dir,
        crate::logs::VPC_DNS_LOG,
        &["vpc-dns", "--zone", &zone_arg, "--listen", &listen_arg],
    )?;
    cmd.stdin(Stdio::null());
    // A helper thread joins the VPC, starts the resolver and asks it.
    crate::vpc::in_vpc(vpc, || {
        let status = cmd.status().context("starting labyrinth vpc-dns (setsid)")?;
        if !status.success() {
            bail!("setsid -f labyrinth vpc-dns: {status}");
        }
        // A socket error other than "not there yet" ends the wait too,
        // and is what gets reported.
        let mut failed = None;
        crate::cluster::wait_for(
            &format!("labyrinth vpc-dns to answer on {listen}"),
            Duration::from_secs(30),
            || match probe(listen) {
                Ok(answered) => answered,
                Err(e) => {
                    failed = Some(e);
                    true
                }
            },
        )
        .with_context(|| format!("see {}", dir.log_path(crate::logs::VPC_DNS_LOG).display()))?;
        failed.map_or(Ok(()), Err)
    })
}

/// One query for the zone's own apex (SOA): true once a response with our
/// id comes back.
fn probe(server: SocketAddr) -> Result<bool> {
    let sock = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0))?;
    sock.set_read_timeout(Some(Duration::from_millis(200)))?;
    // id 0x7ab1, RD, one question: "internal." SOA IN.
    let query = [
        0x7a, 0xb1, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 8, b'i', b'n', b't', b'e', b'r', b'n', b'a', b'l', 0,
        0, 6, 0, 1,
    ];
    match sock.send_to(&query, server) {
        Ok(_) => {}
        // The address is ours only once the bridge is up; the caller retries.
        Err(e) if e.kind() == ErrorKind::AddrNotAvailable => return Ok(false),
        Err(e) => return Err(e).context("asking labyrinth vpc-dns"),
    }
    let mut buf = [0u8; 512];
    match sock.recv(&mut buf) {
        Ok(n) => Ok(n >= 12 && buf[..2] == query[..2]),
        Err(e)
            if matches!(
                e.kind(),
                ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::ConnectionRefused
            ) =>
        {
            Ok(false)
        }
        Err(e) => Err(e).context("asking labyrinth vpc-dns"),
    }
}

/// Point a node's /etc/resolv.conf at the resolver. Written through the
/// node's root (its own copy-on-write /etc); a symlink copied from the host
/// (to systemd-resolved's stub under /run, which the node does not have)
/// is replaced by a file.
pub fn configure_node(node: &Holder, cfg: &LabConfig) -> Result<()> {
    let path = format!("/proc/{}/root/etc/resolv.conf", node.pid);
    match std::fs::remove_file(&path) {
        Ok(()) => {}
        Err(e) if e.kind() == ErrorKind::NotFound => {}
        Err(e) => return Err(e).with_context(|| format!("removing {path}")),
    }
    std::fs::write(&path, resolv_conf(cfg)).with_context(|| format!("writing {path}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_zone_names_every_node_and_the_three_ranges() {
        let cfg = LabConfig {
            name: "lab7".into(),
            workers: 2,
            ..Default::default()
        };
        let z = zone(&cfg);
        assert_eq!(z.domain, "lab7.internal");
        let hosts: Vec<(String, String)> = z
            .hosts
            .iter()
            .map(|h| (h.name.clone(), h.address.to_string()))
            .collect();
        assert_eq!(
            hosts,
            [
                ("node-0", "10.168.0.2"),
                ("node-1", "10.168.0.3"),
                ("node-2", "10.168.0.4")
            ]
            .map(|(n, a)| (n.to_string(), a.to_string()))
        );
        assert_eq!(z.reverse, vec![cfg.underlay_cidr, cfg.pod_cidr, cfg.service_cidr]);
        let r = resolv_conf(&cfg);
        assert!(
            r.contains("\nnameserver 10.168.0.1\nsearch lab7.internal\n"),
            "{r}"
        );
    }
}
