//! The official Python client (Debian's python3-kubernetes) against the
//! API server: list, create, delete, a watch that sees ADDED then DELETED,
//! delete with dry_run="All" leaving the object, 404/409/422 parsed
//! from the Status, and a list paged with limit and _continue. The calls
//! are in tests/python/client_calls.py. Without
//! the client the test is skipped, or fails under LABYRINTH_REQUIRE_ROOT=1
//! (CI), which installs it (scripts/install-deps.sh).

mod common;
use common::TestServer;
use std::path::Path;

const CLIENT: &str = "/usr/lib/python3/dist-packages/kubernetes/__init__.py";

#[test]
fn official_python_client() {
    let test = "python_client::official_python_client";
    if !labyrinth_testkit::root::file(
        test,
        Path::new(CLIENT),
        "python3-kubernetes (the official Python client)",
    ) {
        return;
    }
    // Debian's interpreter, whose dist-packages hold the client (another
    // python3 earlier on the PATH would not see it).
    let python = Path::new("/usr/bin/python3");
    if !labyrinth_testkit::root::file(test, python, "Debian's python3") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let s = TestServer::start(dir.path());
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/client_calls.py");
    let out = std::process::Command::new(python)
        .arg(script)
        .arg(s.kubeconfig())
        .env("HOME", s.home.path())
        .output()
        .expect("python3 runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines,
        [
            "namespaces default,kube-node-lease,kube-public,kube-system",
            "pods p",
            "created v",
            "conflict 409 AlreadyExists",
            "missing 404 NotFound",
            "watched ADDED:cm,DELETED:cm",
            "after dry-run delete keep",
            "invalid 422 Invalid",
            "paged keep,page0,page1,page2,page3,page4 in 3 pages",
        ],
        "{stderr}"
    );
}
