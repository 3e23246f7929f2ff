//! `lab ssh`: step into a node's namespaces as if logged into that VM.
//!
//! Must run on a single-threaded process: joining a mount namespace is
//! refused to threads that share their filesystem context.

use std::fs::File;
use std::os::fd::AsFd;
use std::os::unix::process::ExitStatusExt;
use std::process::Command;
use std::sync::atomic::{AtomicI32, Ordering};

use anyhow::{bail, Context, Result};
use nix::sched::{setns, CloneFlags};

use crate::state::{Holder, LabDir};

/// The namespaces to join, in order; the mount namespace goes last because
/// after it /proc is the node's.
const NAMESPACES: [(&str, CloneFlags); 5] = [
    ("net", CloneFlags::CLONE_NEWNET),
    ("uts", CloneFlags::CLONE_NEWUTS),
    ("ipc", CloneFlags::CLONE_NEWIPC),
    ("pid", CloneFlags::CLONE_NEWPID),
    ("mnt", CloneFlags::CLONE_NEWNS),
];

/// Join the namespaces of a running holder (this process, for its children).
pub fn join(holder: &Holder, what: &str) -> Result<()> {
    let files: Vec<(File, CloneFlags, &str)> = NAMESPACES
        .iter()
        .map(|(ns, flag)| {
            File::open(holder.ns_path(ns))
                .map(|f| (f, *flag, *ns))
                .with_context(|| format!("opening {ns} namespace of {what}"))
        })
        .collect::<Result<_>>()?;
    // The files pin the namespaces; check the pid still is our holder.
    if !holder.alive() {
        bail!("{what} is not running");
    }
    for (f, flag, ns) in &files {
        setns(f.as_fd(), *flag).with_context(|| format!("joining {ns} namespace of {what}"))?;
    }
    std::env::set_current_dir("/").context("chdir / in the node")?;
    Ok(())
}

/// Run `cmd` (or an interactive shell) inside a node; returns its exit code.
pub fn ssh(lab: &str, node: &str, cmd: &[String]) -> Result<i32> {
    let state = LabDir::new(lab).load()?;
    let n = state.node(node)?;
    let holder = n
        .holder
        .with_context(|| format!("{node} of lab {lab} was never started"))?;
    join(&holder, &format!("{node} of lab {lab}"))?;
    let mut command = match cmd.split_first() {
        Some((prog, args)) => {
            let mut c = Command::new(prog);
            c.args(args);
            c
        }
        None => {
            let shell = std::env::var("SHELL").unwrap_or_else(|_| "/bin/bash".into());
            Command::new(shell)
        }
    };
    command
        .env("LABYRINTH_LAB", lab)
        .env("LABYRINTH_NODE", node)
        .env("PATH", node_path());
    let program = cmd.first().map_or("the shell", String::as_str);
    run_as_shell_would(command, program, &format!("in {node}"))
}

/// The PATH inside a node: the lab's own binary first (the node's init
/// linked it there, see sandbox.rs), then the caller's PATH.
fn node_path() -> std::ffi::OsString {
    let mut dirs = vec![std::path::PathBuf::from(labyrinth_contracts::node::BIN_DIR)];
    match std::env::var_os("PATH") {
        Some(p) => dirs.extend(std::env::split_paths(&p)),
        None => dirs.extend(std::env::split_paths(labyrinth_contracts::node::STANDARD_PATH)),
    }
    std::env::join_paths(dirs).unwrap_or_default()
}

/// Run `command` as our child (see [`run_forwarding_signals`]) and return
/// its exit code; one that cannot be started at all gets a shell's code.
fn run_as_shell_would(command: Command, program: &str, place: &str) -> Result<i32> {
    match run_forwarding_signals(command) {
        Err(e) => match not_runnable(&e) {
            // As a shell answers: 127 for a command it cannot find, 126 for
            // one it may not run, each with the reason in words.
            Some(code) => {
                eprintln!("labyrinth: {program}: {} {place}", not_runnable_words(code));
                Ok(code)
            }
            None => Err(e.context(format!("running {program} {place}"))),
        },
        ok => ok,
    }
}

/// The shell's exit code for a command that could not be started at all.
fn not_runnable(e: &anyhow::Error) -> Option<i32> {
    match e.downcast_ref::<std::io::Error>()?.kind() {
        std::io::ErrorKind::NotFound => Some(127),
        std::io::ErrorKind::PermissionDenied => Some(126),
        _ => None,
    }
}

fn not_runnable_words(code: i32) -> &'static str {
    if code == 127 {
        "command not found"
    } else {
        "permission denied"
    }
}

