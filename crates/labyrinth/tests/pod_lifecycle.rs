//! Issue 16: containers' logs, lifecycle and termination as the kubelet runs
//! them, through the machine's kubectl in one lab: `kubectl logs` (-c, -f,
//! --previous, --tail, --since, --timestamps, -l) reads the CRI log files
//! the node keeps under /var/log/pods; restartPolicy, exit codes, phases
//! and the restart back-off (CrashLoopBackOff, delays growing); graceful
//! deletion (deletionTimestamp, preStop, SIGTERM, SIGKILL after the grace
//! period, or at once when forced); the Events the node agents record
//! about all of it (Pulled, Created, Started, BackOff, Killing, and a
//! Warning for an image not in the catalog). Issue 21: init containers,
//! in order, before the containers, shown `Init:1/2`, retried or failing
//! the pod.

mod common;
use common::journey::*;
use common::*;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

const PRINTER: &str = r#"
apiVersion: v1
kind: Pod
metadata: {name: printer, labels: {app: printer}}
spec:
  nodeName: node-1
  containers:
  - name: main
    image: busybox
    command: ["sh", "-c", "echo first; echo second >&2; while [ ! -e /tmp/go ]; do sleep 0.2; done; echo late; sleep 3600"]
"#;

/// Prints a token of its own at every start, then fails.
const CRASHER: &str = r#"
apiVersion: v1
kind: Pod
metadata: {name: crasher}
spec:
  nodeName: node-2
  containers:
  - name: main
    image: busybox
    command: ["sh", "-c", "echo token $(cat /proc/sys/kernel/random/uuid); sleep 1; exit 1"]
"#;

/// Run once each, by restartPolicy and exit status; `twice` fails at its
/// first start and succeeds at its second (the pod's /tmp outlives its
/// container).
const ENDINGS: &str = r#"
apiVersion: v1
kind: Pod
metadata: {name: never-ok}
spec:
  restartPolicy: Never
  containers:
  - {name: main, image: busybox, command: ["sh", "-c", "echo done here"]}
---
apiVersion: v1
kind: Pod
metadata: {name: never-fail}
spec:
  restartPolicy: Never
  containers:
  - {name: main, image: busybox, command: ["sh", "-c", "exit 3"]}
---
apiVersion: v1
kind: Pod
metadata: {name: twice}
spec:
  restartPolicy: OnFailure
  containers:
  - {name: main, image: busybox, command: ["sh", "-c", "[ -e /tmp/once ] && exit 0; touch /tmp/once; exit 2"]}
"#;

/// `graceful` ends on SIGTERM; its preStop hook waits for the test's word.
/// `stubborn` ignores SIGTERM.
const ENDERS: &str = r#"
apiVersion: v1
kind: Pod
metadata: {name: graceful}
spec:
  nodeName: node-1
  containers:
  - name: main
    image: busybox
    command: ["sh", "-c", "trap 'echo got-term; exit 0' TERM; while true; do if [ -e /tmp/prestop ]; then echo saw-prestop; rm /tmp/prestop; fi; sleep 0.2; done"]
    lifecycle:
      preStop:
        exec: {command: ["sh", "-c", "touch /tmp/prestop; while [ ! -e /tmp/release ]; do sleep 0.1; done"]}
---
apiVersion: v1
kind: Pod
metadata: {name: stubborn}
spec:
  nodeName: node-2
  terminationGracePeriodSeconds: 5
  containers:
  - {name: main, image: busybox, command: ["sh", "-c", "trap '' TERM; while true; do sleep 0.2; done"]}
---
apiVersion: v1
kind: Pod
metadata: {name: forced}
spec:
  nodeName: node-1
  containers:
  - {name: main, image: busybox, command: ["sleep", "3600"]}
"#;

