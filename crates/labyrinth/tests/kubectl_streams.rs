//! Issue 16, acceptance 6: the kubectl verbs that stream, with the
//! machine's kubectl run from node-0 (`labyrinth kubectl`). One lab for all.
//! `port-forward` to a pod and to a Service: curl on node-0's loopback
//! reaches nginx in the pod, several connections at once through one
//! forward, and a 3 MB file arrives byte for byte. `attach` to a running
//! container shows its stdout and stderr as they come, and with `-i` to a
//! `stdin: true` container, what is typed reaches it. `debug -it POD
//! --target=C`: an ephemeral container in the pod's namespaces whose `ps`
//! lists the target's process, its state in the pod's status, its output
//! through `logs -c`; changing or removing it afterwards is a 422.

mod common;
use common::journey::*;
use common::*;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

const NS: &str = "streams";

const WEB: &str = r#"
apiVersion: v1
kind: Pod
metadata: {name: web, labels: {app: web}}
spec:
  nodeName: node-1
  containers: [{name: nginx, image: nginx, ports: [{containerPort: 80}]}]
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports: [{port: 8080, targetPort: 80}]
"#;

const TALKER: &str = r#"
apiVersion: v1
kind: Pod
metadata: {name: talker}
spec:
  nodeName: node-2
  containers:
  - name: talk
    image: busybox
    command: [sh, -c, 'i=0; while true; do echo tick $i; echo tock $i >&2; i=$((i+1)); sleep 0.5; done']
  - name: echo
    image: busybox
    stdin: true
    command: [sh, -c, 'while read l; do echo got:$l; done']
"#;

