//! `labyrinth install`: the network role onto a cluster, as the DaemonSet
//! `labyrinth` (labyrinth_contracts::network_daemonset renders it, for the
//! lab as for this). The API server's address the agents use is the
//! kubeconfig's (Cilium's CLI fills k8sServiceHost in the same way): the
//! Service ClusterIP only works once the agents program it. The manifest
//! goes through the machine's kubectl, as a person would apply it.
//! `labyrinth install-cni` is what the DaemonSet's init container runs.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use anyhow::{bail, Context, Result};
use labyrinth_contracts::modes::{Datapath, Routing};
use labyrinth_contracts::network_daemonset::{render_yaml, Settings};

#[derive(Debug, Clone, clap::Args)]
pub struct InstallArgs {
    /// The cluster's credentials (kubectl's default when absent).
    #[arg(long)]
    pub kubeconfig: Option<PathBuf>,
    /// Which datapath programs Services.
    #[arg(long, value_enum, default_value = "iptables")]
    pub datapath: Datapath,
    /// How pod packets cross between nodes.
    #[arg(long, value_enum, default_value = "tunnel")]
    pub routing: Routing,
    /// The VXLAN network identifier (tunnel routing).
    #[arg(long, default_value_t = labyrinth_contracts::node::DEFAULT_VNI)]
    pub vni: u32,
    /// The cluster's pod range (kube-controller-manager's --cluster-cidr).
    #[arg(long, default_value = "10.0.0.0/16")]
    pub cluster_cidr: ipnet::Ipv4Net,
    /// The Service range (the API server's --service-cluster-ip-range).
    #[arg(long, default_value = "10.96.0.0/12")]
    pub service_cidr: ipnet::Ipv4Net,
    /// The cluster DNS Service's address.
    #[arg(long, default_value = "10.96.0.10")]
    pub cluster_dns: std::net::Ipv4Addr,
    /// The API server as HOST:PORT (default: the kubeconfig's server).
    #[arg(long)]
    pub api_server: Option<String>,
    /// Print the manifest instead of applying it (deploy/labyrinth.yaml is
    /// this with the defaults and the placeholder address).
    #[arg(long)]
    pub print: bool,
}

pub fn run(args: InstallArgs) -> Result<i32> {
    let (api_host, api_port) = match &args.api_server {
        Some(hp) => split_host_port(hp).map(|(h, p)| (h.to_string(), p))?,
        None if args.print => {
            let (h, p) = labyrinth_contracts::network_daemonset::PLACEHOLDER_API;
            (h.to_string(), p)
        }
        None => api_from_kubeconfig(args.kubeconfig.as_ref())?,
    };
    let mut settings = Settings::committed_default();
    settings.agent.datapath = args.datapath;
    settings.agent.routing = args.routing;
    settings.agent.cluster_cidr = args.cluster_cidr;
    settings.agent.service_cidr = args.service_cidr;
    settings.agent.cluster_dns = args.cluster_dns;
    settings.vni = args.vni;
    settings.api_host = api_host;
    settings.api_port = api_port;
    let yaml = render_yaml(&settings);
    if args.print {
        print!("{yaml}");
        return Ok(0);
    }
    let mut cmd = Command::new("kubectl");
    if let Some(kc) = &args.kubeconfig {
        cmd.arg("--kubeconfig").arg(kc);
    }
    cmd.args(["apply", "-f", "-"]).stdin(Stdio::piped());
    let mut child = cmd.spawn().context("running kubectl")?;
    child
        .stdin
        .take()
        .context("kubectl's stdin")?
        .write_all(yaml.as_bytes())?;
    let status = child.wait()?;
    if !status.success() {
        bail!("kubectl apply of the labyrinth DaemonSet failed ({status})");
    }
    println!(
        "The DaemonSet kube-system/labyrinth is applied ({} datapath, {} routing, API server {}:{}); \
         nodes joined from now on start their agent in the kubelet role.",
        settings.agent.datapath, settings.agent.routing, settings.api_host, settings.api_port
    );
    Ok(0)
}

/// `HOST:PORT`; the error names the value.
fn split_host_port(hp: &str) -> Result<(&str, u16)> {
    let (host, port) = hp
        .rsplit_once(':')
        .with_context(|| format!("--api-server {hp:?}: expected HOST:PORT"))?;
    let port = port
        .parse()
        .with_context(|| format!("--api-server {hp:?}: the port {port:?} is not a number"))?;
    if host.is_empty() {
        bail!("--api-server {hp:?}: no host");
    }
    Ok((host, port))
}

/// The kubeconfig's server URL as host and port.
fn api_from_kubeconfig(kubeconfig: Option<&PathBuf>) -> Result<(String, u16)> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let cfg = rt.block_on(crate::agent::context::config(kubeconfig))?;
    let url = cfg.cluster_url;
    let host = url
        .host()
        .with_context(|| format!("the kubeconfig's server {url} has no host"))?
        .trim_matches(['[', ']'])
        .to_string();
    let port = url.port_u16().unwrap_or(443);
    Ok((host, port))
}

#[derive(Debug, Clone, clap::Args)]
pub struct InstallCniArgs {
    /// Where the runtime looks for CNI plugins.
    #[arg(long, default_value = "/opt/cni/bin")]
    pub bin_dir: PathBuf,
}

/// The CNI program into the node's plugin folder (the DaemonSet's init container).
pub fn install_cni(args: InstallCniArgs) -> Result<i32> {
    crate::kubelet::node::install_cni_program(&args.bin_dir)?;
    println!(
        "installed {}",
        args.bin_dir
            .join(labyrinth_contracts::node::CNI_PROGRAM)
            .display()
    );
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_server_values_are_checked_by_name() {
        assert_eq!(split_host_port("10.0.0.1:6443").unwrap(), ("10.0.0.1", 6443));
        let e = split_host_port("10.0.0.1").unwrap_err().to_string();
        assert!(e.contains("--api-server") && e.contains("HOST:PORT"), "{e}");
        let e = split_host_port("h:x").unwrap_err().to_string();
        assert!(e.contains("\"x\""), "{e}");
    }
}
