//! Issue 20, acceptance 1 (the supervised part): `kill -9` of the API
//! server, the controllers and a node agent, each in turn, while a client
//! keeps writing. The node's service manager starts each one again with no
//! human help; no acknowledged write is lost; a running pod is not
//! disturbed. How long each took to come back is printed as JSON
//! (measured, not asserted: the machines are shared).

mod common;
use common::agent::AGENT_PATTERN;
use common::journey::*;
use common::writer::{lost, Writer};
use common::*;
use std::time::Instant;

/// The one pid matching `pattern` on `node`, if exactly one runs.
fn pid_of(lab: &Lab, node: &str, pattern: &str) -> Option<String> {
    let out = lab.ssh(node, &["pgrep", "-f", pattern]);
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let pids: Vec<&str> = text.split_whitespace().collect();
    (pids.len() == 1).then(|| pids[0].to_string())
}

/// kill -9 the component, then wait for a new process and for `healthy`;
/// the seconds from the kill until healthy.
fn kill_and_wait(lab: &Lab, node: &str, pattern: &str, healthy: impl Fn() -> bool) -> f64 {
    let old = pid_of(lab, node, pattern).unwrap_or_else(|| panic!("no single {pattern:?} on {node}"));
    lab.ssh_ok(node, &["kill", "-9", &old]);
    let t = Instant::now();
    wait_until(&format!("{pattern:?} on {node} started again"), || {
        pid_of(lab, node, pattern).is_some_and(|p| p != old)
    });
    wait_until(&format!("{pattern:?} on {node} working again"), &healthy);
    t.elapsed().as_secs_f64()
}

#[test]
fn killed_components_come_back_and_lose_no_acknowledged_write() {
    if !need_root("killed_components_come_back_and_lose_no_acknowledged_write") {
        return;
    }
    let lab = Lab::cluster("heal", &[]);
    kubectl_apply(
        &lab,
        "default",
        "apiVersion: v1\nkind: Pod\nmetadata: {name: steady}\nspec:\n  nodeName: node-1\n  \
         containers: [{name: c, image: busybox, command: [sleep, '3600']}]\n",
    );
    wait_ready(&lab, "default", "steady");
    let steady_pid = exec_ok(&lab, "default", "steady", "cat /proc/1/stat | cut -d' ' -f22");

    // The client: one ConfigMap per write, each name kept once the server
    // acknowledged it (kubectl exited 0).
    let writer = Writer::start(&lab.name, "5s");
    let api_ok = || {
        kubectl(&lab, &["get", "ns", "default", "--request-timeout=3s"])
            .status
            .success()
    };
    wait_until("the first acknowledged write", || writer.acked() > 0);

    let apiserver = kill_and_wait(&lab, "node-0", "^[^ ]*labyrinth server ", api_ok);
    let controllers = kill_and_wait(&lab, "node-0", "^[^ ]*labyrinth controllers ", || {
        // A new Deployment gets its pods only from a working controller
        // manager: the new one is working once it made them.
        let name = format!("probe-{}", writer.acked());
        kubectl(
            &lab,
            &[
                "create",
                "deployment",
                &name,
                "--image=busybox",
                "--",
                "sleep",
                "3600",
            ],
        );
        wait_until("the probe deployment's pod", || {
            !kubectl_ok(&lab, &["get", "pods", "-l", &format!("app={name}"), "-o", "name"])
                .trim()
                .is_empty()
        });
        true
    });
    let agent = kill_and_wait(&lab, "node-1", AGENT_PATTERN, || {
        exec(&lab, "default", "steady", "true").status.success()
    });

    let acked = writer.finish();
    let stored = kubectl_ok(&lab, &["get", "configmaps", "-o", "name"]);
    let lost = lost(&acked, &stored);
    assert!(lost.is_empty(), "acknowledged writes lost: {lost:?}");

    // The pod kept running through all of it: same process, no restart.
    assert_eq!(
        exec_ok(&lab, "default", "steady", "cat /proc/1/stat | cut -d' ' -f22"),
        steady_pid
    );
    let restarts = kubectl_ok(
        &lab,
        &[
            "get",
            "pod",
            "steady",
            "-o",
            "jsonpath={.status.containerStatuses[0].restartCount}",
        ],
    );
    assert_eq!(restarts.trim(), "0");

    // The service manager says what happened, in the component's log.
    let log = lab.ssh_ok("node-1", &["cat", common::agent::AGENT_LOG]);
    assert!(
        log.contains("supervise agent: pid") && log.contains("was killed by SIGKILL"),
        "{log}"
    );

    println!(
        "{}",
        serde_json::json!({
            "benchmark": "self_healing",
            "seconds_until_working_again": {
                "apiserver": apiserver, "controllers": controllers, "agent_node_1": agent
            },
            "acknowledged_writes": acked.len(),
            "lost": 0,
        })
    );
    lab.down();
}
