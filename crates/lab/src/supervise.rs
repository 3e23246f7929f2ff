//! A node's service manager, as systemd is to the kubelet on a VM: `lab up`
//! starts each control-plane component and each node agent under one of
//! these, and when the program exits or is killed it is started again, after
//! a back-off, until the supervisor itself is told to stop (SIGTERM or
//! SIGINT: the service gets SIGTERM, then SIGKILL after a grace period, and
//! the supervisor exits with it).
//!
//! Single-threaded and synchronous on purpose: a signalfd carries SIGCHLD
//! and the stop signals, so a kill of the service and a stop request are
//! read from one place, in order, with no handler racing the main loop.

use std::os::fd::AsFd;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Child, Command, ExitStatus};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{kill, SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::unistd::Pid;

/// What to keep running.
#[derive(Debug, Clone, clap::Args)]
pub struct SuperviseArgs {
    /// The service's name, for the log lines.
    pub service: String,
    /// The program and its arguments, after `--`.
    #[arg(last = true, required = true)]
    pub argv: Vec<String>,
}

/// The first restart waits this long; each quick exit doubles it.
pub const FIRST_DELAY: Duration = Duration::from_secs(1);
/// The longest wait between restarts.
pub const MAX_DELAY: Duration = Duration::from_secs(16);
/// A run this long counts as healthy: the next restart waits FIRST_DELAY.
pub const HEALTHY_RUN: Duration = Duration::from_secs(60);
/// How long a stopping service has between SIGTERM and SIGKILL.
pub const STOP_GRACE: Duration = Duration::from_secs(10);

/// The wait before the next start, given the last wait and how long the
/// service ran: doubled after a quick exit, reset after a healthy run.
pub fn next_delay(last: Option<Duration>, ran: Duration) -> Duration {
    match last {
        _ if ran >= HEALTHY_RUN => FIRST_DELAY,
        None => FIRST_DELAY,
        Some(d) => (d * 2).min(MAX_DELAY),
    }
}

/// How an exit reads in the log.
pub fn describe(status: ExitStatus) -> String {
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exited with status {code}"),
        (None, Some(sig)) => match Signal::try_from(sig) {
            Ok(s) => format!("was killed by {s}"),
            Err(_) => format!("was killed by signal {sig}"),
        },
        _ => "ended".to_string(),
    }
}

/// The command line that starts `argv` as the node service `name`: in a
/// session of its own (so the node's init, not the caller, becomes its
/// parent), under this service manager, appending to the service's log in
/// the node's log directory, where `lab logs` reads it.
pub fn service_command(name: &str, argv: &[&str]) -> Result<Vec<String>> {
    let exe = std::env::current_exe()
        .context("finding our own program")?
        .to_string_lossy()
        .into_owned();
    let logs = crate::logs::NODE_LOG_DIR;
    let script = format!("mkdir -p {logs} && exec \"$0\" \"$@\" >>{logs}/{name}.log 2>&1");
    let mut full: Vec<String> = ["setsid", "-f", "sh", "-c", &script, &exe]
        .into_iter()
        .chain(manager_args(name))
        .map(String::from)
        .collect();
    full.extend(argv.iter().map(|a| a.to_string()));
    Ok(full)
}

/// The words after our program's path in the command line of the
/// manager of service `name` (how `labyrinth uninstall` finds the agent's).
pub fn manager_args(name: &str) -> [&str; 4] {
    ["lab", "_supervise", name, "--"]
}

/// Start the node service `name` on the machine this runs on (see
/// [`service_command`]); returns once it is detached.
pub fn start_here(name: &str, argv: &[&str]) -> Result<()> {
    let full = service_command(name, argv)?;
    let status = Command::new(&full[0])
        .args(&full[1..])
        .stdin(std::process::Stdio::null())
        .status()
        .with_context(|| format!("starting the {name} service"))?;
    if !status.success() {
        anyhow::bail!("starting the {name} service: setsid {}", describe(status));
    }
    Ok(())
}

