//! `labyrinth uninstall`: take Labyrinth off this node, as Cilium's
//! post-uninstall cleanup does: once the node agent is stopped (by the
//! caller, which knows the node's service manager), end the pods it ran
//! (their containers, CNI DEL, network namespaces), then remove every
//! device, route, rule, nftables table, iptables chain, eBPF program, map
//! and pin, CNI config and program the agent made. Each step reports what
//! it removed or why it could not, and the next runs regardless (as
//! netavark's teardown goes on past a failure): one stuck piece does not
//! leave the rest behind. Exit status 1 if anything failed.
//!
//! What it leaves: the node's credentials and registration (`labyrinth
//! join`'s kubeconfig; deleting the Node is the cluster's business, as
//! after `kubeadm reset`), the agent's log, the `labyrinth` program itself,
//! and the sysctls the agent set (forwarding on, rp_filter off: their
//! earlier values were not recorded).

mod files;
mod network;
mod report;

pub use report::Report;

use std::path::PathBuf;

use anyhow::Result;

#[derive(Debug, Clone, clap::Args)]
pub struct UninstallArgs {
    /// Where the agent wrote its CNI config (the agent's --cni-conf-dir;
    /// default /etc/cni/net.d).
    #[arg(long)]
    pub cni_conf_dir: Option<PathBuf>,
    /// Where the agent installed its CNI program (the agent's
    /// --cni-bin-dir; default /opt/cni/bin).
    #[arg(long)]
    pub cni_bin_dir: Option<PathBuf>,
    /// The node's underlay interface, whose eBPF programs come off (the
    /// agent's --underlay-dev).
    #[arg(long, default_value = labyrinth_contracts::node::UPLINK_DEV)]
    pub underlay_dev: String,
}

/// Everything after the agent's stop, whose outcome `r` holds already.
pub fn run(args: &UninstallArgs, mut r: Report) -> Result<i32> {
    let mut cni = crate::runtime::cni::CniConfig::standard();
    if let Some(d) = &args.cni_conf_dir {
        cni.conf_dir = d.clone();
    }
    if let Some(d) = &args.cni_bin_dir {
        cni.bin_dirs = vec![d.clone()];
    }
    let mut rt = crate::runtime::RuntimeConfig::standard(
        // Pods are only torn down here: their resolv.conf is not written.
        crate::runtime::files::DnsConfig::cluster(std::net::Ipv4Addr::UNSPECIFIED, ""),
    );
    rt.cni = cni;
    // While the CNI program and config are still there: DEL releases
    // each pod's address and takes its veth away.
    files::end_pods(&mut r, &rt);
    network::remove_all(&mut r, &args.underlay_dev);
    files::remove_all(&mut r, &files::Installed::standard(rt));
    if r.failures == 0 {
        println!("Labyrinth is off this node.");
        Ok(0)
    } else {
        eprintln!("{} step(s) failed; see above.", r.failures);
        Ok(1)
    }
}
