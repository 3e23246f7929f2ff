//! Issue 17, acceptance 4, in one lab through the machine's kubectl: a
//! DaemonSet places one pod on each node it tolerates (a node tainted
//! NoSchedule gets none), `kubectl get ds` prints the real columns, a
//! `rollout restart` replaces the pods one node at a time (a watch of the
//! pods never sees two nodes without a Ready daemon pod) and `rollout
//! status` returns; deleting the DaemonSet takes its pods. A Job of three
//! completions, two in parallel, completes (`kubectl wait
//! --for=condition=complete`); one whose pod always fails stops at its
//! backoff limit with the Failed condition.

mod common;
use common::*;

use std::collections::{BTreeMap, BTreeSet};
use std::io::BufReader;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};

use serde_json::Value;

const DAEMON: &str = r#"
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: daemon}
spec:
  selector: {matchLabels: {app: daemon}}
  template:
    metadata: {labels: {app: daemon}}
    spec:
      terminationGracePeriodSeconds: 1
      tolerations:
      - {key: node-role.kubernetes.io/control-plane, operator: Exists, effect: NoSchedule}
      containers:
      - {name: main, image: busybox, command: ["sleep", "3600"]}
"#;

const TAINT: &str = "labyrinth.test/dedicated=db:NoSchedule";

/// Nodes with no NoSchedule or NoExecute taint but the control plane's
/// (which the DaemonSet tolerates), read from the Node objects.
fn tolerated_nodes(lab: &Lab) -> BTreeSet<String> {
    let nodes: Value = serde_json::from_str(&kubectl_ok(lab, &["get", "nodes", "-o", "json"])).unwrap();
    nodes["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| {
            n["spec"]["taints"].as_array().is_none_or(|ts| {
                ts.iter().all(|t| {
                    t["effect"] == "PreferNoSchedule" || t["key"] == "node-role.kubernetes.io/control-plane"
                })
            })
        })
        .map(|n| n["metadata"]["name"].as_str().unwrap().to_string())
        .collect()
}

