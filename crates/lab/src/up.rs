//! `lab up`: create the VPC, the nodes, and wire them, or roll everything
//! back. The VPC's init holds a "setup pipe" from us: if we die before
//! committing, it exits and the kernel tears the whole lab down.

use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::os::fd::AsFd;
use std::process::{ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context, Result};

use crate::config::LabConfig;
use crate::progress::Progress;
use crate::state::{Holder, LabDir, LabState, NodeState, Phase};
use crate::vpc;

pub struct UpOptions {
    pub recreate: bool,
    /// Machines and network only: no API server, agents or controllers.
    pub bare: bool,
}

/// Create a lab; on any failure nothing of it remains.
pub fn up(cfg: &LabConfig, opts: &UpOptions) -> Result<LabState> {
    cfg.validate()?;
    let dir = LabDir::new(&cfg.name);
    if dir.exists() {
        if !opts.recreate {
            let hint = match dir.load() {
                Ok(s) if s.running() => "it is running",
                _ => "it is left from a failed or killed `up`",
            };
            bail!(
                "lab {:?} already exists ({hint}); use `labyrinth lab down --name {0}` first, or `up --recreate`",
                cfg.name
            );
        }
        crate::down::down(&cfg.name)?;
    }
    let lock = dir.lock()?;
    let result = create(cfg, &dir, opts);
    if result.is_err() {
        let _ = dir.remove();
    }
    drop(lock);
    result
}

fn create(cfg: &LabConfig, dir: &LabDir, opts: &UpOptions) -> Result<LabState> {
    let others = cfg.node_count() as u64 - 1;
    let cluster_steps = if opts.bare {
        0
    } else {
        others + 6 + 2 * (cfg.control_planes as u64 - 1)
    };
    let progress = Progress::new(others * 2 + 4 + cluster_steps);
    let mut state = LabState {
        config: cfg.clone(),
        phase: Phase::Creating,
        created: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0),
        vpc: None,
        nodes: cfg
            .nodes()
            .into_iter()
            .map(|plan| NodeState { plan, holder: None })
            .collect(),
        api_endpoint: None,
    };
    dir.save(&state)?;

    progress.step(&format!("{}: VPC namespace", cfg.name));
    let (vpc_holder, setup_pipe) = spawn_vpc(cfg, dir)?;
    state.vpc = Some(vpc_holder);
    dir.save(&state)?;
    fault_point("vpc");

    // From here on, dropping `setup_pipe` (on any error) ends the lab.
    let holders = spawn_nodes(&vpc_holder, &state, dir, &progress)?;
    for (node, holder) in state.nodes.iter_mut().zip(holders) {
        node.holder = Some(holder);
    }
    dir.save(&state)?;
    fault_point("nodes");

    progress.step(&format!("{}: VPC bridge {}", cfg.name, vpc::BRIDGE));
    let mut vpc_nl = vpc::build_vpc(&vpc_holder, cfg)?;
    for node in &state.nodes {
        progress.step(&format!(
            "{}: uplink {} {}",
            node.plan.name,
            vpc::UPLINK,
            node.plan.address
        ));
        vpc::plug_node(&mut vpc_nl, node.holder.as_ref().unwrap(), &node.plan, cfg)
            .with_context(|| format!("wiring {}", node.plan.name))?;
    }
    progress.step(&format!("{}: resolver on {}", cfg.name, vpc::gateway(cfg)));
    crate::vpc_dns::start(&vpc_holder, cfg, dir)?;
    for node in &state.nodes {
        crate::vpc_dns::configure_node(node.holder.as_ref().unwrap(), cfg)
            .with_context(|| format!("pointing {} at the VPC resolver", node.plan.name))?;
    }
    fault_point("wired");
    if !opts.bare {
        let endpoint = crate::cluster::start(&state, &progress)
            .and_then(|endpoint| crate::addons::install(&state, &progress).map(|()| endpoint))
            .context("starting the cluster")?;
        state.api_endpoint = Some(endpoint);
        fault_point("cluster");
    }

    state.phase = Phase::Running;
    dir.save(&state)?;
    commit(setup_pipe)?;
    progress.finish();
    Ok(state)
}

