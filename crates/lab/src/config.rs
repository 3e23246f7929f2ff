//! The lab file: what the cluster's "cloud" looks like. Every field has
//! docs/mission.md's default; unknown fields are errors so a typo never silently
//! falls back to a default.

use std::net::Ipv4Addr;
use std::path::Path;

use anyhow::{bail, Context, Result};
use ipnet::Ipv4Net;
use serde::{Deserialize, Serialize};

/// The cluster's modes, as every component names them (the lab file's
/// `datapath: iptables`, `routing: tunnel`, …).
pub use labyrinth_contracts::modes::{Datapath, PodDelivery, Routing};
pub use labyrinth_contracts::store::StoreKind;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct LabConfig {
    pub name: String,
    /// Worker nodes, after the control-plane nodes.
    pub workers: u32,
    /// Control-plane nodes (node-0, node-1, …): 1, or 3 or 5 stacked
    /// etcd members and API servers behind one control-plane address
    /// (needs `store: etcd`), as kubeadm's HA guide.
    #[serde(skip_serializing_if = "is_one")]
    pub control_planes: u32,
    #[serde(rename = "underlayCIDR")]
    pub underlay_cidr: Ipv4Net,
    pub mtu: u32,
    /// Node n gets the n-th /24 of this range.
    #[serde(rename = "podCIDR")]
    pub pod_cidr: Ipv4Net,
    #[serde(rename = "serviceCIDR")]
    pub service_cidr: Ipv4Net,
    pub cluster_domain: String,
    pub datapath: Datapath,
    pub routing: Routing,
    /// eBPF datapath only: packets for a local pod go straight into its
    /// eth0 (bpf_redirect_peer) instead of out of its host veth, so
    /// captures on the `lxc…` veth miss them (see `PodDelivery`).
    pub peer_redirect: bool,
    /// Addresses for LoadBalancer Services (see `lb_pool`); unset: the
    /// top of the underlay above the nodes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub load_balancer_pool: Option<labyrinth_contracts::lb_pool::AddressPool>,
    /// Join only the control node; the workers stay bare machines until a
    /// person runs the printed `join` command on each, as the articles do.
    pub manual_join: bool,
    /// Where the API server keeps objects: its embedded log, or an etcd
    /// run inside node-0 (see etcd.rs).
    #[serde(skip_serializing_if = "StoreKind::is_embedded")]
    pub store: StoreKind,
    /// Each node's network runs as the DaemonSet `labyrinth` (the manifest
    /// `labyrinth install` applies to a real cluster) beside a kubelet-role
    /// agent (the default); false: one agent process per node does both.
    pub network_daemon_set: bool,
    /// Sysctls a pod may set besides the kubelet's safe ones (the
    /// kubelet's allowedUnsafeSysctls: names, or prefixes ending in '*'),
    /// only of a pod's own namespaces.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub allowed_unsafe_sysctls: Vec<String>,
}

impl Default for LabConfig {
    fn default() -> Self {
        LabConfig {
            name: "labyrinth".into(),
            workers: 2,
            control_planes: 1,
            underlay_cidr: "10.168.0.0/24".parse().unwrap(),
            mtu: 1460,
            pod_cidr: "10.0.0.0/16".parse().unwrap(),
            service_cidr: "10.96.0.0/12".parse().unwrap(),
            cluster_domain: "cluster.local".into(),
            datapath: Datapath::Iptables,
            routing: Routing::Tunnel,
            peer_redirect: false,
            load_balancer_pool: None,
            manual_join: false,
            store: StoreKind::Embedded,
            network_daemon_set: true,
            allowed_unsafe_sysctls: Vec::new(),
        }
    }
}

/// One node as the lab lays it out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodePlan {
    pub name: String,
    pub index: u32,
    pub control_plane: bool,
    pub address: Ipv4Addr,
    pub pod_cidr: Ipv4Net,
}

