//! Issue 20: `labyrinth join … --control-plane --certificate-key KEY` as
//! kubeadm's refuses, in its preflight, what it cannot do, and changes
//! nothing when it does: on a cluster whose store is not etcd, with a
//! certificate key that is malformed or does not open
//! kube-system/kubeadm-certs, with that Secret expired or absent, and on a
//! cluster without a shared control-plane address. "Nothing" is checked
//! on the joining node (its files under the control plane's folders, its
//! processes) and in the cluster (its Nodes, etcd's members).
//! The joins that succeed: `ha_control_plane`'s (`lab up --control-planes
//! 3` joins node-1 and node-2 with it) and, here, a `--manual-join` lab's
//! joined by hand, with one join that fails after `member add` and rolls
//! back.

mod common;
use common::control_plane::*;
use common::journey::{kubectl_ok, wait_until};
use common::*;

const JOINER: &str = "node-1";

/// What a control-plane join would write or start on the joining node.
fn footprint(lab: &Lab) -> String {
    let files = lab.ssh_ok(
        JOINER,
        &[
            "sh",
            "-c",
            &format!(
                "find /etc/kubernetes /etc/labyrinth /var/lib/labyrinth/apiserver /var/lib/etcd {} 2>/dev/null | sort; true",
                labyrinth_lab::cluster::ROOT_KUBECONFIG_DIR
            ),
        ],
    );
    let ps = lab.ssh_ok(JOINER, &["ps", "-eo", "args"]);
    let running: Vec<&str> = ps
        .lines()
        .filter(|l| l.contains(" agent ") || l.starts_with("etcd ") || l.contains(" server --listen"))
        .collect();
    format!("{files}\nprocesses: {running:?}")
}

fn nodes(lab: &Lab) -> String {
    kubectl_ok(lab, &["get", "nodes", "-o", "name"])
}

/// `init phase upload-certs` on node-0; the key it prints.
/// Run the join on the joiner: it must fail, saying `why`, and leave the
/// node and the cluster as they were.
fn refused(lab: &Lab, argv: &[String], why: &str) {
    let (before, nodes_before) = (footprint(lab), nodes(lab));
    let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
    let out = lab.ssh(JOINER, &argv);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "the join succeeded: {stderr}");
    assert!(stderr.contains(why), "expected {why:?} in: {stderr}");
    assert_eq!(footprint(lab), before, "the refused join changed {JOINER}");
    assert_eq!(nodes(lab), nodes_before, "the refused join changed the Nodes");
}

#[test]
fn a_control_plane_join_refuses_a_cluster_not_on_etcd_and_changes_nothing() {
    if !need_root("a_control_plane_join_refuses_a_cluster_not_on_etcd_and_changes_nothing") {
        return;
    }
    let lab = Lab::cluster(
        "cpemb",
        &["--manual-join", "--workers", "1", "--store", "embedded"],
    );
    let key = upload_certs(&lab, &[]);
    // The Secret holds every shared file, none of it in the clear.
    for name in ["ca\\.crt", "ca\\.key", "sa\\.key", "admin\\.token"] {
        let b64 = kubectl_ok(
            &lab,
            &[
                "get",
                "secret",
                "-n",
                "kube-system",
                "kubeadm-certs",
                "-o",
                &format!("jsonpath={{.data.{name}}}"),
            ],
        );
        assert!(!b64.trim().is_empty(), "no {name} in kubeadm-certs");
        let plain = lab.ssh_ok(
            "node-0",
            &[
                "sh",
                "-c",
                &format!("printf %s {} | base64 -d | head -c 40 | od -c", b64.trim()),
            ],
        );
        assert!(
            !plain.contains("B   E   G   I   N"),
            "{name} is stored in the clear: {plain}"
        );
    }
    let argv = control_plane_join_argv(&lab, &key, &key);
    refused(
        &lab,
        &argv,
        "the cluster's store is embedded (ConfigMap kube-system/kubeadm-config)",
    );

    // Without a key, --control-plane on a node that runs no API server is
    // refused too, naming what is missing.
    let mut plain: Vec<String> = argv[..argv.len() - 3].to_vec();
    plain.push("--control-plane".into());
    refused(
        &lab,
        &plain,
        "--control-plane without --certificate-key: this node runs no API server",
    );
    lab.down();
}

