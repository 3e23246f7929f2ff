//! Issue 21: the network role as the DaemonSet `labyrinth` (what `lab up`
//! runs unless `--single-agent`), in each datapath. One `labyrinth-…` pod Runs on
//! every node, found as the articles find Cilium's; `kubectl exec` into it
//! reads the eBPF maps and observes flows; the journey's line crosses by
//! Service name. Then, with a TCP connection of the journey open through
//! the Service, node-1's agent pod is deleted: a new one Runs, the same
//! connection still carries a line, and node-1 has the same devices and
//! addresses as before. A rolling restart of the DaemonSet replaces every
//! agent pod while the connection stays open. `labyrinth install` run on
//! the lab's control node finds the manifest `lab up` applied unchanged.

mod common;
use common::journey::*;
use common::*;

use std::io::Write;
use std::process::{Child, Command, Stdio};

#[test]
fn network_daemonset_iptables() {
    if need_root("network_daemonset_iptables") {
        daemonset("iptables");
    }
}

#[test]
fn network_daemonset_nftables() {
    if need_root("network_daemonset_nftables") {
        daemonset("nftables");
    }
}

#[test]
fn network_daemonset_ebpf() {
    if need_root("network_daemonset_ebpf") {
        daemonset("ebpf");
    }
}

/// The agent pods as `NODE NAME PHASE` lines, sorted by node.
fn agent_pods(lab: &Lab) -> Vec<(String, String, String)> {
    let out = kubectl_ok(
        lab,
        &[
            "-n",
            "kube-system",
            "get",
            "po",
            "-l",
            "k8s-app=labyrinth",
            "-o",
            "jsonpath={range .items[*]}{.spec.nodeName} {.metadata.name} {.status.phase}{\"\\n\"}{end}",
        ],
    );
    let mut pods: Vec<(String, String, String)> = out
        .lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            Some((w.next()?.into(), w.next()?.into(), w.next().unwrap_or("").into()))
        })
        .collect();
    pods.sort();
    pods
}

/// node-1's agent pod, as the articles find Cilium's.
fn node1_agent(lab: &Lab) -> String {
    let out = kubectl_ok(
        lab,
        &[
            "get",
            "po",
            "-n",
            "kube-system",
            "-l",
            "k8s-app=labyrinth",
            "--field-selector",
            "spec.nodeName=node-1",
            "-o",
            "name",
        ],
    );
    let names: Vec<&str> = out.lines().collect();
    assert_eq!(names.len(), 1, "node-1's agent pods: {out}");
    names[0].trim_start_matches("pod/").to_string()
}

/// One Running agent pod on each of the lab's three nodes.
fn wait_one_running_per_node(lab: &Lab) -> Vec<(String, String, String)> {
    eventually("one Running labyrinth pod per node", 900, || {
        let pods = agent_pods(lab);
        let nodes: Vec<&str> = pods.iter().map(|p| p.0.as_str()).collect();
        (nodes == ["node-0", "node-1", "node-2"] && pods.iter().all(|p| p.2 == "Running")).then_some(pods)
    })
}

/// node-1's devices and their addresses (what a leak would add to).
fn devices(lab: &Lab) -> (Vec<String>, Vec<String>) {
    let links = lab.ssh_ok("node-1", &["ip", "-o", "link", "show"]);
    let mut names: Vec<String> = links
        .lines()
        .filter_map(|l| l.split(": ").nth(1))
        .map(|n| n.split('@').next().unwrap_or(n).to_string())
        .collect();
    names.sort();
    let addrs = lab.ssh_ok("node-1", &["ip", "-o", "-4", "addr", "show"]);
    let mut addrs: Vec<String> = addrs
        .lines()
        .filter_map(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            Some(format!("{} {}", w.get(1)?, w.get(3)?))
        })
        .collect();
    addrs.sort();
    (names, addrs)
}

/// A TCP connection of the journey kept open: `nc` in the wrk-2 pod
/// writes what it receives to a file, `nc` in the wrk-1 pod sends what
/// the test writes to its stdin, to the Service by name.
struct Stream {
    listener: Child,
    sender: Child,
}

const STREAM_FILE: &str = "/tmp/ds-stream";