/// (pod name, node, revision hash) of the DaemonSet's pods not being deleted.
fn daemon_pods(lab: &Lab) -> Vec<(String, String, String)> {
    let pods: Value = serde_json::from_str(&kubectl_ok(
        lab,
        &["-n", "ds", "get", "pods", "-l", "app=daemon", "-o", "json"],
    ))
    .unwrap();
    pods["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["metadata"]["deletionTimestamp"].is_null())
        .map(|p| {
            (
                p["metadata"]["name"].as_str().unwrap().to_string(),
                p["spec"]["nodeName"].as_str().unwrap_or("").to_string(),
                p["metadata"]["labels"]["controller-revision-hash"]
                    .as_str()
                    .unwrap_or("")
                    .to_string(),
            )
        })
        .collect()
}

fn rollout_status(lab: &Lab) {
    let out = kubectl_ok(
        lab,
        &["-n", "ds", "rollout", "status", "ds/daemon", "--timeout=180s"],
    );
    assert!(out.contains("successfully rolled out"), "{out}");
}

/// Replays a pod watch: for each event, how many of `nodes` had no Ready
/// daemon pod that is not being deleted. Returns the largest count seen
/// after the first replacement began, and the order in which nodes got
/// their first Ready pod of `new_hash`.
fn replay(events: &[Value], nodes: &BTreeSet<String>, new_hash: &str) -> (usize, Vec<String>) {
    let mut pods: BTreeMap<String, Value> = BTreeMap::new();
    let mut worst = 0;
    let mut order = Vec::new();
    for e in events {
        let p = &e["object"];
        let name = p["metadata"]["name"].as_str().unwrap_or("").to_string();
        if e["type"] == "DELETED" {
            pods.remove(&name);
        } else {
            pods.insert(name, p.clone());
        }
        let ready_on = |node: &str, hash: Option<&str>| {
            pods.values().any(|p| {
                p["spec"]["nodeName"] == node
                    && p["metadata"]["deletionTimestamp"].is_null()
                    && hash.is_none_or(|h| p["metadata"]["labels"]["controller-revision-hash"] == h)
                    && p["status"]["conditions"]
                        .as_array()
                        .is_some_and(|cs| cs.iter().any(|c| c["type"] == "Ready" && c["status"] == "True"))
            })
        };
        let missing = nodes.iter().filter(|n| !ready_on(n, None)).count();
        worst = worst.max(missing);
        for n in nodes {
            if !order.contains(n) && ready_on(n, Some(new_hash)) {
                order.push(n.clone());
            }
        }
    }
    (worst, order)
}

fn check_daemonset(lab: &Lab) {
    kubectl_ok(lab, &["create", "namespace", "ds"]);
    // A node that has just joined carries the not-ready taint until its
    // first Ready heartbeat; wait for every node so the expected set is
    // all of them but the one tainted here.
    kubectl_ok(
        lab,
        &["wait", "--for=condition=Ready", "node", "--all", "--timeout=90s"],
    );
    kubectl_ok(lab, &["taint", "node", "node-2", TAINT]);
    let total = kubectl_ok(lab, &["get", "nodes", "-o", "name"]).lines().count();
    wait_until("every node but node-2 to carry no untolerated taint", || {
        tolerated_nodes(lab).len() == total - 1
    });
    let want = tolerated_nodes(lab);
    assert!(!want.contains("node-2") && want.len() >= 2, "{want:?}");
    kubectl_apply(lab, "ds", DAEMON);
    rollout_status(lab);
    let pods = daemon_pods(lab);
    let on: Vec<&str> = pods.iter().map(|(_, n, _)| n.as_str()).collect();
    assert_eq!(
        on.iter().copied().collect::<BTreeSet<_>>(),
        want.iter().map(String::as_str).collect(),
        "one pod per tolerated node: {pods:?}"
    );
    assert_eq!(on.len(), want.len(), "one pod per node, no more: {pods:?}");

    let table = kubectl_ok(lab, &["-n", "ds", "get", "ds"]);
    let rows: Vec<Vec<&str>> = table.lines().map(|l| l.split_whitespace().collect()).collect();
    let header = [
        "NAME",
        "DESIRED",
        "CURRENT",
        "READY",
        "UP-TO-DATE",
        "AVAILABLE",
        "NODE",
        "SELECTOR",
        "AGE",
    ];
    assert_eq!(rows[0], header, "{table}");
    let n = want.len().to_string();
    assert_eq!(rows[1][..7], ["daemon", &n, &n, &n, &n, &n, "<none>"], "{table}");

    // A rolling restart, watched from before it starts.
    let old_hash = pods[0].2.clone();
    let mut watch = Command::new(BIN)
        .args([
            "kubectl",
            "--name",
            &lab.name,
            "-n",
            "ds",
            "get",
            "pods",
            "-l",
            "app=daemon",
        ])
        .args(["--watch", "--output-watch-events", "-o", "json"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        // Its own group: the machine's kubectl runs as a child of our
        // wrapper and must die with it, or the pipe never closes.
        .process_group(0)
        .spawn()
        .unwrap();
    let stdout = watch.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        serde_json::Deserializer::from_reader(BufReader::new(stdout))
            .into_iter::<Value>()
            .map_while(Result::ok)
            .collect::<Vec<Value>>()
    });
    // The watch lists the current pods first; wait until it has.
    std::thread::sleep(std::time::Duration::from_secs(2));
    kubectl_ok(lab, &["-n", "ds", "rollout", "restart", "ds/daemon"]);
    rollout_status(lab);
    let after = daemon_pods(lab);
    unsafe { libc::kill(-(watch.id() as i32), libc::SIGKILL) };
    let _ = watch.wait();
    let events = reader.join().unwrap();
    let new_hash = after[0].2.clone();
    assert_ne!(new_hash, old_hash, "the restart changed the template: {after:?}");
    assert!(after.iter().all(|(_, _, h)| *h == new_hash), "{after:?}");
    assert_eq!(
        after.iter().map(|(_, n, _)| n.clone()).collect::<BTreeSet<_>>(),
        want,
        "{after:?}"
    );
    let (worst, order) = replay(&events, &want, &new_hash);
    assert_eq!(
        worst,
        1,
        "at most one node at a time without a Ready daemon pod ({} events)",
        events.len()
    );
    assert_eq!(order.len(), want.len(), "every node got its new pod: {order:?}");

    kubectl_ok(lab, &["-n", "ds", "delete", "ds", "daemon"]);
    wait_until("the DaemonSet's pods to go", || daemon_pods(lab).is_empty());
}

/// Three completions, two at a time, each pod succeeding; and one that
/// always fails, stopped by its backoff limit.
const JOBS: &str = r#"
apiVersion: batch/v1
kind: Job
metadata: {name: ok}
spec:
  completions: 3
  parallelism: 2
  template:
    spec:
      restartPolicy: Never
      containers:
      - {name: main, image: busybox, command: ["sh", "-c", "exit 0"]}
---
apiVersion: batch/v1
kind: Job
metadata: {name: doomed}
spec:
  backoffLimit: 1
  template:
    spec:
      restartPolicy: Never
      containers:
      - {name: main, image: busybox, command: ["sh", "-c", "exit 1"]}
"#;

fn job_json(lab: &Lab, name: &str) -> Value {
    serde_json::from_str(&kubectl_ok(
        lab,
        &["-n", "jobs", "get", "job", name, "-o", "json"],
    ))
    .unwrap()
}

/// Phases of the pods labelled job-name=NAME.
fn job_pod_phases(lab: &Lab, job: &Value) -> Vec<String> {
    let name = job["metadata"]["name"].as_str().unwrap();
    let pods: Value = serde_json::from_str(&kubectl_ok(
        lab,
        &[
            "-n",
            "jobs",
            "get",
            "pods",
            "-l",
            &format!("job-name={name}"),
            "-o",
            "json",
        ],
    ))
    .unwrap();
    let items = pods["items"].as_array().unwrap();
    for p in items {
        let l = &p["metadata"]["labels"];
        assert_eq!(l["batch.kubernetes.io/job-name"], name, "{l}");
        assert_eq!(l["controller-uid"], job["metadata"]["uid"], "{l}");
        assert_eq!(p["metadata"]["ownerReferences"][0]["kind"], "Job");
    }
    items
        .iter()
        .map(|p| p["status"]["phase"].as_str().unwrap_or("").to_string())
        .collect()
}

fn conditions(job: &Value) -> Vec<(String, String)> {
    job["status"]["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["type"].as_str().unwrap().to_string(),
                c["reason"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

fn check_jobs(lab: &Lab) {
    kubectl_ok(lab, &["create", "namespace", "jobs"]);
    kubectl_apply(lab, "jobs", JOBS);
    kubectl_ok(
        lab,
        &[
            "-n",
            "jobs",
            "wait",
            "--for=condition=complete",
            "job/ok",
            "--timeout=180s",
        ],
    );
    let ok = job_json(lab, "ok");
    assert_eq!(ok["status"]["succeeded"], 3, "{}", ok["status"]);
    assert!(ok["status"]["completionTime"].is_string(), "{}", ok["status"]);
    let kinds: Vec<String> = conditions(&ok).into_iter().map(|(k, _)| k).collect();
    assert_eq!(kinds, ["SuccessCriteriaMet", "Complete"]);
    assert_eq!(job_pod_phases(lab, &ok), ["Succeeded"; 3]);

    kubectl_ok(
        lab,
        &[
            "-n",
            "jobs",
            "wait",
            "--for=condition=failed",
            "job/doomed",
            "--timeout=180s",
        ],
    );
    let doomed = job_json(lab, "doomed");
    assert_eq!(
        doomed["status"]["failed"], 2,
        "backoffLimit 1: two tries: {}",
        doomed["status"]
    );
    let reasons = conditions(&doomed);
    assert_eq!(
        reasons,
        [
            ("FailureTarget", "BackoffLimitExceeded"),
            ("Failed", "BackoffLimitExceeded")
        ]
        .map(|(a, b)| (a.to_string(), b.to_string()))
    );
    assert_eq!(job_pod_phases(lab, &doomed), ["Failed"; 2]);

    let table = kubectl_ok(lab, &["-n", "jobs", "get", "jobs"]);
    let rows: Vec<Vec<&str>> = table.lines().map(|l| l.split_whitespace().collect()).collect();
    assert_eq!(
        rows[0],
        ["NAME", "STATUS", "COMPLETIONS", "DURATION", "AGE"],
        "{table}"
    );
    assert!(
        rows.iter().any(|r| r[..3] == ["ok", "Complete", "3/3"]),
        "{table}"
    );
    assert!(
        rows.iter().any(|r| r[..3] == ["doomed", "Failed", "0/1"]),
        "{table}"
    );
}

#[test]
fn daemonset_and_job() {
    if !need_root("daemonset_and_job") {
        return;
    }
    let lab = Lab::cluster("work", &[]);
    check_daemonset(&lab);
    check_jobs(&lab);
    lab.down();
}