#[test]
fn a_control_plane_join_refuses_a_wrong_key_an_expired_or_absent_secret_and_a_cluster_without_an_address() {
    if !need_root("a_control_plane_join_refuses_a_wrong_key_an_expired_or_absent_secret_and_a_cluster_without_an_address") {
        return;
    }
    let lab = Lab::cluster("cpkey", &["--manual-join", "--workers", "1", "--store", "etcd"]);
    let members = || etcd_members(&lab, "node-0");
    let members_before = members();
    let key = upload_certs(&lab, &[]);
    // Another key of the right form: it does not open the Secret.
    let wrong: String = key.chars().map(|c| if c == '0' { '1' } else { '0' }).collect();
    refused(
        &lab,
        &control_plane_join_argv(&lab, &key, &wrong),
        "the certificate key does not decrypt kube-system/kubeadm-certs",
    );
    refused(
        &lab,
        &control_plane_join_argv(&lab, &key, "0123abc"),
        "--certificate-key: expected 64 hex digits (32 bytes), got 7 characters",
    );
    // The right key gets past the certificates, and this one-control-plane
    // cluster has no shared address for another API server.
    refused(
        &lab,
        &control_plane_join_argv(&lab, &key, &key),
        "has no controlPlaneEndpoint",
    );

    // Uploaded with a lifetime of one second: expired when the join reads it.
    let short = upload_certs(&lab, &["--ttl", "1s"]);
    std::thread::sleep(std::time::Duration::from_secs(2));
    refused(
        &lab,
        &control_plane_join_argv(&lab, &short, &short),
        "Secret kube-system/kubeadm-certs expired at",
    );

    kubectl_ok(&lab, &["delete", "secret", "-n", "kube-system", "kubeadm-certs"]);
    refused(
        &lab,
        &control_plane_join_argv(&lab, &short, &short),
        "Secret kube-system/kubeadm-certs is absent",
    );
    assert_eq!(members(), members_before, "a refused join changed etcd's members");
    lab.down();
}

/// `lab up --store etcd --control-planes 3 --manual-join` leaves node-1,
/// node-2 and the worker bare; the commands kubeadm's HA guide has a person
/// type (upload the certificates, print the control-plane join command,
/// run it on node-1, then node-2, and the worker join on the worker) make
/// the same cluster `up` makes by itself.
#[test]
fn three_control_planes_joined_by_hand_with_the_printed_commands() {
    if !need_root("three_control_planes_joined_by_hand_with_the_printed_commands") {
        return;
    }
    let lab = Lab::cluster(
        "cphand",
        &[
            "--store",
            "etcd",
            "--control-planes",
            "3",
            "--manual-join",
            "--workers",
            "1",
        ],
    );
    assert_eq!(nodes(&lab).trim(), "node/node-0");
    for n in ["node-1", "node-2", "node-3"] {
        let out = lab.ssh(
            n,
            &["test", "-e", "/etc/kubernetes/manifests/kube-apiserver.yaml"],
        );
        assert!(!out.status.success(), "{n} has a control plane before joining");
    }
    let key = upload_certs(&lab, &[]);
    let cp_join = control_plane_join_argv(&lab, &key, &key);
    let cp_join: Vec<&str> = cp_join.iter().map(String::as_str).collect();
    let said = lab.ssh_ok("node-1", &cp_join);
    assert!(
        said.contains("This node (node-1) has joined the cluster as a control plane"),
        "{said}"
    );
    // A join that fails after its etcd member was added rolls back: here
    // node-2's manifest folder is a file, so no manifest can be written.
    // The member goes (two members, both started, keep a quorum for that),
    // and so do the keys written; the same command then works.
    let members = || etcd_members(&lab, "node-0");
    lab.ssh_ok(
        "node-2",
        &[
            "sh",
            "-c",
            "mkdir -p /etc/kubernetes && touch /etc/kubernetes/manifests",
        ],
    );
    let out = lab.ssh("node-2", &cp_join);
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{said}");
    assert!(
        said.contains("[rollback] removed etcd member")
            && said.contains("[rollback] removed /var/lib/labyrinth/apiserver/pki/ca.key")
            && said.contains("everything this join did was undone"),
        "{said}"
    );
    assert_eq!(members().lines().count(), 2, "{}", members());
    let left = lab.ssh(
        "node-2",
        &["test", "-e", "/var/lib/labyrinth/apiserver/pki/ca.key"],
    );
    assert!(!left.status.success(), "the CA key was left on node-2");
    lab.ssh_ok("node-2", &["rm", "/etc/kubernetes/manifests"]);
    let said = lab.ssh_ok("node-2", &cp_join);
    assert!(
        said.contains("This node (node-2) has joined the cluster as a control plane"),
        "{said}"
    );
    let worker_join = lab.ssh_ok("node-0", &[BIN, "token", "create", "--print-join-command"]);
    let mut argv: Vec<&str> = worker_join.split_whitespace().collect();
    argv[0] = BIN;
    lab.ssh_ok("node-3", &argv);
    wait_until("four Ready nodes", || {
        kubectl_ok(&lab, &["get", "nodes", "--no-headers"])
            .lines()
            .filter(|l| l.split_whitespace().nth(1) == Some("Ready"))
            .count()
            == 4
    });
    let members = etcd_members(&lab, "node-2");
    assert_eq!(
        members.lines().filter(|l| l.contains(", started, ")).count(),
        3,
        "{members}"
    );
    let roles = control_plane_nodes(&lab);
    assert_eq!(roles.len(), 3, "{roles:?}");
    wait_for_static_pods(&lab, &["node-0", "node-1", "node-2"]);
    lab.down();
}
