//! The reference journey's kubectl steps, driven by the machine's real kubectl
//! against a server on 127.0.0.1.

mod common;
use common::{ready_status, status_patch, TestServer, NODES};
use std::io::{BufRead, BufReader};
use std::process::Stdio;

/// The journey's wrk-1 manifest, as the repository ships it in examples/.
fn example() -> String {
    concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/journey/wrk-1.yaml").to_string()
}

fn header(out: &str) -> Vec<String> {
    let first = out.lines().next().unwrap_or("");
    // Column names are separated by 2+ spaces; single spaces live inside names.
    first
        .split("  ")
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

fn row<'a>(out: &'a str, name: &str) -> &'a str {
    out.lines()
        .find(|l| l.starts_with(name))
        .unwrap_or_else(|| panic!("no row {name} in\n{out}"))
}

#[test]
fn journey_with_real_kubectl() {
    let dir = tempfile::tempdir().unwrap();
    let s = TestServer::start(dir.path());

    let (_, _, err) = s.kubectl(&["get", "nodes"]);
    assert!(err.contains("No resources found"), "{err}");
    s.apply(NODES, &[]);
    for (n, ip) in [("node-0", "10.168.0.2"), ("node-1", "10.168.0.3")] {
        s.ok(&status_patch("node", n, &ready_status(ip)));
    }
    let out = s.ok(&["get", "nodes"]);
    assert_eq!(header(&out), ["NAME", "STATUS", "ROLES", "AGE", "VERSION"]);
    let r0: Vec<&str> = row(&out, "node-0").split_whitespace().collect();
    assert_eq!((r0[1], r0[2], r0[4]), ("Ready", "control-plane", "v1.33.0"));
    assert_eq!(row(&out, "node-1").split_whitespace().nth(2), Some("<none>"));
    let wide = s.ok(&["get", "nodes", "-o", "wide"]);
    assert_eq!(
        header(&wide)[5..],
        [
            "INTERNAL-IP",
            "EXTERNAL-IP",
            "OS-IMAGE",
            "KERNEL-VERSION",
            "CONTAINER-RUNTIME"
        ]
    );
    assert!(row(&wide, "node-1").contains("10.168.0.3"));

    assert!(s
        .ok(&["label", "node", "node-1", "nodelabel=node-wrk-1"])
        .contains("node/node-1 labeled"));
    let sel = s.ok(&["get", "nodes", "-l", "nodelabel=node-wrk-1", "-o", "name"]);
    assert_eq!(sel.trim(), "node/node-1");

    assert!(s
        .ok(&["create", "namespace", "wrk-1"])
        .contains("namespace/wrk-1 created"));
    let ex = example();
    let out = s.ok(&["-n", "wrk-1", "apply", "-f", &ex]);
    assert!(out.contains("service/node-wrk-1-ubuntu24 created"), "{out}");
    assert!(
        out.contains("deployment.apps/node-wrk-1-ubuntu24 created"),
        "{out}"
    );
    let out = s.ok(&["-n", "wrk-1", "apply", "-f", &ex]);
    assert!(out.contains("service/node-wrk-1-ubuntu24 unchanged"), "{out}");
    assert!(
        out.contains("deployment.apps/node-wrk-1-ubuntu24 unchanged"),
        "{out}"
    );

    let svc = s.ok(&["-n", "wrk-1", "get", "svc"]);
    assert_eq!(
        header(&svc),
        ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"]
    );
    let r: Vec<&str> = row(&svc, "node-wrk-1-ubuntu24").split_whitespace().collect();
    assert_eq!(r[1], "ClusterIP");
    let ip: std::net::Ipv4Addr = r[2].parse().unwrap();
    assert!("10.96.0.0/12".parse::<ipnet::Ipv4Net>().unwrap().contains(&ip));
    assert_eq!(r[4], "9999/TCP,9999/UDP");
    let k = s.ok(&["get", "svc", "kubernetes"]);
    assert!(row(&k, "kubernetes").contains("10.96.0.1 "), "{k}");

    let deploy = s.ok(&["-n", "wrk-1", "get", "deploy"]);
    assert_eq!(
        header(&deploy),
        ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]
    );
    assert!(row(&deploy, "node-wrk-1-ubuntu24").contains("0/1"));

    // A pod as the controllers would make it, bound to node-1.
    s.apply(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: node-wrk-1-ubuntu24-7d4b9c8f6-x2x9z\n  labels: {app: node-wrk-1-ubuntu24}\nspec:\n  nodeName: node-1\n  containers:\n  - {name: c, image: docker.io/seantywork/ubuntu24}\n",
        &["-n", "wrk-1"],
    );
    let pods = s.ok(&["-n", "wrk-1", "get", "pods", "-o", "wide"]);
    assert_eq!(
        header(&pods),
        [
            "NAME",
            "READY",
            "STATUS",
            "RESTARTS",
            "AGE",
            "IP",
            "NODE",
            "NOMINATED NODE",
            "READINESS GATES"
        ]
    );
    let r: Vec<&str> = row(&pods, "node-wrk-1-ubuntu24-").split_whitespace().collect();
    assert_eq!((r[1], r[2], r[3], r[6]), ("0/1", "Pending", "0", "node-1"));

    let eps = s.ok(&["get", "endpointslices"]);
    assert_eq!(header(&eps), ["NAME", "ADDRESSTYPE", "PORTS", "ENDPOINTS", "AGE"]);
    assert!(row(&eps, "kubernetes").contains("127.0.0.1"));
    let ns = s.ok(&["get", "ns"]);
    assert_eq!(header(&ns), ["NAME", "STATUS", "AGE"]);
    for n in [
        "default",
        "kube-system",
        "kube-public",
        "kube-node-lease",
        "wrk-1",
    ] {
        assert!(row(&ns, n).contains("Active"));
    }

    // get -w streams changes: start a watch, make a change, see it arrive.
    let mut child = s
        .cmd(
            &s.kubeconfig(),
            &["-n", "wrk-1", "get", "pods", "-w", "--output-watch-events"],
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for l in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(l).is_err() {
                break;
            }
        }
    });
    let first = rx
        .recv_timeout(std::time::Duration::from_secs(60))
        .expect("initial watch line");
    s.ok(&[
        "-n",
        "wrk-1",
        "label",
        "pod",
        "node-wrk-1-ubuntu24-7d4b9c8f6-x2x9z",
        "seen=yes",
    ]);
    // The pod is on a node: the delete only marks it (graceful deletion);
    // no agent runs here, so the test ends it as the node's would, with
    // grace 0.
    let pod = "node-wrk-1-ubuntu24-7d4b9c8f6-x2x9z";
    let on_pod = |args: &[&str]| {
        let mut a = vec!["-n", "wrk-1"];
        a.extend_from_slice(args);
        s.ok(&a)
    };
    on_pod(&["delete", "pod", pod, "--wait=false"]);
    let marked = on_pod(&["get", "pod", pod, "-o", "jsonpath={.metadata.deletionTimestamp}"]);
    assert!(!marked.trim().is_empty(), "not marked for deletion");
    on_pod(&["delete", "pod", pod, "--grace-period=0", "--force"]);
    let mut lines = vec![first];
    while !lines.iter().any(|l| l.starts_with("DELETED")) {
        match rx.recv_timeout(std::time::Duration::from_secs(60)) {
            Ok(l) => lines.push(l),
            Err(_) => break,
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    eprintln!("watch saw: {lines:#?}");
    assert!(
        lines.iter().any(|l| l.starts_with("EVENT") || l.contains("NAME")),
        "{lines:?}"
    );
    assert!(lines
        .iter()
        .any(|l| l.starts_with("ADDED") && l.contains("node-wrk-1-ubuntu24-7d4b9c8f6-x2x9z")));
    assert!(lines.iter().any(|l| l.starts_with("MODIFIED")));
    assert!(lines.iter().any(|l| l.starts_with("DELETED")));

    let out = s.ok(&["-n", "wrk-1", "delete", "-f", &ex]);
    assert!(out.contains("service \"node-wrk-1-ubuntu24\" deleted"), "{out}");
    assert!(
        out.contains("deployment.apps \"node-wrk-1-ubuntu24\" deleted"),
        "{out}"
    );
    let (_, _, err) = s.kubectl(&["-n", "wrk-1", "get", "svc,deploy"]);
    assert!(err.contains("No resources found"), "{err}");
}
