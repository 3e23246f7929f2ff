//! The service proxy (kube-proxy's role) inside the agent: Services and
//! EndpointSlices are watched from the API, compiled by `labyrinth-proxy`
//! into this node's iptables or nftables rules (or eBPF maps), and resynced periodically
//! so rules removed by hand come back. kube-proxy's metrics are served on
//! the metrics address (`/metrics`).

pub mod env_watch;
mod healthcheck;
mod metrics;
pub mod shared;
mod watch;

use std::net::SocketAddr;
use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use ipnet::Ipv4Net;
use labyrinth_proxy::sync::run_loop;
use labyrinth_proxy::Proxier;

use crate::agent::context::Agent;

/// How the proxy is set up; from the agent's flags.
#[derive(Debug, Clone)]
pub struct ProxyConfig {
    /// Sources outside it are masqueraded (kube-proxy's --cluster-cidr).
    pub cluster_cidr: Ipv4Net,
    pub resync: Duration,
    pub metrics_addr: SocketAddr,
}

/// Runs until the watch ends or the sync thread dies.
pub async fn run(agent: Arc<Agent>, mut proxier: Proxier, cfg: ProxyConfig) -> Result<()> {
    metrics::serve(cfg.metrics_addr, proxier.metrics())
        .await
        .with_context(|| format!("serving metrics on {}", cfg.metrics_addr))?;
    let (tx, rx) = mpsc::channel();
    // The sync engine is synchronous (it runs iptables-restore / nft and
    // waits for them); it gets its own thread so the watches never stall.
    let resync = cfg.resync;
    let syncer = std::thread::Builder::new()
        .name("proxy-sync".into())
        .spawn(move || run_loop(&mut proxier, rx, resync))
        .context("starting the proxy sync thread")?;
    watch::run(agent, cfg.cluster_cidr, tx).await?;
    // The watch ended: the sender is gone, so the loop returns.
    syncer
        .join()
        .map_err(|_| anyhow::anyhow!("proxy sync thread panicked"))?
}
