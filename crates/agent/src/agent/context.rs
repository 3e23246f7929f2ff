//! What every task of the agent shares: the API client, the flags, the
//! node's name, the runtime's configuration and the eBPF datapath. Kept
//! apart from the composition root (`agent/mod.rs`) that starts the tasks,
//! so the tasks import this and not the module that starts them.

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use anyhow::{Context, Result};
use kube::config::{KubeConfigOptions, Kubeconfig};

use super::args::AgentArgs;

/// Shared, read-mostly context of the agent's tasks.
pub struct Agent {
    pub client: kube::Client,
    /// The kubelet role's Events about its pods (Pulled, Started, BackOff…).
    pub events: Arc<labyrinth_contracts::recorder::Recorder>,
    pub args: AgentArgs,
    pub node_name: String,
    pub runtime: crate::runtime::RuntimeConfig,
    /// The eBPF datapath, once opened (`--datapath ebpf` only).
    pub ebpf: OnceLock<labyrinth_ebpf::SharedDatapath>,
    /// The Services the proxy watches, read by the kubelet role too.
    pub services: crate::services::shared::SharedServices,
    /// Every namespace's `kube-root-ca.crt`, for the pods' token volumes
    /// (the kubelet role's watch).
    pub root_cas: crate::kubelet::root_ca::RootCas,
    /// The projected tokens of this node's pods, kept fresh by the kubelet
    /// role's renewal task.
    pub renewals: crate::kubelet::renewals::Renewals,
}

pub async fn client(kubeconfig: Option<&PathBuf>) -> Result<kube::Client> {
    Ok(labyrinth_contracts::api_client::client(
        config(kubeconfig).await?,
    )?)
}

/// Where the API server is, the CA to trust it by and our credential.
pub async fn config(kubeconfig: Option<&PathBuf>) -> Result<kube::Config> {
    Ok(match kubeconfig {
        Some(path) => {
            let kc = Kubeconfig::read_from(path)
                .with_context(|| format!("reading kubeconfig {}", path.display()))?;
            kube::Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default()).await?
        }
        None => kube::Config::infer().await?,
    })
}
