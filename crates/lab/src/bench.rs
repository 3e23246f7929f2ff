//! `lab bench`: wall time and peak memory of `up` and `down`, against a
//! baseline built in the same run: the same VPC bridge and node uplinks made
//! by hand with iproute2 (`ip netns add`, `ip link add … type veth`, …) in a
//! private mount namespace, as one would script it.
//!
//! Prints JSON; this is a measurement, not a test.

use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};

use crate::state::LabDir;

#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// Node counts to measure (control plane included).
    #[arg(long, value_delimiter = ',', default_values_t = [3u32, 50])]
    pub nodes: Vec<u32>,
    /// Rounds per size; the median is reported.
    #[arg(long, default_value_t = 5)]
    pub rounds: usize,
}

pub fn run(args: BenchArgs) -> Result<i32> {
    // Each lab's init outlives the `up` that made it; as a subreaper we get
    // it back when it dies and reap it, instead of leaving it to a host init
    // that might not.
    // SAFETY: prctl with integer arguments.
    unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
    let mut results = Vec::new();
    for &n in &args.nodes {
        if n < 2 {
            bail!("--nodes: each size must be at least 2 (a control plane and a worker), got {n}");
        }
        results.push(measure(n, args.rounds.max(1))?);
    }
    println!(
        "{}",
        serde_json::to_string_pretty(&json!({ "benchmark": "lab-up-down", "results": results }))?
    );
    Ok(0)
}

struct Run {
    wall_ms: f64,
    max_rss_kib: i64,
}

/// Run a command to completion, returning wall time and its peak RSS.
fn timed(cmd: &mut Command) -> Result<Run> {
    let start = Instant::now();
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .context("spawning")?;
    let mut status = 0;
    // SAFETY: zeroed rusage is a valid out-parameter for wait4.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // wait4 instead of Child::wait: we want the child's own rusage.
    let r = unsafe { libc::wait4(child.id() as i32, &mut status, 0, &mut usage) };
    let wall_ms = start.elapsed().as_secs_f64() * 1e3;
    if r < 0 {
        bail!("wait4: {}", std::io::Error::last_os_error());
    }
    if !libc::WIFEXITED(status) || libc::WEXITSTATUS(status) != 0 {
        bail!("{cmd:?} failed (status {status})");
    }
    Ok(Run {
        wall_ms,
        max_rss_kib: usage.ru_maxrss,
    })
}

/// Reap whatever children have exited (the labs' inits, re-parented to us).
fn reap_orphans() {
    use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
    while let Ok(s) = waitpid(None, Some(WaitPidFlag::WNOHANG)) {
        if s == WaitStatus::StillAlive {
            break;
        }
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn rss_kib(pid: u32) -> i64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.split_whitespace().next()?.parse().ok())
        })
        .unwrap_or(0)
}

fn measure(nodes: u32, rounds: usize) -> Result<Value> {
    let exe = std::env::current_exe()?;
    let name = format!("bench-{}-{nodes}", std::process::id());
    let (mut up, mut down, mut base) = (Vec::new(), Vec::new(), Vec::new());
    let (mut up_rss, mut lab_rss) = (0i64, 0i64);
    for _ in 0..rounds {
        let r = timed(Command::new(&exe).args([
            "lab",
            "up",
            "--name",
            &name,
            "--workers",
            &(nodes - 1).to_string(),
        ]))?;
        up.push(r.wall_ms);
        up_rss = up_rss.max(r.max_rss_kib);
        if let Ok(state) = LabDir::new(&name).load() {
            let total: i64 = state
                .vpc
                .iter()
                .chain(state.nodes.iter().filter_map(|n| n.holder.as_ref()))
                .map(|h| rss_kib(h.pid))
                .sum();
            lab_rss = lab_rss.max(total);
        }
        let d = timed(Command::new(&exe).args(["lab", "down", "--name", &name]));
        let d = match d {
            Ok(d) => d,
            Err(e) => {
                let _ = crate::down::down(&name);
                return Err(e);
            }
        };
        down.push(d.wall_ms);
        reap_orphans();
        base.push(timed(&mut baseline_command(nodes))?.wall_ms);
    }
    let (up_ms, down_ms, base_ms) = (median(up), median(down), median(base));
    Ok(json!({
        "nodes": nodes,
        "rounds": rounds,
        "up_ms": up_ms,
        "down_ms": down_ms,
        "up_peak_rss_kib": up_rss,
        "lab_processes_rss_kib": lab_rss,
        "baseline": "iproute2 by hand: netns + bridge + veth uplinks + addresses (no pid/mount/uts namespaces)",
        "baseline_up_ms": base_ms,
        "up_vs_baseline": up_ms / base_ms,
        "goal_up_ms": if nodes <= 3 { 300.0 } else if nodes <= 50 { 3000.0 } else { f64::NAN },
    }))
}

/// The hand-built equivalent, in a private mount namespace so that
/// `ip netns add` never touches the host's /run/netns; everything it made is
/// released when the shell exits.
fn baseline_command(nodes: u32) -> Command {
    let uplink = labyrinth_contracts::node::UPLINK_DEV;
    let script = format!(
        r#"set -e
mount -t tmpfs none /run
ip netns add vpc
ip -n vpc link set lo up
ip -n vpc link add vpc0 type bridge
ip -n vpc link set vpc0 up
i=0
while [ $i -lt {nodes} ]; do
  ip netns add n$i
  ip -n vpc link add vpc-n$i type veth peer name {uplink} netns n$i
  ip -n vpc link set vpc-n$i master vpc0 up
  ip -n n$i link set lo up
  ip -n n$i addr add 10.168.0.$((i+2))/24 dev {uplink}
  ip -n n$i link set {uplink} up
  ip netns exec n$i sysctl -qw net.ipv4.ip_forward=1
  i=$((i+1))
done
"#
    );
    let mut cmd = Command::new("unshare");
    cmd.args(["--mount", "--propagation", "private", "sh", "-c", &script]);
    cmd
}
