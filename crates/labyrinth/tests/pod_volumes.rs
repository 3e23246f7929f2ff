//! Issues 16 and 21: what a pod shares with its node and the volumes it
//! mounts, in one lab, through the machine's kubectl:
//! - `hostNetwork` + `hostPID`: the pod's IP is the node's, it sees the
//!   node's devices, hostname and processes; a pod without them sees its own.
//! - `emptyDir` shared by two containers (and a `subPath` of it), a
//!   ConfigMap's `items` with their mode, a Secret with its `defaultMode`,
//!   all three read-only where kubelet makes them so; a hostPath in the
//!   node's own /etc (created, written from the pod, read on the node, and
//!   absent from the host's /etc) and one in the host's /usr (read-only).
//! - A deleted pod's volume folder goes with it; a mount of an unknown
//!   volume and two volumes of one name are 422 with field paths.
//! - `kubectl debug node/node-1` (its protobuf Pod: host namespaces and a
//!   hostPath `/` at /host) reads node-1's /etc/hostname, writes the
//!   node's /etc (not the host's) and cannot write the host's /usr.

mod common;
use common::journey::*;
use common::*;

const HOST_DIR: &str = "/etc/labyrinth-pod-volumes";

const PODS: &str = r#"
apiVersion: v1
kind: ConfigMap
metadata: {name: settings}
data: {greeting: hello, other: x}
---
apiVersion: v1
kind: Secret
metadata: {name: creds}
stringData: {password: hunter2}
---
apiVersion: v1
kind: Pod
metadata: {name: vols}
spec:
  nodeName: node-1
  volumes:
  - {name: scratch, emptyDir: {}}
  - name: cfg
    configMap:
      name: settings
      items: [{key: greeting, path: sub/greet.txt, mode: 0400}]
  - {name: creds, secret: {secretName: creds, defaultMode: 0440}}
  - {name: nodeetc, hostPath: {path: /etc/labyrinth-pod-volumes, type: DirectoryOrCreate}}
  - {name: usr, hostPath: {path: /usr/share, type: Directory}}
  containers:
  - name: writer
    image: busybox
    command: [sh, -c, "echo from-writer > /scratch/note; exec sleep 3600"]
    volumeMounts: [{name: scratch, mountPath: /scratch}]
  - name: reader
    image: busybox
    command: [sleep, "3600"]
    volumeMounts:
    - {name: scratch, mountPath: /shared}
    - {name: scratch, mountPath: /deep, subPath: deep/dir}
    - {name: cfg, mountPath: /config}
    - {name: creds, mountPath: /var/run/secrets/app, readOnly: true}
    - {name: nodeetc, mountPath: /node-etc}
    - {name: usr, mountPath: /host-usr}
---
apiVersion: v1
kind: Pod
metadata: {name: hostnet}
spec:
  nodeName: node-2
  hostNetwork: true
  hostPID: true
  containers:
  - {name: main, image: busybox, command: [sleep, "3600"]}
"#;

const BAD: &str = r#"
apiVersion: v1
kind: Pod
metadata: {name: bad}
spec:
  volumes: [{name: a, emptyDir: {}}, {name: a, emptyDir: {}}]
  containers:
  - name: c
    image: busybox
    volumeMounts: [{name: nope, mountPath: /x}]
"#;

fn in_reader(lab: &Lab, cmd: &str) -> std::process::Output {
    kubectl(lab, &["exec", "vols", "-c", "reader", "--", "sh", "-c", cmd])
}

