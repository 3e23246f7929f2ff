//! Issue 20, acceptance 3 (the lab part): `lab up --store etcd` runs etcd
//! inside node-0 as a static pod (mirrored as etcd-node-0), the API server keeps its
//! objects there (kube-apiserver's keys, read back with etcdctl), the
//! journey works on it, and a `kill -9` of etcd while a client keeps writing
//! is repaired by node-0's kubelet role with no acknowledged write lost and
//! TCP connections between pods left open and working.
//! How long etcd took to be working again is printed as JSON (measured, not
//! asserted: the machines are shared).

mod common;
use common::held::Held;
use common::journey::*;
use common::writer::{lost, Writer};
use common::*;
use std::time::Instant;

const ETCD_PATTERN: &str = "^etcd --name node-0 ";

fn etcd_pid(lab: &Lab) -> Option<String> {
    let out = lab.ssh("node-0", &["pgrep", "-f", ETCD_PATTERN]);
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let pids: Vec<&str> = text.split_whitespace().collect();
    (pids.len() == 1).then(|| pids[0].to_string())
}

fn etcdctl(lab: &Lab, args: &[&str]) -> String {
    let mut argv = vec!["etcdctl", "--endpoints", "http://127.0.0.1:2379"];
    argv.extend_from_slice(args);
    lab.ssh_ok("node-0", &argv)
}

#[test]
fn a_lab_on_etcd_runs_the_journey_and_survives_a_killed_etcd() {
    if !need_root("a_lab_on_etcd_runs_the_journey_and_survives_a_killed_etcd") {
        return;
    }
    let lab = Lab::cluster("etcd", &["--store", "etcd"]);
    // etcd is one of node-0's static pods, as kubeadm's stacked etcd.
    wait_until("the etcd-node-0 mirror pod Running", || {
        let st = kubectl_ok(
            &lab,
            &[
                "get",
                "pods",
                "-n",
                "kube-system",
                "-l",
                "component=etcd",
                "-o",
                "jsonpath={.items[*].metadata.name} {.items[*].status.phase}",
            ],
        );
        st.trim() == "etcd-node-0 Running"
    });

    // The cluster's objects are in etcd, where kube-apiserver keeps them.
    let nodes = etcdctl(&lab, &["get", "--prefix", "--keys-only", "/registry/minions/"]);
    for n in ["node-0", "node-1", "node-2"] {
        assert!(
            nodes.lines().any(|l| l == format!("/registry/minions/{n}")),
            "{nodes}"
        );
    }

    let (client, server) = journey_pods(&lab);
    let by_service_name = || {
        send_line(
            &lab,
            ("wrk-1", &client),
            ("wrk-2", &server),
            "node-wrk-2-ubuntu24.wrk-2",
            false,
        )
    };
    let pods = etcdctl(&lab, &["get", "--prefix", "--keys-only", "/registry/pods/wrk-2/"]);
    assert!(
        pods.lines()
            .any(|l| l == format!("/registry/pods/wrk-2/{server}")),
        "{pods}"
    );
    assert_eq!(
        by_service_name(),
        "hello-tcp",
        "by Service name on an etcd-backed cluster"
    );

    // Connections between pods on two nodes, held open across the kill.
    let held = Held::open(&lab);

    // A client writing all along; a name counts once kubectl exited 0.
    let writer = Writer::start(&lab.name, "10s");
    wait_until("the first acknowledged write", || writer.acked() > 0);

    let old = etcd_pid(&lab).expect("one etcd in node-0");
    lab.ssh_ok("node-0", &["kill", "-9", &old]);
    let killed = Instant::now();
    wait_until("etcd started again by node-0's kubelet role", || {
        etcd_pid(&lab).is_some_and(|p| p != old)
    });
    let before = writer.acked();
    wait_until("a write acknowledged after etcd's restart", || {
        writer.acked() > before
    });
    let back = killed.elapsed().as_secs_f64();

    let acked = writer.finish();
    let stored = kubectl_ok(&lab, &["get", "configmaps", "-o", "name"]);
    let lost = lost(&acked, &stored);
    assert!(lost.is_empty(), "acknowledged writes lost: {lost:?}");
    let in_etcd = etcdctl(
        &lab,
        &["get", "--prefix", "--keys-only", "/registry/configmaps/default/"],
    );
    for cm in &acked {
        assert!(
            in_etcd
                .lines()
                .any(|l| l == format!("/registry/configmaps/default/{cm}")),
            "{cm} acknowledged but not in etcd"
        );
    }
    // The kubelet role's account of it: the mirror pod counts the restart.
    wait_until("etcd-node-0 counting one restart", || {
        let st = kubectl_ok(
            &lab,
            &[
                "get",
                "pod",
                "-n",
                "kube-system",
                "etcd-node-0",
                "-o",
                "jsonpath={.status.containerStatuses[0].restartCount}",
            ],
        );
        st.trim() == "1"
    });
    held.check(&lab, "after-etcd");
    // The journey still works after it.
    assert_eq!(by_service_name(), "hello-tcp");

    println!(
        "{}",
        serde_json::json!({
            "benchmark": "etcd_lab_kill",
            "seconds_until_writes_work_again": back,
            "acknowledged_writes": acked.len(),
            "lost": 0,
        })
    );
    lab.down();
}
