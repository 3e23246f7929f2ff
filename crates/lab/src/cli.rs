//! `labyrinth lab …`

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};

use crate::config::{Datapath, LabConfig, Routing, StoreKind};

/// The lab's default name, unless LABYRINTH_LAB says otherwise.
pub const DEFAULT_LAB: &str = "labyrinth";

#[derive(Debug, Args)]
pub struct LabArgs {
    #[command(subcommand)]
    pub cmd: LabCmd,
}

#[derive(Debug, Args)]
pub struct NameArg {
    /// Which lab.
    #[arg(long, env = "LABYRINTH_LAB", default_value = DEFAULT_LAB)]
    pub name: String,
}

#[derive(Debug, Subcommand)]
pub enum LabCmd {
    /// Build the VPC and its nodes.
    Up(UpArgs),
    /// Remove a lab (also one left by a crash).
    Down(NameArg),
    /// Show one lab's nodes.
    Status {
        #[command(flatten)]
        name: NameArg,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// List the labs on this machine.
    Ls {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Component logs (agent, kube-apiserver, …) and machine consoles; lists them without arguments.
    Logs {
        #[command(flatten)]
        name: NameArg,
        /// vpc, node-0, node-1, …; all machines without it.
        node: Option<String>,
        /// agent, kube-apiserver, kube-controller-manager, console, …; lists the node's logs without it.
        component: Option<String>,
        /// Keep printing what is appended, until the machine stops (or Ctrl-C).
        #[arg(short, long)]
        follow: bool,
    },
    /// A shell, or one command, inside a node.
    Ssh {
        #[command(flatten)]
        name: NameArg,
        /// node-0, node-1, …
        node: String,
        /// The command (after `--`); an interactive shell without one.
        #[arg(last = true)]
        cmd: Vec<String>,
    },
    /// Print the path of the lab's admin kubeconfig for the host's own
    /// clients (`export KUBECONFIG=$(labyrinth lab kubeconfig)`): its server
    /// is the API endpoint on the host's loopback.
    Kubeconfig(NameArg),
    /// Time `up` and `down` and print JSON (not a test).
    Bench(crate::bench::BenchArgs),
    /// A machine's init (internal: `up` starts one per machine).
    #[command(name = "_sandbox", hide = true)]
    Sandbox(crate::sandbox::SandboxArgs),
    /// The API endpoint's relay (internal: `up` starts it in the VPC).
    #[command(name = "_api-endpoint", hide = true)]
    ApiEndpoint(crate::api_endpoint::EndpointArgs),
    /// A node's service manager (internal: `up` runs each component under one).
    #[command(name = "_supervise", hide = true)]
    Supervise(crate::supervise::SuperviseArgs),
}

#[derive(Debug, Args)]
pub struct UpArgs {
    /// Lab name (overrides the file).
    #[arg(long, env = "LABYRINTH_LAB")]
    pub name: Option<String>,
    /// A lab file (YAML); flags override its fields.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// How many worker nodes after the control node (the file's `workers`; 2 by default).
    #[arg(long)]
    pub workers: Option<u32>,
    /// What translates Services on the nodes (the file's `datapath`; iptables by default).
    #[arg(long, value_enum)]
    pub datapath: Option<Datapath>,
    /// How pod packets cross between nodes (the file's `routing`; tunnel by default).
    #[arg(long, value_enum)]
    pub routing: Option<Routing>,
    /// eBPF datapath: deliver packets for local pods with bpf_redirect_peer,
    /// past their host veth (the file's `peerRedirect`; by default they go
    /// out of the `lxc…` veth, where captures see them).
    #[arg(long)]
    pub peer_redirect: bool,
    /// Control-plane nodes, node-0 first (the file's `controlPlanes`; 1 by
    /// default): 3 makes kubeadm's stacked HA topology (three etcd members
    /// and API servers behind one control-plane address); needs --store etcd.
    #[arg(long)]
    pub control_planes: Option<u32>,
    /// Where the API server keeps objects (the file's `store`; embedded by default, or etcd in node-0).
    #[arg(long, value_enum)]
    pub store: Option<StoreKind>,
    /// Replace a lab of the same name.
    #[arg(long)]
    pub recreate: bool,
    /// Only the machines and the VPC: no API server, agents or controllers.
    #[arg(long)]
    pub bare: bool,
    /// Join only node-0; leave the other nodes (other control planes
    /// included) for you to join with the printed `labyrinth join …`
    /// commands (the file's `manualJoin`).
    #[arg(long)]
    pub manual_join: bool,
    /// One agent process per node for both roles, instead of kubelet-role
    /// agents with the network as the DaemonSet `labyrinth` in kube-system
    /// (the file's `networkDaemonSet: false`).
    #[arg(long)]
    pub single_agent: bool,
    /// Sysctls pods may set besides the safe ones, comma-separated (the
    /// file's `allowedUnsafeSysctls`; the kubelet's
    /// --allowed-unsafe-sysctls): names, or prefixes ending in '*'.
    #[arg(long, value_delimiter = ',')]
    pub allowed_unsafe_sysctls: Vec<String>,
}

impl UpArgs {
    /// The file's config (or the defaults) with the flags applied.
    pub fn config(&self) -> Result<LabConfig> {
        let mut cfg = match &self.config {
            Some(path) => LabConfig::from_file(path)?,
            None => LabConfig {
                name: DEFAULT_LAB.into(),
                ..Default::default()
            },
        };
        if let Some(n) = &self.name {
            cfg.name = n.clone();
        }
        if let Some(w) = self.workers {
            cfg.workers = w;
        }
        if let Some(c) = self.control_planes {
            cfg.control_planes = c;
        }
        if let Some(d) = self.datapath {
            cfg.datapath = d;
        }
        if let Some(r) = self.routing {
            cfg.routing = r;
        }
        if self.peer_redirect {
            cfg.peer_redirect = true;
        }
        if self.manual_join {
            cfg.manual_join = true;
        }
        if self.single_agent {
            cfg.network_daemon_set = false;
        }
        if let Some(st) = self.store {
            cfg.store = st;
        }
        if !self.allowed_unsafe_sysctls.is_empty() {
            cfg.allowed_unsafe_sysctls = self.allowed_unsafe_sysctls.clone();
        }
        match &self.config {
            Some(path) => cfg
                .validate()
                .with_context(|| format!("lab file {}", path.display()))?,
            None => cfg.validate()?,
        }
        Ok(cfg)
    }
}

pub fn run(args: LabArgs) -> Result<i32> {
    match args.cmd {
        LabCmd::Up(up) => {
            let cfg = up.config()?;
            let started = std::time::Instant::now();
            let state = crate::up::up(
                &cfg,
                &crate::up::UpOptions {
                    recreate: up.recreate,
                    bare: up.bare,
                },
            )?;
            // On stdout, terminal or not: `lab up > log` keeps what was
            // made and how to reach it.
            print!("{}", summary(&state, up.bare, started.elapsed()));
            Ok(0)
        }
        LabCmd::Down(n) => crate::down::down(&n.name).map(|_| 0),
        LabCmd::Status { name, json } => {
            let s = crate::status::status(&name.name)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&s)?);
            } else {
                crate::status::print_status(&s);
            }
            Ok(if s.state == "running" { 0 } else { 1 })
        }
        LabCmd::Ls { json } => {
            let labs = crate::status::ls()?;
            if json {
                println!("{}", serde_json::to_string_pretty(&labs)?);
            } else {
                crate::status::print_ls(&labs);
            }
            Ok(0)
        }
        LabCmd::Logs {
            name,
            node,
            component,
            follow,
        } => crate::logs::run(&name.name, node.as_deref(), component.as_deref(), follow),
        LabCmd::Ssh { name, node, cmd } => crate::enter::ssh(&name.name, &node, &cmd),
        LabCmd::Kubeconfig(n) => {
            println!("{}", crate::api_endpoint::kubeconfig_of(&n.name)?.display());
            Ok(0)
        }
        LabCmd::Bench(b) => crate::bench::run(b),
        LabCmd::ApiEndpoint(a) => crate::api_endpoint::run(a),
        LabCmd::Sandbox(s) => crate::sandbox::run(s),
        LabCmd::Supervise(s) => crate::supervise::run(s),
    }
}

