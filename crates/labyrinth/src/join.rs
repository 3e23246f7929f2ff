//! `labyrinth join`: kubeadm's join (the API server crate's), then, as
//! kubeadm's join ends by starting the kubelet, this node's agent under the
//! node's service manager with the settings the control plane published
//! (`labyrinth_contracts::agent_config`).

use std::net::{IpAddr, Ipv4Addr, ToSocketAddrs, UdpSocket};
use std::path::Path;

use anyhow::{bail, Context, Result};

#[derive(Debug, Clone, clap::Args)]
pub struct JoinCmd {
    #[command(flatten)]
    pub join: labyrinth_apiserver::JoinArgs,
    /// This node hosts the control plane: its agent keeps the
    /// control-plane taint (NoSchedule) on it.
    #[arg(long)]
    pub control_plane: bool,
    /// Labels the agent puts on the Node (key=value, repeatable), as
    /// kubelet's --node-labels: the lab gives each node its zone.
    #[arg(long = "node-label")]
    pub node_labels: Vec<String>,
    /// Only register the node and write its kubeconfig; start no agent.
    #[arg(long)]
    pub no_agent: bool,
    /// With --control-plane: make this node another control plane (stacked
    /// etcd), with the certificates uploaded under this key (`init phase
    /// upload-certs`), as kubeadm's.
    #[arg(long, requires = "control_plane")]
    pub certificate_key: Option<String>,
}

/// A join without `--certificate-key` (main sends one with it to
/// `join_control_plane`, which builds on this module).
pub fn run(cmd: JoinCmd) -> Result<i32> {
    // Without certificates to download, a control-plane join is the
    // registration of the node `init` made a control plane: it must run
    // an API server already.
    let own = Path::new(labyrinth_lab::manifests::MANIFEST_DIR).join("kube-apiserver.yaml");
    if cmd.control_plane && !own.exists() {
        bail!(
            "[preflight] --control-plane without --certificate-key: this node runs no API server ({} is absent); to add a control plane, upload the certificates on one (`labyrinth init phase upload-certs --upload-certs`) and pass the key it prints",
            own.display()
        );
    }
    let (node, joined) = labyrinth_apiserver::run_join(&cmd.join)?;
    if cmd.no_agent {
        return Ok(0);
    }
    let Some(cfg) = joined.agent else {
        println!(
            "The cluster publishes no agent settings (ConfigMap {}/{}): start `labyrinth agent` on this node yourself.",
            labyrinth_contracts::agent_config::NAMESPACE,
            labyrinth_contracts::agent_config::NAME
        );
        return Ok(0);
    };
    let ip = node_ip(&cmd.join.server)?;
    start_agent(&node, ip, &cmd, &cfg, None)?;
    Ok(0)
}

/// Start this node's agent under the node's service manager, as kubeadm's
/// join ends by starting the kubelet; with `manifests`, it also runs the
/// static pods of that folder (a control plane's).
pub fn start_agent(
    node: &str,
    ip: Ipv4Addr,
    cmd: &JoinCmd,
    cfg: &labyrinth_contracts::agent_config::AgentConfig,
    manifests: Option<&str>,
) -> Result<()> {
    let ip = ip.to_string();
    let exe = std::env::current_exe()?.to_string_lossy().into_owned();
    let kubeconfig = cmd.join.kubeconfig.to_string_lossy().into_owned();
    let flags = cfg.kubelet_flags();
    let mut argv = vec![
        exe.as_str(),
        "agent",
        "--node-name",
        node,
        "--node-ip",
        &ip,
        "--kubeconfig",
        &kubeconfig,
    ];
    argv.extend(flags.iter().map(String::as_str));
    if cmd.control_plane {
        argv.push("--control-plane");
    }
    if let Some(dir) = manifests {
        argv.extend(["--pod-manifest-path", dir]);
    }
    for l in &cmd.node_labels {
        argv.extend(["--node-label", l.as_str()]);
    }
    labyrinth_lab::supervise::start_here("agent", &argv)?;
    println!(
        "Its agent is running ({} datapath, {} routing, node IP {ip}); log: {}/agent.log",
        cfg.datapath,
        cfg.routing,
        labyrinth_lab::logs::NODE_LOG_DIR
    );
    Ok(())
}

/// The address this node reaches the API server from, as the kubelet picks
/// its InternalIP: the source the routing table chooses (a connected UDP
/// socket sends nothing).
pub fn node_ip(server: &str) -> Result<Ipv4Addr> {
    let addr = server
        .to_socket_addrs()
        .with_context(|| format!("resolving {server}"))?
        .find(|a| a.is_ipv4())
        .with_context(|| format!("{server} has no IPv4 address"))?;
    let sock = UdpSocket::bind("0.0.0.0:0").context("a socket to find the node's address")?;
    sock.connect(addr)
        .with_context(|| format!("no route to the API server {addr}"))?;
    match sock.local_addr()?.ip() {
        IpAddr::V4(ip) if !ip.is_unspecified() => Ok(ip),
        other => bail!("the route to {addr} leaves from {other}, not a node address"),
    }
}
