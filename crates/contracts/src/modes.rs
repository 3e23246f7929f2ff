//! The cluster-wide modes every component agrees on: which datapath
//! translates Services, and how pod packets cross between nodes. The lab
//! file, the agent's flags, the proxy, the eBPF loader and the tracer all
//! take these types; their text forms (`iptables`, `tunnel`, …) are the
//! ones the lab file, the CLI and the lab's state record use.

use serde::{Deserialize, Serialize};

/// How Services are translated to endpoints on each node (kube-proxy's
/// mode, or the eBPF programs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Datapath {
    /// kube-proxy's iptables layout (KUBE-SERVICES → KUBE-SVC-… → KUBE-SEP-…).
    Iptables,
    /// One nftables table with verdict maps, as kube-proxy's nftables mode.
    Nftables,
    /// tc programs on the pod and tunnel devices with BPF maps.
    Ebpf,
}

/// How pod packets cross between nodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Routing {
    /// VXLAN between node addresses (see `node::VXLAN_PORT`).
    Tunnel,
    /// Routes to the other nodes' pod CIDRs via their underlay addresses.
    Native,
}

/// How the eBPF datapath hands a packet to a pod on the same node (the
/// lab file's `peerRedirect`, the `--peer-redirect` flags of `lab up` and
/// the agent, the config map the programs read, the trace's explanation).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum PodDelivery {
    /// `bpf_redirect` to the egress of the pod's host veth (`lxc…`): the
    /// packet crosses the veth pair as a routed one would, so a capture on
    /// the host veth sees both directions.
    #[default]
    HostVeth,
    /// `bpf_redirect_peer`: straight into the pod's eth0, skipping the host
    /// veth (and the backlog queue behind it); captures there miss it.
    PeerRedirect,
}

impl PodDelivery {
    /// The lab file's and the flags' `peerRedirect` boolean.
    pub const fn from_peer_redirect(on: bool) -> Self {
        if on {
            PodDelivery::PeerRedirect
        } else {
            PodDelivery::HostVeth
        }
    }

    pub const fn as_str(self) -> &'static str {
        match self {
            PodDelivery::HostVeth => "host-veth",
            PodDelivery::PeerRedirect => "peer-redirect",
        }
    }
}

impl std::fmt::Display for PodDelivery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which of the node agent's two roles a `labyrinth agent` process plays:
/// a real node runs the kubelet as a service and the network as the
/// DaemonSet `labyrinth` (`network_daemonset`); `all` is both in one process.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum AgentRole {
    /// Both roles in one process.
    #[default]
    All,
    /// The node service: registers and heartbeats the Node, runs the pods
    /// (sandboxes, CNI calls through the plugin program, exec, logs).
    Kubelet,
    /// The network: devices, routes, the CNI plugin and its config, the
    /// Service datapath, NetworkPolicy, the eBPF programs and maps.
    Network,
}

impl AgentRole {
    pub const fn as_str(self) -> &'static str {
        match self {
            AgentRole::All => "all",
            AgentRole::Kubelet => "kubelet",
            AgentRole::Network => "network",
        }
    }

    /// Whether this process runs the pods (the kubelet's work).
    pub const fn runs_pods(self) -> bool {
        matches!(self, AgentRole::All | AgentRole::Kubelet)
    }

    /// Whether this process builds and serves the node's network.
    pub const fn runs_network(self) -> bool {
        matches!(self, AgentRole::All | AgentRole::Network)
    }
}

impl std::fmt::Display for AgentRole {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Datapath {
    pub const fn as_str(self) -> &'static str {
        match self {
            Datapath::Iptables => "iptables",
            Datapath::Nftables => "nftables",
            Datapath::Ebpf => "ebpf",
        }
    }
}

impl Routing {
    pub const fn as_str(self) -> &'static str {
        match self {
            Routing::Tunnel => "tunnel",
            Routing::Native => "native",
        }
    }
}

impl std::fmt::Display for Datapath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::fmt::Display for Routing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_forms_round_trip_through_serde_and_display() {
        for d in [Datapath::Iptables, Datapath::Nftables, Datapath::Ebpf] {
            let json = serde_json::to_string(&d).unwrap();
            assert_eq!(json, format!("\"{d}\""));
            assert_eq!(serde_json::from_str::<Datapath>(&json).unwrap(), d);
        }
        for r in [Routing::Tunnel, Routing::Native] {
            let json = serde_json::to_string(&r).unwrap();
            assert_eq!(json, format!("\"{r}\""));
            assert_eq!(serde_json::from_str::<Routing>(&json).unwrap(), r);
        }
        assert!(serde_json::from_str::<Datapath>("\"ipvs\"").is_err());
        for d in [PodDelivery::HostVeth, PodDelivery::PeerRedirect] {
            let json = serde_json::to_string(&d).unwrap();
            assert_eq!(json, format!("\"{d}\""));
            assert_eq!(serde_json::from_str::<PodDelivery>(&json).unwrap(), d);
        }
        assert_eq!(PodDelivery::from_peer_redirect(true), PodDelivery::PeerRedirect);
        assert_eq!(PodDelivery::from_peer_redirect(false), PodDelivery::default());
        for r in [AgentRole::All, AgentRole::Kubelet, AgentRole::Network] {
            let json = serde_json::to_string(&r).unwrap();
            assert_eq!(json, format!("\"{r}\""));
            assert_eq!(serde_json::from_str::<AgentRole>(&json).unwrap(), r);
        }
        assert!(AgentRole::All.runs_pods() && AgentRole::All.runs_network());
        assert!(!AgentRole::Kubelet.runs_network() && !AgentRole::Network.runs_pods());
    }
}