pub const MAX_WORKERS: u32 = 250;
/// Control-plane counts etcd keeps a quorum with (an odd member count).
pub const CONTROL_PLANE_COUNTS: [u32; 3] = [1, 3, 5];

fn is_one(n: &u32) -> bool {
    *n == 1
}
pub const MIN_MTU: u32 = 1280;
pub const MAX_MTU: u32 = 9000;
const MAX_NAME: usize = 32;

impl LabConfig {
    /// kube-dns's ClusterIP: the service range's tenth address (10.96.0.10).
    pub fn dns_ip(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.service_cidr.network()) + 10)
    }

    /// Read a lab file; errors name the file and the field.
    pub fn from_file(path: &Path) -> Result<Self> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading lab file {}", path.display()))?;
        Self::from_yaml(&text).with_context(|| format!("lab file {}", path.display()))
    }

    pub fn from_yaml(text: &str) -> Result<Self> {
        // An empty file (or one of comments only) would deserialize as
        // every default: a typo'd path or a truncated file must not quietly
        // make the default lab.
        let doc: serde_yaml::Value = serde_yaml::from_str(text).map_err(|e| anyhow::anyhow!("{e}"))?;
        if doc.is_null() {
            bail!("the file has no settings (for the defaults, leave out --config; or write at least `name: …`)");
        }
        // Parsed again from the text so errors keep their line and column.
        let cfg: LabConfig = serde_yaml::from_str(text).map_err(|e| anyhow::anyhow!("{e}"))?;
        Ok(cfg)
    }

    /// Check every field and their relations; the first problem is reported
    /// with the field's name as it appears in the lab file.
    pub fn validate(&self) -> Result<()> {
        validate_name(&self.name)?;
        if self.workers == 0 || self.workers > MAX_WORKERS {
            bail!(
                "workers: must be between 1 and {MAX_WORKERS} (got {})",
                self.workers
            );
        }
        if !(MIN_MTU..=MAX_MTU).contains(&self.mtu) {
            bail!("mtu: must be between {MIN_MTU} and {MAX_MTU} (got {})", self.mtu);
        }
        if !CONTROL_PLANE_COUNTS.contains(&self.control_planes) {
            bail!(
                "controlPlanes: must be 1, 3 or 5 (an etcd quorum needs an odd member count; got {})",
                self.control_planes
            );
        }
        if self.control_planes > 1 && self.store != StoreKind::Etcd {
            bail!(
                "controlPlanes: {} control planes share their objects through etcd: add `store: etcd` (--store etcd)",
                self.control_planes
            );
        }
        let nodes = self.node_count();
        // Node n sits at network+2+n; .1 is left for a gateway, as in a VPC.
        let needed = nodes as u64 + 3 + u64::from(self.control_plane_address().is_some());
        let hosts = 1u64 << (32 - self.underlay_cidr.prefix_len());
        if hosts < needed {
            bail!(
                "underlayCIDR: {} has room for {} node addresses, {} nodes need a larger range",
                self.underlay_cidr,
                hosts.saturating_sub(3),
                nodes
            );
        }
        if self.pod_cidr.prefix_len() > 24 {
            bail!(
                "podCIDR: {} must be /24 or larger (each node gets a /24)",
                self.pod_cidr
            );
        }
        let slots = 1u64 << (24 - self.pod_cidr.prefix_len());
        if slots < nodes as u64 {
            bail!(
                "podCIDR: {} holds {slots} node /24s, {nodes} nodes need more",
                self.pod_cidr
            );
        }
        if self.service_cidr.prefix_len() > 28 {
            bail!(
                "serviceCIDR: {} is too small (need at least a /28 for .1 and .10)",
                self.service_cidr
            );
        }
        let ranges = [
            ("underlayCIDR", self.underlay_cidr),
            ("podCIDR", self.pod_cidr),
            ("serviceCIDR", self.service_cidr),
        ];
        for (i, (a_name, a)) in ranges.iter().enumerate() {
            for (b_name, b) in &ranges[i + 1..] {
                if a.contains(&b.network()) || b.contains(&a.network()) {
                    bail!("{a_name} {a} overlaps {b_name} {b}");
                }
            }
        }
        validate_domain(&self.cluster_domain)?;
        crate::lb_pool::validate(
            self.load_balancer_pool,
            self.underlay_cidr,
            self.addresses_above_node0(),
        )?;
        labyrinth_contracts::sysctl::Allowlist::parse(&self.allowed_unsafe_sysctls.join(","))
            .map_err(|e| anyhow::anyhow!("allowedUnsafeSysctls: {e}"))?;
        if self.peer_redirect && self.datapath != Datapath::Ebpf {
            bail!(
                "peerRedirect: only the eBPF datapath redirects packets into pods (datapath is {}); \
                 set datapath: ebpf or leave peerRedirect out",
                self.datapath
            );
        }
        Ok(())
    }

    /// How the eBPF programs enter a local pod.
    pub fn pod_delivery(&self) -> PodDelivery {
        PodDelivery::from_peer_redirect(self.peer_redirect)
    }

    /// Control-plane nodes and workers.
    pub fn node_count(&self) -> u32 {
        self.control_planes + self.workers
    }

    /// With several control planes, the address clients reach them by
    /// (kubeadm's controlPlaneEndpoint): the first underlay address after
    /// the last node, held by one control-plane node at a time (`labyrinth
    /// vip`). None with one control plane: clients use node-0's address.
    pub fn control_plane_address(&self) -> Option<Ipv4Addr> {
        (self.control_planes > 1)
            .then(|| Ipv4Addr::from(u32::from(self.underlay_cidr.network()) + 2 + self.node_count()))
    }

    /// Underlay addresses taken above node-0's: the other nodes and the
    /// control-plane address (the LoadBalancer pool starts above them).
    pub fn addresses_above_node0(&self) -> u32 {
        self.node_count() - 1 + u32::from(self.control_plane_address().is_some())
    }

    /// Every node, control planes first.
    pub fn nodes(&self) -> Vec<NodePlan> {
        let base = u32::from(self.underlay_cidr.network());
        let pod_base = u32::from(self.pod_cidr.network());
        (0..self.node_count())
            .map(|n| NodePlan {
                name: format!("node-{n}"),
                index: n,
                control_plane: n < self.control_planes,
                address: Ipv4Addr::from(base + 2 + n),
                pod_cidr: Ipv4Net::new(Ipv4Addr::from(pod_base + (n << 8)), 24).unwrap(),
            })
            .collect()
    }
}

