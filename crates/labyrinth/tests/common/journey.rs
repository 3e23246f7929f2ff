//! The reference journey in a lab: kubectl through `labyrinth kubectl`, the
//! journey manifests applied and both pods waited for.

use super::*;

pub const EXAMPLES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/journey");

pub fn kubectl(lab: &Lab, args: &[&str]) -> std::process::Output {
    let mut a = vec!["kubectl", "--name", &lab.name];
    a.extend_from_slice(args);
    labyrinth(&a)
}

pub fn kubectl_ok(lab: &Lab, args: &[&str]) -> String {
    ok(&kubectl(lab, args))
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
        let mut name = String::new();
        for _ in 0..200 {
            name = kubectl_ok(
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
            if !name.is_empty() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        let prefix = format!("node-{ns}-ubuntu24-");
        let rest = name
            .strip_prefix(&prefix)
            .unwrap_or_else(|| panic!("pod name {name:?}"));
        let parts: Vec<&str> = rest.split('-').collect();
        assert_eq!(parts.len(), 2, "pod name {name}");
        assert_eq!(parts[1].len(), 5, "pod name suffix {name}");
        kubectl_ok(
            lab,
            &[
                "-n",
                ns,
                "wait",
                "--for=condition=Ready",
                &format!("pod/{name}"),
                "--timeout=90s",
            ],
        );
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

/// A pod's IP as the API server has it.
pub fn pod_ip(lab: &Lab, ns: &str, pod: &str) -> String {
    let jsonpath = "jsonpath={.status.podIP}";
    kubectl_ok(lab, &["-n", ns, "get", "pod", pod, "-o", jsonpath])
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
pub fn send_line(lab: &Lab, client: &str, server: &str, server_ip: &str, line: &str) -> String {
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
