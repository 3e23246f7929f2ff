//! `labyrinth agent`'s flags.

use std::net::Ipv4Addr;
use std::path::PathBuf;

use clap::Args;

use crate::nodenet::Routing;

#[derive(Debug, Clone, Args)]
pub struct AgentArgs {
    /// Which of the agent's roles this process plays: `all` (one process
    /// for the node), `kubelet` (the node service: the Node, the pods), or
    /// `network` (devices, routes, CNI, Services, policy, eBPF; what the
    /// DaemonSet `labyrinth` runs).
    #[arg(long, value_enum, default_value = "all")]
    pub role: labyrinth_contracts::modes::AgentRole,
    /// This node's name (defaults to the hostname).
    #[arg(long)]
    pub node_name: Option<String>,
    /// Credentials for the API server (in-cluster config when absent).
    #[arg(long)]
    pub kubeconfig: Option<PathBuf>,
    /// The node's underlay address (InternalIP).
    #[arg(long)]
    pub node_ip: Ipv4Addr,
    /// The node's underlay interface (tunnel endpoint, native routes).
    #[arg(long, default_value = labyrinth_contracts::node::UPLINK_DEV)]
    pub underlay_dev: String,
    /// How pod packets cross between nodes.
    #[arg(long, value_enum, default_value = "tunnel")]
    pub routing: Routing,
    /// The VXLAN network identifier in tunnel mode.
    #[arg(long, default_value_t = labyrinth_contracts::node::DEFAULT_VNI)]
    pub vni: u32,
    /// The cluster DNS Service's address, written into pods' resolv.conf.
    #[arg(long, default_value = "10.96.0.10")]
    pub cluster_dns: Ipv4Addr,
    /// The cluster's DNS domain, for pods' search paths.
    #[arg(long, default_value = "cluster.local")]
    pub cluster_domain: String,
    /// Labels to put on the Node at registration (key=value, repeatable).
    #[arg(long = "node-label")]
    pub node_labels: Vec<String>,
    /// Run the pods whose manifests are in this folder (kubelet's
    /// staticPodPath), with or without an API server; the agent then waits
    /// for its --kubeconfig to appear before it registers the node.
    #[arg(long)]
    pub pod_manifest_path: Option<PathBuf>,
    /// Register with the control-plane taint and role label.
    #[arg(long)]
    pub control_plane: bool,
    /// Where the CNI network config is written and read.
    #[arg(long, default_value = "/etc/cni/net.d")]
    pub cni_conf_dir: PathBuf,
    /// Where the CNI plugin programs are.
    #[arg(long, default_value = "/opt/cni/bin")]
    pub cni_bin_dir: PathBuf,
    /// Leave the CNI config alone (e.g. the reference plugins were
    /// configured by hand) instead of installing ours.
    #[arg(long)]
    pub keep_cni_config: bool,
    /// Which datapath programs Services (kube-proxy's mode); `ebpf` puts
    /// tc programs on every pod's veth and the tunnel device instead of
    /// service rules; `none` leaves Services to someone else.
    #[arg(long, value_enum, default_value = "iptables")]
    pub datapath: ProxyMode,
    /// eBPF datapath: how the programs attach to devices: `auto` (tcx links,
    /// listed by `bpftool link`, where the kernel has them (6.6+), clsact
    /// filters otherwise), `tcx`, or `clsact` (listed by `bpftool net show`).
    #[arg(long, value_enum, default_value = "auto")]
    pub bpf_attach: labyrinth_ebpf::AttachMode,
    /// eBPF datapath: hand packets for this node's pods straight to the
    /// pod's eth0 with bpf_redirect_peer, past its host veth (faster, but a
    /// capture on the `lxc…` veth then misses them), instead of out of the
    /// host veth.
    #[arg(long)]
    pub peer_redirect: bool,
    /// The cluster's pod range: Service traffic from outside it is
    /// masqueraded (kube-proxy's --cluster-cidr).
    #[arg(long, default_value = "10.0.0.0/16")]
    pub cluster_cidr: ipnet::Ipv4Net,
    /// The Service range (ClusterIPs); in the eBPF datapath the node's own
    /// connections to it are routed through the Service program.
    #[arg(long, default_value = "10.96.0.0/12")]
    pub service_cidr: ipnet::Ipv4Net,
    /// Seconds between full checks of the Service rules (drift repair).
    #[arg(long, default_value_t = 30)]
    pub proxy_resync: u64,
    /// Where kube-proxy's metrics are served (`/metrics`).
    #[arg(long, default_value = "127.0.0.1:10249")]
    pub metrics_bind_address: std::net::SocketAddr,
    /// Events the kubelet role writes per second at most, after a burst of
    /// `--event-burst` (the kubelet's eventRecordQPS; 0: no limit).
    #[arg(long, default_value_t = labyrinth_contracts::event_rate::EventRate::KUBELET.qps, value_parser = non_negative)]
    pub event_qps: f64,
    /// Events written at once before `--event-qps` applies (eventBurst).
    #[arg(long, default_value_t = labyrinth_contracts::event_rate::EventRate::KUBELET.burst)]
    pub event_burst: u32,
    /// Sysctls a pod may set besides the safe ones, comma-separated; a
    /// trailing '*' allows every name that starts so (the kubelet's
    /// --allowed-unsafe-sysctls). Only sysctls of a pod's own namespaces.
    #[arg(long, default_value = "", value_parser = labyrinth_contracts::sysctl::Allowlist::parse)]
    pub allowed_unsafe_sysctls: labyrinth_contracts::sysctl::Allowlist,
}

pub use crate::proxy_mode::ProxyMode;

/// `--event-qps`: a rate, 0 or more (as eventRecordQPS).
fn non_negative(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v >= 0.0 && v.is_finite() => Ok(v),
        _ => Err(format!("{s:?} is not a rate of 0 or more events per second")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Cmd {
        #[command(flatten)]
        args: AgentArgs,
    }

    #[test]
    fn the_event_rate_defaults_to_the_kubelets_and_refuses_a_negative_one() {
        let a = Cmd::try_parse_from(["agent", "--node-name", "n", "--node-ip", "10.0.0.1"])
            .unwrap()
            .args;
        assert_eq!((a.event_qps, a.event_burst), (50.0, 100));
        assert_eq!(a.allowed_unsafe_sysctls, Default::default());
        let bad = [
            "agent",
            "--node-name",
            "n",
            "--node-ip",
            "10.0.0.1",
            "--event-qps=-1",
        ];
        let e = Cmd::try_parse_from(bad).unwrap_err().to_string();
        assert!(
            e.contains("--event-qps") && e.contains("\"-1\" is not a rate"),
            "{e}"
        );
    }

    #[test]
    fn unsafe_sysctls_are_the_pods_own_namespaces_only() {
        let base = ["agent", "--node-name", "n", "--node-ip", "10.0.0.1"];
        let a = Cmd::try_parse_from(
            [
                &base[..],
                &["--allowed-unsafe-sysctls", "net.core.somaxconn,kernel.msg*"],
            ]
            .concat(),
        )
        .unwrap()
        .args;
        assert!(a.allowed_unsafe_sysctls.allows("net.core.somaxconn"));
        assert!(a.allowed_unsafe_sysctls.allows("kernel.msgmax"));
        let e = Cmd::try_parse_from([&base[..], &["--allowed-unsafe-sysctls", "vm.swappiness"]].concat())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("--allowed-unsafe-sysctls")
                && e.contains("\"vm.swappiness\" is not a sysctl of a pod's own namespaces"),
            "{e}"
        );
    }
}
