//! Issue 17, acceptance 2: the official Python client, Debian's 22.x and
//! PyPI's latest (a venv scripts/install-deps.sh makes), against a lab's API
//! server from node-0, as a user's script on the control node would run:
//! a watch sees each change once and in order, the scale subresource,
//! pod logs, exec with stdin, and 404/409/422 parsed from the Status. The
//! calls are in tests/python/pod_calls.py; both clients must print the same.

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
    for (python, ns) in [(DEBIAN, "py-debian"), (PYPI, "py-pypi")] {
        let version = lab.ssh_ok(
            "node-0",
            &[python, "-c", "import kubernetes; print(kubernetes.__version__)"],
        );
        let out = lab.ssh("node-0", &[python, script, "/etc/kubernetes/admin.conf", ns]);
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
