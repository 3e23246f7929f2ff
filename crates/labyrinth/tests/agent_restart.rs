//! Issue 4: restarting a node agent disturbs no running pod. With the
//! journey's pods up, node-1's `labyrinth agent` is killed and started again
//! the way `lab up` starts it; the new agent adopts the pod (same sandbox,
//! netns, addresses and container process; still Ready, no restart), keeps
//! the routes to the other nodes, and a TCP line still crosses to node-2.
//! In the eBPF datapath the pinned maps hold the same Services across the
//! restart and the pod's veth still carries the program. A pod with a
//! readiness probe stays Ready throughout: the new agent reports no status
//! for it before its probes' first verdict.

mod common;
use common::agent::*;
use common::journey::*;
use common::*;

use serde_json::Value;

/// What identifies the pod's sandbox on node-1.
#[derive(Debug, PartialEq)]
struct Sandbox {
    uid: String,
    netns: String,
    netns_inode: String,
    ip: String,
    pause_pid: u64,
    container_pid: u64,
}

fn sandbox(lab: &Lab) -> Sandbox {
    let all: Value =
        serde_json::from_str(&lab.ssh_ok("node-1", &[BIN, "runtime", "pods", "--json"])).unwrap();
    // The journey's client pod (cluster DNS pods may run on node-1 too).
    let recs: Vec<&Value> = all
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["pod"]["namespace"] == "wrk-1")
        .collect();
    assert_eq!(recs.len(), 1, "{all}");
    let r = recs[0];
    let netns = r["netns"].as_str().unwrap().to_string();
    let containers = r["containers"].as_object().unwrap();
    Sandbox {
        uid: r["pod"]["uid"].as_str().unwrap().into(),
        netns_inode: lab
            .ssh_ok(
                "node-1",
                &["stat", "-L", "-c", "%i", &format!("/run/netns/{netns}")],
            )
            .trim()
            .into(),
        netns,
        ip: r["ip"].as_str().unwrap().into(),
        pause_pid: r["pause"]["pid"].as_u64().unwrap(),
        container_pid: containers.values().next().unwrap()["process"]["pid"]
            .as_u64()
            .unwrap(),
    }
}

/// (podIP, Ready, restartCount) as the API server has them.
fn pod_status(lab: &Lab, ns: &str, pod: &str) -> String {
    kubectl_ok(
        lab,
        &[
            "-n",
            ns,
            "get",
            "pod",
            pod,
            "-o",
            "jsonpath={.status.podIP} {.status.conditions[?(@.type==\"Ready\")].status} {.status.containerStatuses[0].restartCount}",
        ],
    )
}

/// The eBPF state an operator would compare: the services map and the
/// programs per device.
fn ebpf_state(lab: &Lab) -> (String, String) {
    let services = lab.ssh_ok("node-1", &[BIN, "bpf", "map", "get", "services"]);
    let progs = attached(lab, "node-1")
        .iter()
        .map(|a| format!("{} {} {} tcx={}", a.dev, a.hook, a.prog, a.tcx))
        .collect::<Vec<_>>()
        .join("\n");
    (services, progs)
}

#[test]
fn restarted_agent_adopts_running_pods() {
    if need_root("restarted_agent_adopts_running_pods") {
        restart("iptables");
    }
}

#[test]
fn restarted_agent_adopts_running_pods_ebpf() {
    if need_root("restarted_agent_adopts_running_pods_ebpf") {
        restart("ebpf");
    }
}

