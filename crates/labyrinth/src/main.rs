//! `labyrinth`: one binary, one subcommand per role of the cluster (as k3s).
//! Installed as `labyrinth-cni` it is the CNI plugin (multi-call).

use clap::{Args, Parser, Subcommand};

#[cfg(test)]
mod help_texts;
mod join;
mod join_control_plane;
mod uninstall;

#[derive(Debug, Parser)]
#[command(
    name = "labyrinth",
    version,
    about = "Kubernetes pod networking from scratch, on one machine"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// The lab: a VPC and its nodes as namespaces (up, down, status, ls, ssh).
    Lab(labyrinth_lab::cli::LabArgs),
    /// The machine's kubectl against a lab (run on its control node).
    Kubectl(KubectlArgs),
    /// Run a command inside a pod of a lab.
    Exec(ExecArgs),
    /// Follow a flow from a pod hop by hop across the lab, and explain it.
    Trace(labyrinth_trace::cli::TraceArgs),
    /// The reference journey end to end (docs/mission.md): lab, manifests, a
    /// line by Service name from wrk-1 to wrk-2, every hop captured and explained.
    Journey(labyrinth_trace::journey::JourneyArgs),
    /// The path a packet would take, from the rules and routes programmed
    /// in the nodes, without sending it (optionally next to a trace).
    Explain(labyrinth_trace::predict::ExplainArgs),
    /// NetworkPolicy questions answered from the API (`policy check`).
    Policy(labyrinth_trace::policy_cmd::PolicyArgs),
    /// The API server (kube-apiserver's role).
    Server(labyrinth_apiserver::Args),
    /// Bootstrap tokens (`token create --print-join-command`).
    Token(TokenArgs),
    /// kubeadm's init phases run on a control plane (`init phase upload-certs`).
    Init(InitArgs),
    /// Join this node to a cluster, as `kubeadm join`.
    Join(join::JoinCmd),
    /// Scheduler, Deployment, EndpointSlice, node IPAM and lifecycle controllers.
    Controllers(labyrinth_controllers::Args),
    /// The control-plane address, held by one control-plane node at a time
    /// through a Lease (kube-vip's role; a static pod on each).
    Vip(labyrinth_controllers::vip::Args),
    /// The node agent (kubelet's role, and the node's pod network).
    Agent(labyrinth_agent::agent::AgentArgs),
    /// Put the network agent onto a cluster: the DaemonSet `labyrinth` in
    /// kube-system (deploy/labyrinth.yaml with this cluster's settings).
    Install(labyrinth_agent::install::InstallArgs),
    /// Install the CNI program into the node's plugin folder (the
    /// DaemonSet's init container runs this).
    InstallCni(labyrinth_agent::install::InstallCniArgs),
    /// Take Labyrinth off this node: stop its agent, end its pods, remove
    /// every device, route, rule, table, chain, eBPF pin and CNI file it made.
    Uninstall(labyrinth_agent::uninstall::UninstallArgs),
    /// The node's container runtime by hand, like crictl (inside a node).
    Runtime(labyrinth_agent::cli::RuntimeArgs),
    /// The CNI plugin (reads CNI_* and the network config on stdin).
    Cni(labyrinth_cni::Args),
    /// Cluster DNS (CoreDNS's role).
    Dns(labyrinth_dns::Args),
    /// The VPC's own resolver (node names, reverse lookups of lab addresses),
    /// which the lab runs on the VPC gateway for the nodes.
    VpcDns(labyrinth_dns::vpc::Args),
    /// The eBPF datapath's maps inside a node (`bpf map get services`).
    Bpf(labyrinth_ebpf::cli::BpfArgs),
    /// Flows as the eBPF programs see them, live (like `hubble observe`); policy drops on iptables/nftables nodes.
    Observe(labyrinth_ebpf::cli::ObserveArgs),
    /// A test workload for pods: `serve` the hostname on TCP and UDP,
    /// `dial` a Service with many new flows and count who answered.
    Netexec(labyrinth_netexec::Args),
    /// The Kubernetes e2e image agnhost's network subcommands
    /// (serve-hostname, netexec, connect, porter, pause).
    Agnhost(labyrinth_netexec::agnhost::Args),
}

#[derive(Debug, Args)]
struct KubectlArgs {
    /// Which lab.
    #[arg(long, env = "LABYRINTH_LAB", default_value = labyrinth_lab::cli::DEFAULT_LAB)]
    name: String,
    /// kubectl's own arguments (run in your directory, with your files).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    args: Vec<String>,
}

#[derive(Debug, Args)]
struct ExecArgs {
    /// Which lab.
    #[arg(long, env = "LABYRINTH_LAB", default_value = labyrinth_lab::cli::DEFAULT_LAB)]
    name: String,
    /// The pod's namespace.
    #[arg(short = 'n', long, default_value = "default")]
    namespace: String,
    /// The pod's name.
    pod: String,
    /// The command to run in the pod (after `--`).
    #[arg(last = true, required = true)]
    cmd: Vec<String>,
}

#[derive(Debug, Args)]
struct TokenArgs {
    #[command(subcommand)]
    cmd: TokenCmd,
}

#[derive(Debug, Subcommand)]
enum TokenCmd {
    /// Create a bootstrap token.
    Create(labyrinth_apiserver::TokenArgs),
}

#[derive(Debug, Args)]
struct InitArgs {
    #[command(subcommand)]
    cmd: InitCmd,
}

