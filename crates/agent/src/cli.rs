//! `labyrinth runtime …`: the node's container runtime by hand, in the role
//! of `crictl` (run a pod sandbox with a container, list, exec, remove).
//! Runs inside a node (`labyrinth lab ssh node-1 -- labyrinth runtime pods`).

use std::net::Ipv4Addr;
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use labyrinth_netlink::process::ProcessRef;

use crate::runtime::{
    cni::CniConfig, container, files::DnsConfig, sandbox, ContainerSpec, PodRef, RuntimeConfig,
};

#[derive(Debug, Args)]
pub struct RuntimeArgs {
    #[command(flatten)]
    pub common: Common,
    #[command(subcommand)]
    pub cmd: RuntimeCmd,
}

#[derive(Debug, Args)]
pub struct Common {
    /// Where the CNI network config is read.
    #[arg(long, default_value = "/etc/cni/net.d")]
    pub cni_conf_dir: PathBuf,
    /// Colon-separated, as CNI_PATH.
    #[arg(long, default_value = "/opt/cni/bin")]
    pub cni_bin_dir: String,
    /// The cluster DNS Service's address, written into pods' resolv.conf.
    #[arg(long, default_value = "10.96.0.10")]
    pub cluster_dns: Ipv4Addr,
    /// The cluster's DNS domain, for pods' search paths.
    #[arg(long, default_value = "cluster.local")]
    pub cluster_domain: String,
}

#[derive(Debug, Subcommand)]
pub enum RuntimeCmd {
    /// Make a pod sandbox and start one container in it.
    Runp {
        /// The pod's namespace.
        #[arg(long, short = 'n', default_value = "default")]
        namespace: String,
        /// The pod's name.
        name: String,
        /// The pod's UID (a random one without it).
        #[arg(long)]
        uid: Option<String>,
        /// Recorded only: the container's command is a program of the machine.
        #[arg(long, default_value = "docker.io/library/busybox")]
        image: String,
        /// The container's command; none means sleep forever.
        #[arg(last = true)]
        argv: Vec<String>,
    },
    /// Tear a pod sandbox down (containers, CNI DEL, netns).
    Rmp {
        /// The pod: its uid, NAMESPACE/NAME, or NAME.
        pod: String,
    },
    /// List sandboxes.
    Pods {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Run a command inside a pod.
    Exec {
        /// The pod: its uid, NAMESPACE/NAME, or NAME.
        pod: String,
        /// KEY=VALUE added to the container's environment (repeatable), as `docker exec -e`.
        #[arg(long = "env", short = 'e', value_name = "KEY=VALUE")]
        env: Vec<String>,
        /// The command to run in the pod (after `--`).
        #[arg(last = true, required = true)]
        argv: Vec<String>,
    },
}

fn config(c: &Common) -> Result<RuntimeConfig> {
    let mut cfg = RuntimeConfig::standard(DnsConfig::cluster(c.cluster_dns, &c.cluster_domain));
    cfg.cni = CniConfig::new(
        c.cni_conf_dir.clone(),
        std::env::split_paths(&c.cni_bin_dir).collect(),
    );
    Ok(cfg)
}

pub fn run(args: RuntimeArgs) -> Result<i32> {
    let cfg = config(&args.common)?;
    match args.cmd {
        RuntimeCmd::Runp {
            namespace,
            name,
            uid,
            image,
            argv,
        } => {
            // Only a new sandbox needs the pause program (the agent
            // installs it too, at start).
            crate::runtime::pause::install(&cfg.pause)?;
            crate::runtime::logs::install(&cfg.crilog)?;
            let uid = uid.unwrap_or_else(random_uid);
            let pod = PodRef { uid, namespace, name };
            let mut stages = crate::runtime::stages::Stages::since(std::time::Instant::now());
            let mut rec = sandbox::create(&cfg, &pod, Default::default(), &[], &mut stages)?;
            let spec = ContainerSpec {
                name: "main".into(),
                image,
                command: argv,
                args: vec![],
                env: vec![],
                stdin: false,
                mounts: vec![],
                privileges: Default::default(),
            };
            match container::start(&cfg, &rec, &spec, 0) {
                Ok(child) => {
                    let process = ProcessRef::of(child.id()).ok();
                    // The container outlives this command; the node's init
                    // becomes its parent.
                    std::mem::forget(child);
                    rec.containers.insert(
                        spec.name.clone(),
                        sandbox::ContainerRecord {
                            process,
                            restarts: 0,
                            ..Default::default()
                        },
                    );
                    sandbox::save(&cfg, &rec)?;
                }
                Err(e) => {
                    let _ = sandbox::destroy(&cfg, &rec);
                    return Err(e);
                }
            }
            println!(
                "{}\t{}/{}\t{}\t{}",
                rec.pod.uid,
                rec.pod.namespace,
                rec.pod.name,
                rec.ip.map(|i| i.to_string()).unwrap_or_default(),
                rec.netns
            );
            Ok(0)
        }
        RuntimeCmd::Rmp { pod } => {
            let rec = sandbox::find(&cfg, &pod)?;
            sandbox::destroy(&cfg, &rec)?;
            Ok(0)
        }
        RuntimeCmd::Pods { json } => {
            let all = sandbox::load_all(&cfg)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&all)?);
            } else {
                println!("{:<38} {:<40} {:<15} {:<45} READY", "UID", "POD", "IP", "NETNS");
                for r in &all {
                    println!(
                        "{:<38} {:<40} {:<15} {:<45} {}",
                        r.pod.uid,
                        format!("{}/{}", r.pod.namespace, r.pod.name),
                        r.ip.map(|i| i.to_string()).unwrap_or_default(),
                        r.netns,
                        r.pause.alive()
                    );
                }
            }
            Ok(0)
        }
        RuntimeCmd::Exec {
            pod,
            env: extra,
            argv,
        } => {
            let rec = sandbox::find(&cfg, &pod)?;
            // In the first container's root, if it has a process, with its
            // environment, as `kubectl exec` gives, not the caller's.
            let mnt = rec
                .containers
                .iter()
                .find_map(|(_, c)| c.process.filter(|p| p.alive()))
                .map_or(container::pod_process(&rec), |p| p.pid);
            let mut env = container::process_env(mnt);
            if env.is_empty() {
                env.push(("PATH".into(), crate::runtime::container_path()));
            }
            for kv in &extra {
                let (k, v) = kv
                    .split_once('=')
                    .with_context(|| format!("--env {kv:?}: expected KEY=VALUE"))?;
                env.push((k.to_string(), v.to_string()));
            }
            let status = container::command_in_container(&cfg.pause, &rec, mnt, &argv)?
                .env_clear()
                .envs(env)
                .status()
                .context("running the command")?;
            Ok(status
                .code()
                .unwrap_or_else(|| 128 + status.signal().unwrap_or(0)))
        }
    }
}

/// A version-4 UUID from the kernel's generator.
fn random_uid() -> String {
    std::fs::read_to_string("/proc/sys/kernel/random/uuid")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| format!("pod-{}", std::process::id()))
}
