//! The settings every node agent of a cluster starts with, published once by
//! the control plane in a ConfigMap (as kubeadm uploads its cluster
//! configuration to kube-system). `labyrinth join` on a fresh node reads it
//! with the node's new credential and starts that node's agent with exactly
//! the flags the first nodes got, so a node joined by hand and one joined by
//! `lab up` cannot differ.

use std::net::Ipv4Addr;

use ipnet::Ipv4Net;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::modes::{Datapath, Routing};

/// Where the settings live.
pub const NAMESPACE: &str = "kube-system";
pub const NAME: &str = "labyrinth-config";
/// The ConfigMap key holding [`AgentConfig`] as JSON.
pub const KEY: &str = "agent.json";
const PUBLISHED: crate::published_config::Published = crate::published_config::Published {
    namespace: NAMESPACE,
    name: NAME,
    key: KEY,
};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AgentConfig {
    pub routing: Routing,
    pub datapath: Datapath,
    /// The pod range (the agent's --cluster-cidr).
    pub cluster_cidr: Ipv4Net,
    pub service_cidr: Ipv4Net,
    /// The cluster DNS Service's address, for pods' resolv.conf.
    pub cluster_dns: Ipv4Addr,
    pub cluster_domain: String,
    /// eBPF only: deliver to local pods with bpf_redirect_peer.
    #[serde(default)]
    pub peer_redirect: bool,
    /// The network role runs as the DaemonSet `labyrinth`
    /// (`network_daemonset`); the node service is then the kubelet role only.
    #[serde(default)]
    pub network_daemonset: bool,
    /// The kubelet role's --allowed-unsafe-sysctls (`crate::sysctl`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowed_unsafe_sysctls: Vec<String>,
}

impl AgentConfig {
    /// The agent flags these settings stand for.
    pub fn agent_flags(&self) -> Vec<String> {
        let mut f: Vec<String> = [
            ("--routing", self.routing.to_string()),
            ("--datapath", self.datapath.to_string()),
            ("--cluster-cidr", self.cluster_cidr.to_string()),
            ("--service-cidr", self.service_cidr.to_string()),
            ("--cluster-dns", self.cluster_dns.to_string()),
            ("--cluster-domain", self.cluster_domain.clone()),
        ]
        .into_iter()
        .flat_map(|(k, v)| [k.to_string(), v])
        .collect();
        if self.peer_redirect {
            f.push("--peer-redirect".into());
        }
        f
    }

    /// The flags of the node service (`join` and `lab up` start it): with
    /// the network as a DaemonSet, the kubelet role only.
    pub fn kubelet_flags(&self) -> Vec<String> {
        let mut f = self.agent_flags();
        if self.network_daemonset {
            f.extend(["--role".to_string(), crate::modes::AgentRole::Kubelet.to_string()]);
        }
        if !self.allowed_unsafe_sysctls.is_empty() {
            f.extend([
                "--allowed-unsafe-sysctls".to_string(),
                self.allowed_unsafe_sysctls.join(","),
            ]);
        }
        f
    }

    /// The ConfigMap that publishes these settings.
    pub fn config_map(&self) -> Value {
        PUBLISHED.config_map(self)
    }

    /// Read the settings back from the ConfigMap; the error names the key.
    pub fn from_config_map(cm: &Value) -> Result<Self, String> {
        PUBLISHED.read(cm)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sample() -> AgentConfig {
        AgentConfig {
            routing: Routing::Native,
            datapath: Datapath::Nftables,
            cluster_cidr: "10.0.0.0/16".parse().unwrap(),
            service_cidr: "10.100.0.0/16".parse().unwrap(),
            cluster_dns: "10.100.0.10".parse().unwrap(),
            cluster_domain: "lab.example".into(),
            peer_redirect: true,
            network_daemonset: false,
            allowed_unsafe_sysctls: vec!["net.core.somaxconn".into(), "kernel.msg*".into()],
        }
    }

    #[test]
    fn round_trips_through_the_config_map() {
        let c = sample();
        assert_eq!(AgentConfig::from_config_map(&c.config_map()), Ok(c));
    }

    #[test]
    fn flags_are_the_agents_spelling() {
        let f = sample().agent_flags().join(" ");
        assert_eq!(
            f,
            "--routing native --datapath nftables --cluster-cidr 10.0.0.0/16 --service-cidr 10.100.0.0/16 \
             --cluster-dns 10.100.0.10 --cluster-domain lab.example --peer-redirect"
        );
        assert_eq!(
            sample().kubelet_flags().join(" "),
            format!("{f} --allowed-unsafe-sysctls net.core.somaxconn,kernel.msg*")
        );
        let ds = AgentConfig {
            network_daemonset: true,
            allowed_unsafe_sysctls: Vec::new(),
            ..sample()
        };
        assert!(ds
            .kubelet_flags()
            .join(" ")
            .ends_with("--peer-redirect --role kubelet"));
    }

    #[test]
    fn a_bad_value_names_the_key_and_field() {
        let mut cm = sample().config_map();
        cm["data"][KEY] = json!(r#"{"routing":"carrier-pigeon"}"#);
        let e = AgentConfig::from_config_map(&cm).unwrap_err();
        assert!(e.contains(KEY) && e.contains("carrier-pigeon"), "{e}");
        let e = AgentConfig::from_config_map(&json!({"data": {}})).unwrap_err();
        assert!(e.contains("no data key"), "{e}");
    }
}
