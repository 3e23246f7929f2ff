//! `labyrinth controllers`: the controllers as a standalone process.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};

use crate::runtime::{run_all, ControllersConfig, Which};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Kubeconfig to reach the API server (default: $KUBECONFIG, then
    /// ~/.kube/config, then the in-cluster service account).
    #[arg(long, env = "KUBECONFIG")]
    pub kubeconfig: Option<PathBuf>,
    /// Kubeconfig context to use (default: its current context).
    #[arg(long)]
    pub context: Option<String>,
    /// Cluster pod CIDR; node n gets its n-th subnet.
    #[arg(long, default_value = "10.0.0.0/16")]
    pub cluster_cidr: ipnet::Ipv4Net,
    /// Prefix length of each node's pod CIDR.
    #[arg(long, default_value_t = 24)]
    pub node_cidr_mask_size: u8,
    /// Seconds without a heartbeat before a node's Ready goes Unknown.
    #[arg(long, default_value_t = 40)]
    pub node_monitor_grace_period: u64,
    /// Seconds between heartbeat checks.
    #[arg(long, default_value_t = 5)]
    pub node_monitor_period: u64,
    /// Addresses for LoadBalancer Services, FIRST-LAST or a CIDR (without
    /// it they stay pending).
    #[arg(long, value_parser = |s: &str| s.parse::<labyrinth_contracts::lb_pool::AddressPool>())]
    pub load_balancer_pool: Option<labyrinth_contracts::lb_pool::AddressPool>,
    /// Controllers to run (comma-separated).
    #[arg(long, value_enum, value_delimiter = ',', default_values_t = Which::ALL.to_vec())]
    pub controllers: Vec<Which>,
    /// Run the controllers only while holding a Lease in kube-system, as
    /// kube-controller-manager's --leader-elect: one of several copies works,
    /// the others wait to take over.
    #[arg(long)]
    pub leader_elect: bool,
    /// The Lease's name (kube-controller-manager, kube-scheduler).
    #[arg(long, default_value = "kube-controller-manager")]
    pub leader_elect_resource_name: String,
    /// Seconds a Lease stays valid after its holder's last renewal.
    #[arg(long, default_value_t = 15)]
    pub leader_elect_lease_duration: u64,
    /// Seconds the holder keeps trying to renew before it gives up.
    #[arg(long, default_value_t = 10)]
    pub leader_elect_renew_deadline: u64,
    /// Seconds between attempts to take or renew the Lease.
    #[arg(long, default_value_t = 2)]
    pub leader_elect_retry_period: u64,
    /// Async worker threads; 0 is one per core
    /// (`labyrinth_contracts::worker_threads`: a lab passes 1).
    #[arg(long, default_value_t = 0)]
    pub worker_threads: usize,
}

impl Args {
    /// The election's timings, checked (only with --leader-elect).
    pub fn leader_timing(&self) -> anyhow::Result<Option<crate::leader::Timing>> {
        if !self.leader_elect {
            return Ok(None);
        }
        let s = Duration::from_secs;
        crate::leader::Timing::new(
            s(self.leader_elect_lease_duration),
            s(self.leader_elect_renew_deadline),
            s(self.leader_elect_retry_period),
        )
        .map(Some)
    }

    pub fn config(&self) -> anyhow::Result<ControllersConfig> {
        if self.node_monitor_grace_period == 0 || self.node_monitor_period == 0 {
            anyhow::bail!("--node-monitor-grace-period and --node-monitor-period must be at least 1 second");
        }
        crate::nodeipam::CidrAllocator::new(self.cluster_cidr, self.node_cidr_mask_size)
            .map_err(|e| anyhow::anyhow!("--node-cidr-mask-size {}: {e}", self.node_cidr_mask_size))?;
        Ok(ControllersConfig {
            cluster_cidr: self.cluster_cidr,
            node_cidr_mask: self.node_cidr_mask_size,
            node_grace: Duration::from_secs(self.node_monitor_grace_period),
            node_monitor_period: Duration::from_secs(self.node_monitor_period),
            enabled: self.controllers.clone(),
            lb_pool: self.load_balancer_pool,
        })
    }
}

/// A client from an explicit kubeconfig path, or kube's usual inference.
pub async fn client(kubeconfig: Option<&std::path::Path>, context: Option<String>) -> anyhow::Result<Client> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let opts = KubeConfigOptions {
        context,
        ..Default::default()
    };
    let config = match kubeconfig {
        Some(path) => {
            let kc = Kubeconfig::read_from(path)
                .with_context(|| format!("reading kubeconfig {}", path.display()))?;
            Config::from_custom_kubeconfig(kc, &opts)
                .await
                .with_context(|| format!("using kubeconfig {}", path.display()))?
        }
        None => Config::infer()
            .await
            .context("no kubeconfig given and none could be inferred")?,
    };
    labyrinth_contracts::api_client::client(config).context("building the Kubernetes client")
}

/// A client with the kubeconfig's credentials, to `server` instead of the
/// kubeconfig's address (the vip renews through its own node's API server).
pub async fn client_at(kubeconfig: &std::path::Path, server: &str) -> anyhow::Result<Client> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let kc = Kubeconfig::read_from(kubeconfig)
        .with_context(|| format!("reading kubeconfig {}", kubeconfig.display()))?;
    let mut config = Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
        .await
        .with_context(|| format!("using kubeconfig {}", kubeconfig.display()))?;
    config.cluster_url = server
        .parse()
        .with_context(|| format!("--server: {server:?} is not a URL"))?;
    labyrinth_contracts::api_client::client(config).context("building the Kubernetes client")
}

pub fn run(args: Args) -> anyhow::Result<i32> {
    let cfg = args.config()?;
    let timing = args.leader_timing()?;
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if args.worker_threads > 0 {
        builder.worker_threads(args.worker_threads);
    }
    let rt = builder
        .enable_all()
        .build()
        .context("starting the tokio runtime")?;
    rt.block_on(async {
        let client = client(args.kubeconfig.as_deref(), args.context.clone()).await?;
        let work = async {
            match timing {
                Some(timing) => {
                    let elector = crate::leader::Elector::new(
                        client.clone(),
                        "kube-system",
                        &args.leader_elect_resource_name,
                        &crate::leader::default_identity(),
                        timing,
                    );
                    elector.run(run_all(client, cfg)).await
                }
                None => run_all(client, cfg).await,
            }
        };
        tokio::select! {
            r = work => r.map(|()| 0),
            _ = tokio::signal::ctrl_c() => {
                tracing::info!("interrupted; stopping controllers");
                Ok(0)
            }
        }
    })
}
