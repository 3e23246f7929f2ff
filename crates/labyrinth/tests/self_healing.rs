//! Issue 20, acceptance 1: the control plane runs as kubeadm lays it out,
//! as static pods of node-0's agent (its manifests in
//! /etc/kubernetes/manifests), shown in kube-system as mirror pods with
//! their status and logs. `kill -9` of the API server, the controller
//! manager and a node agent, each in turn, while a client keeps writing:
//! the kubelet role starts an exited component again (at once: back-off
//! only from a second exit, as the kubelet),
//! a node's service manager its killed agent. Nothing needs human help; no
//! acknowledged write is lost; running pods are not disturbed, and TCP
//! connections between pods on two nodes (to a pod's address and through a
//! ClusterIP) stay open and carry data after each kill. How long
//! each took to come back is printed as JSON (measured, not asserted: the
//! machines are shared).

mod common;
use common::agent::KUBELET_PATTERN;
use common::held::Held;
use common::journey::*;
use common::writer::{lost, Writer};
use common::*;
use std::time::Instant;

/// The API server's process.
const APISERVER: &str = "^[^ ]*labyrinth server ";
/// The control plane's mirror pods.
const CONTROL_PLANE: [&str; 3] = [
    "kube-apiserver-node-0",
    "kube-controller-manager-node-0",
    "kube-scheduler-node-0",
];
/// kube-controller-manager's process (kube-scheduler is another
/// `labyrinth controllers`, running only the scheduler).
const CONTROLLER_MANAGER: &str = "^[^ ]*labyrinth controllers .*--controllers deployment,";

