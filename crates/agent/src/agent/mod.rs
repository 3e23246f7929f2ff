//! `labyrinth agent`: the node agent as an ordinary Kubernetes client. It
//! registers and heartbeats its Node, builds the node's pod network from the
//! Node's podCIDR, keeps routes to every other node, installs the CNI plugin
//! and config, and runs the pods bound to this node.
//!
//! This module is the composition root: it builds the shared context
//! (`context::Agent`) and starts the tasks (streaming, node, peers, pods,
//! services), which take the context and never import this module.

pub mod args;
pub mod context;

use std::sync::{Arc, OnceLock};

use anyhow::{Context, Result};

pub use args::{AgentArgs, ProxyMode};
use context::{client, Agent};

use labyrinth_contracts::modes::{AgentRole, Datapath, PodDelivery};

use crate::kubelet::{node, pods};
use crate::nodenet::cni_endpoints::CniEndpoints;
use crate::nodenet::ebpf::{self, EbpfNode};
use crate::nodenet::leftovers;

pub fn run(args: AgentArgs) -> Result<i32> {
    lean_malloc()?;
    // One worker: pod starts and teardowns run on blocking threads, and a
    // second worker mostly woke up for work the first would have done
    // (docs/performance.md, "One worker per process").
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
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
    let role = args.role;
    let node_name = match &args.node_name {
        Some(n) => n.clone(),
        None => nix::unistd::gethostname()?.to_string_lossy().into_owned(),
    };
    let mut runtime = crate::runtime::RuntimeConfig::standard(crate::runtime::files::DnsConfig::cluster(
        args.cluster_dns,
        &args.cluster_domain,
    ));
    if role.runs_pods() {
        crate::runtime::pause::install(&runtime.pause)?;
        crate::runtime::logs::install(&runtime.crilog)?;
    }
    // The API's Service takes the range's first address (as the API server allocates it).
    runtime.api_service = std::net::SocketAddrV4::new(
        args.service_cidr.hosts().next().context("empty service range")?,
        443,
    );
    runtime.cni.conf_dir = args.cni_conf_dir.clone();
    runtime.cni.bin_dirs = vec![args.cni_bin_dir.clone()];
    // Static pods first: on a control node they are the API server.
    let statics = args
        .pod_manifest_path
        .as_ref()
        .filter(|_| role.runs_pods())
        .map(|dir| {
            crate::kubelet::static_pods::spawn(dir.clone(), runtime.clone(), node_name.clone(), args.node_ip)
        });
    if statics.is_some() {
        wait_for_kubeconfig(args.kubeconfig.as_ref()).await;
    }
    // The network role in its pod: the service account's token and the
    // API server the manifest names (never a kubeconfig lying on the node).
    let client = match (&args.kubeconfig, role) {
        (None, AgentRole::Network) => labyrinth_contracts::api_client::client(
            kube::Config::incluster().context("the in-cluster configuration (the pod's service account)")?,
        )?,
        (kc, _) => client(kc.as_ref()).await?,
    };
    let events = labyrinth_contracts::recorder::Recorder::limited(
        client.clone(),
        labyrinth_contracts::events::KUBELET,
        Some(node_name.clone()),
        labyrinth_contracts::event_rate::EventRate {
            qps: args.event_qps,
            burst: args.event_burst,
        },
    );
    // A burst's Events are written after it (the recorder waits for a
    // quiet spell), so after the trim that ends the pod starts: what their
    // requests freed goes back to the system too.
    events.when_drained(|| {
        // SAFETY: malloc_trim only walks the allocator's own free lists.
        unsafe { libc::malloc_trim(0) };
    });
    let agent = Arc::new(Agent {
        client,
        events,
        args,
        node_name,
        runtime,
        ebpf: OnceLock::new(),
        services: Default::default(),
        root_cas: Default::default(),
        renewals: Default::default(),
    });

    let mut tasks: Vec<(&str, tokio::task::JoinHandle<Result<()>>)> = Vec::new();
    if role.runs_pods() {
        tokio::spawn(crate::streaming::run(agent.clone()));
        node::register(&agent).await.context("registering the node")?;
        if let Some(statics) = statics {
            tokio::spawn(crate::kubelet::mirror_pods::run(agent.clone(), statics));
        }
    }
    if role.runs_network() {
        start_network(&agent, &mut tasks).await?;
    }
    if role.runs_pods() && !role.runs_network() {
        let services = crate::services::env_watch::run(agent.clone());
        tasks.push(("service watch", tokio::spawn(services)));
    }
    if role.runs_pods() {
        let root_cas = crate::kubelet::root_ca_watch::run(agent.clone());
        tasks.push(("kube-root-ca.crt watch", tokio::spawn(root_cas)));
        let renewals = crate::kubelet::token_renewal::run(agent.clone());
        tasks.push(("token renewals", tokio::spawn(renewals)));
        tasks.push(("heartbeat", tokio::spawn(node::heartbeat(agent.clone()))));
        tasks.push(("pods", tokio::spawn(pods::run(agent.clone()))));
    }
    let all = futures::future::select_all(
        tasks
            .into_iter()
            .map(|(name, task)| Box::pin(async move { (name, task.await) })),
    );
    tokio::select! {
        ((name, r), _, _) = all => r?.context(name)?,
        _ = tokio::signal::ctrl_c() => {}
    }
    Ok(0)
}

