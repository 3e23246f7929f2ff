//! `labyrinth uninstall`: the node agent stopped first (it would put back
//! what the rest removes), then everything it made removed
//! (`labyrinth_agent::uninstall`). The agent is found as the node's service
//! manager runs it (`labyrinth_lab::supervise`): the manager is stopped, so
//! it does not start the agent again, and it stops the agent; an agent
//! started by hand is stopped directly.

use std::time::{Duration, Instant};

use anyhow::Result;
use labyrinth_agent::uninstall::{Report, UninstallArgs};
use labyrinth_contracts::process::ProcessRef;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

pub fn run(args: UninstallArgs) -> Result<i32> {
    let mut r = Report::default();
    r.step("node agent", stop_agent());
    labyrinth_agent::uninstall::run(&args, r)
}

/// The command line's words, as /proc/PID/cmdline holds them.
fn cmdline(pid: u32) -> Vec<String> {
    let raw = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    raw.split(|b| *b == 0)
        .filter(|w| !w.is_empty())
        .map(|w| String::from_utf8_lossy(w).into_owned())
        .collect()
}

/// The service manager running the agent: our program, then its arguments.
fn is_agent_manager(argv: &[String]) -> bool {
    let want = labyrinth_lab::supervise::manager_args("agent");
    argv.len() > want.len() && argv[1..=want.len()].iter().zip(want).all(|(a, w)| a == w)
}

/// The agent itself: our program (whatever its path), `agent`.
fn is_agent(argv: &[String]) -> bool {
    let ours = argv
        .first()
        .and_then(|p| std::path::Path::new(p).file_name())
        .is_some_and(|n| n.to_string_lossy().starts_with("labyrinth"));
    ours && argv.get(1).is_some_and(|a| a == "agent")
}

/// Processes of this node whose command line `matches`.
fn find(matches: fn(&[String]) -> bool) -> Vec<ProcessRef> {
    let me = std::process::id();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| *pid != me && matches(&cmdline(*pid)))
        .filter_map(|pid| ProcessRef::of(pid).ok())
        .collect()
}

/// SIGTERM, then SIGKILL to those still there after `grace`; gives each
/// one's description once it has gone.
fn end(procs: &[ProcessRef], what: &str, grace: Duration) -> Result<Vec<String>> {
    for p in procs {
        let _ = kill(Pid::from_raw(p.pid as i32), Signal::SIGTERM);
    }
    let deadline = Instant::now() + grace;
    while procs.iter().any(ProcessRef::alive) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    for p in procs.iter().filter(|p| p.alive()) {
        let _ = kill(Pid::from_raw(p.pid as i32), Signal::SIGKILL);
    }
    std::thread::sleep(Duration::from_millis(200));
    if let Some(p) = procs.iter().find(|p| p.alive()) {
        anyhow::bail!("{what} (pid {}) is still running after SIGKILL", p.pid);
    }
    Ok(procs
        .iter()
        .map(|p| format!("{what} (pid {}), stopped", p.pid))
        .collect())
}

pub(crate) fn stop_agent() -> Result<Vec<String>> {
    // The manager's own stop gives the agent its grace period first.
    let grace = labyrinth_lab::supervise::STOP_GRACE + Duration::from_secs(5);
    let mut done = end(&find(is_agent_manager), "the agent's service", grace)?;
    done.extend(end(&find(is_agent), "the agent", Duration::from_secs(10))?);
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<String> {
        s.split(' ').map(String::from).collect()
    }

    #[test]
    fn finds_the_agent_and_its_manager_by_their_command_lines() {
        let manager = words("/x/labyrinth lab _supervise agent -- /x/labyrinth agent --node-name node-1");
        assert!(is_agent_manager(&manager) && !is_agent(&manager));
        let agent = words("/x/labyrinth agent --node-name node-1");
        assert!(is_agent(&agent) && !is_agent_manager(&agent));
        for other in [
            "/x/labyrinth lab _supervise apiserver -- /x/labyrinth server",
            "/x/labyrinth uninstall",
            "/usr/bin/agent agent",
            "",
        ] {
            let w = words(other);
            assert!(!is_agent(&w) && !is_agent_manager(&w), "{other}");
        }
    }
}