/// A field of kube-system's pod `pod` (kubectl's jsonpath); empty when
/// the pod does not exist.
fn system_pod(lab: &Lab, pod: &str, jsonpath: &str) -> String {
    let path = format!("jsonpath={jsonpath}");
    let out = kubectl(lab, &["get", "pod", "-n", "kube-system", pod, "-o", &path]);
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

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

    // kubeadm's layout: one manifest per component, and nothing but the
    // kubelet role runs them (no service manager of their own).
    // (etcd's too when LABYRINTH_TEST_STORE=etcd puts the lab on etcd).
    let manifests = lab.ssh_ok("node-0", &["ls", "/etc/kubernetes/manifests"]);
    let on_etcd = test_store().as_deref() == Some("etcd");
    let mut want = vec![
        "kube-apiserver.yaml",
        "kube-controller-manager.yaml",
        "kube-scheduler.yaml",
    ];
    if on_etcd {
        want.insert(0, "etcd.yaml");
    }
    assert_eq!(manifests.split_whitespace().collect::<Vec<_>>(), want);
    let supervised = lab.ssh(
        "node-0",
        &["pgrep", "-f", "_supervise (apiserver|controllers|etcd)"],
    );
    assert!(
        !supervised.status.success(),
        "a control-plane component under a service manager"
    );
    let scheduler = lab.ssh_ok(
        "node-0",
        &[
            "pgrep",
            "-f",
            "^[^ ]*labyrinth controllers .*--controllers scheduler( |$)",
        ],
    );
    assert_eq!(scheduler.split_whitespace().count(), 1, "{scheduler}");
    // The API shows them as on a kubeadm cluster: node-0's agent keeps a
    // mirror pod of each, with its status.
    wait_until("the control plane's mirror pods Running on node-0", || {
        let wide = kubectl_ok(&lab, &["get", "pods", "-n", "kube-system", "-o", "wide"]);
        CONTROL_PLANE.iter().all(|pod| {
            wide.lines().any(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                f.first() == Some(pod) && f.get(2) == Some(&"Running") && f.get(6) == Some(&"node-0")
            })
        })
    });
    // The runtime keeps their output where `kubectl logs` reads it.
    let scheduler_log = kubectl_ok(&lab, &["logs", "-n", "kube-system", "kube-scheduler-node-0"]);
    assert!(
        scheduler_log.contains("controllers=[Scheduler]"),
        "{scheduler_log}"
    );
    // A manifest added to the folder runs, mirrored; removed, it stops and
    // its mirror pod goes.
    let extra = "apiVersion: v1\nkind: Pod\nmetadata: {name: extra, namespace: kube-system}\n\
                 spec:\n  hostNetwork: true\n  containers:\n  - {name: c, image: busybox, command: [sleep, '3601']}\n";
    let path = "/etc/kubernetes/manifests/extra.yaml";
    lab.ssh_ok(
        "node-0",
        &["sh", "-c", "printf %s \"$1\" >\"$2\"", "sh", extra, path],
    );
    let extra_phase = || system_pod(&lab, "extra-node-0", "{.status.phase}");
    wait_until("the added static pod mirrored Running", || {
        extra_phase() == "Running"
    });
    assert!(lab
        .ssh("node-0", &["pgrep", "-f", "^sleep 3601$"])
        .status
        .success());
    lab.ssh_ok("node-0", &["rm", path]);
    wait_until("the removed static pod's mirror pod gone", || {
        extra_phase().is_empty()
    });
    wait_until("the removed static pod stopped", || {
        !lab.ssh("node-0", &["pgrep", "-f", "^sleep 3601$"])
            .status
            .success()
    });
    // Its spec cannot be changed through the API (the manifest on the node
    // is the pod); its labels can.
    let changed = kubectl(
        &lab,
        &[
            "-n",
            "kube-system",
            "patch",
            "pod",
            "kube-scheduler-node-0",
            "--type=json",
            "-p",
            r#"[{"op":"replace","path":"/spec/containers/0/image","value":"busybox"}]"#,
        ],
    );
    let refusal = String::from_utf8_lossy(&changed.stderr);
    assert!(
        !changed.status.success() && refusal.contains("mirror pod's spec"),
        "{refusal}"
    );
    kubectl_ok(
        &lab,
        &[
            "-n",
            "kube-system",
            "label",
            "pod",
            "kube-scheduler-node-0",
            "checked=yes",
        ],
    );
    // A mirror pod deleted through the API is made again; the component
    // it pictures runs on, untouched.
    let mirror_uid = || system_pod(&lab, "kube-apiserver-node-0", "{.metadata.uid}");
    let (first_uid, api_pid) = (mirror_uid(), pid_of(&lab, "node-0", APISERVER));
    // --wait=false: kubectl's own wait for the deletion can miss it when the
    // agent removes and remakes the mirror pod between kubectl's GET and its
    // watch's LIST (it then waits forever on the new pod of the same name);
    // the loop below waits for the new uid instead.
    kubectl_ok(
        &lab,
        &[
            "delete",
            "pod",
            "-n",
            "kube-system",
            "kube-apiserver-node-0",
            "--wait=false",
        ],
    );
    wait_until("the API server's mirror pod made again", || {
        let uid = mirror_uid();
        !uid.is_empty() && uid != first_uid
    });
    assert_eq!(
        pid_of(&lab, "node-0", APISERVER),
        api_pid,
        "deleting the mirror pod stopped the API server"
    );
    kubectl_apply(
        &lab,
        "default",
        "apiVersion: v1\nkind: Pod\nmetadata: {name: steady}\nspec:\n  nodeName: node-1\n  \
         containers: [{name: c, image: busybox, command: [sleep, '3600']}]\n",
    );
    wait_ready(&lab, "default", "steady");
    let steady_pid = exec_ok(&lab, "default", "steady", "cat /proc/1/stat | cut -d' ' -f22");
    // Two TCP connections from node-1 to node-2, one to a pod's address,
    // one through a ClusterIP, held open through every kill below.
    let held = Held::open(&lab);

    // The client: one ConfigMap per write, each name kept once the server
    // acknowledged it (kubectl exited 0).
    let writer = Writer::start(&lab.name, "5s");
    let api_ok = || {
        kubectl(&lab, &["get", "ns", "default", "--request-timeout=3s"])
            .status
            .success()
    };
    wait_until("the first acknowledged write", || writer.acked() > 0);

    let apiserver = kill_and_wait(&lab, "node-0", APISERVER, api_ok);
    held.check(&lab, "after-kube-apiserver");
    // The kubelet role started the API server's container again: its
    // second start's log (restart 1), where the runtime keeps it.
    let restarted = lab.ssh_ok(
        "node-0",
        &[
            "sh",
            "-c",
            "ls /var/log/pods/kube-system_kube-apiserver-node-0_*/kube-apiserver/",
        ],
    );
    assert!(restarted.split_whitespace().any(|f| f == "1.log"), "{restarted}");
    let controllers = kill_and_wait(&lab, "node-0", CONTROLLER_MANAGER, || {
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
    // Its mirror pod counts the restart and is Running again.
    wait_until("kube-controller-manager-node-0 restarted and ready", || {
        let st = system_pod(
            &lab,
            "kube-controller-manager-node-0",
            "{.status.phase} {.status.containerStatuses[0].restartCount} {.status.containerStatuses[0].ready}",
        );
        st == "Running 1 true"
    });
    held.check(&lab, "after-kube-controller-manager");
    let agent = kill_and_wait(&lab, "node-1", KUBELET_PATTERN, || {
        exec(&lab, "default", "steady", "true").status.success()
    });
    held.check(&lab, "after-agent-node-1");

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
            "store": if on_etcd { "etcd" } else { "embedded" },
            "seconds_until_working_again": {
                "kube_apiserver": apiserver, "kube_controller_manager": controllers, "agent_node_1": agent
            },
            "acknowledged_writes": acked.len(),
            "lost": 0,
        })
    );
    lab.down();
}
