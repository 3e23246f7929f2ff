//! Issue 16, acceptance 4: a pod is isolated like a container runtime's:
//! `ps` lists the pod's processes only (its own PID namespace), a file
//! written under `/` stays in its container's root (seen neither by the node
//! nor by another pod), the environment is the pod's, not that of the
//! shell that ran `lab up`, and the node's own files (its credentials, the
//! other pods' tokens and logs, a control node's admin kubeconfig, the
//! host's /root and /home) are not in a pod's root.

mod common;

use common::*;

/// Exported in the environment `lab up` runs in: no pod may see it.
const LEAK: &str = "LABYRINTH_ISOLATION_SECRET";

const PODS: &str = "\
apiVersion: v1
kind: Pod
metadata: {name: one}
spec:
  nodeName: node-1
  containers: [{name: box, image: busybox, command: [sleep, 365d], env: [{name: GREETING, value: hello}]}]
---
apiVersion: v1
kind: Pod
metadata: {name: two}
spec:
  nodeName: node-1
  containers: [{name: box, image: busybox, command: [sleep, 365d]}]
---
apiVersion: v1
kind: Pod
metadata: {name: zero}
spec:
  nodeName: node-0
  containers: [{name: box, image: busybox, command: [sleep, 365d]}]
";

fn sh(lab: &Lab, pod: &str, cmd: &str) -> String {
    kubectl_ok(lab, &["exec", pod, "--", "sh", "-c", cmd])
}

#[test]
fn pods_see_only_their_own_processes_files_and_environment() {
    if !need_root("pods_see_only_their_own_processes_files_and_environment") {
        return;
    }
    let name = lab_name("isolation");
    // `lab up` as a person's shell would run it, with a secret exported.
    let up = std::process::Command::new(BIN)
        .args(["lab", "up", "--name", &name])
        .env(LEAK, "leaked")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let lab = Lab { name };
    ok(&up);
    kubectl_apply(&lab, "default", PODS);
    kubectl_ok(
        &lab,
        &[
            "wait",
            "--for=condition=Ready",
            "pod/one",
            "pod/two",
            "pod/zero",
            "--timeout=180s",
        ],
    );

    // Processes: the pod's PID 1 (its pause), its container's sleep, and
    // this exec's sh and ps; nothing of the node (agent, other pods).
    let ps = sh(&lab, "one", "ps -eo pid,comm");
    let procs: Vec<(u32, String)> = ps
        .lines()
        .skip(1)
        .map(|l| {
            let (pid, comm) = l.trim().split_once(' ').unwrap();
            (pid.parse().unwrap(), comm.trim().to_string())
        })
        .collect();
    assert_eq!(procs[0], (1, "labyrinth-pause".to_string()), "{ps}");
    let comms: Vec<&str> = procs.iter().map(|(_, c)| c.as_str()).collect();
    assert!(comms.contains(&"sleep"), "{ps}");
    assert!(
        comms
            .iter()
            .all(|c| ["labyrinth-pause", "sleep", "sh", "ps"].contains(c)),
        "only the pod's processes: {ps}"
    );
    let node_pids = lab.ssh_ok("node-1", &["sh", "-c", "ls /proc | grep -c '^[0-9]'"]);
    assert!(
        node_pids.trim().parse::<usize>().unwrap() > procs.len() + 3,
        "the node has more processes than the pod shows ({node_pids})"
    );

    // Files: written under / in pod one; not on the node (nor the host,
    // whose / is the node's), not in pod two, still in pod one.
    let marker = format!("/isolation-{}", std::process::id());
    sh(
        &lab,
        "one",
        &format!("echo mine > {marker} && echo x > /etc/isolation-marker"),
    );
    assert_eq!(sh(&lab, "one", &format!("cat {marker}")).trim(), "mine");
    let node = lab.ssh(
        "node-1",
        &["sh", "-c", &format!("ls {marker} /etc/isolation-marker")],
    );
    assert!(!node.status.success(), "the node sees the pod's files");
    assert!(!std::path::Path::new(&marker).exists(), "the host sees {marker}");
    let two = kubectl(
        &lab,
        &[
            "exec",
            "two",
            "--",
            "sh",
            "-c",
            &format!("ls {marker} /etc/isolation-marker"),
        ],
    );
    assert!(!two.status.success(), "pod two sees pod one's files");

    // Environment: the pod's own, the kubernetes Service's, the manifest's;
    // not the secret of the shell that made the lab (not even in PID 1).
    let env = sh(&lab, "one", "env; tr '\\0' '\\n' < /proc/1/environ");
    assert!(
        !env.contains(LEAK),
        "the lab's environment leaked into the pod:\n{env}"
    );
    for line in [
        "KUBERNETES_SERVICE_HOST=10.96.0.1",
        "KUBERNETES_SERVICE_PORT=443",
        "GREETING=hello",
        "HOSTNAME=one",
        "HOME=/root",
    ] {
        assert!(env.lines().any(|l| l == line), "{line} missing:\n{env}");
    }
    nodes_own_files_are_not_in_pods(&lab);

    // The pod's own name and /etc files.
    assert_eq!(sh(&lab, "one", "hostname").trim(), "one");
    let ip = pod_ip(&lab, "default", "one");
    let hosts = sh(&lab, "one", "cat /etc/hosts");
    assert!(hosts.lines().any(|l| l == format!("{ip}\tone")), "{hosts}");
    let resolv = sh(&lab, "one", "cat /etc/resolv.conf");
    assert!(resolv.contains("search default.svc.cluster.local"), "{resolv}");
    lab.down();
}

/// What a node keeps for itself, which the node has (checked first, so the
/// pod side cannot pass by there being nothing to see) and no pod's root
/// shows: a worker's kubelet credential and the other pods' folders (their
/// tokens) and logs; a control node's admin kubeconfig (also in root's
/// home there), the API server's data and keys. A pod's /root and /home
/// start empty, as in an image (the node's are the host's).
fn nodes_own_files_are_not_in_pods(lab: &Lab) {
    let worker = [
        "/etc/labyrinth/kubelet.kubeconfig",
        "/var/lib/labyrinth/pods",
        "/var/lib/labyrinth/pki/kubelet.key",
        "/var/log/pods",
    ];
    let control = [
        "/etc/kubernetes/admin.conf",
        "/root/.kube/config",
        "/var/lib/labyrinth/apiserver",
    ];
    for (node, pod, paths) in [("node-1", "one", &worker[..]), ("node-0", "zero", &control[..])] {
        for path in paths {
            let has = lab.ssh(
                node,
                &[
                    "sh",
                    "-c",
                    &format!("if [ -d {path} ]; then test -n \"$(ls -A {path})\"; else test -s {path}; fi"),
                ],
            );
            assert!(has.status.success(), "{node} has no {path} to hide");
            let seen = kubectl(
                lab,
                &[
                    "exec",
                    pod,
                    "--",
                    "sh",
                    "-c",
                    &format!("ls -A {path} 2>/dev/null"),
                ],
            );
            let listed = String::from_utf8_lossy(&seen.stdout);
            assert!(
                listed.trim().is_empty(),
                "pod {pod} sees {node}'s {path}: {listed}"
            );
        }
        for dir in ["/root", "/home"] {
            let listed = sh(lab, pod, &format!("ls -A {dir} 2>/dev/null || true"));
            assert_eq!(listed.trim(), "", "pod {pod}'s {dir} is not empty");
        }
    }
    // The container's own /root is still its home, and writable.
    assert_eq!(sh(lab, "one", "echo x > /root/mine && ls /root").trim(), "mine");
}
