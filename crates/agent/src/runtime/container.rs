//! A container is a program of the machine started inside the pod sandbox's
//! namespaces, its output in the kubelet's log layout.

use std::fs::File;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use labyrinth_contracts::sandbox::SandboxRecord;
use labyrinth_netlink::process::ProcessRef;
use nix::sched::{setns, CloneFlags};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use super::{ContainerSpec, RuntimeConfig};

const POD_NAMESPACES: [(&str, CloneFlags); 4] = [
    ("ipc", CloneFlags::CLONE_NEWIPC),
    ("uts", CloneFlags::CLONE_NEWUTS),
    ("net", CloneFlags::CLONE_NEWNET),
    ("mnt", CloneFlags::CLONE_NEWNS),
];

/// Open the sandbox's namespace files (before forking: the child may only
/// call async-signal-safe functions).
pub fn namespace_files(rec: &SandboxRecord) -> Result<Vec<(File, CloneFlags)>> {
    POD_NAMESPACES
        .iter()
        .map(|(ns, flag)| {
            File::open(rec.pause.ns_path(ns))
                .map(|f| (f, *flag))
                .with_context(|| format!("opening {ns} namespace of pod {}", rec.pod.name))
        })
        .collect()
}

/// A command that will run inside the pod.
pub fn command_in_pod(rec: &SandboxRecord, argv: &[String]) -> Result<Command> {
    let files = namespace_files(rec)?;
    let (prog, args) = argv.split_first().context("empty command")?;
    let mut cmd = Command::new(prog);
    cmd.args(args);
    cmd.env("HOSTNAME", rec.pod.hostname());
    let fds: Vec<(i32, CloneFlags)> = files.iter().map(|(f, fl)| (f.as_raw_fd(), *fl)).collect();
    // SAFETY: the closure only calls setns/chdir (async-signal-safe) and the
    // fds stay open until spawn returns (they are moved into the closure).
    unsafe {
        cmd.pre_exec(move || {
            let _keep = &files;
            for (fd, flag) in &fds {
                setns(BorrowedFd::borrow_raw(*fd), *flag).map_err(std::io::Error::from)?;
            }
            nix::unistd::chdir("/").map_err(std::io::Error::from)?;
            Ok(())
        });
    }
    Ok(cmd)
}

/// Start one container; its stdout and stderr go to its log writer
/// (`super::logs`).
pub fn start(cfg: &RuntimeConfig, rec: &SandboxRecord, spec: &ContainerSpec, restarts: u32) -> Result<Child> {
    let (stdout, stderr) = super::logs::start_writer(cfg, &rec.pod, &spec.name, restarts)?;
    let mut cmd = if spec.argv.is_empty() {
        // No command: the pause program holds the pod's place, as the pause
        // image's container would; it joins the pod by itself, so starting
        // it needs no fork of the agent.
        let mut cmd = Command::new(&cfg.pause);
        cmd.arg("enter").arg(rec.pause.pid.to_string());
        cmd.env("HOSTNAME", rec.pod.hostname());
        cmd
    } else {
        command_in_pod(rec, &spec.argv)?
    };
    cmd.env("PATH", super::container_path());
    for (k, v) in &spec.env {
        cmd.env(k, v);
    }
    cmd.stdin(Stdio::null())
        .stdout(stdout)
        .stderr(stderr)
        .process_group(0);
    let program = spec.argv.first().map_or(cfg.pause.as_os_str(), |p| p.as_ref());
    cmd.spawn()
        .with_context(|| format!("starting container {} ({program:?})", spec.name))
}

/// SIGTERM, then SIGKILL after `grace`.
pub fn stop(p: &ProcessRef, grace: Duration) -> Result<()> {
    if !p.alive() {
        return Ok(());
    }
    let pid = Pid::from_raw(p.pid as i32);
    let _ = kill(pid, Signal::SIGTERM);
    let deadline = Instant::now() + grace;
    while p.alive() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    if p.alive() {
        let _ = kill(pid, Signal::SIGKILL);
    }
    Ok(())
}
