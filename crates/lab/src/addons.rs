//! Addons `lab up` installs once the nodes are Ready, as kubeadm does:
//! cluster DNS (the kube-dns Service at the tenth address of the service
//! range, and the `coredns` Deployment of `labyrinth dns` behind it).

use std::io::Write;
use std::net::Ipv4Addr;
use std::process::Stdio;
use std::time::Duration;

use anyhow::{bail, Context, Result};

use crate::cluster::{node_command, wait_for};
use crate::config::LabConfig;
use crate::progress::Progress;
use crate::state::LabState;

const DNS_MANIFEST: &str = include_str!("addons/dns.yaml");
/// As kubeadm's CoreDNS: two, so one node going away keeps names resolving.
const DNS_REPLICAS: usize = 2;

pub fn dns_manifest(cfg: &LabConfig) -> String {
    DNS_MANIFEST
        .replace("@CLUSTER_IP@", &cfg.dns_ip().to_string())
        .replace("@REPLICAS@", &DNS_REPLICAS.to_string())
        .replace("@DOMAIN@", &cfg.cluster_domain)
}

/// `kubectl apply -f -` on the control node with `manifest` on stdin.
pub fn apply(lab: &str, node: &str, manifest: &str) -> Result<()> {
    let mut child = node_command(lab, node, &["kubectl", "apply", "-f", "-"])?
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    child
        .stdin
        .take()
        .context("kubectl stdin")?
        .write_all(manifest.as_bytes())?;
    let out = child.wait_with_output()?;
    if !out.status.success() {
        bail!(
            "kubectl apply on {node}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

/// Install every addon on a cluster whose nodes are Ready (after
/// `cluster::start`).
pub fn install(state: &LabState, progress: &Progress) -> Result<()> {
    progress.step("cluster DNS (kube-dns at its ClusterIP)");
    let joined = crate::cluster::joined_by_up(state);
    let names: Vec<&str> = joined.iter().map(|n| n.plan.name.as_str()).collect();
    install_dns(&state.config.name, &state.config, &names)
}

/// Install cluster DNS and wait until it answers on every node, at each DNS
/// pod's own address (routes to the pods' nodes are in) and at the ClusterIP
/// (the Service rules are in): `up` returns a cluster whose names resolve.
pub fn install_dns(lab: &str, cfg: &LabConfig, nodes: &[&str]) -> Result<()> {
    let control = nodes[0];
    apply(lab, control, &dns_manifest(cfg)).context("installing cluster DNS")?;
    let name = format!("kubernetes.default.svc.{}", cfg.cluster_domain);
    let want = Ipv4Addr::from(u32::from(cfg.service_cidr.network()) + 1).to_string();
    let answers = |node: &str, server: &str| {
        node_command(
            lab,
            node,
            &[
                "dig",
                "+short",
                "+time=1",
                "+tries=1",
                &format!("@{server}"),
                &name,
            ],
        )
        .and_then(|mut c| Ok(c.output()?))
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == want)
    };
    let mut servers = vec![cfg.dns_ip().to_string()];
    wait_for(
        "the cluster DNS pods to be ready",
        Duration::from_secs(90),
        || {
            let Ok(out) = node_command(
                lab,
                control,
                &[
                    "kubectl",
                    "-n",
                    "kube-system",
                    "get",
                    "endpointslices",
                    "-l",
                    "kubernetes.io/service-name=kube-dns",
                    "-o",
                    "jsonpath={.items[*].endpoints[?(@.conditions.ready==true)].addresses[0]}",
                ],
            )
            .and_then(|mut c| Ok(c.output()?)) else {
                return false;
            };
            let ips: Vec<String> = String::from_utf8_lossy(&out.stdout)
                .split_whitespace()
                .map(String::from)
                .collect();
            servers.truncate(1);
            servers.extend(ips.iter().cloned());
            ips.len() == DNS_REPLICAS
        },
    )?;
    for node in nodes {
        for server in &servers {
            wait_for(
                &format!("cluster DNS at {server} to answer on {node}"),
                Duration::from_secs(60),
                || answers(node, server),
            )?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dns_manifest_follows_the_lab_config() {
        let cfg = LabConfig {
            service_cidr: "10.100.0.0/16".parse().unwrap(),
            cluster_domain: "corp.local".into(),
            ..Default::default()
        };
        let m = dns_manifest(&cfg);
        assert!(m.contains("clusterIP: 10.100.0.10"), "{m}");
        assert!(m.contains("- corp.local"), "{m}");
        assert!(!m.contains('@'), "unfilled placeholder in {m}");
        // Every document parses as YAML.
        for doc in m.split("\n---\n") {
            let v: serde_yaml::Value = serde_yaml::from_str(doc).unwrap();
            assert!(v.get("kind").is_some());
        }
    }
}