fn check_termination(lab: &Lab) {
    kubectl_apply(lab, "default", ENDERS);
    for p in ["graceful", "stubborn", "forced"] {
        wait_ready(lab, "default", p);
    }
    let mut follow = Command::new("timeout")
        .args([
            "60", BIN, "kubectl", "--name", &lab.name, "logs", "-f", "graceful",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(follow.stdout.take().unwrap()).lines();
    kubectl_ok(lab, &["delete", "pod", "graceful", "--wait=false"]);
    // Held by its preStop hook: still there, marked.
    let p = pod_json(lab, "graceful");
    assert_eq!(p["metadata"]["deletionGracePeriodSeconds"], 30, "{p}");
    assert!(p["metadata"]["deletionTimestamp"].is_string(), "{p}");
    assert_eq!(lines.next().unwrap().unwrap(), "saw-prestop");
    exec_ok(lab, "default", "graceful", "touch /tmp/release");
    assert_eq!(lines.next().unwrap().unwrap(), "got-term");
    let _ = follow.wait();
    kubectl_ok(lab, &["wait", "--for=delete", "pod/graceful", "--timeout=60s"]);

    // Ignoring SIGTERM: killed once its 5 s are over, then gone.
    kubectl_ok(lab, &["delete", "pod", "stubborn", "--wait=false"]);
    let p = pod_json(lab, "stubborn");
    assert_eq!(p["metadata"]["deletionGracePeriodSeconds"], 5, "{p}");
    kubectl_ok(lab, &["wait", "--for=delete", "pod/stubborn", "--timeout=60s"]);

    // Forced: gone at once.
    kubectl_ok(lab, &["delete", "pod", "forced", "--grace-period=0", "--force"]);
    let gone = kubectl(lab, &["get", "pod", "forced"]);
    assert!(
        String::from_utf8_lossy(&gone.stderr).contains("NotFound"),
        "{gone:?}"
    );
}

fn pod_json(lab: &Lab, name: &str) -> serde_json::Value {
    serde_json::from_str(&kubectl_ok(lab, &["get", "pod", name, "-o", "json"])).unwrap()
}

/// Seconds of the day of an RFC 3339 time (`…THH:MM:SSZ`).
fn day_secs(t: &str) -> i64 {
    let hms: Vec<i64> = t[11..19].split(':').map(|n| n.parse().unwrap()).collect();
    hms[0] * 3600 + hms[1] * 60 + hms[2]
}

fn check_lifecycle(lab: &Lab) {
    kubectl_apply(lab, "default", ENDINGS);
    // The crasher (started by check_logs): as the kubelet, its first exit
    // is started again at once, each later one after a back-off, shown as
    // CrashLoopBackOff, each longer than the one before.
    let mut waiting = false;
    let mut delays: Vec<(u64, i64)> = Vec::new();
    eventually("two restarts of crasher", 1200, || {
        let p = pod_json(lab, "crasher");
        let c = &p["status"]["containerStatuses"][0];
        let n = c["restartCount"].as_u64().unwrap_or(0);
        let backing_off = c["state"]["waiting"]["reason"] == "CrashLoopBackOff";
        assert!(!(backing_off && n == 0), "the first exit was backed off: {c}");
        waiting |= backing_off;
        let started = c["state"]["running"]["startedAt"].as_str();
        let finished = c["lastState"]["terminated"]["finishedAt"].as_str();
        if let (Some(s), Some(f)) = (started, finished) {
            if n >= 1 && !delays.iter().any(|(m, _)| *m == n) {
                assert_eq!(c["lastState"]["terminated"]["exitCode"], 1, "{c}");
                assert_eq!(c["lastState"]["terminated"]["reason"], "Error", "{c}");
                delays.push((n, (day_secs(s) - day_secs(f)).rem_euclid(86400)));
            }
        }
        (n >= 2 && delays.len() >= 2).then_some(())
    });
    assert!(waiting, "crasher never showed CrashLoopBackOff");
    assert!(delays[1].1 > delays[0].1, "back-off did not grow: {delays:?}");

    for (name, phase, code, reason, restarts) in [
        ("never-ok", "Succeeded", 0, "Completed", 0),
        ("never-fail", "Failed", 3, "Error", 0),
        ("twice", "Succeeded", 0, "Completed", 1),
    ] {
        let p = eventually(&format!("{name} {phase}"), 900, || {
            let p = pod_json(lab, name);
            (p["status"]["phase"] == phase).then_some(p)
        });
        let c = &p["status"]["containerStatuses"][0];
        assert_eq!(c["state"]["terminated"]["exitCode"], code, "{name}: {c}");
        assert_eq!(c["state"]["terminated"]["reason"], reason, "{name}: {c}");
        assert_eq!(c["restartCount"], restarts, "{name}: {c}");
        assert_eq!(c["ready"], false, "{name}: {c}");
    }
    // A completed pod's logs outlive its sandbox.
    assert_eq!(logs(lab, &["never-ok"]), "done here\n");
}

fn logs(lab: &Lab, args: &[&str]) -> String {
    let mut a = vec!["logs"];
    a.extend_from_slice(args);
    kubectl_ok(lab, &a)
}

fn check_logs(lab: &Lab) {
    kubectl_apply(lab, "default", PRINTER);
    wait_ready(lab, "default", "printer");
    let both = eventually("printer's two lines", 300, || {
        let l = logs(lab, &["printer"]);
        (l.lines().count() >= 2).then_some(l)
    });
    assert_eq!(both, "first\nsecond\n");
    // The file on the node, read there: the CRI format, streams apart.
    let uid = kubectl_ok(lab, &["get", "pod", "printer", "-o", "jsonpath={.metadata.uid}"]);
    let file = format!("/var/log/pods/default_printer_{uid}/main/0.log");
    let raw = lab.ssh_ok("node-1", &["cat", &file]);
    let recs: Vec<Vec<&str>> = raw.lines().map(|l| l.splitn(4, ' ').collect()).collect();
    assert_eq!(recs.len(), 2, "{raw}");
    assert_eq!(recs[0][1..], ["stdout", "F", "first"], "{raw}");
    assert_eq!(recs[1][1..], ["stderr", "F", "second"], "{raw}");
    for r in &recs {
        let t = r[0];
        assert!(
            t.len() >= 20 && t.as_bytes()[10] == b'T' && t.ends_with('Z'),
            "time {t:?}"
        );
    }

    assert_eq!(logs(lab, &["printer", "-c", "main", "--tail=1"]), "second\n");
    let stamped = logs(lab, &["printer", "--timestamps"]);
    assert_eq!(stamped, format!("{} first\n{} second\n", recs[0][0], recs[1][0]));
    assert_eq!(logs(lab, &["printer", "--since=1h"]), "first\nsecond\n");
    assert_eq!(logs(lab, &["printer", "--since-time=2099-01-01T00:00:00Z"]), "");
    assert_eq!(logs(lab, &["-l", "app=printer"]), "first\nsecond\n");
    let bad = kubectl(lab, &["logs", "printer", "-c", "nope"]);
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("container nope is not valid for pod printer"),
        "{bad:?}"
    );

    // -f: what the container prints after kubectl started arrives too.
    let mut follow = Command::new("timeout")
        .args(["60", BIN, "kubectl", "--name", &lab.name, "logs", "-f", "printer"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(follow.stdout.take().unwrap()).lines();
    assert_eq!(lines.next().unwrap().unwrap(), "first");
    assert_eq!(lines.next().unwrap().unwrap(), "second");
    exec_ok(lab, "default", "printer", "touch /tmp/go");
    assert_eq!(lines.next().unwrap().unwrap(), "late");
    let _ = follow.kill();
    let _ = follow.wait();

    // --previous: the last start's output, the current start's apart.
    kubectl_apply(lab, "default", CRASHER);
    let token = |out: &str| out.strip_prefix("token ").map(|t| t.trim().to_string());
    let (prev, now) = eventually("a restart of crasher with both logs", 600, || {
        let p = kubectl(lab, &["logs", "crasher", "--previous"]);
        let n = kubectl(lab, &["logs", "crasher"]);
        let p = token(&String::from_utf8_lossy(&p.stdout))?;
        let n = token(&String::from_utf8_lossy(&n.stdout))?;
        Some((p, n))
    });
    assert_ne!(prev, now, "--previous showed the current start");
}

/// An image the catalog does not know, without a command: it idles.
const MYSTERY: &str = r#"
apiVersion: v1
kind: Pod
metadata: {name: mystery}
spec:
  nodeName: node-2
  containers:
  - {name: main, image: "example.com/team/unknown:1.2"}
"#;

/// The Events of pod `pod`, as (type, reason, message, component, host, count).
fn events_of(lab: &Lab, pod: &str) -> Vec<(String, String, String, String, String, i64)> {
    let all: serde_json::Value =
        serde_json::from_str(&kubectl_ok(lab, &["get", "events", "-o", "json"])).unwrap();
    let s = |v: &serde_json::Value| v.as_str().unwrap_or("").to_string();
    all["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["involvedObject"]["kind"] == "Pod" && e["involvedObject"]["name"] == pod)
        .map(|e| {
            (
                s(&e["type"]),
                s(&e["reason"]),
                s(&e["message"]),
                s(&e["source"]["component"]),
                s(&e["source"]["host"]),
                e["count"].as_i64().unwrap_or(0),
            )
        })
        .collect()
}

fn check_events(lab: &Lab) {
    let has = |pod: &str, ty: &str, reason: &str, host: &str| {
        eventually(&format!("{pod}: {ty} {reason} from {host}"), 300, || {
            events_of(lab, pod)
                .into_iter()
                .find(|e| e.0 == ty && e.1 == reason && e.3 == "kubelet" && e.4 == host)
        })
    };
    let pulled = has("printer", "Normal", "Pulled", "node-1");
    assert!(pulled.2.contains("\"busybox\""), "{pulled:?}");
    has("printer", "Normal", "Created", "node-1");
    has("printer", "Normal", "Started", "node-1");
    let backoff = has("crasher", "Warning", "BackOff", "node-2");
    assert!(
        backoff.2.contains("restarting failed container=main pod=crasher"),
        "{backoff:?}"
    );
    // The first exit's restart, made at once, is no back-off.
    let zero: Vec<_> = events_of(lab, "crasher")
        .into_iter()
        .filter(|e| e.1 == "BackOff" && e.2.starts_with("Back-off 0s"))
        .collect();
    assert!(zero.is_empty(), "{zero:?}");
    has("graceful", "Normal", "Killing", "node-1");
    // Repeats of one event are counted on it, not added.
    let started: Vec<_> = events_of(lab, "crasher")
        .into_iter()
        .filter(|e| e.1 == "Started")
        .collect();
    assert_eq!(started.len(), 1, "{started:?}");
    assert!(
        started[0].5 >= 2,
        "crasher restarted but Started counts {started:?}"
    );

    kubectl_apply(lab, "default", MYSTERY);
    wait_ready(lab, "default", "mystery");
    let w = has("mystery", "Warning", "ImageNotInCatalog", "node-2");
    assert!(
        w.2.contains("example.com/team/unknown:1.2") && w.2.contains("images.yaml"),
        "{w:?}"
    );
    assert!(
        kubectl_ok(lab, &["describe", "pod", "mystery"]).contains("ImageNotInCatalog"),
        "kubectl describe does not show the warning"
    );
}

/// Issue 21: two init containers in order, each waiting for the test's
/// word, then the container, reading what the first wrote into the pod's
/// emptyDir; the second shows it shares the pod's network and token.
const INITIALIZED: &str = r#"
apiVersion: v1
kind: Pod
metadata: {name: initialized}
spec:
  nodeName: node-1
  volumes: [{name: work, emptyDir: {}}]
  initContainers:
  - name: fetch
    image: busybox
    command: ["sh", "-c", "echo fetching; until [ -e /shared/go1 ]; do sleep 0.2; done; echo made-by-init > /shared/page"]
    volumeMounts: [{name: work, mountPath: /shared}]
  - name: check
    image: busybox
    command: ["sh", "-c", "until [ -e /shared/go2 ]; do sleep 0.2; done; echo checked $(cat /shared/page); ip -4 -o addr show dev eth0; test -s /var/run/secrets/kubernetes.io/serviceaccount/token && echo token-ok"]
    volumeMounts: [{name: work, mountPath: /shared}]
  containers:
  - name: app
    image: busybox
    command: ["sh", "-c", "cat /shared/page; sleep 3600"]
    volumeMounts: [{name: work, mountPath: /shared}]
"#;

/// Init containers that fail: retried with back-off (Always), or failing
/// the pod (Never); the container never starts in either.
const INIT_FAILING: &str = r#"
apiVersion: v1
kind: Pod
metadata: {name: init-crash}
spec:
  nodeName: node-2
  initContainers:
  - {name: broken, image: busybox, command: ["sh", "-c", "echo broken-run; exit 1"]}
  containers:
  - {name: app, image: busybox, command: ["sleep", "3600"]}
---
apiVersion: v1
kind: Pod
metadata: {name: init-never}
spec:
  nodeName: node-2
  restartPolicy: Never
  initContainers:
  - {name: broken, image: busybox, command: ["sh", "-c", "exit 3"]}
  containers:
  - {name: app, image: busybox, command: ["sleep", "3600"]}
"#;

/// A native sidecar, which the node agents do not run.
const SIDECAR: &str = r#"
apiVersion: v1
kind: Pod
metadata: {name: sidecar}
spec:
  initContainers:
  - {name: side, image: busybox, restartPolicy: Always, command: ["sleep", "3600"]}
  containers:
  - {name: app, image: busybox, command: ["sleep", "3600"]}
"#;

/// The STATUS column of `kubectl get pod` (the server's table printer).
fn shown_status(lab: &Lab, pod: &str) -> String {
    let row = kubectl_ok(lab, &["get", "pod", pod, "--no-headers"]);
    row.split_whitespace().nth(2).unwrap_or("").to_string()
}

fn start_init_pods(lab: &Lab) {
    kubectl_apply(lab, "default", INITIALIZED);
    kubectl_apply(lab, "default", INIT_FAILING);
}

/// Checked after the other checks, so that the failing init container
/// has had time to fail and back off meanwhile.
fn check_init_containers(lab: &Lab) {
    // The first runs, held by the test; the second waits its turn.
    let p = eventually("initialized at Init:0/2, its first running", 600, || {
        let p = pod_json(lab, "initialized");
        let running = p["status"]["initContainerStatuses"][0]["state"]["running"].is_object();
        (running && shown_status(lab, "initialized") == "Init:0/2").then_some(p)
    });
    let s = &p["status"];
    assert_eq!(s["phase"], "Pending", "{s}");
    assert_eq!(
        s["initContainerStatuses"][1]["state"]["waiting"]["reason"], "PodInitializing",
        "{s}"
    );
    assert_eq!(
        s["containerStatuses"][0]["state"]["waiting"]["reason"], "PodInitializing",
        "{s}"
    );
    kubectl_ok(
        lab,
        &["exec", "initialized", "-c", "fetch", "--", "touch", "/shared/go1"],
    );
    eventually("initialized at Init:1/2", 600, || {
        (shown_status(lab, "initialized") == "Init:1/2").then_some(())
    });
    kubectl_ok(
        lab,
        &["exec", "initialized", "-c", "check", "--", "touch", "/shared/go2"],
    );
    wait_ready(lab, "default", "initialized");
    assert_eq!(shown_status(lab, "initialized"), "Running");
    let p = pod_json(lab, "initialized");
    for (i, name) in ["fetch", "check"].iter().enumerate() {
        let c = &p["status"]["initContainerStatuses"][i];
        assert_eq!(c["name"], *name, "{c}");
        assert_eq!(c["state"]["terminated"]["exitCode"], 0, "{c}");
        assert_eq!(c["state"]["terminated"]["reason"], "Completed", "{c}");
        assert_eq!(c["restartCount"], 0, "{c}");
    }
    let init = p["status"]["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "Initialized")
        .cloned();
    assert_eq!(init.unwrap()["status"], "True", "{p}");
    // Each one's log by name; the container read the first one's file.
    assert_eq!(logs(lab, &["initialized", "-c", "fetch"]), "fetching\n");
    let checked = logs(lab, &["initialized", "-c", "check"]);
    let ip = pod_ip(lab, "default", "initialized");
    assert!(checked.starts_with("checked made-by-init\n"), "{checked}");
    assert!(
        checked.contains(&format!("inet {ip}/")),
        "not on the pod's network: {checked}"
    );
    assert!(checked.ends_with("token-ok\n"), "{checked}");
    let app = eventually("the container's line", 300, || {
        let l = logs(lab, &["initialized", "-c", "app"]);
        (!l.is_empty()).then_some(l)
    });
    assert_eq!(app, "made-by-init\n");

    // Failing under Always: started again after its back-off, the pod
    // Pending meanwhile, its container never started.
    let mut shown = Vec::new();
    let p = eventually("a restart of init-crash's init container", 900, || {
        let st = shown_status(lab, "init-crash");
        if !shown.contains(&st) {
            shown.push(st.clone());
        }
        let p = pod_json(lab, "init-crash");
        let again = p["status"]["initContainerStatuses"][0]["restartCount"].as_u64() >= Some(1);
        (again && st == "Init:CrashLoopBackOff").then_some(p)
    });
    let s = &p["status"];
    assert_eq!(s["phase"], "Pending", "{s}");
    let c = &s["initContainerStatuses"][0];
    assert_eq!(c["lastState"]["terminated"]["exitCode"], 1, "{c}");
    assert_eq!(c["lastState"]["terminated"]["reason"], "Error", "{c}");
    assert_eq!(
        s["containerStatuses"][0]["state"]["waiting"]["reason"], "PodInitializing",
        "{s}"
    );
    assert!(
        shown.iter().all(|s| s.starts_with("Init:") || s == "Pending"),
        "init-crash shown as {shown:?}"
    );
    assert_eq!(logs(lab, &["init-crash", "-c", "broken"]), "broken-run\n");
    // Failing under Never: the pod failed, shown Init:Error.
    let p = eventually("init-never Failed", 600, || {
        let p = pod_json(lab, "init-never");
        (p["status"]["phase"] == "Failed").then_some(p)
    });
    let c = &p["status"]["initContainerStatuses"][0];
    assert_eq!(c["state"]["terminated"]["exitCode"], 3, "{c}");
    assert_eq!(shown_status(lab, "init-never"), "Init:Error");
    for pod in ["init-crash", "init-never"] {
        let started: Vec<_> = events_of(lab, pod)
            .into_iter()
            .filter(|e| e.1 == "Started" && e.2.ends_with(" app"))
            .collect();
        assert!(started.is_empty(), "{pod}: its container started: {started:?}");
    }
    // A native sidecar is refused, saying why.
    let args = ["kubectl", "--name", &lab.name, "apply", "-f", "-"];
    let refused = labyrinth_with_stdin(&args, SIDECAR.as_bytes());
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(
        !refused.status.success()
            && err.contains("spec.initContainers[0].restartPolicy")
            && err.contains("native sidecar"),
        "{refused:?}"
    );
}

#[test]
fn pod_logs_lifecycle_and_termination() {
    if need_root("pod_logs_lifecycle_and_termination") {
        logs_lifecycle_and_termination("life", &[]);
    }
}

/// Issue 20, acceptance 3: the pod lifecycle on etcd, in every run.
#[test]
fn pod_logs_lifecycle_and_termination_on_etcd() {
    if need_root("pod_logs_lifecycle_and_termination_on_etcd") {
        logs_lifecycle_and_termination("life-etcd", &["--store", "etcd"]);
    }
}

/// Every check in a lab tagged `tag`, brought up with `store` (`--store X`,
/// or none: `test_store()`'s choice).
fn logs_lifecycle_and_termination(tag: &str, store: &[&str]) {
    let lab = Lab::cluster(tag, store);
    start_init_pods(&lab);
    check_logs(&lab);
    check_lifecycle(&lab);
    check_termination(&lab);
    check_events(&lab);
    check_init_containers(&lab);
    lab.down();
}