/// Entry point of `labyrinth lab _supervise SERVICE -- PROGRAM ARGS…`.
pub fn run(args: SuperviseArgs) -> Result<i32> {
    let mut mask = SigSet::empty();
    for s in [Signal::SIGCHLD, Signal::SIGTERM, Signal::SIGINT] {
        mask.add(s);
    }
    mask.thread_set_mask().context("blocking signals")?;
    let sfd = SignalFd::with_flags(&mask, SfdFlags::SFD_CLOEXEC).context("signalfd")?;
    let name = &args.service;
    let mut delay: Option<Duration> = None;
    let mut restarts = 0u32;
    loop {
        let started = Instant::now();
        let mut child = spawn(&args.argv).with_context(|| format!("starting {name}"))?;
        eprintln!("supervise {name}: started pid {}", child.id());
        let status = match wait(&sfd, &mut child)? {
            Waited::Exited(s) => s,
            Waited::StopAsked => return stop(name, &sfd, &mut child),
        };
        let d = next_delay(delay, started.elapsed());
        delay = Some(d);
        restarts += 1;
        eprintln!(
            "supervise {name}: pid {} {}; starting it again in {} s (restart {restarts})",
            child.id(),
            describe(status),
            d.as_secs()
        );
        // A stop asked for during the back-off ends the service for good.
        if signal_within(&sfd, d)?.is_some_and(|s| s != Signal::SIGCHLD) {
            eprintln!("supervise {name}: stopped");
            return Ok(0);
        }
    }
}

fn spawn(argv: &[String]) -> std::io::Result<Child> {
    let mut cmd = Command::new(&argv[0]);
    cmd.args(&argv[1..]);
    // SAFETY: only sigprocmask runs between fork and exec, which is
    // async-signal-safe. The service must not inherit our blocked signals.
    unsafe {
        cmd.pre_exec(|| {
            SigSet::all()
                .thread_unblock()
                .map_err(|e| std::io::Error::from_raw_os_error(e as i32))
        });
    }
    cmd.spawn()
}

enum Waited {
    Exited(ExitStatus),
    StopAsked,
}

/// Until the service exits or a stop signal comes.
fn wait(sfd: &SignalFd, child: &mut Child) -> Result<Waited> {
    loop {
        // SIGCHLD may have come before we looked (a program that failed at
        // once): check the child first, then block on the next signal.
        if let Some(s) = child.try_wait().context("waiting for the service")? {
            return Ok(Waited::Exited(s));
        }
        match signal_within(sfd, Duration::from_secs(3600))? {
            Some(Signal::SIGTERM | Signal::SIGINT) => return Ok(Waited::StopAsked),
            _ => continue,
        }
    }
}

/// SIGTERM to the service, SIGKILL after the grace period.
fn stop(name: &str, sfd: &SignalFd, child: &mut Child) -> Result<i32> {
    let pid = Pid::from_raw(child.id() as i32);
    let _ = kill(pid, Signal::SIGTERM);
    let deadline = Instant::now() + STOP_GRACE;
    loop {
        if let Some(s) = child.try_wait()? {
            eprintln!("supervise {name}: stopped (pid {pid} {})", describe(s));
            return Ok(0);
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            let _ = child.kill();
            let s = child.wait()?;
            eprintln!(
                "supervise {name}: stopped (pid {pid} {} after {} s)",
                describe(s),
                STOP_GRACE.as_secs()
            );
            return Ok(0);
        }
        signal_within(sfd, left)?;
    }
}

/// The next signal read from the signalfd, or None after `timeout`.
fn signal_within(sfd: &SignalFd, timeout: Duration) -> Result<Option<Signal>> {
    let ms = u16::try_from(timeout.as_millis()).unwrap_or(u16::MAX);
    let mut fds = [PollFd::new(sfd.as_fd(), PollFlags::POLLIN)];
    match poll(&mut fds, PollTimeout::from(ms)) {
        Ok(0) => return Ok(None),
        Ok(_) => {}
        Err(nix::errno::Errno::EINTR) => return Ok(None),
        Err(e) => return Err(e).context("poll on the signalfd"),
    }
    let info = sfd.read_signal().context("reading the signalfd")?;
    Ok(info.and_then(|i| Signal::try_from(i.ssi_signo as i32).ok()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quick_exits_double_the_wait_up_to_the_cap_and_a_healthy_run_resets_it() {
        let quick = Duration::from_millis(200);
        let mut last = None;
        let mut seen = Vec::new();
        for _ in 0..7 {
            let d = next_delay(last, quick);
            seen.push(d.as_secs());
            last = Some(d);
        }
        assert_eq!(seen, [1, 2, 4, 8, 16, 16, 16]);
        assert_eq!(next_delay(Some(MAX_DELAY), HEALTHY_RUN), FIRST_DELAY);
    }

    #[test]
    fn exits_read_as_status_or_signal() {
        assert_eq!(describe(ExitStatus::from_raw(3 << 8)), "exited with status 3");
        assert_eq!(describe(ExitStatus::from_raw(9)), "was killed by SIGKILL");
    }
}
