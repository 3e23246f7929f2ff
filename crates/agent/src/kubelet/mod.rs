//! `labyrinth agent`: the node agent as an ordinary Kubernetes client. It
//! registers and heartbeats its Node, builds the node's pod network from the
//! Node's podCIDR, keeps routes to every other node, installs the CNI plugin
//! and config, and runs the pods bound to this node.

mod lifecycle;
mod node;
mod nodepod;
mod pod_store;
mod pods;
mod status;

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use anyhow::{Context, Result};
use clap::Args;
use kube::config::{KubeConfigOptions, Kubeconfig};

use labyrinth_contracts::modes::Datapath;

use crate::nodenet::ebpf::{self, EbpfNode};
use crate::nodenet::{leftovers, Routing};
pub use crate::proxy_mode::ProxyMode;

#[derive(Debug, Clone, Args)]
pub struct AgentArgs {
    /// This node's name (defaults to the hostname).
    #[arg(long)]
    pub node_name: Option<String>,
    /// Credentials for the API server (in-cluster config when absent).
    #[arg(long)]
    pub kubeconfig: Option<PathBuf>,
    /// The node's underlay address (InternalIP).
    #[arg(long)]
    pub node_ip: Ipv4Addr,
    #[arg(long, default_value = labyrinth_contracts::node::UPLINK_DEV)]
    pub underlay_dev: String,
    #[arg(long, value_enum, default_value = "tunnel")]
    pub routing: Routing,
    #[arg(long, default_value_t = labyrinth_contracts::node::DEFAULT_VNI)]
    pub vni: u32,
    #[arg(long, default_value = "10.96.0.10")]
    pub cluster_dns: Ipv4Addr,
    #[arg(long, default_value = "cluster.local")]
    pub cluster_domain: String,
    /// Labels to put on the Node at registration (key=value, repeatable).
    #[arg(long = "node-label")]
    pub node_labels: Vec<String>,
    /// Register with the control-plane taint and role label.
    #[arg(long)]
    pub control_plane: bool,
    #[arg(long, default_value = "/etc/cni/net.d")]
    pub cni_conf_dir: PathBuf,
    #[arg(long, default_value = "/opt/cni/bin")]
    pub cni_bin_dir: PathBuf,
    /// Leave the CNI config alone (e.g. the reference plugins were
    /// configured by hand) instead of installing ours.
    #[arg(long)]
    pub keep_cni_config: bool,
    /// Which datapath programs Services (kube-proxy's mode); `ebpf` puts
    /// tc programs on every pod's veth and the tunnel device instead of
    /// service rules; `none` leaves Services to someone else.
    #[arg(long, value_enum, default_value = "iptables")]
    pub datapath: ProxyMode,
    /// The cluster's pod range: Service traffic from outside it is
    /// masqueraded (kube-proxy's --cluster-cidr).
    #[arg(long, default_value = "10.0.0.0/16")]
    pub cluster_cidr: ipnet::Ipv4Net,
    /// The Service range (ClusterIPs); in the eBPF datapath the node's own
    /// connections to it are routed through the Service program.
    #[arg(long, default_value = "10.96.0.0/12")]
    pub service_cidr: ipnet::Ipv4Net,
    /// Seconds between full checks of the Service rules (drift repair).
    #[arg(long, default_value_t = 30)]
    pub proxy_resync: u64,
    /// Where kube-proxy's metrics are served (`/metrics`).
    #[arg(long, default_value = "127.0.0.1:10249")]
    pub metrics_bind_address: std::net::SocketAddr,
}

/// Shared, read-mostly context of the agent's tasks.
pub struct Agent {
    pub client: kube::Client,
    pub args: AgentArgs,
    pub node_name: String,
    pub runtime: crate::runtime::RuntimeConfig,
    /// The eBPF datapath, once opened (`--datapath ebpf` only).
    pub ebpf: OnceLock<labyrinth_ebpf::SharedDatapath>,
}

pub fn run(args: AgentArgs) -> Result<i32> {
    lean_malloc()?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        // Blocking threads (pod starts and teardowns) go soon after a
        // burst: an idle thread holds its stack pages and allocator state.
        .thread_keep_alive(std::time::Duration::from_millis(500))
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    rt.block_on(run_async(args))
}

