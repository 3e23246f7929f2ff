//! CPU time of the lab's long-running processes by role, read from the
//! host's /proc (every node's and pod's processes are visible there): what
//! share of a burst each component took, beside the machine's total. Like
//! that total it is the whole machine's, so a benchmark reading it runs
//! with no other lab up.

use std::collections::BTreeMap;

/// The roles read, in the order they are reported.
pub const ROLES: [&str; 7] = [
    "apiserver",
    "controllers",
    "dns",
    "kubelet_roles",
    "network_agents",
    "pause_processes",
    "log_writers",
];

/// The role of a process by its arguments: `labyrinth <subcommand> …`,
/// the network DaemonSet's agent told from the kubelet role by
/// `--role network`; the pods' own long-running processes by program: the
/// pause program (each sandbox, and each container of the pause image) and
/// the log writers. A pod's `labyrinth-pause run … labyrinth agent …`
/// wrapper is the pause program, whatever command it names.
pub fn role_of(argv: &[&str]) -> Option<&'static str> {
    let exe = argv.first()?.rsplit('/').next()?;
    match exe {
        "labyrinth-pause" => return Some("pause_processes"),
        "labyrinth-crilog" => return Some("log_writers"),
        "labyrinth" => {}
        _ => return None,
    }
    match *argv.get(1)? {
        "server" => Some("apiserver"),
        "controllers" => Some("controllers"),
        "dns" => Some("dns"),
        "agent" if argv.windows(2).any(|w| w == ["--role", "network"]) => Some("network_agents"),
        "agent" => Some("kubelet_roles"),
        _ => None,
    }
}

/// Each role's CPU time so far (ms), summed over its processes.
pub fn by_role() -> BTreeMap<&'static str, f64> {
    let mut out = BTreeMap::new();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return out;
    };
    for entry in dir.flatten() {
        let path = entry.path();
        if !entry
            .file_name()
            .to_string_lossy()
            .bytes()
            .all(|b| b.is_ascii_digit())
        {
            continue;
        }
        // A process may end between the listing and the reads: skip it.
        let Ok(cmdline) = std::fs::read(path.join("cmdline")) else {
            continue;
        };
        let text = String::from_utf8_lossy(&cmdline);
        let argv: Vec<&str> = text.split('\0').filter(|a| !a.is_empty()).collect();
        let Some(role) = role_of(&argv) else {
            continue;
        };
        let ms = match role {
            "pause_processes" | "log_writers" => single_thread_ms(&path),
            _ => thread_group_ms(&path),
        };
        let Some(ms) = ms else {
            continue;
        };
        *out.entry(role).or_insert(0.0) += ms;
    }
    out
}

/// User + system time of the whole thread group, threads that ended
/// included (`stat`'s utime and stime): in clock ticks, each process's
/// total rounded down to 10 ms, which the components' hundreds of ms a
/// burst can afford and their short-lived threads (a network agent's two
/// per CNI ADD) require.
fn thread_group_ms(proc_dir: &std::path::Path) -> Option<f64> {
    // SAFETY: sysconf only reads a configuration value.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    let stat = std::fs::read_to_string(proc_dir.join("stat")).ok()?;
    // After the command name's closing parenthesis: state is field 3,
    // utime and stime fields 14 and 15.
    let (_, rest) = stat.rsplit_once(')')?;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    Some(ticks as f64 * 1000.0 / hz)
}

/// The run time of a single-threaded program (`schedstat`'s first field,
/// in ns): the pods' pause processes and log writers each run for well
/// under a clock tick, which `stat` would round down to nothing.
fn single_thread_ms(proc_dir: &std::path::Path) -> Option<f64> {
    let s = std::fs::read_to_string(proc_dir.join("schedstat")).ok()?;
    let ns: u64 = s.split_whitespace().next()?.parse().ok()?;
    Some(ns as f64 / 1e6)
}
