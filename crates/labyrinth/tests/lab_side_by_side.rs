//! Issue 2, acceptance 4: two labs with the same addresses run side by side
//! and cannot see each other.

mod common;
use common::*;

#[test]
fn two_labs_do_not_see_each_other() {
    if !need_root("two_labs_do_not_see_each_other") {
        return;
    }
    let a = Lab::up("a", &["--workers", "1"]);
    let b = Lab::up("b", &["--workers", "3"]);
    // Same underlay in both; 10.168.0.5 (node-3) exists only in b.
    assert!(b
        .ssh("node-1", &["ping", "-c", "1", "-W", "2", "10.168.0.5"])
        .status
        .success());
    assert!(
        !a.ssh("node-1", &["ping", "-c", "1", "-W", "1", "10.168.0.5"])
            .status
            .success(),
        "lab a reached lab b"
    );
    assert!(a
        .ssh("node-1", &["ping", "-c", "1", "-W", "2", "10.168.0.2"])
        .status
        .success());
    // a's node-1 holds 10.168.0.3 and so does b's: different machines.
    let mac = |lab: &Lab| {
        lab.ssh_ok(
            "node-0",
            &[
                "sh",
                "-c",
                "ping -c1 -W2 10.168.0.3 >/dev/null; ip neigh show 10.168.0.3",
            ],
        )
    };
    assert!(mac(&a).contains("42:01:0a:a8:00:03"));
    // Changes in one lab do not show in the other.
    a.ssh_ok("node-1", &["ip", "link", "add", "only-in-a", "type", "bridge"]);
    assert!(!b.ssh_ok("node-1", &["ip", "-o", "link"]).contains("only-in-a"));
    let ls: serde_json::Value = serde_json::from_str(&ok(&labyrinth(&["lab", "ls", "--json"]))).unwrap();
    let names: Vec<&str> = ls
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&a.name.as_str()) && names.contains(&b.name.as_str()));
    a.down();
    // b is untouched by a's teardown.
    assert_eq!(b.status()["state"], "running");
    assert!(b
        .ssh("node-1", &["ping", "-c", "1", "-W", "2", "10.168.0.5"])
        .status
        .success());
    b.down();
}
