//! The reference journey's set-up through the machine's kubectl (workers
//! labelled, namespaces, the shipped manifests), and sending a line from one
//! pod to another the way docs/mission.md does: `nc -l` in the server pod.

use super::*;

pub const EXAMPLES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/journey");

pub fn kubectl(lab: &Lab, args: &[&str]) -> Output {
    let mut a = vec!["kubectl", "--name", &lab.name];
    a.extend_from_slice(args);
    labyrinth(&a)
}

pub fn kubectl_ok(lab: &Lab, args: &[&str]) -> String {
    ok(&kubectl(lab, args))
}

/// `kubectl apply -f -` with `manifest` on stdin.
pub fn kubectl_apply(lab: &Lab, ns: &str, manifest: &str) -> String {
    let args = ["kubectl", "--name", &lab.name, "-n", ns, "apply", "-f", "-"];
    ok(&labyrinth_with_stdin(&args, manifest.as_bytes()))
}

/// `sh -c CMD` inside a pod (any exit status).
pub fn exec(lab: &Lab, ns: &str, pod: &str, cmd: &str) -> Output {
    labyrinth(&["exec", "--name", &lab.name, "-n", ns, pod, "--", "sh", "-c", cmd])
}

pub fn exec_ok(lab: &Lab, ns: &str, pod: &str, cmd: &str) -> String {
    ok(&exec(lab, ns, pod, cmd))
}

pub fn pod_ip(lab: &Lab, ns: &str, pod: &str) -> String {
    kubectl_ok(
        lab,
        &["-n", ns, "get", "pod", pod, "-o", "jsonpath={.status.podIP}"],
    )
}

/// The host-side veth (`lxc…`) of the pod with address `ip` on `node`, as
/// the node's route to the pod names it.
pub fn host_veth_of(lab: &Lab, node: &str, ip: &str) -> String {
    let route = lab.ssh_ok(node, &["ip", "-o", "route", "get", ip]);
    let veth = route
        .split_whitespace()
        .skip_while(|w| *w != "dev")
        .nth(1)
        .unwrap_or_else(|| panic!("no device in {route}"))
        .to_string();
    assert!(veth.starts_with("lxc"), "{node}: host veth of {ip}: {route}");
    veth
}