/// CNI VERSION through node-1's installed plugin program, with `env`
/// added: (exit status, the cniVersion it answered or "").
fn cni_version(lab: &Lab, env: &str) -> (i32, String) {
    let out = lab.ssh(
        "node-1",
        &[
            "sh",
            "-c",
            &format!("echo '{{\"cniVersion\":\"1.0.0\"}}' | env {env} CNI_COMMAND=VERSION /opt/cni/bin/labyrinth-cni"),
        ],
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    let version = if out.status.success() {
        v["cniVersion"].as_str().unwrap_or("").to_string()
    } else {
        String::new()
    };
    (out.status.code().unwrap_or(-1), version)
}

/// A pod on node-1 whose readiness probe passes every second.
const PROBED: &str = "apiVersion: v1\nkind: Pod\nmetadata: {name: probed}\nspec:\n  nodeName: node-1\n  \
    containers:\n  - name: probed\n    image: busybox\n    command: [sleep, '3600']\n    \
    readinessProbe: {exec: {command: ['true']}, periodSeconds: 1}\n";

/// Watch the probed pod's Ready condition; returns once the watch printed
/// its first event (the pod as it is), with that line.
fn watch_ready(lab: &Lab) -> (std::process::Child, std::thread::JoinHandle<Vec<String>>) {
    let mut child = std::process::Command::new(BIN)
        .args([
            "kubectl", "--name", &lab.name, "-n", "default", "get", "pod", "probed", "-w",
        ])
        .args([
            "--output-watch-events",
            "-o",
            "jsonpath={.type} {.object.status.conditions[?(@.type==\"Ready\")].status}{\"\\n\"}",
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let out = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut lines = Vec::new();
        for line in std::io::BufRead::lines(std::io::BufReader::new(out)).map_while(Result::ok) {
            let _ = tx.send(());
            lines.push(line);
        }
        lines
    });
    rx.recv_timeout(std::time::Duration::from_secs(60))
        .expect("the watch printed the pod");
    (child, reader)
}

fn restart(dp: &str) {
    let lab = Lab::cluster(&format!("restart-{dp}"), &["--datapath", dp, "--single-agent"]);
    let (client, server) = journey_pods(&lab);
    kubectl_apply(&lab, "default", PROBED);
    kubectl_ok(
        &lab,
        &[
            "-n",
            "default",
            "wait",
            "--for=condition=Ready",
            "pod/probed",
            "--timeout=120s",
        ],
    );
    let (mut watch, seen) = watch_ready(&lab);
    let server_ip = pod_ip(&lab, "wrk-2", &server);
    let before = sandbox(&lab);
    let status_before = pod_status(&lab, "wrk-1", &client);
    assert!(status_before.ends_with(" True 0"), "{status_before}");
    let routes_before = lab.ssh_ok("node-1", &["ip", "route", "show", "10.0.2.0/24"]);
    assert!(!routes_before.is_empty());
    let ebpf_before = (dp == "ebpf").then(|| ebpf_state(&lab));
    if let Some((_, progs)) = &ebpf_before {
        assert!(progs.contains("lxc") && progs.contains("lby_vxlan"), "{progs}");
    }

    // Kill the agent and start it again exactly as it was started.
    let pid = agent_pid(&lab, "node-1");
    let from = log_len(&lab, "node-1");
    let argv = stop_agent(&lab, "node-1");
    // The installed CNI program without its agent: it runs the whole plugin
    // (and only that: with no plugin to run, it fails instead).
    assert_eq!(
        cni_version(&lab, ""),
        (0, "1.0.0".into()),
        "fallback to `labyrinth cni`"
    );
    assert_eq!(cni_version(&lab, "LABYRINTH_CNI_PLUGIN=/nonexistent").0, 1);
    start_agent(&lab, "node-1", &argv);
    assert_ne!(agent_pid(&lab, "node-1"), pid);

    let new_log = || log_since(&lab, "node-1", from);
    wait_until("the pod to be adopted", || {
        new_log().contains(&format!("adopting running pod wrk-1/{client}"))
    });
    // The new agent's exec server answers (through the API server).
    wait_until("kubectl exec through the new agent", || {
        kubectl(&lab, &["-n", "wrk-1", "exec", &client, "--", "true"])
            .status
            .success()
    });

    assert_eq!(sandbox(&lab), before, "the sandbox changed");
    assert_eq!(pod_status(&lab, "wrk-1", &client), status_before);
    assert_eq!(
        lab.ssh_ok("node-1", &["ip", "route", "show", "10.0.2.0/24"]),
        routes_before
    );
    let text = new_log();
    assert!(
        !text.contains("torn down"),
        "the new agent tore a pod down:\n{text}"
    );
    assert!(
        !text.contains("removed [10."),
        "the new agent removed peer routes:\n{text}"
    );

    if let Some(before) = ebpf_before {
        // Program ids change (the new agent loads its code again); the
        // devices and program names, and the maps' Services, do not.
        assert_eq!(ebpf_state(&lab), before, "eBPF state changed across the restart");
    }
    // With the agent back, calls go to it (no plugin needed to answer).
    wait_until("the new agent to take CNI calls", || {
        cni_version(&lab, "LABYRINTH_CNI_PLUGIN=/nonexistent") == (0, "1.0.0".into())
    });
    let got = send_line_by_kubectl_exec(&lab, &client, &server, &server_ip, "hello-after-restart");
    assert_eq!(got, "hello-after-restart\n");

    // By now the new agent has probed the adopted pod many times (every
    // second); it never said "not ready" (before, its first report did, as
    // its probes started over, and the pod's Services dropped it).
    assert!(
        new_log().contains("adopting running pod default/probed"),
        "{}",
        new_log()
    );
    common::stop(&mut watch);
    let seen = seen.join().unwrap();
    assert_eq!(seen.first().map(String::as_str), Some("ADDED True"), "{seen:?}");
    assert!(
        seen.iter().all(|l| l.ends_with(" True")),
        "the probed pod's Ready condition across the restart: {seen:?}"
    );
    lab.down();
}