/// The network role: the node's devices from its Node's pod CIDR, the CNI
/// plugin served, the datapath, then the CNI config (the runtime starts
/// pods' networks once it exists), then peers, Services and policy.
async fn start_network(
    agent: &Arc<Agent>,
    tasks: &mut Vec<(&str, tokio::task::JoinHandle<Result<()>>)>,
) -> Result<()> {
    let pod_cidr = node::wait_for_pod_cidr(agent).await?;
    node::setup_network(agent, pod_cidr)
        .await
        .context("building the node's pod network")?;
    let node = ebpf_node(&agent.args, pod_cidr);
    let (mode, n) = (agent.args.datapath.datapath(), node.clone());
    // Logged, not fatal (as kube-proxy does): a node with a stuck leftover
    // still runs its pods, and the log names what to remove by hand.
    if let Err(e) = tokio::task::spawn_blocking(move || leftovers::remove_other_datapaths(mode, &n)).await? {
        tracing::error!("cleaning up after the datapath this node ran before: {e:#}");
    }
    // The eBPF datapath opens before the plugin is served: a network agent
    // apart from the pods' (the DaemonSet) attaches each new pod at its
    // CNI ADD and adopts the running ones.
    let mut around = None;
    if agent.args.datapath.is(Datapath::Ebpf) {
        let dp = tokio::task::spawn_blocking(move || ebpf::open(&node)).await??;
        tokio::spawn(ebpf::collect_conntrack_forever(dp.clone()));
        let _ = agent.ebpf.set(dp.clone());
        if agent.args.role == AgentRole::Network {
            around = Some(cni_endpoints(agent, dp).await?);
        }
    }
    node::serve_cni(agent, around)
        .await
        .context("serving the CNI plugin")?;
    node::write_conflist(agent, pod_cidr).await?;
    tasks.push((
        "peer routes",
        tokio::spawn(node::sync_peers_forever(agent.clone(), pod_cidr)),
    ));
    tasks.push(("service proxy", tokio::spawn(run_services(agent.clone()))));
    tasks.push(("network policy", tokio::spawn(crate::policy::run(agent.clone()))));
    Ok(())
}

/// The endpoints made at CNI ADD, with the pods already running adopted.
async fn cni_endpoints(
    agent: &Arc<Agent>,
    dp: labyrinth_ebpf::SharedDatapath,
) -> Result<Arc<dyn labyrinth_cni::delegate::Around>> {
    let cfg = agent.runtime.clone();
    tokio::task::spawn_blocking(move || -> Result<Arc<dyn labyrinth_cni::delegate::Around>> {
        let eps = CniEndpoints::new(dp);
        eps.adopt(&crate::runtime::sandbox::load_all(&cfg)?);
        Ok(Arc::new(eps))
    })
    .await?
}

/// A kubelet started before its node joined (kubeadm's control node, whose
/// API server is one of its static pods) waits for the credentials `join`
/// writes.
async fn wait_for_kubeconfig(path: Option<&std::path::PathBuf>) {
    let Some(path) = path else { return };
    if !path.exists() {
        tracing::info!("waiting for {} (written when the node joins)", path.display());
    }
    while !path.exists() {
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
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
        attach: a.bpf_attach,
        delivery: PodDelivery::from_peer_redirect(a.peer_redirect),
    }
}

async fn run_services(agent: Arc<Agent>) -> Result<()> {
    use labyrinth_proxy::datapath::factory;
    use labyrinth_proxy::Proxier;
    let proxier = match agent.args.datapath.datapath() {
        Some(kernel @ (Datapath::Iptables | Datapath::Nftables)) => Proxier::new(factory::build(kernel)?),
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
