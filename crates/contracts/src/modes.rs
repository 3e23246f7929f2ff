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
    }
}
