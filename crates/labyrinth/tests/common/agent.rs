//! Stopping and starting a node's agent by hand, as an operator would on a
//! VM with `systemctl stop` and `start`: the agent runs under the node's
//! service manager (`lab _supervise agent -- …`), which is stopped with it
//! and started again the way `lab up` starts it (detached, its log
//! appended).

use super::*;

pub const AGENT_LOG: &str = "/var/log/labyrinth/agent.log";

/// The agent's own command line starts with our binary then `agent` (its
/// supervisor's starts `… lab _supervise agent -- …`).
pub const AGENT_PATTERN: &str = "^[^ ]*labyrinth agent ";
/// The node service of a lab whose network is the DaemonSet (the
/// default): the kubelet-role agent, not the network agent in its pod.
pub const KUBELET_PATTERN: &str = "^[^ ]*labyrinth agent .*--role kubelet";
const SUPERVISOR_PATTERN: &str = "^[^ ]*labyrinth lab _supervise agent ";

/// The node's agent. A child the agent has forked and not yet exec'd (an
/// exec probe's, for one) still carries the agent's command line: such a
/// match, whose parent matched too, is not another agent.
pub fn agent_pid(lab: &Lab, node: &str) -> String {
    let script = format!(
        "for p in $(pgrep -f '{AGENT_PATTERN}'); do echo $p $(awk '/^PPid:/ {{print $2}}' /proc/$p/status 2>/dev/null); done"
    );
    let out = lab.ssh_ok(node, &["sh", "-c", &script]);
    let rows: Vec<(&str, &str)> = out.lines().filter_map(|l| l.split_once(' ')).collect();
    let pids: Vec<&str> = rows
        .iter()
        .filter(|(_, parent)| !rows.iter().any(|(p, _)| p == parent))
        .map(|(p, _)| *p)
        .collect();
    assert_eq!(pids.len(), 1, "agents on {node}: {out}");
    pids[0].to_string()
}

/// Kill the node's agent; returns its command line.
pub fn stop_agent(lab: &Lab, node: &str) -> Vec<String> {
    let pid = agent_pid(lab, node);
    let cmdline = lab.ssh_ok(node, &["cat", &format!("/proc/{pid}/cmdline")]);
    let argv: Vec<String> = cmdline
        .split('\0')
        .filter(|a| !a.is_empty())
        .map(String::from)
        .collect();
    assert_eq!(argv.get(1).map(String::as_str), Some("agent"), "{argv:?}");
    // Stopping the supervisor stops the agent (SIGTERM) and keeps it down.
    let sup = lab.ssh_ok(node, &["pgrep", "-f", SUPERVISOR_PATTERN]);
    assert_eq!(
        sup.split_whitespace().count(),
        1,
        "agent supervisors on {node}: {sup}"
    );
    lab.ssh_ok(node, &["kill", sup.trim()]);
    super::journey::wait_until("the agent to exit", || {
        !lab.ssh(node, &["kill", "-0", &pid]).status.success()
    });
    argv
}

/// Start an agent with `argv` on the node, detached, logging to AGENT_LOG.
pub fn start_agent(lab: &Lab, node: &str, argv: &[String]) {
    let script = format!("exec \"$0\" \"$@\" >>{AGENT_LOG} 2>&1");
    let mut start = vec![
        "setsid",
        "-f",
        "sh",
        "-c",
        &script,
        BIN,
        "lab",
        "_supervise",
        "agent",
        "--",
    ];
    start.extend(argv.iter().map(String::as_str));
    lab.ssh_ok(node, &start);
    // `setsid -f` returns once it has forked: the supervisor has yet to
    // start the agent, and a caller's next look would race it.
    super::journey::wait_until("the agent to start", || {
        lab.ssh(node, &["pgrep", "-f", AGENT_PATTERN]).status.success()
    });
}

/// Restart the node's agent with `--datapath to`, as an operator moves a
/// node to another datapath.
pub fn switch_agent(lab: &Lab, node: &str, to: &str) {
    let mut argv = stop_agent(lab, node);
    let i = argv
        .iter()
        .position(|a| a == "--datapath")
        .expect("lab up passes --datapath");
    argv[i + 1] = to.to_string();
    start_agent(lab, node, &argv);
}

/// The agent log's length now (to read what a restarted agent writes).
pub fn log_len(lab: &Lab, node: &str) -> usize {
    lab.ssh_ok(node, &["stat", "-c", "%s", AGENT_LOG])
        .trim()
        .parse()
        .unwrap()
}

/// What the agent logged after `from` bytes.
pub fn log_since(lab: &Lab, node: &str, from: usize) -> String {
    lab.ssh_ok(node, &["tail", "-c", &format!("+{}", from + 1), AGENT_LOG])
}