/// Run the command as our child and always reap it ourselves: a process
/// inside the node whose parent dies is handed to the *host's* init, and the
/// node's pid namespace cannot finish dying until that init reaps it. So
/// termination signals sent to us are passed on, and we wait.
///
/// A handler, not a thread: after joining the node's pid namespace this
/// process may not create threads.
fn run_forwarding_signals(mut command: Command) -> Result<i32> {
    use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};
    let action = SigAction::new(SigHandler::Handler(forward), SaFlags::SA_RESTART, SigSet::empty());
    for s in [Signal::SIGTERM, Signal::SIGINT, Signal::SIGHUP, Signal::SIGQUIT] {
        // SAFETY: the handler only reads an atomic and calls kill(2).
        unsafe { sigaction(s, &action) }?;
    }
    // Exec resets caught signals to their defaults in the child.
    let mut child = command.spawn()?;
    CHILD.store(child.id() as i32, Ordering::SeqCst);
    let status = child.wait()?;
    Ok(status
        .code()
        .unwrap_or_else(|| 128 + status.signal().unwrap_or(0)))
}

static CHILD: AtomicI32 = AtomicI32::new(0);

extern "C" fn forward(sig: libc::c_int) {
    let pid = CHILD.load(Ordering::SeqCst);
    if pid > 0 {
        // SAFETY: kill(2) is async-signal-safe.
        unsafe { libc::kill(pid, sig) };
    }
}

/// `labyrinth kubectl …`: the machine's kubectl with the caller's working
/// directory and files (relative `-f`, /tmp, `-k` directories), talking to
/// the lab's API server with the lab's admin credentials.
///
/// Only the control node's *network* namespace is joined, where the API
/// server's address is local; the mount namespace and the cwd stay the
/// host's, and the host's network namespace is not touched. The
/// credentials are the control node's own admin.conf, read through its
/// root: it names the lab's address, which only the lab reaches (the host's
/// copy names the loopback endpoint instead, `crate::api_endpoint`), and
/// `port-forward` listens on node-0's loopback, as the README shows.
pub fn kubectl(lab: &str, args: &[String]) -> Result<i32> {
    let dir = LabDir::new(lab);
    let state = dir.load()?;
    let cp = state
        .nodes
        .iter()
        .find(|n| n.plan.control_plane)
        .with_context(|| format!("lab {lab} has no control node"))?;
    let what = format!("{} of lab {lab}", cp.plan.name);
    let holder = cp.holder.with_context(|| format!("{what} was never started"))?;
    let net = File::open(holder.ns_path("net"))
        .with_context(|| format!("opening the network namespace of {what}"))?;
    if !holder.alive() {
        bail!("{what} is not running");
    }
    // Read while the holder is known alive, so the path is node-0's root.
    let kubeconfig = format!("/proc/{}/root{}", holder.pid, crate::cluster::ADMIN_KUBECONFIG);
    if !std::path::Path::new(&kubeconfig).exists() {
        bail!(
            "lab {lab} has no cluster to talk to (no {} on {}; was it made with `up --bare`?)",
            crate::cluster::ADMIN_KUBECONFIG,
            cp.plan.name
        );
    }
    setns(net.as_fd(), CloneFlags::CLONE_NEWNET)
        .with_context(|| format!("joining the network namespace of {what}"))?;
    let mut command = Command::new("kubectl");
    // Its discovery cache in the lab's directory too: the caller's ~/.kube
    // stays untouched, and labs at the same address never share a cache.
    command
        .args(args)
        .env("KUBECONFIG", &kubeconfig)
        .env("KUBECACHEDIR", dir.path.join("kube-cache"));
    run_as_shell_would(command, "kubectl", "on this machine")
}

/// `labyrinth exec -n NS POD -- CMD…`: find the pod's node, then run the
/// command inside the pod's namespaces there.
pub fn exec(lab: &str, namespace: &str, pod: &str, cmd: &[String]) -> Result<i32> {
    let exe = std::env::current_exe()?;
    let out = Command::new(&exe)
        .args(["kubectl", "--name", lab, "get", "pod", "-n", namespace, pod])
        .args(["-o", "jsonpath={.spec.nodeName}"])
        .output()?;
    if !out.status.success() {
        bail!("{}", String::from_utf8_lossy(&out.stderr).trim());
    }
    let node = String::from_utf8(out.stdout)?.trim().to_string();
    if node.is_empty() {
        bail!("pod {namespace}/{pod} is not scheduled to a node yet");
    }
    let mut argv = vec![
        exe.to_string_lossy().into_owned(),
        "runtime".into(),
        "exec".into(),
        format!("{namespace}/{pod}"),
        "--".into(),
    ];
    argv.extend_from_slice(cmd);
    ssh(lab, &node, &argv)
}
