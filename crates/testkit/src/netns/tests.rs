use std::path::Path;

use super::*;

/// Root-only: these make namespaces.
fn root(test: &str) -> bool {
    crate::root::require(&format!("netns::tests::{test}"))
}

fn ns_of(path: &str) -> std::path::PathBuf {
    std::fs::read_link(path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
fn a_namespace_is_apart_runs_code_and_commands_and_goes_on_drop() {
    if !root("a_namespace_is_apart_runs_code_and_commands_and_goes_on_drop") {
        return;
    }
    let ns = Netns::new("testkit-apart");
    let ours = ns_of("/proc/self/ns/net");
    let inside = ns.run(|| ns_of("/proc/thread-self/ns/net"));
    assert_ne!(inside, ours);
    assert_eq!(
        ns.spawn(|| ns_of("/proc/thread-self/ns/net")).join().unwrap(),
        inside
    );
    assert_eq!(ns_of(&ns.path()), inside);
    assert!(ns.sh("ip -o link show lo").contains(",UP"), "loopback is up");

    let dev = format!("tk{}", std::process::id() % 100_000);
    ns.sh(&format!("ip link add {dev} type veth peer name {dev}p"));
    assert!(ns.try_sh(&format!("ip link show {dev}")).0);
    let here = Command::new("ip").args(["link", "show", &dev]).output().unwrap();
    assert!(
        !here.status.success(),
        "{dev} made inside is not in our namespace"
    );

    let (ok, out) = ns.try_sh("echo out; echo err >&2; exit 3");
    assert!(!ok);
    assert_eq!(out, "out\nerr\n");
    let failed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| ns.sh("exit 3"))).unwrap_err();
    let text = failed.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(text.contains("[testkit-apart] `exit 3` failed"), "{text}");

    let pid = ns.pid();
    drop(ns);
    assert!(
        !Path::new(&format!("/proc/{pid}")).exists(),
        "holder {pid} outlived its Netns"
    );
}

#[test]
fn a_panic_inside_reaches_the_caller_and_still_removes_the_namespace() {
    if !root("a_panic_inside_reaches_the_caller_and_still_removes_the_namespace") {
        return;
    }
    let (tx, rx) = std::sync::mpsc::channel();
    let test = std::thread::spawn(move || {
        let ns = Netns::new("testkit-panics");
        tx.send(ns.pid()).unwrap();
        ns.run(|| panic!("on purpose, inside"));
    });
    let payload = test.join().unwrap_err();
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"on purpose, inside"));
    let pid = rx.recv().unwrap();
    assert!(
        !Path::new(&format!("/proc/{pid}")).exists(),
        "holder {pid} outlived the panic"
    );
}

#[test]
fn unshared_sets_nothing_up_and_takes_the_namespaces_asked_for() {
    if !root("unshared_sets_nothing_up_and_takes_the_namespaces_asked_for") {
        return;
    }
    let ns = Netns::unshared("testkit-node", &["--mount", "--propagation", "private"]);
    assert!(!ns.sh("ip -o link show lo").contains(",UP"), "loopback left down");
    assert_ne!(
        ns_of(&format!("/proc/{}/ns/mnt", ns.pid())),
        ns_of("/proc/self/ns/mnt")
    );
}