fn open_stream(lab: &Lab, client: &str, server: &str) -> Stream {
    // `nc -l` ends with its first connection: each try starts both ends.
    for attempt in 0..30 {
        exec(lab, "wrk-2", server, &format!("rm -f {STREAM_FILE}"));
        let listener = Command::new(BIN)
            .args([
                "kubectl", "--name", &lab.name, "-n", "wrk-2", "exec", server, "--",
            ])
            .args(["sh", "-c", &format!("nc -l -p 9999 > {STREAM_FILE}")])
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(500));
        let sender = Command::new(BIN)
            .args([
                "kubectl", "--name", &lab.name, "-n", "wrk-1", "exec", "-i", client, "--",
            ])
            .args(["nc", "node-wrk-2-ubuntu24.wrk-2", "9999"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let mut stream = Stream { listener, sender };
        let line = format!("line-0-{attempt}");
        let stdin = stream.sender.stdin.as_mut().unwrap();
        let _ = stdin.write_all(format!("{line}\n").as_bytes());
        let _ = stdin.flush();
        for _ in 0..50 {
            if received(lab, server).contains(&line) {
                return stream;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        drop(stream);
    }
    panic!("no connection to the journey's Service");
}

fn received(lab: &Lab, server: &str) -> String {
    String::from_utf8_lossy(&exec(lab, "wrk-2", server, &format!("cat {STREAM_FILE} 2>/dev/null")).stdout)
        .into_owned()
}

impl Stream {
    /// Send `line` on the same connection; it must arrive.
    fn carries(&mut self, lab: &Lab, server: &str, line: &str) {
        let stdin = self.sender.stdin.as_mut().unwrap();
        stdin.write_all(format!("{line}\n").as_bytes()).unwrap();
        stdin.flush().unwrap();
        eventually(&format!("{line:?} over the open connection"), 300, || {
            received(lab, server).contains(line).then_some(())
        });
        assert!(
            self.sender.try_wait().unwrap().is_none(),
            "the connection's client ended"
        );
    }
}

impl Drop for Stream {
    fn drop(&mut self) {
        stop(&mut self.sender);
        stop(&mut self.listener);
    }
}

fn daemonset(dp: &str) {
    let lab = Lab::cluster(&format!("ds-{dp}"), &["--datapath", dp]);
    let pods = wait_one_running_per_node(&lab);
    for (_, name, _) in &pods {
        assert!(name.starts_with("labyrinth-"), "{pods:?}");
    }
    let agent = node1_agent(&lab);
    // The node service runs the kubelet role only; the network is the pod's.
    let ps = lab.ssh_ok("node-1", &["ps", "-eo", "args"]);
    assert!(
        ps.lines()
            .any(|l| l.contains(" agent ") && l.contains("--role kubelet")),
        "{ps}"
    );
    assert!(
        ps.lines()
            .any(|l| l.contains(" agent ") && l.contains("--role network")),
        "{ps}"
    );

    let in_agent = |cmd: &[&str]| {
        let mut a = vec!["-n", "kube-system", "exec", agent.as_str(), "--"];
        a.extend_from_slice(cmd);
        kubectl_ok(&lab, &a)
    };
    if dp == "ebpf" {
        let services = in_agent(&["labyrinth", "bpf", "map", "get", "services"]);
        assert!(
            services.contains("10.96.0.1"),
            "the API Service in the maps: {services}"
        );
    }
    // Observe runs (flows on eBPF, policy drops on the others) and ends.
    in_agent(&["labyrinth", "observe", "--seconds", "2"]);

    // `labyrinth install` on the cluster renders what `lab up` applied:
    // kubectl finds nothing to change.
    let install = lab.ssh_ok(
        "node-0",
        &[
            BIN,
            "install",
            "--kubeconfig",
            "/etc/kubernetes/admin.conf",
            "--datapath",
            dp,
        ],
    );
    let unchanged = install.lines().filter(|l| l.ends_with(" unchanged")).count();
    assert_eq!(unchanged, 5, "{install}");
    assert!(
        install.contains("daemonset.apps/labyrinth unchanged"),
        "{install}"
    );

    let (client, server) = journey_pods(&lab);
    if dp == "ebpf" {
        // The program went on the client's veth at its CNI ADD, which the
        // agent pod served.
        let veth = host_veth_of(&lab, "node-1", &pod_ip(&lab, "wrk-1", &client));
        let progs = attached(&lab, "node-1");
        assert!(
            progs.iter().any(|a| a.dev == veth),
            "{veth} has no program: {progs:?}"
        );
    }
    // The journey's line, by Service name, on a new connection.
    let journey_line = || {
        let got = send_line(
            &lab,
            ("wrk-1", &client),
            ("wrk-2", &server),
            "node-wrk-2-ubuntu24.wrk-2",
            false,
        );
        assert_eq!(got, "hello-tcp");
    };
    journey_line();

    // Delete node-1's agent pod while a connection is open.
    let mut stream = open_stream(&lab, &client, &server);
    let before = devices(&lab);
    kubectl_ok(
        &lab,
        &["-n", "kube-system", "delete", "pod", &agent, "--wait=false"],
    );
    let replaced = eventually("a new agent pod on node-1", 900, || {
        let now = node1_agent(&lab);
        (now != agent).then_some(now)
    });
    kubectl_ok(
        &lab,
        &[
            "-n",
            "kube-system",
            "wait",
            "--for=condition=Ready",
            &format!("pod/{replaced}"),
            "--timeout=90s",
        ],
    );
    stream.carries(&lab, &server, "line-after-delete");
    assert_eq!(devices(&lab), before, "node-1's devices or addresses changed");

    // A rolling restart replaces every agent pod, the connection open.
    let old: Vec<String> = wait_one_running_per_node(&lab).into_iter().map(|p| p.1).collect();
    kubectl_ok(
        &lab,
        &["-n", "kube-system", "rollout", "restart", "ds", "labyrinth"],
    );
    kubectl_ok(
        &lab,
        &[
            "-n",
            "kube-system",
            "rollout",
            "status",
            "ds",
            "labyrinth",
            "--timeout=180s",
        ],
    );
    let new = wait_one_running_per_node(&lab);
    assert!(
        new.iter().all(|p| !old.contains(&p.1)),
        "not all replaced: {old:?} -> {new:?}"
    );
    stream.carries(&lab, &server, "line-after-rollout");
    drop(stream);
    // The journey still works with new connections.
    journey_line();
    lab.down();
}