/// What `lab up` made, in one line, and the commands that come next.
fn summary(state: &crate::state::LabState, bare: bool, took: std::time::Duration) -> String {
    let c = &state.config;
    let name = &c.name;
    let worker = state
        .nodes
        .iter()
        .map(|n| n.plan.name.as_str())
        .find(|n| *n != "node-0")
        .unwrap_or("node-0");
    // The first node that is not a control plane (node-1 with one).
    let first_worker = state
        .nodes
        .iter()
        .find(|n| !n.plan.control_plane)
        .map_or(worker, |n| n.plan.name.as_str());
    let what = if bare {
        "bare machines, no cluster".to_string()
    } else {
        let peer = if c.peer_redirect {
            " with peer redirect"
        } else {
            ""
        };
        let store = if c.store == StoreKind::Etcd {
            ", store etcd"
        } else {
            ""
        };
        format!("datapath {}{peer}, routing {}{store}", c.datapath, c.routing)
    };
    let mut out = format!(
        "lab {name} is up: {} nodes ({what}) in {} ms\n",
        state.nodes.len(),
        took.as_millis()
    );
    out += &format!("  labyrinth lab ssh --name {name} {worker}      a shell on a node\n");
    if !bare {
        out += &format!("  labyrinth kubectl --name {name} get nodes -o wide\n");
    }
    if let Some(at) = state.api_endpoint {
        out += &format!(
            "  export KUBECONFIG=$(labyrinth lab kubeconfig --name {name})      your own clients, through https://{at}\n"
        );
    }
    if !bare && c.manual_join && c.control_planes > 1 {
        out += &format!(
            "  only node-0 has joined; upload the certificates there, print the control-plane join command,\n  \
             run it on node-1, then node-2, and the worker join command on each worker:\n    \
             labyrinth lab ssh --name {name} node-0 -- labyrinth init phase upload-certs --upload-certs\n    \
             labyrinth lab ssh --name {name} node-0 -- labyrinth token create --print-join-command --certificate-key KEY\n    \
             labyrinth lab ssh --name {name} node-1 -- labyrinth join … --control-plane --certificate-key KEY\n    \
             labyrinth lab ssh --name {name} node-0 -- labyrinth token create --print-join-command\n    \
             labyrinth lab ssh --name {name} {first_worker} -- labyrinth join …\n"
        );
    } else if !bare && c.manual_join {
        out += &format!(
            "  only node-0 has joined; print the join command there and run it on each worker:\n    \
             labyrinth lab ssh --name {name} node-0 -- labyrinth token create --print-join-command\n    \
             labyrinth lab ssh --name {name} {worker} -- labyrinth join …\n"
        );
    }
    out += &format!("  labyrinth lab down --name {name}          remove it\n");
    out
}