/// Wait for `f` to give `Some`, polling every 100 ms up to `tries` times.
pub fn eventually<T>(what: &str, tries: usize, mut f: impl FnMut() -> Option<T>) -> T {
    for _ in 0..tries {
        if let Some(v) = f() {
            return v;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    panic!("gave up waiting for {what}");
}

/// `kubectl wait` for the pod's Ready condition (90 s at most).
pub fn wait_ready(lab: &Lab, ns: &str, pod: &str) {
    let pod = format!("pod/{pod}");
    kubectl_ok(
        lab,
        &["-n", ns, "wait", "--for=condition=Ready", &pod, "--timeout=90s"],
    );
}

/// Apply the journey and wait for both pods; returns (wrk-1 pod, wrk-2 pod).
pub fn journey_pods(lab: &Lab) -> (String, String) {
    kubectl_ok(lab, &["label", "node", "node-1", "nodelabel=node-wrk-1"]);
    kubectl_ok(lab, &["label", "node", "node-2", "nodelabel=node-wrk-2"]);
    for ns in ["wrk-1", "wrk-2"] {
        kubectl_ok(lab, &["create", "namespace", ns]);
        let file = format!("{EXAMPLES}/{ns}.yaml");
        let out = kubectl_ok(lab, &["-n", ns, "apply", "-f", &file]);
        assert!(out.contains("created"), "{out}");
        let again = kubectl_ok(lab, &["-n", ns, "apply", "-f", &file]);
        assert!(again.contains("unchanged"), "re-apply: {again}");
    }
    let mut names = Vec::new();
    for (ns, node) in [("wrk-1", "node-1"), ("wrk-2", "node-2")] {
        let app = format!("app=node-{ns}-ubuntu24");
        let name = eventually(&format!("the {ns} pod"), 200, || {
            let n = kubectl_ok(
                lab,
                &[
                    "-n",
                    ns,
                    "get",
                    "pods",
                    "-l",
                    &app,
                    "-o",
                    "jsonpath={.items[0].metadata.name}",
                ],
            );
            (!n.is_empty()).then_some(n)
        });
        let prefix = format!("node-{ns}-ubuntu24-");
        let rest = name
            .strip_prefix(&prefix)
            .unwrap_or_else(|| panic!("pod name {name:?}"));
        let parts: Vec<&str> = rest.split('-').collect();
        assert_eq!(parts.len(), 2, "pod name {name}");
        assert_eq!(parts[1].len(), 5, "pod name suffix {name}");
        wait_ready(lab, ns, &name);
        let wide = kubectl_ok(lab, &["-n", ns, "get", "pods", "-o", "wide"]);
        assert!(
            wide.lines()
                .any(|l| l.starts_with(&name) && l.contains(node) && l.contains("Running")),
            "{wide}"
        );
        names.push(name);
    }
    (names.remove(0), names.remove(0))
}

/// Listen with `nc -l` on 9999 in the server pod (TCP or UDP), send a line
/// from the client pod to `target` (an IP or a name) until it arrives;
/// returns what the server received.
pub fn send_line(lab: &Lab, client: (&str, &str), server: (&str, &str), target: &str, udp: bool) -> String {
    let (proto, listen, send) = if udp {
        (
            "udp",
            "nc -u -l -W 1 -p 9999 > /tmp/got-udp",
            format!("echo hello-udp | nc -u -w 1 {target} 9999"),
        )
    } else {
        (
            "tcp",
            "nc -l -p 9999 > /tmp/got-tcp",
            format!("echo hello-tcp | nc -N -w 2 {target} 9999"),
        )
    };
    exec(lab, server.0, server.1, &format!("rm -f /tmp/got-{proto}"));
    let mut listener = Command::new(BIN)
        .args([
            "exec", "--name", &lab.name, "-n", server.0, server.1, "--", "timeout", "30", "sh", "-c", listen,
        ])
        .spawn()
        .unwrap();
    let mut got = String::new();
    for _ in 0..60 {
        exec(lab, client.0, client.1, &send);
        got = String::from_utf8_lossy(
            &exec(
                lab,
                server.0,
                server.1,
                &format!("cat /tmp/got-{proto} 2>/dev/null"),
            )
            .stdout,
        )
        .to_string();
        if !got.is_empty() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    stop(&mut listener);
    got.trim().to_string()
}

/// Poll `ok` (every 100 ms, 30 s at most).
pub fn wait_until(what: &str, mut ok: impl FnMut() -> bool) {
    for _ in 0..300 {
        if ok() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    panic!("timed out waiting for {what}");
}

/// Send `line` over TCP from the wrk-1 pod to the wrk-2 pod's IP, both ends
/// run with `kubectl exec`; returns what the server received.
pub fn send_line_by_kubectl_exec(
    lab: &Lab,
    client: &str,
    server: &str,
    server_ip: &str,
    line: &str,
) -> String {
    let listener = std::process::Command::new(BIN)
        .args([
            "kubectl", "--name", &lab.name, "-n", "wrk-2", "exec", server, "--",
        ])
        .args(["timeout", "30", "nc", "-l", "-p", "9999"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let send = format!("echo {line} | nc -N -w 2 {server_ip} 9999");
    for _ in 0..100 {
        // Refused until the listener is up.
        if kubectl(lab, &["-n", "wrk-1", "exec", client, "--", "sh", "-c", &send])
            .status
            .success()
        {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let out = listener.wait_with_output().unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Start `argv` (a capture, e.g. tcpdump) inside a lab node and return once
/// it says "listening on"; stop it with `common::stop`.
pub fn start_capture(lab: &Lab, node: &str, argv: &[&str]) -> std::process::Child {
    let mut capture = Command::new(BIN)
        .args(["lab", "ssh", "--name", &lab.name, node, "--"])
        .args(argv)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = std::io::BufReader::new(capture.stderr.take().unwrap());
    let mut line = String::new();
    while std::io::BufRead::read_line(&mut err, &mut line).unwrap() > 0 && !line.contains("listening on") {
        line.clear();
    }
    capture
}
