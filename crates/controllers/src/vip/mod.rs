//! `labyrinth vip`: the control-plane address, held by one control-plane
//! node at a time (the role kube-vip plays in kubeadm's HA guide). One copy
//! runs as a static pod on every control-plane node; each is a candidate for
//! a Lease in kube-system, renewed through its own node's API server
//! (loopback), so a node whose API server dies cannot renew and gives the
//! address up, and another candidate takes the Lease when it expires. The
//! holder puts the address on the node's uplink as a /32 and sends
//! gratuitous ARP so the segment learns the new MAC.

pub mod garp;

use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};
use labyrinth_netlink::Handle;

use crate::leader::{Elector, Timing};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The control-plane address to hold.
    #[arg(long)]
    pub address: Ipv4Addr,
    /// The link it goes on (the node's uplink).
    #[arg(long, default_value = labyrinth_contracts::node::UPLINK_DEV)]
    pub interface: String,
    /// Kubeconfig with the credentials to write the Lease.
    #[arg(long)]
    pub kubeconfig: PathBuf,
    /// The API server to renew through: this node's own (so its death
    /// moves the address), not the address being held.
    #[arg(long, default_value = "https://127.0.0.1:6443")]
    pub server: String,
    /// The Lease in kube-system.
    #[arg(long, default_value = "labyrinth-vip")]
    pub lease_name: String,
    /// Seconds the Lease stays valid after a renewal (shorter than the
    /// controllers' 15: the address must move within seconds).
    #[arg(long, default_value_t = 4)]
    pub lease_duration: u64,
    /// Seconds the holder keeps failing to renew before it drops the address.
    #[arg(long, default_value_t = 3)]
    pub renew_deadline: u64,
    /// Seconds between attempts.
    #[arg(long, default_value_t = 1)]
    pub retry_period: u64,
}

/// The address on the uplink, and taking it off.
struct Uplink {
    nl: Handle,
    index: u32,
    mac: [u8; 6],
    address: Ipv4Addr,
}

impl Uplink {
    fn open(name: &str, address: Ipv4Addr) -> Result<Self> {
        let mut nl = Handle::current("vip")?;
        let link = nl
            .link_by_name(name)?
            .with_context(|| format!("--interface: no link named {name:?} on this node"))?;
        let mac = link
            .mac
            .with_context(|| format!("--interface: {name} has no MAC address"))?;
        Ok(Self {
            nl,
            index: link.index,
            mac,
            address,
        })
    }

    fn take(&mut self) -> Result<()> {
        self.nl.add_addr(self.index, IpAddr::V4(self.address), 32)?;
        garp::send(self.index, self.mac, self.address).context("sending gratuitous ARP")?;
        Ok(())
    }

    fn release(&mut self) -> Result<bool> {
        Ok(self.nl.del_addr(self.index, IpAddr::V4(self.address), 32)?)
    }
}

pub fn run(args: Args) -> Result<i32> {
    let timing = Timing::new(
        Duration::from_secs(args.lease_duration),
        Duration::from_secs(args.renew_deadline),
        Duration::from_secs(args.retry_period),
    )?;
    let mut uplink = Uplink::open(&args.interface, args.address)?;
    // A holder killed with -9 left the address behind; this new candidate
    // holds nothing until it wins the Lease.
    if uplink.release()? {
        tracing::info!(address = %args.address, "removed the address a previous run left");
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the tokio runtime")?;
    rt.block_on(async move {
        let client = crate::cli::client_at(&args.kubeconfig, &args.server).await?;
        let elector = Elector::new(client, "kube-system", &args.lease_name, &crate::leader::default_identity(), timing);
        let mut holding = false;
        let mut last_renewal = tokio::time::Instant::now();
        loop {
            let held = tokio::select! {
                r = elector.try_once() => r,
                _ = tokio::signal::ctrl_c() => {
                    uplink.release()?;
                    return Ok(0);
                }
            };
            match held {
                Ok(true) => {
                    last_renewal = tokio::time::Instant::now();
                    if !holding {
                        tracing::info!(address = %args.address, identity = elector.identity(), "holding the control-plane address");
                    }
                    // Every renewal: the address stays put and neighbours keep
                    // the holder's MAC even if a takeover raced with them.
                    if let Err(e) = uplink.take() {
                        tracing::warn!("putting {} on {}: {e:#}", args.address, args.interface);
                    }
                    holding = true;
                }
                Ok(false) => {
                    if holding {
                        tracing::info!(address = %args.address, "another node took the lease; releasing the address");
                        uplink.release()?;
                        holding = false;
                    }
                }
                Err(e) => {
                    if holding && last_renewal.elapsed() >= timing.renew_deadline {
                        tracing::warn!(address = %args.address, "no renewal within {:?} ({e}); releasing the address", timing.renew_deadline);
                        uplink.release()?;
                        holding = false;
                    }
                }
            }
            tokio::time::sleep(timing.retry_period).await;
        }
    })
}
