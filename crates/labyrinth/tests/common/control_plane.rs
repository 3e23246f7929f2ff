//! What the control-plane tests (`ha_control_plane`, `join_control_plane`)
//! ask of a lab with several control planes: etcd's members, the
//! uploaded certificates' key, the printed control-plane join command, and
//! kubeadm's static pods on every control plane.

use super::journey::{kubectl_ok, wait_until};
use super::{Lab, BIN};

/// `etcdctl member list` against `node`'s own member.
pub fn etcd_members(lab: &Lab, node: &str) -> String {
    lab.ssh_ok(
        node,
        &[
            "etcdctl",
            "--endpoints",
            "http://127.0.0.1:2379",
            "member",
            "list",
        ],
    )
}

/// `init phase upload-certs --upload-certs` on node-0 (with `extra`
/// flags); the certificate key it prints last.
pub fn upload_certs(lab: &Lab, extra: &[&str]) -> String {
    let mut argv = vec![BIN, "init", "phase", "upload-certs", "--upload-certs"];
    argv.extend_from_slice(extra);
    let out = lab.ssh_ok("node-0", &argv);
    assert!(out.contains("[upload-certs] Using certificate key:"), "{out}");
    let key = out.lines().last().unwrap_or("").trim().to_string();
    assert_eq!(key.len(), 64, "{out}");
    key
}

/// The control-plane join command node-0 prints for `printed_key`, as
/// argv for `lab ssh`, with the key replaced by `key`.
pub fn control_plane_join_argv(lab: &Lab, printed_key: &str, key: &str) -> Vec<String> {
    let cmd = lab.ssh_ok(
        "node-0",
        &[
            BIN,
            "token",
            "create",
            "--print-join-command",
            "--certificate-key",
            printed_key,
        ],
    );
    assert!(
        cmd.trim_end()
            .ends_with(&format!("--control-plane --certificate-key {printed_key}")),
        "{cmd}"
    );
    let mut argv: Vec<String> = cmd.split_whitespace().map(String::from).collect();
    assert_eq!(argv[0], "labyrinth", "{cmd}");
    argv[0] = BIN.to_string();
    let last = argv.len() - 1;
    argv[last] = key.to_string();
    argv
}

/// The Nodes labelled as control planes.
pub fn control_plane_nodes(lab: &Lab) -> Vec<String> {
    kubectl_ok(
        lab,
        &[
            "get",
            "nodes",
            "-l",
            "node-role.kubernetes.io/control-plane",
            "-o",
            "name",
        ],
    )
    .lines()
    .map(String::from)
    .collect()
}

/// Wait until each of `nodes` runs kubeadm's five static pods (etcd, API
/// server, controller manager, scheduler, the address holder), Running.
pub fn wait_for_static_pods(lab: &Lab, nodes: &[&str]) {
    wait_until(&format!("{} control-plane pods Running", 5 * nodes.len()), || {
        let pods = kubectl_ok(
            lab,
            &[
                "get",
                "pods",
                "-n",
                "kube-system",
                "-l",
                "tier=control-plane",
                "-o",
                "jsonpath={range .items[*]}{.metadata.name} {.status.phase}{\"\\n\"}{end}",
            ],
        );
        nodes.iter().all(|n| {
            [
                "etcd",
                "kube-apiserver",
                "kube-controller-manager",
                "kube-scheduler",
                "kube-vip",
            ]
            .iter()
            .all(|c| pods.lines().any(|l| l == format!("{c}-{n} Running")))
        })
    });
}
