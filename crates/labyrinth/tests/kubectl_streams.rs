//! Issue 16, acceptance 6: the kubectl verbs that stream, with the
//! machine's kubectl run from node-0 (`labyrinth kubectl`). One lab for all.
//! `port-forward` to a pod and to a Service: curl on node-0's loopback
//! reaches nginx in the pod, several connections at once through one
//! forward, and a 3 MB file arrives byte for byte. `attach` to a running
//! container shows its stdout and stderr as they come, and with `-i` to a
//! `stdin: true` container, what is typed reaches it.

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
