//! TCP connections held open across control-plane failures (issue 20,
//! acceptance 1: "open connections are not disturbed"): an echo server pod
//! on node-2 behind a ClusterIP Service, and a client pod on node-1 with
//! one connection to the server pod's address and one to the Service's,
//! each a single `socat` fed from a file. A line appended to the file comes
//! back on the same connection, or not at all: socat does not reconnect,
//! and the server keeps no state, so an echo after a failure proves the
//! connection outlived it.

use super::journey::{kubectl, kubectl_apply, kubectl_ok, pod_ip, wait_ready, wait_until};
use super::Lab;

/// The echo server: every connection gets its own `cat`.
const SERVER: &str = "apiVersion: v1
kind: Pod
metadata: {name: echo, labels: {app: echo}}
spec:
  nodeName: node-2
  containers:
  - name: echo
    image: busybox
    command: [socat, 'TCP-LISTEN:7000,fork,reuseaddr', 'EXEC:cat']
    readinessProbe: {tcpSocket: {port: 7000}, periodSeconds: 1}
---
apiVersion: v1
kind: Service
metadata: {name: echo}
spec:
  selector: {app: echo}
  ports: [{port: 7000}]
";

/// The client's containers, each holding one connection.
pub const CONNECTIONS: [&str; 2] = ["direct", "service"];

/// One client container: lines appended to /tmp/in go out on its one
/// connection to `target`, what comes back lands in /tmp/out.
fn client_container(name: &str, target: &str) -> String {
    format!(
        "  - name: {name}\n    image: busybox\n    command: [sh, -c, \
         'touch /tmp/in; tail -f /tmp/in | socat - TCP:{target}:7000 >/tmp/out']\n"
    )
}

/// The client pod and the server, connected.
pub struct Held {
    /// Each container's (name, restartCount, startedAt) of both pods, and
    /// its main process's start time in the pod (`/proc/1/stat`), as they
    /// were once the connections carried their first line.
    before: Vec<String>,
}

impl Held {
    /// Start both pods and check that each connection carries a line.
    pub fn open(lab: &Lab) -> Held {
        kubectl_apply(lab, "default", SERVER);
        wait_ready(lab, "default", "echo");
        let server = pod_ip(lab, "default", "echo");
        let service = kubectl_ok(lab, &["get", "svc", "echo", "-o", "jsonpath={.spec.clusterIP}"]);
        let mut client = String::from(
            "apiVersion: v1\nkind: Pod\nmetadata: {name: talker}\nspec:\n  nodeName: node-1\n  containers:\n",
        );
        client += &client_container(CONNECTIONS[0], server.trim());
        client += &client_container(CONNECTIONS[1], service.trim());
        kubectl_apply(lab, "default", &client);
        wait_ready(lab, "default", "talker");
        round_trip(lab, "opened");
        Held {
            before: containers(lab),
        }
    }

    /// Both connections still carry a line (`word`, echoed back), and no
    /// container of either pod was started again.
    pub fn check(&self, lab: &Lab, word: &str) {
        round_trip(lab, word);
        assert_eq!(
            containers(lab),
            self.before,
            "a pod holding the connections was restarted (after {word})"
        );
    }
}

/// Send `word` on each connection and wait for its echo.
fn round_trip(lab: &Lab, word: &str) {
    for c in CONNECTIONS {
        let send = format!("echo {word} >>/tmp/in");
        kubectl_ok(lab, &["exec", "talker", "-c", c, "--", "sh", "-c", &send]);
        wait_until(&format!("{word} echoed on the {c} connection"), || {
            let out = kubectl(lab, &["exec", "talker", "-c", c, "--", "cat", "/tmp/out"]);
            String::from_utf8_lossy(&out.stdout).lines().any(|l| l == word)
        });
    }
}

/// Every container of the two pods: name, restartCount and startedAt as the
/// API shows them, and its main process's start time (jiffies since boot)
/// as the pod sees it.
fn containers(lab: &Lab) -> Vec<String> {
    let path = "jsonpath={range .status.containerStatuses[*]}{.name} {.restartCount} {.state.running.startedAt}{\"\\n\"}{end}";
    let mut all = Vec::new();
    for pod in ["echo", "talker"] {
        for line in kubectl_ok(lab, &["get", "pod", pod, "-o", path]).lines() {
            let name = line.split_whitespace().next().unwrap_or_default();
            let started = kubectl_ok(
                lab,
                &[
                    "exec",
                    pod,
                    "-c",
                    name,
                    "--",
                    "sh",
                    "-c",
                    "cut -d' ' -f22 /proc/1/stat",
                ],
            );
            all.push(format!("{pod}/{line} {}", started.trim()));
        }
    }
    all
}