/// Tell the VPC init that the lab is complete, so it outlives us.
fn commit(mut pipe: ChildStdin) -> Result<()> {
    pipe.write_all(b"c").context("committing the lab")?;
    Ok(())
}

fn sandbox_command(hostname: &str, log: &std::path::Path) -> Result<Command> {
    let exe = std::env::current_exe().context("finding our own executable")?;
    let mut cmd = Command::new(exe);
    cmd.args(["lab", "_sandbox", "--hostname", hostname, "--log"])
        .arg(log);
    cmd.stdout(Stdio::piped()).stderr(Stdio::inherit());
    Ok(cmd)
}

fn spawn_vpc(cfg: &LabConfig, dir: &LabDir) -> Result<(Holder, ChildStdin)> {
    let mut cmd = sandbox_command(&format!("{}-vpc", cfg.name), &dir.log_path("vpc"))?;
    cmd.arg("--setup-pipe").stdin(Stdio::piped());
    let mut shim = cmd.spawn().context("starting the VPC sandbox")?;
    let stdin = shim.stdin.take().unwrap();
    let stdout = shim.stdout.take().unwrap();
    let _ = shim.wait();
    let pid = read_ready(stdout, "the VPC")?;
    Ok((Holder::of(pid)?, stdin))
}

/// Start every node's init inside the VPC's pid namespace (so they die with
/// it). setns(CLONE_NEWPID) changes where a thread's *children* go, so one
/// helper thread joins the VPC's pid namespace and spawns them all.
fn spawn_nodes(vpc: &Holder, state: &LabState, dir: &LabDir, progress: &Progress) -> Result<Vec<Holder>> {
    let pidns = File::open(vpc.ns_path("pid")).context("opening the VPC pid namespace")?;
    let mut cmds = Vec::new();
    for node in &state.nodes {
        cmds.push(sandbox_command(&node.plan.name, &dir.log_path(&node.plan.name))?);
    }
    let outputs: Vec<ChildStdout> = std::thread::scope(|s| {
        s.spawn(|| -> Result<Vec<ChildStdout>> {
            nix::sched::setns(pidns.as_fd(), nix::sched::CloneFlags::CLONE_NEWPID)
                .context("joining the VPC pid namespace")?;
            let mut shims = Vec::new();
            for cmd in &mut cmds {
                cmd.stdin(Stdio::null());
                shims.push(cmd.spawn().context("starting a node sandbox")?);
            }
            let mut outs = Vec::new();
            for mut shim in shims {
                outs.push(shim.stdout.take().unwrap());
                let _ = shim.wait();
            }
            Ok(outs)
        })
        .join()
        .expect("node spawner panicked")
    })?;
    let mut holders = Vec::new();
    for (node, out) in state.nodes.iter().zip(outputs) {
        let pid = read_ready(out, &node.plan.name)?;
        progress.step(&format!("{}: namespaces (pid {pid})", node.plan.name));
        holders.push(Holder::of(pid)?);
    }
    Ok(holders)
}

/// Read the init's one-line report: `ready <host pid>` or `error <why>`.
fn read_ready(out: ChildStdout, who: &str) -> Result<u32> {
    let mut line = String::new();
    BufReader::new(out)
        .read_line(&mut line)
        .with_context(|| format!("waiting for {who} to boot"))?;
    let line = line.trim();
    if let Some(pid) = line.strip_prefix("ready ") {
        return pid
            .parse()
            .with_context(|| format!("{who} reported a bad pid {pid:?}"));
    }
    if let Some(err) = line.strip_prefix("error ") {
        bail!("{who} failed to boot: {err}");
    }
    bail!("{who} exited before it booted")
}

/// Test hook: `LABYRINTH_FAULT=pause:<point>` stops `up` at a known point so
/// a test can kill it there.
fn fault_point(point: &str) {
    if let Ok(v) = std::env::var("LABYRINTH_FAULT") {
        if v.strip_prefix("pause:") == Some(point) {
            eprintln!("paused at {point}");
            loop {
                std::thread::sleep(Duration::from_secs(3600));
            }
        }
    }
}