/// glibc keeps, per thread, an arena and a cache of freed blocks (tcache,
/// up to 7 blocks of each size). A burst of pod starts runs on a dozen
/// threads (the blocking pool's), and what they freed stays resident:
/// measured over a 50-pod burst, 11 KiB of RSS per pod with the defaults,
/// 6 KiB with one arena and no tcache. Small freed blocks also wait in
/// fastbins, uncoalesced, and the stacks of exited threads stay cached,
/// their touched pages resident (16 KiB for each thread a burst added).
/// The agent is not allocation-bound, so it runs with all of these off:
/// a 100-pod burst then grows the three agents by ~5 KiB per pod instead
/// of ~6.5. Tunables are read only when a process starts,
/// hence one re-exec of ourselves (same pid, same argv) before any thread
/// exists; the variable is then taken out of the environment again, so the
/// pods' processes (which inherit it) get the allocator's defaults.
fn lean_malloc() -> Result<()> {
    const VAR: &str = "GLIBC_TUNABLES";
    const LEAN: &str =
        "glibc.malloc.arena_max=1:glibc.malloc.tcache_count=0:glibc.malloc.mxfast=0:glibc.pthread.stack_cache_size=0";
    if std::env::var(VAR).as_deref() == Ok(LEAN) {
        std::env::remove_var(VAR);
        // Exec'd as /proc/self/exe, the process would be called "exe" in
        // ps and top; give it its name back.
        // SAFETY: PR_SET_NAME reads a NUL-terminated string of ours.
        unsafe { libc::prctl(libc::PR_SET_NAME, c"labyrinth".as_ptr()) };
        return Ok(());
    }
    if std::env::var_os(VAR).is_some() {
        // Someone tuned the allocator on purpose: leave it as they said.
        return Ok(());
    }
    use std::os::unix::process::CommandExt;
    let err = std::process::Command::new("/proc/self/exe")
        .arg0(std::env::args_os().next().unwrap_or_default())
        .args(std::env::args_os().skip(1))
        .env(VAR, LEAN)
        .exec();
    Err(err).context("re-executing the agent with the allocator tuned")
}

async fn run_async(args: AgentArgs) -> Result<i32> {
    let node_name = match &args.node_name {
        Some(n) => n.clone(),
        None => nix::unistd::gethostname()?.to_string_lossy().into_owned(),
    };
    let client = client(args.kubeconfig.as_ref()).await?;
    let mut runtime = crate::runtime::RuntimeConfig::standard(crate::runtime::files::DnsConfig::cluster(
        args.cluster_dns,
        &args.cluster_domain,
    ));
    crate::runtime::pause::install(&runtime.pause)?;
    runtime.cni.conf_dir = args.cni_conf_dir.clone();
    runtime.cni.bin_dirs = vec![args.cni_bin_dir.clone()];
    let agent = Arc::new(Agent {
        client,
        args,
        node_name,
        runtime,
        ebpf: OnceLock::new(),
    });

    tokio::spawn(crate::streaming::run(agent.clone()));
    node::register(&agent).await.context("registering the node")?;
    let pod_cidr = node::wait_for_pod_cidr(&agent).await?;
    node::setup_network(&agent, pod_cidr)
        .await
        .context("building the node's pod network")?;
    let node = ebpf_node(&agent.args, pod_cidr);
    let (mode, n) = (agent.args.datapath.datapath(), node.clone());
    // Logged, not fatal (as kube-proxy does): a node with a stuck leftover
    // still runs its pods, and the log names what to remove by hand.
    if let Err(e) = tokio::task::spawn_blocking(move || leftovers::remove_other_datapaths(mode, &n)).await? {
        tracing::error!("cleaning up after the datapath this node ran before: {e:#}");
    }
    if agent.args.datapath.is(Datapath::Ebpf) {
        // Before the pod loop starts: adopted and new pods get attached.
        let dp = tokio::task::spawn_blocking(move || ebpf::open(&node)).await??;
        tokio::spawn(ebpf::collect_conntrack_forever(dp.clone()));
        let _ = agent.ebpf.set(dp);
    }

    let heartbeat = tokio::spawn(node::heartbeat(agent.clone()));
    let peers = tokio::spawn(node::sync_peers_forever(agent.clone(), pod_cidr));
    let pods = tokio::spawn(pods::run(agent.clone()));
    let services = tokio::spawn(run_services(agent.clone()));
    tokio::select! {
        r = services => r?.context("service proxy")?,
        r = heartbeat => r?.context("heartbeat")?,
        r = peers => r?.context("peer routes")?,
        r = pods => r?.context("pods")?,
        _ = tokio::signal::ctrl_c() => {}
    }
    Ok(0)
}

/// What the eBPF datapath (and its leftovers) need of this node.
fn ebpf_node(a: &AgentArgs, pod_cidr: ipnet::Ipv4Net) -> EbpfNode {
    EbpfNode {
        routing: a.routing,
        underlay_dev: a.underlay_dev.clone(),
        vni: a.vni,
        node_ip: a.node_ip,
        pod_cidr,
        service_cidr: a.service_cidr,
    }
}

async fn run_services(agent: Arc<Agent>) -> Result<()> {
    use labyrinth_proxy::Proxier;
    let proxier = match agent.args.datapath.datapath() {
        Some(kernel @ (Datapath::Iptables | Datapath::Nftables)) => {
            Proxier::new(labyrinth_proxy::datapath::build(kernel).context("a kernel datapath")?)
        }
        Some(Datapath::Ebpf) => {
            let dp = agent.ebpf.get().context("the eBPF datapath is not open")?;
            let mut p = Proxier::new(Box::new(dp.clone()));
            // The programs' own conntrack is flushed by the datapath.
            p.flush_conntrack = false;
            p
        }
        None => return std::future::pending().await,
    };
    let cfg = crate::services::ProxyConfig {
        cluster_cidr: agent.args.cluster_cidr,
        resync: std::time::Duration::from_secs(agent.args.proxy_resync.max(1)),
        metrics_addr: agent.args.metrics_bind_address,
    };
    crate::services::run(agent, proxier, cfg).await
}

pub async fn client(kubeconfig: Option<&PathBuf>) -> Result<kube::Client> {
    Ok(kube::Client::try_from(config(kubeconfig).await?)?)
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