#[test]
fn host_namespaces_and_volumes() {
    if !need_root("host_namespaces_and_volumes") {
        return;
    }
    assert!(
        !std::path::Path::new(HOST_DIR).exists(),
        "{HOST_DIR} exists on the host before the test"
    );
    let lab = Lab::cluster("pvol", &[]);
    kubectl_apply(&lab, "default", PODS);
    wait_ready(&lab, "default", "hostnet");
    wait_ready(&lab, "default", "vols");

    // hostNetwork + hostPID: the node's address, devices, name, processes.
    let p: serde_json::Value =
        serde_json::from_str(&kubectl_ok(&lab, &["get", "pod", "hostnet", "-o", "json"])).unwrap();
    assert_eq!(p["status"]["podIP"], p["status"]["hostIP"], "{p}");
    assert_eq!(p["status"]["podIPs"][0]["ip"], p["status"]["hostIP"], "{p}");
    let host = exec_ok(&lab, "default", "hostnet", "hostname; ip -br addr; ps -eo comm");
    let mut lines = host.lines();
    assert_eq!(lines.next(), Some("node-2"), "{host}");
    let node_ip = p["status"]["hostIP"].as_str().unwrap();
    assert!(host.contains(&format!("{node_ip}/24")), "{host}");
    // The node's own processes: its agent, and more than one sandbox.
    assert!(host.lines().any(|l| l == "labyrinth"), "{host}");
    assert!(
        host.lines().filter(|l| *l == "labyrinth-pause").count() > 1,
        "{host}"
    );
    // Without them, the pod's own.
    let own = exec_ok(&lab, "default", "vols", "hostname; cat /proc/1/comm");
    assert_eq!(own, "vols\nlabyrinth-pause\n");

    // emptyDir: one container writes, the other reads; a subPath of it.
    let note = eventually("the writer's note", 100, || {
        let o = in_reader(&lab, "cat /shared/note");
        o.status
            .success()
            .then(|| String::from_utf8_lossy(&o.stdout).into_owned())
    });
    assert_eq!(note, "from-writer\n");
    let deep = ok(&in_reader(&lab, "echo deep > /deep/f && cat /shared/deep/dir/f"));
    assert_eq!(deep, "deep\n");

    // ConfigMap items and Secret modes; both read-only.
    let files = ok(&in_reader(
        &lab,
        "ls /config; cat /config/sub/greet.txt; echo; stat -c %a /config/sub/greet.txt /var/run/secrets/app/password; cat /var/run/secrets/app/password",
    ));
    assert_eq!(files, "sub\nhello\n400\n440\nhunter2");
    for dir in ["/config", "/var/run/secrets/app", "/host-usr"] {
        let o = in_reader(&lab, &format!("touch {dir}/x"));
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            !o.status.success() && err.contains("Read-only file system"),
            "{dir}: {err}"
        );
    }

    // hostPath in the node's own /etc: created, writable, the node's only.
    ok(&in_reader(&lab, "echo from-pod > /node-etc/f"));
    let on_node = lab.ssh_ok("node-1", &["cat", &format!("{HOST_DIR}/f")]);
    assert_eq!(on_node, "from-pod\n");
    assert!(
        !std::path::Path::new(HOST_DIR).exists(),
        "the pod wrote the host's /etc"
    );

    // Deleted: its volume folder goes with it (the node's hostPath stays).
    let uid = kubectl_ok(&lab, &["get", "pod", "vols", "-o", "jsonpath={.metadata.uid}"]);
    let dir = format!("/var/lib/labyrinth/pods/{uid}");
    assert!(lab
        .ssh("node-1", &["test", "-d", &format!("{dir}/volumes/scratch")])
        .status
        .success());
    kubectl_ok(&lab, &["delete", "pod", "vols", "--wait=true", "--timeout=60s"]);
    eventually("the pod's folder removed", 100, || {
        (!lab.ssh("node-1", &["test", "-e", &dir]).status.success()).then_some(())
    });
    assert!(lab
        .ssh("node-1", &["test", "-f", &format!("{HOST_DIR}/f")])
        .status
        .success());

    // Bad input: 422 with the real server's field paths, nothing created.
    let args = ["kubectl", "--name", &lab.name, "apply", "-f", "-"];
    let o = labyrinth_with_stdin(&args, BAD.as_bytes());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "{err}");
    assert!(
        err.contains("spec.volumes[1].name: Duplicate value: \"a\""),
        "{err}"
    );
    assert!(
        err.contains("spec.containers[0].volumeMounts[0].name: Not found: \"nope\""),
        "{err}"
    );
    assert!(!kubectl(&lab, &["get", "pod", "bad"]).status.success());

    // kubectl debug node: its output read from the pod's log (a command
    // this short may end before the attach).
    let script = "cat /host/etc/hostname; touch /host/etc/labyrinth-debug && echo etc-ok; \
                  touch /host/usr/labyrinth-debug 2>/dev/null || echo usr-ro";
    let o = kubectl(
        &lab,
        &[
            "debug",
            "node/node-1",
            "-i",
            "--image=busybox",
            "--profile=general",
            "--",
            "sh",
            "-c",
            script,
        ],
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    let pod = kubectl_ok(&lab, &["get", "pods", "-o", "name"])
        .lines()
        .find_map(|l| {
            l.strip_prefix("pod/node-debugger-node-1-")
                .map(|s| format!("node-debugger-node-1-{s}"))
        })
        .expect("the debugging pod");
    kubectl_ok(
        &lab,
        &[
            "wait",
            "--for=jsonpath={.status.phase}=Succeeded",
            &format!("pod/{pod}"),
            "--timeout=90s",
        ],
    );
    let d: serde_json::Value =
        serde_json::from_str(&kubectl_ok(&lab, &["get", "pod", &pod, "-o", "json"])).unwrap();
    let spec = &d["spec"];
    assert_eq!(
        (&spec["hostNetwork"], &spec["hostPID"], &spec["hostIPC"]),
        (&true.into(), &true.into(), &true.into())
    );
    let log = kubectl_ok(&lab, &["logs", &pod]);
    assert_eq!(log, "node-1\netc-ok\nusr-ro\n", "{log}");
    assert!(lab
        .ssh("node-1", &["test", "-f", "/etc/labyrinth-debug"])
        .status
        .success());
    for p in ["/etc/labyrinth-debug", "/usr/labyrinth-debug"] {
        assert!(!std::path::Path::new(p).exists(), "{p} on the host");
    }
    lab.down();
}
