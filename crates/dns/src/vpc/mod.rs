//! `labyrinth vpc-dns`: the VPC's internal resolver, as a cloud network
//! gives its VMs. The lab runs it on the VPC gateway (10.168.0.1:53) and
//! names it in every node's /etc/resolv.conf: node names resolve, reverse
//! lookups of lab addresses are answered at once (a name or an
//! authoritative NXDOMAIN), everything else is REFUSED, so nothing on a
//! node waits for a resolver it cannot reach (`iptables -L` without `-n`).

pub mod zone;

#[cfg(test)]
mod tests;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use labyrinth_contracts::vpc_dns::VpcZone;

use crate::server::{Config, Server};

/// Command-line arguments of `labyrinth vpc-dns`.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// The zone (JSON: domain, hosts, reverse ranges) the lab writes to its
    /// state directory.
    #[arg(long)]
    pub zone: PathBuf,
    /// Address for UDP and TCP.
    #[arg(long, default_value = "0.0.0.0:53")]
    pub listen: SocketAddr,
}

/// Reads a zone file; errors name the file and the field.
pub fn load(path: &Path) -> Result<VpcZone> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))
}

/// Serves `zone` on `listen` (port 0: an ephemeral one) until dropped.
pub fn serve(zone: &VpcZone, listen: SocketAddr) -> Result<Server> {
    let snap = zone::compile(zone)?;
    Server::start(Config::new(listen), crate::catalog::shared(snap))
}

/// Runs the resolver until killed.
pub fn run(args: Args) -> Result<i32> {
    let zone = load(&args.zone)?;
    let server = serve(&zone, args.listen).with_context(|| format!("zone {}", args.zone.display()))?;
    eprintln!(
        "labyrinth vpc-dns: {} hosts of {} on {} (udp+tcp)",
        zone.hosts.len(),
        zone.domain,
        server.udp_addr()
    );
    server.wait();
    Ok(0)
}
