//! Issue 4: `kubectl exec` (the machine's kubectl, websocket subprotocol
//! v5.channel.k8s.io) against our API server, proxied to the pod's node agent
//! and run inside the pod: output, exit status, stdin and a TTY pass through;
//! wrong names and node credentials get the real server's errors; the agent's
//! port serves only the API server's kubelet-client certificate.

mod common;
use common::journey::*;
use common::*;

use std::io::Read;
use std::process::{Command, Stdio};

/// `labyrinth kubectl --name LAB -n wrk-1 exec …` with the given stdin.
fn kubectl_exec(lab: &Lab, args: &[&str], stdin: Stdio) -> std::process::Output {
    let mut a = vec!["kubectl", "--name", &lab.name, "-n", "wrk-1", "exec"];
    a.extend_from_slice(args);
    Command::new(BIN)
        .args(&a)
        .stdin(stdin)
        .output()
        .expect("running labyrinth kubectl")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Run `cmd` under `script`, so kubectl sees a terminal of 30 rows by 100
/// columns. Its stdin stays open (and silent) until the command is done.
fn under_a_terminal(cmd: &str) -> String {
    let mut child = Command::new("script")
        .args(["-qec", &format!("stty rows 30 cols 100; {cmd}"), "/dev/null"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("running script");
    let mut out = String::new();
    child.stdout.take().unwrap().read_to_string(&mut out).unwrap();
    drop(child.stdin.take());
    let status = child.wait().unwrap();
    assert!(status.success(), "script: {status}\n{out}");
    out
}

#[test]
fn kubectl_exec_passes_streams_exit_status_and_tty() {
    if !need_root("kubectl_exec_passes_streams_exit_status_and_tty") {
        return;
    }
    let lab = Lab::cluster("kexec", &[]);
    let (pod, _) = journey_pods(&lab);

    // (a) stdout and stderr apart, the command's exit status is kubectl's.
    let out = kubectl_exec(
        &lab,
        &[&pod, "--", "sh", "-c", "echo out; hostname; echo err >&2; exit 3"],
        Stdio::null(),
    );
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    assert_eq!(text(&out.stdout), format!("out\n{pod}\n"));
    let stderr = text(&out.stderr);
    assert!(stderr.starts_with("err\n"), "{stderr}");
    assert!(stderr.contains("command terminated with exit code 3"), "{stderr}");
    let ok = kubectl_exec(&lab, &[&pod, "--", "cat", "/etc/resolv.conf"], Stdio::null());
    assert!(ok.status.success(), "{ok:?}");
    assert!(
        text(&ok.stdout).contains("search wrk-1.svc.cluster.local"),
        "{ok:?}"
    );

    // (b) stdin reaches the command, and its end is an end of file.
    let mut child = Command::new(BIN)
        .args([
            "kubectl", "--name", &lab.name, "-n", "wrk-1", "exec", "-i", &pod, "--", "wc", "-l",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), b"a\nb\n").unwrap();
    let wc = child.wait_with_output().unwrap();
    assert!(wc.status.success(), "{wc:?}");
    assert_eq!(text(&wc.stdout).trim(), "2");

    // (c) -it: a terminal in the pod, of kubectl's terminal's size.
    let tty = under_a_terminal(&format!(
        "{BIN} kubectl --name {} -n wrk-1 exec -it {pod} -- sh -c 'tty; stty size; echo TERM=$TERM'",
        lab.name
    ));
    assert!(tty.contains("/dev/pts/"), "{tty}");
    assert!(tty.contains("30 100"), "window size not passed: {tty}");
    assert!(tty.contains("TERM=xterm"), "{tty}");

    // (d) a wrong pod or container: the API server's errors.
    let nf = kubectl_exec(&lab, &["no-such-pod", "--", "true"], Stdio::null());
    assert_eq!(nf.status.code(), Some(1));
    assert!(
        text(&nf.stderr).contains("Error from server (NotFound): pods \"no-such-pod\" not found"),
        "{nf:?}"
    );
    let bad = kubectl_exec(&lab, &[&pod, "-c", "nope", "--", "true"], Stdio::null());
    assert!(
        text(&bad.stderr).contains(&format!("container nope is not valid for pod {pod}")),
        "{bad:?}"
    );

    // (e) a node's own credential may read the pod but not exec into it.
    let node = lab.ssh(
        "node-1",
        &[
            "kubectl",
            "--kubeconfig",
            "/etc/labyrinth/kubelet.kubeconfig",
            "-n",
            "wrk-1",
            "exec",
            &pod,
            "--",
            "true",
        ],
    );
    assert!(!node.status.success());
    let msg = text(&node.stderr);
    assert!(msg.contains("Error from server (Forbidden)"), "{msg}");
    assert!(
        msg.contains("User \"system:node:node-1\" cannot create resource \"pods/exec\""),
        "{msg}"
    );

    agent_port_wants_the_apiserver_certificate(&lab, &pod);
    lab.down();
}

/// The node agent's port 10250 (published on the Node) asks for a client
/// certificate from the cluster CA and serves only the API server's name.
fn agent_port_wants_the_apiserver_certificate(lab: &Lab, pod: &str) {
    let port = kubectl_ok(
        lab,
        &[
            "get",
            "node",
            "node-1",
            "-o",
            "jsonpath={.status.daemonEndpoints.kubeletEndpoint.Port}",
        ],
    );
    assert_eq!(port, "10250");
    let url =
        format!("https://10.168.0.3:10250/exec/wrk-1/{pod}/node-wrk-1-ubuntu24?command=true&stdout=true");
    let anon = lab.ssh(
        "node-0",
        &["curl", "-sk", "-o", "/dev/null", "-w", "%{http_code}", &url],
    );
    assert!(!anon.status.success(), "no client certificate, yet: {anon:?}");

    // Certificates signed by the cluster CA (made here with openssl).
    let pki = "/var/lib/labyrinth/apiserver/pki";
    let make = |cn: &str| {
        let script = format!(
            "set -e; cd $(mktemp -d -p /run); openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
             -keyout k.pem -subj /CN={cn} -out r.pem 2>/dev/null; printf 'extendedKeyUsage=clientAuth\\n' >e.cnf; \
             openssl x509 -req -in r.pem -CA {pki}/ca.crt -CAkey {pki}/ca.key -days 1 -extfile e.cnf \
             -out c.pem 2>/dev/null; pwd"
        );
        lab.ssh_ok("node-0", &["sh", "-c", &script]).trim().to_string()
    };
    let curl = |dir: &str| {
        let out = lab.ssh(
            "node-0",
            &[
                "curl",
                "-sk",
                "--cert",
                &format!("{dir}/c.pem"),
                "--key",
                &format!("{dir}/k.pem"),
                &url,
            ],
        );
        text(&out.stdout)
    };
    let mallory = curl(&make("mallory"));
    assert!(mallory.contains("\"Forbidden\""), "{mallory}");
    assert!(
        mallory.contains("only \\\"kube-apiserver-kubelet-client\\\""),
        "{mallory}"
    );
    // The API server's name gets through to the protocol check.
    let apiserver = curl(&make("kube-apiserver-kubelet-client"));
    assert!(
        apiserver.contains("exec needs a websocket upgrade"),
        "{apiserver}"
    );
}
