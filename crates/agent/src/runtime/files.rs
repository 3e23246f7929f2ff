//! The files a pod sees in /etc: resolv.conf with the cluster DNS and search
//! path, hosts with its own name, hostname.

use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

use labyrinth_contracts::sandbox::PodRef;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DnsConfig {
    pub nameservers: Vec<Ipv4Addr>,
    pub cluster_domain: String,
    pub ndots: u8,
}

impl DnsConfig {
    pub fn cluster(nameserver: Ipv4Addr, cluster_domain: &str) -> Self {
        DnsConfig {
            nameservers: vec![nameserver],
            cluster_domain: cluster_domain.into(),
            ndots: 5,
        }
    }
}

/// ClusterFirst DNS, as the kubelet writes it.
pub fn resolv_conf(pod: &PodRef, dns: &DnsConfig) -> String {
    let d = &dns.cluster_domain;
    let mut s = format!("search {}.svc.{d} svc.{d} {d}\n", pod.namespace);
    for ns in &dns.nameservers {
        s.push_str(&format!("nameserver {ns}\n"));
    }
    s.push_str(&format!("options ndots:{}\n", dns.ndots));
    s
}

/// The kubelet's managed hosts file.
pub fn hosts(pod: &PodRef, ip: Option<Ipv4Addr>) -> String {
    let mut s = String::from(
        "# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n\
         fe00::0\tip6-localnet\nfe00::0\tip6-mcastprefix\nfe00::1\tip6-allnodes\nfe00::2\tip6-allrouters\n",
    );
    if let Some(ip) = ip {
        s.push_str(&format!("{ip}\t{}\n", pod.hostname()));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod() -> PodRef {
        PodRef {
            uid: "u".into(),
            namespace: "wrk-1".into(),
            name: "node-wrk-1-ubuntu24-5d8f7c9b6-x2k4q".into(),
        }
    }

    #[test]
    fn resolv_conf_has_the_cluster_search_path() {
        let r = resolv_conf(
            &pod(),
            &DnsConfig::cluster("10.96.0.10".parse().unwrap(), "cluster.local"),
        );
        assert_eq!(
            r,
            "search wrk-1.svc.cluster.local svc.cluster.local cluster.local\nnameserver 10.96.0.10\noptions ndots:5\n"
        );
    }

    #[test]
    fn hosts_names_the_pod() {
        let h = hosts(&pod(), Some("10.0.1.5".parse().unwrap()));
        assert!(h.ends_with("10.0.1.5\tnode-wrk-1-ubuntu24-5d8f7c9b6-x2k4q\n"));
        assert!(h.contains("127.0.0.1\tlocalhost"));
    }

    #[test]
    fn long_names_make_valid_hostnames() {
        let p = PodRef {
            name: format!("{}-x", "a".repeat(62)),
            ..pod()
        };
        assert_eq!(p.hostname(), "a".repeat(62));
    }
}