#[derive(Debug, Subcommand)]
enum InitCmd {
    /// One phase of init.
    #[command(subcommand)]
    Phase(PhaseCmd),
}

#[derive(Debug, Subcommand)]
enum PhaseCmd {
    /// Seal the control plane's shared certificates and keys into Secret
    /// kube-system/kubeadm-certs and print the key (`join --control-plane
    /// --certificate-key` opens it).
    UploadCerts(labyrinth_apiserver::UploadCertsArgs),
}

fn main() {
    // Multi-call: as /opt/cni/bin/labyrinth-cni we are the CNI plugin.
    let argv0 = std::env::args_os().next().unwrap_or_default();
    if std::path::Path::new(&argv0)
        .file_name()
        .is_some_and(|n| n == "labyrinth-cni")
    {
        std::process::exit(labyrinth_cni::plugin_main());
    }
    // No threads may start before `lab _sandbox` or `lab ssh` have
    // done their namespace work: they need a single-threaded process.
    // As /agnhost (the image catalog's link) we are agnhost: `/agnhost
    // netexec …` is `labyrinth agnhost netexec …`.
    let cli = if std::path::Path::new(&argv0)
        .file_name()
        .is_some_and(|n| n == "agnhost")
    {
        let args = std::env::args_os().skip(1);
        Cli::parse_from(["labyrinth".into(), "agnhost".into()].into_iter().chain(args))
    } else {
        Cli::parse()
    };
    // Daemons log to stderr (their node's /var/log/labyrinth/<name>.log);
    // RUST_LOG overrides. Installing it starts no thread.
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Colour only for a person's terminal: a log file keeps plain text.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .try_init();
    let result = match cli.cmd {
        Cmd::Lab(args) => labyrinth_lab::cli::run(args),
        Cmd::Kubectl(a) => labyrinth_lab::enter::kubectl(&a.name, &a.args),
        Cmd::Exec(a) => labyrinth_lab::enter::exec(&a.name, &a.namespace, &a.pod, &a.cmd),
        Cmd::Trace(args) => labyrinth_trace::cli::run(args),
        Cmd::Journey(args) => labyrinth_trace::journey::run(args),
        Cmd::Explain(args) => labyrinth_trace::predict::run(args),
        Cmd::Policy(args) => labyrinth_trace::policy_cmd::run(args),
        Cmd::Server(args) => {
            one_heap_for_one_worker(args.worker_threads);
            labyrinth_apiserver::run(args)
        }
        Cmd::Token(t) => match t.cmd {
            TokenCmd::Create(args) => labyrinth_apiserver::run_token(args),
        },
        Cmd::Init(i) => match i.cmd {
            InitCmd::Phase(PhaseCmd::UploadCerts(args)) => labyrinth_apiserver::run_upload_certs(args),
        },
        Cmd::Join(args) => match args.certificate_key.clone() {
            Some(key) => join_control_plane::run(&args, &key),
            None => join::run(args),
        },
        Cmd::Controllers(args) => {
            one_heap_for_one_worker(args.worker_threads);
            labyrinth_controllers::run(args)
        }
        Cmd::Vip(args) => labyrinth_controllers::vip::run(args),
        Cmd::Agent(args) => labyrinth_agent::agent::run(args),
        Cmd::Install(args) => labyrinth_agent::install::run(args),
        Cmd::InstallCni(args) => labyrinth_agent::install::install_cni(args),
        Cmd::Uninstall(args) => uninstall::run(args),
        Cmd::Runtime(args) => labyrinth_agent::cli::run(args),
        Cmd::Cni(args) => labyrinth_cni::run(args),
        Cmd::Dns(args) => labyrinth_dns::run(args),
        Cmd::VpcDns(args) => labyrinth_dns::vpc::run(args),
        Cmd::Bpf(args) => labyrinth_ebpf::cli::run_bpf(args).map(|()| 0),
        Cmd::Observe(args) => observe(args),
        Cmd::Netexec(args) => labyrinth_netexec::run(args),
        Cmd::Agnhost(args) => labyrinth_netexec::agnhost::run(args),
    };
    finish(result)
}

/// An eBPF node reports flows on its ring buffer; an iptables or nftables
/// node logs its policy drops to NFLOG.
fn observe(args: labyrinth_ebpf::cli::ObserveArgs) -> anyhow::Result<i32> {
    if labyrinth_trace::policy_log::ebpf_node(&args.pin_dir) {
        labyrinth_ebpf::cli::run_observe(args).map(|()| 0)
    } else {
        labyrinth_trace::policy_log::observe(args.json, args.count, args.seconds).map(|()| 0)
    }
}

fn finish(result: anyhow::Result<i32>) -> ! {
    match result {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("labyrinth: {e:#}");
            std::process::exit(1);
        }
    }
}

/// A process of one async worker (`--worker-threads 1`, as a lab runs its
/// control plane) allocates from glibc's main heap, grown 1 MiB at a time.
/// Otherwise the worker thread gets a heap of its own, which glibc grows
/// one page per mprotect as it fills: 1,791 mprotect calls (and as many
/// fresh pages) in the API server during a 100-pod burst. With several
/// workers each keeps its own heap, as they would contend for one.
fn one_heap_for_one_worker(workers: usize) {
    if workers != 1 {
        return;
    }
    // SAFETY: mallopt only sets the allocator's parameters; called before
    // this process starts any thread.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
        libc::mallopt(libc::M_TOP_PAD, 1 << 20);
    }
}
