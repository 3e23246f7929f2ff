//! Issue 20, acceptance 5: `lab up --manual-join` leaves the workers as bare
//! machines; the join command printed on node-0, typed on each worker as
//! the articles do, registers the node and starts its agent with the
//! settings the control plane published, and the cluster runs the journey.

mod common;
use common::journey::*;
use common::*;

fn ready_nodes(lab: &Lab) -> Vec<String> {
    kubectl_ok(lab, &["get", "nodes", "--no-headers"])
        .lines()
        .filter(|l| l.split_whitespace().nth(1) == Some("Ready"))
        .map(|l| l.split_whitespace().next().unwrap_or("").to_string())
        .collect()
}

#[test]
fn workers_joined_by_hand_run_the_journey() {
    if !need_root("workers_joined_by_hand_run_the_journey") {
        return;
    }
    let lab = Lab::cluster("byhand", &["--manual-join", "--datapath", "nftables"]);

    // Only the control node has joined; the workers hold no credential and
    // run no agent.
    let names = kubectl_ok(&lab, &["get", "nodes", "-o", "name"]);
    assert_eq!(names.trim(), "node/node-0", "{names}");
    for node in ["node-1", "node-2"] {
        let out = lab.ssh(node, &["test", "-e", "/etc/labyrinth/kubelet.kubeconfig"]);
        assert!(!out.status.success(), "{node} has a kubeconfig before joining");
        let ps = lab.ssh_ok(node, &["ps", "-eo", "args"]);
        assert!(
            !ps.contains(" agent "),
            "{node} runs an agent before joining:\n{ps}"
        );
    }

    let cmd = lab.ssh_ok("node-0", &[BIN, "token", "create", "--print-join-command"]);
    let mut argv: Vec<&str> = cmd.split_whitespace().collect();
    assert_eq!(argv.first(), Some(&"labyrinth"), "{cmd}");
    argv[0] = BIN;
    for node in ["node-1", "node-2"] {
        let said = lab.ssh_ok(node, &argv);
        assert!(
            said.contains(&format!("This node ({node}) has joined the cluster"))
                && said.contains("Its agent is running (nftables datapath, tunnel routing"),
            "{said}"
        );
        // The agent runs under the node's service manager.
        let ps = lab.ssh_ok(node, &["ps", "-eo", "args"]);
        assert!(ps.contains("lab _supervise agent --"), "{ps}");
    }
    wait_until("three Ready nodes", || ready_nodes(&lab).len() == 3);

    // The agent got the published settings: the nftables datapath made
    // its table on a joined worker.
    let tables = lab.ssh_ok("node-1", &["nft", "list", "tables"]);
    assert!(tables.contains("table ip labyrinth"), "{tables}");

    // The journey across the hand-joined workers.
    let (client, server) = journey_pods(&lab);
    let server_ip = pod_ip(&lab, "wrk-2", &server);
    let got = send_line(&lab, ("wrk-1", &client), ("wrk-2", &server), &server_ip, false);
    assert_eq!(got, "hello-tcp");
    let got = send_line(
        &lab,
        ("wrk-1", &client),
        ("wrk-2", &server),
        "node-wrk-2-ubuntu24.wrk-2",
        false,
    );
    assert_eq!(got, "hello-tcp", "by Service name");

    // Typing the command again on a joined worker changes nothing.
    let out = lab.ssh("node-1", &argv);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("[preflight]"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(ready_nodes(&lab).len(), 3);
    lab.down();
}