fn validate_name(name: &str) -> Result<()> {
    let ok_chars = name
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    let ok_ends = name.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && name.ends_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit());
    if name.is_empty() || name.len() > MAX_NAME || !ok_chars || !ok_ends {
        bail!(
            "name: {name:?} is not a valid lab name (lower-case letters, digits and '-', \
             starting and ending with a letter or digit, at most {MAX_NAME} characters)"
        );
    }
    Ok(())
}

fn validate_domain(domain: &str) -> Result<()> {
    let valid = !domain.is_empty()
        && domain.len() <= 253
        && domain.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        });
    if !valid {
        bail!("clusterDomain: {domain:?} is not a valid DNS domain");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(yaml: &str) -> String {
        match LabConfig::from_yaml(yaml).and_then(|c| c.validate().map(|_| c)) {
            Ok(_) => panic!("accepted: {yaml}"),
            Err(e) => format!("{e:#}"),
        }
    }

    #[test]
    fn defaults_are_missions() {
        let cfg = LabConfig::from_yaml("{}").unwrap();
        cfg.validate().unwrap();
        let nodes = cfg.nodes();
        assert_eq!(nodes.len(), 3);
        assert_eq!(nodes[0].address, Ipv4Addr::new(10, 168, 0, 2));
        assert!(nodes[0].control_plane);
        assert_eq!(nodes[1].address, Ipv4Addr::new(10, 168, 0, 3));
        assert_eq!(nodes[2].address, Ipv4Addr::new(10, 168, 0, 4));
        assert_eq!(nodes[2].pod_cidr.to_string(), "10.0.2.0/24");
        assert_eq!(cfg.mtu, 1460);
    }

    #[test]
    fn full_file_parses() {
        let cfg = LabConfig::from_yaml(
            "name: blue\nworkers: 4\nunderlayCIDR: 192.168.50.0/24\nmtu: 1500\npodCIDR: 10.1.0.0/16\n\
             serviceCIDR: 10.100.0.0/16\nclusterDomain: corp.local\ndatapath: nftables\nrouting: native\n",
        )
        .unwrap();
        cfg.validate().unwrap();
        assert_eq!(cfg.datapath, Datapath::Nftables);
        assert_eq!(cfg.routing, Routing::Native);
        assert_eq!(cfg.nodes()[4].address, Ipv4Addr::new(192, 168, 50, 6));
        assert_eq!(cfg.nodes()[4].pod_cidr.to_string(), "10.1.4.0/24");
    }

    #[test]
    fn an_empty_file_is_an_error_naming_the_file_not_the_default_lab() {
        for text in ["", "\n", "# only a comment\n", "---\n"] {
            let e = LabConfig::from_yaml(text).unwrap_err().to_string();
            assert!(e.contains("no settings"), "{text:?}: {e}");
        }
        let path = std::env::temp_dir().join(format!("empty-lab-{}.yaml", std::process::id()));
        std::fs::write(&path, "").unwrap();
        let e = format!("{:#}", LabConfig::from_file(&path).unwrap_err());
        std::fs::remove_file(&path).unwrap();
        assert!(
            e.contains(&path.display().to_string()) && e.contains("no settings"),
            "{e}"
        );
    }

    #[test]
    fn unknown_field_is_named() {
        assert!(err("workerz: 3\n").contains("workerz"));
    }

    #[test]
    fn bad_values_name_their_field() {
        assert!(err("workers: 0\n").starts_with("workers:"));
        assert!(err("workers: 251\n").starts_with("workers:"));
        assert!(err("mtu: 1279\n").starts_with("mtu:"));
        assert!(err("name: Bad_Name\n").starts_with("name:"));
        assert!(err("name: -x\n").starts_with("name:"));
        assert!(err("datapath: ipvs\n").contains("ipvs"));
        assert!(err("clusterDomain: Cluster..local\n").starts_with("clusterDomain:"));
        assert!(err("underlayCIDR: 10.168.0.0/30\n").starts_with("underlayCIDR:"));
        assert!(err("podCIDR: 10.0.0.0/25\n").starts_with("podCIDR:"));
    }

    #[test]
    fn peer_redirect_is_for_the_ebpf_datapath_only() {
        let cfg = LabConfig::from_yaml("datapath: ebpf\npeerRedirect: true\n").unwrap();
        cfg.validate().unwrap();
        assert_eq!(cfg.pod_delivery(), PodDelivery::PeerRedirect);
        assert_eq!(LabConfig::default().pod_delivery(), PodDelivery::HostVeth);
        let e = err("peerRedirect: true\n");
        assert!(e.starts_with("peerRedirect:") && e.contains("iptables"), "{e}");
        assert!(err("datapath: ebpf\npeerRedirect: yes please\n").contains("peerRedirect"));
    }

    /// The README's lab file (every field, with its default) is one this
    /// code reads, and has what `LabConfig::default()` has.
    #[test]
    fn the_readmes_lab_file_is_read_as_the_defaults() {
        let readme = include_str!("../../../README.md");
        let at = readme
            .find("### The lab file")
            .expect("the README's lab file section");
        let block = &readme[at..];
        let start = block.find("```yaml\n").expect("its yaml block") + "```yaml\n".len();
        let text = &block[start..start + block[start..].find("```").unwrap()];
        let cfg = LabConfig::from_yaml(text).unwrap();
        cfg.validate().unwrap();
        let pool = "10.168.0.240-10.168.0.254".parse().unwrap();
        assert_eq!(
            cfg,
            LabConfig {
                load_balancer_pool: Some(pool),
                ..Default::default()
            }
        );
    }

    #[test]
    fn unsafe_sysctls_are_only_of_a_pods_own_namespaces() {
        let cfg =
            LabConfig::from_yaml("allowedUnsafeSysctls: [net.core.somaxconn, 'kernel.msg*']\n").unwrap();
        cfg.validate().unwrap();
        assert_eq!(
            crate::cluster::agent_config(&cfg).kubelet_flags().join(" "),
            format!(
                "{} --role kubelet --allowed-unsafe-sysctls net.core.somaxconn,kernel.msg*",
                crate::cluster::agent_config(&LabConfig::default())
                    .agent_flags()
                    .join(" ")
            )
        );
        let e = err("allowedUnsafeSysctls: [vm.swappiness]\n");
        assert!(
            e.starts_with("allowedUnsafeSysctls:")
                && e.contains("\"vm.swappiness\" is not a sysctl of a pod's own"),
            "{e}"
        );
    }

    #[test]
    fn the_store_is_embedded_unless_the_file_says_etcd() {
        assert_eq!(LabConfig::default().store, StoreKind::Embedded);
        assert_eq!(
            LabConfig::from_yaml("store: etcd\n").unwrap().store,
            StoreKind::Etcd
        );
        assert!(err("store: mysql\n").contains("mysql"));
    }

    #[test]
    fn overlapping_ranges_name_both_fields() {
        let e = err("underlayCIDR: 10.0.5.0/24\n");
        assert!(e.contains("underlayCIDR") && e.contains("podCIDR"), "{e}");
        let e = err("serviceCIDR: 10.0.0.0/12\n");
        assert!(e.contains("podCIDR") && e.contains("serviceCIDR"), "{e}");
    }

    #[test]
    fn workers_limit_fits_the_default_ranges() {
        let cfg = LabConfig {
            workers: MAX_WORKERS,
            ..Default::default()
        };
        cfg.validate().unwrap();
        assert_eq!(
            cfg.nodes().last().unwrap().address,
            Ipv4Addr::new(10, 168, 0, 252)
        );
    }

    #[test]
    fn three_control_planes_come_first_need_etcd_and_get_an_address_after_the_nodes() {
        let cfg = LabConfig::from_yaml("store: etcd\ncontrolPlanes: 3\n").unwrap();
        cfg.validate().unwrap();
        let nodes = cfg.nodes();
        assert_eq!(nodes.len(), 5);
        let roles: Vec<bool> = nodes.iter().map(|n| n.control_plane).collect();
        assert_eq!(roles, [true, true, true, false, false]);
        assert_eq!(nodes[4].address, Ipv4Addr::new(10, 168, 0, 6));
        assert_eq!(cfg.control_plane_address(), Some(Ipv4Addr::new(10, 168, 0, 7)));
        // The LoadBalancer pool and a lab-file pool stay clear of it.
        assert_eq!(cfg.addresses_above_node0(), 5);
        assert!(
            err("store: etcd\ncontrolPlanes: 3\nloadBalancerPool: 10.168.0.7-10.168.0.9\n")
                .contains("loadBalancerPool")
        );
        assert_eq!(LabConfig::default().control_plane_address(), None);

        // A person may join the other control planes (and the workers).
        LabConfig::from_yaml("store: etcd\ncontrolPlanes: 3\nmanualJoin: true\n")
            .unwrap()
            .validate()
            .unwrap();
        let e = err("controlPlanes: 3\n");
        assert!(
            e.starts_with("controlPlanes:") && e.contains("store: etcd"),
            "{e}"
        );
        let e = err("store: etcd\ncontrolPlanes: 2\n");
        assert!(e.starts_with("controlPlanes:") && e.contains("odd"), "{e}");
        let e = err("store: etcd\ncontrolPlanes: 3\nworkers: 250\n");
        assert!(e.starts_with("underlayCIDR:"), "{e}");
    }
}
