//! Issue 17, acceptance 2: the official Python client, Debian's 22.x and
//! PyPI's latest (a venv scripts/install-deps.sh makes), against a lab's API
//! server from node-0, as a user's script on the control node would run:
//! a watch sees each change once and in order, the scale subresource,
//! pod logs, exec with stdin, and 404/409/422 parsed from the Status; and
//! Debian's client again on the host, through the lab's API endpoint on the
//! host's loopback. The calls are in tests/python/pod_calls.py; every run
//! must print the same.

mod common;
use common::*;
use std::path::Path;

/// Debian's interpreter, whose dist-packages hold python3-kubernetes.
const DEBIAN: &str = "/usr/bin/python3";
/// The venv holding PyPI's latest client (scripts/install-deps.sh).
const PYPI: &str = "/opt/labyrinth-pyclient/bin/python";

#[test]
fn debian_and_pypi_clients_watch_scale_log_exec_and_parse_errors() {
    let test = "debian_and_pypi_clients_watch_scale_log_exec_and_parse_errors";
    if !need_root(test) {
        return;
    }
    for (python, what) in [
        (DEBIAN, "Debian's python3 with python3-kubernetes"),
        (PYPI, "the PyPI client's venv (scripts/install-deps.sh)"),
    ] {
        if !labyrinth_testkit::root::file(test, Path::new(python), what) {
            return;
        }
    }
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/pod_calls.py");
    let lab = Lab::cluster("pyclient", &[]);
    // The host's admin kubeconfig, whose server is the lab's API endpoint
    // on the host's loopback (lab/src/api_endpoint.rs).
    let host_conf = ok(&labyrinth(&["lab", "kubeconfig", "--name", &lab.name]));
    let host_conf = host_conf.trim();
    // On node-0 as a script on the control node runs, and Debian's client
    // on the host itself, in the host's network namespace, through the
    // endpoint (the watch, the log stream and exec's websocket included).
    for (python, ns, on_host) in [
        (DEBIAN, "py-debian", false),
        (PYPI, "py-pypi", false),
        (DEBIAN, "py-host", true),
    ] {
        let run = |argv: &[&str]| {
            if on_host {
                std::process::Command::new(argv[0])
                    .args(&argv[1..])
                    .stdin(std::process::Stdio::null())
                    .output()
                    .expect("running python on the host")
            } else {
                lab.ssh("node-0", argv)
            }
        };
        let version = ok(&run(&[
            python,
            "-c",
            "import kubernetes; print(kubernetes.__version__)",
        ]));
        let conf = if on_host {
            host_conf
        } else {
            "/etc/kubernetes/admin.conf"
        };
        let out = run(&[python, script, conf, ns]);
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "client {version}: {stdout}\n{stderr}");
        let lines: Vec<&str> = stdout.lines().collect();
        assert_eq!(
            lines,
            [
                "watched ADDED:cm=1,MODIFIED:cm=2,DELETED:cm=2",
                "scale 2",
                "sleepers 2",
                "logs hello-log",
                "exec ping-stdin",
                "missing 404 NotFound",
                "conflict 409 AlreadyExists",
                "invalid 422 Invalid",
            ],
            "client {version}: {stderr}"
        );
        eprintln!("the Python client {} passed", version.trim());
    }
    lab.down();
}