/// `kubectl port-forward TARGET PORTS` from node-0, once it says it
/// listens (its first line; it exits at once on an error).
fn port_forward(lab: &Lab, target: &str, ports: &str) -> Child {
    let mut child = Command::new(BIN)
        .args([
            "kubectl",
            "--name",
            &lab.name,
            "-n",
            NS,
            "port-forward",
            target,
            ports,
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("running labyrinth kubectl port-forward");
    let mut first = String::new();
    BufReader::new(child.stdout.as_mut().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert!(
        first.starts_with("Forwarding from 127.0.0.1:"),
        "port-forward {target} {ports} said {first:?}; stderr: {}",
        {
            stop(&mut child);
            let mut e = String::new();
            let _ = std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut e);
            e
        }
    );
    child
}

/// curl on node-0 (where kubectl listens).
fn curl_on_node0(lab: &Lab, url: &str) -> String {
    lab.ssh_ok("node-0", &["curl", "-sS", "--max-time", "20", url])
}

#[test]
fn kubectl_streams() {
    if !need_root("kubectl_streams") {
        return;
    }
    let lab = Lab::cluster("kstream", &[]);
    kubectl_ok(&lab, &["create", "namespace", NS]);
    kubectl_apply(&lab, NS, WEB);
    kubectl_apply(&lab, NS, TALKER);
    wait_ready(&lab, NS, "web");
    wait_ready(&lab, NS, "talker");
    forward_to_pod_and_service(&lab);
    attach_to_running_containers(&lab);
    debug_with_an_ephemeral_container(&lab);
    lab.down();
}

fn forward_to_pod_and_service(lab: &Lab) {
    // A file big enough for many frames, its digest taken inside the pod.
    let digest = exec_ok(
        lab,
        NS,
        "web",
        "head -c 3000000 /dev/urandom > /usr/share/nginx/html/big && sha256sum /usr/share/nginx/html/big",
    );
    let digest = digest.split_whitespace().next().unwrap().to_string();

    let mut pf = port_forward(lab, "pod/web", "18080:80");
    let page = curl_on_node0(lab, "http://127.0.0.1:18080/");
    assert!(page.contains("Welcome to nginx!"), "{page}");
    // Eight at once through the one forward, each answered in full.
    let codes = lab.ssh_ok(
        "node-0",
        &[
            "sh",
            "-c",
            "for i in 1 2 3 4 5 6 7 8; do \
               curl -sS --max-time 20 -o /dev/null -w '%{http_code} %{size_download}\\n' http://127.0.0.1:18080/ & \
             done; wait",
        ],
    );
    let lines: Vec<&str> = codes.lines().collect();
    assert_eq!(lines.len(), 8, "{codes}");
    let size = lines[0].split_whitespace().nth(1).unwrap();
    assert!(
        lines.iter().all(|l| l.starts_with("200 ") && l.ends_with(size)) && size != "0",
        "{codes}"
    );
    let got = lab.ssh_ok(
        "node-0",
        &[
            "sh",
            "-c",
            "curl -sS --max-time 60 http://127.0.0.1:18080/big | sha256sum",
        ],
    );
    assert_eq!(got.split_whitespace().next(), Some(digest.as_str()), "{got}");
    stop(&mut pf);

    // The Service's port, resolved by kubectl to the pod's target port.
    let mut pf = port_forward(lab, "svc/web", "18081:8080");
    let page = curl_on_node0(lab, "http://127.0.0.1:18081/");
    assert!(page.contains("Welcome to nginx!"), "{page}");
    stop(&mut pf);
    // The forward ended with kubectl: nothing listens any more.
    let after = lab.ssh(
        "node-0",
        &["curl", "-sS", "--max-time", "5", "http://127.0.0.1:18081/"],
    );
    assert!(!after.status.success(), "{after:?}");
}

/// `kubectl attach` from node-0, stdin piped, stdout and stderr read.
fn attach(lab: &Lab, args: &[&str]) -> Child {
    let mut a = vec!["kubectl", "--name", &lab.name, "-n", NS, "attach"];
    a.extend_from_slice(args);
    Command::new(BIN)
        .args(&a)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("running labyrinth kubectl attach")
}

/// The first line of `r` that starts with `prefix` (kubectl's own notes
/// may come first); panics at the end of the stream.
fn line_starting(r: &mut impl BufRead, prefix: &str) -> String {
    let mut seen = String::new();
    loop {
        let mut l = String::new();
        if r.read_line(&mut l).unwrap() == 0 {
            panic!("no line starting {prefix:?}; got {seen:?}");
        }
        if l.starts_with(prefix) {
            return l;
        }
        seen.push_str(&l);
    }
}

fn attach_to_running_containers(lab: &Lab) {
    // Output as it comes, each stream on its own.
    let mut a = attach(lab, &["talker", "-c", "talk"]);
    let mut out = BufReader::new(a.stdout.take().unwrap());
    let mut err = BufReader::new(a.stderr.take().unwrap());
    let tick: u64 = line_starting(&mut out, "tick ")[5..].trim().parse().unwrap();
    let next: u64 = line_starting(&mut out, "tick ")[5..].trim().parse().unwrap();
    assert_eq!(next, tick + 1, "lines come in order, none lost");
    line_starting(&mut err, "tock ");
    stop(&mut a);

    // stdin reaches a stdin: true container.
    let mut a = attach(lab, &["-i", "talker", "-c", "echo"]);
    let mut out = BufReader::new(a.stdout.take().unwrap());
    let mut input = a.stdin.take().unwrap();
    std::io::Write::write_all(&mut input, b"hello attach\n").unwrap();
    let got = line_starting(&mut out, "got:");
    assert_eq!(got.trim(), "got:hello attach");
    stop(&mut a);
    drop(input);
}

/// A jsonpath of the talker pod.
fn talker(lab: &Lab, path: &str) -> String {
    let arg = format!("jsonpath={path}");
    kubectl_ok(lab, &["-n", NS, "get", "pod", "talker", "-o", &arg])
}

fn debug_with_an_ephemeral_container(lab: &Lab) {
    // kubectl PATCHes pods/talker/ephemeralcontainers, waits for the
    // container to run, then attaches (or, if it has ended, shows its
    // log). A command this short may end before the attach: its output is
    // read with `logs -c` below.
    let o = kubectl(
        lab,
        &[
            "-n",
            NS,
            "debug",
            "-it",
            "talker",
            "--image=busybox",
            "--target=talk",
            "-c",
            "dbg",
            "--profile=general",
            "--",
            "sh",
            "-c",
            "ps -o pid,args; hostname",
        ],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    kubectl_ok(
        lab,
        &[
            "-n",
            NS,
            "wait",
            "--for=jsonpath={.status.ephemeralContainerStatuses[0].state.terminated.reason}=Completed",
            "pod/talker",
            "--timeout=60s",
        ],
    );
    let state = talker(lab, "{.status.ephemeralContainerStatuses[0].state}");
    let state: serde_json::Value = serde_json::from_str(&state).unwrap();
    assert_eq!(state["terminated"]["exitCode"], 0, "{state}");
    let log = kubectl_ok(lab, &["-n", NS, "logs", "talker", "-c", "dbg"]);
    // The target's loop, the pod's pause as PID 1, the pod's hostname, and
    // nothing of the node's (its agent).
    assert!(log.contains("while true; do echo tick"), "{log}");
    assert!(log.lines().any(|l| l.trim_start().starts_with("1 ")), "{log}");
    assert!(log.lines().any(|l| l.trim() == "talker"), "{log}");
    assert!(!log.contains("labyrinth agent"), "{log}");
    // The other containers go on, and no container was restarted.
    let restarts = talker(lab, "{.status.containerStatuses[*].restartCount}");
    assert_eq!(restarts, "0 0");

    // The subresource takes additions only: a PUT changing the existing
    // one, or removing it, is 422 naming the field.
    let pod = kubectl_ok(lab, &["-n", NS, "get", "pod", "talker", "-o", "json"]);
    let mut pod: serde_json::Value = serde_json::from_str(&pod).unwrap();
    let path = format!("/api/v1/namespaces/{NS}/pods/talker/ephemeralcontainers");
    let put = |pod: &serde_json::Value| {
        let args = [
            "kubectl", "--name", &lab.name, "replace", "--raw", &path, "-f", "-",
        ];
        let o = labyrinth_with_stdin(&args, pod.to_string().as_bytes());
        assert!(!o.status.success(), "the change was taken");
        String::from_utf8_lossy(&o.stderr).into_owned()
    };
    pod["spec"]["ephemeralContainers"][0]["image"] = "alpine".into();
    let err = put(&pod);
    assert!(
        err.contains("spec.ephemeralContainers[0]") && err.contains("may not be changed"),
        "{err}"
    );
    pod["spec"]["ephemeralContainers"] = serde_json::json!([]);
    let err = put(&pod);
    assert!(err.contains("may not be removed"), "{err}");
    // A target that is not one of the pod's containers.
    let o = kubectl(
        lab,
        &[
            "-n",
            NS,
            "debug",
            "talker",
            "--image=busybox",
            "--target=nope",
            "-c",
            "dbg2",
            "--profile=general",
        ],
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && err.contains("targetContainerName: Not found"),
        "{err}"
    );
}
