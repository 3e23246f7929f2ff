//! Issue 2, acceptance 2, 3 (kill -9) and 5: the host's own namespace is
//! never touched, a killed `up` leaves nothing after `down`, and bad lab files
//! are refused before anything is made.

mod common;
use common::*;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn up_and_down_leave_the_host_namespace_alone() {
    if !need_root("up_and_down_leave_the_host_namespace_alone") {
        return;
    }
    let before = HostSnapshot::take();
    let lab = Lab::up("host", &[]);
    let during = HostSnapshot::take();
    assert_eq!(before, during, "`up` changed the host's namespace");

    // No host route leads into the lab: the lab's addresses resolve (if at
    // all) through the host's own pre-existing routes, never a lab device.
    for addr in ["10.168.0.2", "10.168.0.3", "10.168.0.4"] {
        let route = Command::new("ip")
            .args(["-o", "route", "get", addr])
            .output()
            .unwrap();
        let route = String::from_utf8_lossy(&route.stdout);
        assert!(
            !route.contains("vpc") && !route.contains("ens4@"),
            "host routes {addr} into the lab: {route}"
        );
        assert!(!during.addrs.contains(addr), "host has lab address {addr}");
    }
    // And the lab cannot reach the host: a node's default route ends at the
    // VPC's gateway, and the VPC routes and forwards nothing further.
    let out = lab.ssh_ok("node-1", &["ip", "route", "get", "192.0.2.1"]);
    assert!(out.contains("via 10.168.0.1 dev ens4"), "node-1's way out: {out}");
    let vpc = lab.vpc_pid().to_string();
    let in_vpc = |args: &[&str]| {
        Command::new("nsenter")
            .args(["-t", &vpc, "-n"])
            .args(args)
            .output()
            .unwrap()
    };
    let onward = in_vpc(&["ip", "route", "get", "192.0.2.1"]);
    assert!(
        !onward.status.success(),
        "the VPC routes off the lab: {}",
        String::from_utf8_lossy(&onward.stdout)
    );
    let forward = in_vpc(&["sysctl", "-n", "net.ipv4.ip_forward"]);
    assert_eq!(
        String::from_utf8_lossy(&forward.stdout).trim(),
        "0",
        "the VPC forwards"
    );

    lab.down();
    assert_eq!(before, HostSnapshot::take(), "`down` did not restore the host");
    assert!(!std::path::Path::new(&format!("/run/labyrinth/{}", lab_name("host"))).exists());
}

/// Start `up` with a pause at `point`, SIGKILL it there, then `down`.
fn kill_up_at(point: &str) {
    let name = lab_name(&format!("kill-{point}"));
    let before = HostSnapshot::take();
    let mut child = Command::new(BIN)
        .args(["lab", "up", "--bare", "--name", &name, "--workers", "5"])
        .env("LABYRINTH_FAULT", format!("pause:{point}"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    err.read_line(&mut line).unwrap();
    assert_eq!(line.trim(), format!("paused at {point}"));
    let vpc_pid = std::fs::read_to_string(format!("/run/labyrinth/{name}/state.json"))
        .ok()
        .and_then(|s| serde_json::from_str::<serde_json::Value>(&s).ok())
        .and_then(|v| v["vpc"]["pid"].as_u64());
    assert!(!lab_processes(&name).is_empty(), "nothing was running at {point}");
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();

    // Without a commit, the half-built lab takes itself down (bounded wait).
    let deadline = Instant::now() + Duration::from_secs(20);
    while !lab_processes(&name).is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(
        lab_processes(&name),
        Vec::<u32>::new(),
        "lab processes outlived a killed up at {point}"
    );

    // An exiting init loses its cmdline before it stops being alive (its
    // namespaces can take a while to free on a busy machine).
    let state = || {
        let st = labyrinth(&["lab", "status", "--name", &name, "--json"]);
        let st: serde_json::Value = serde_json::from_slice(&st.stdout).unwrap();
        st["state"].as_str().unwrap_or("").to_string()
    };
    while state() != "stale" && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(state(), "stale");
    let again = labyrinth(&["lab", "up", "--bare", "--name", &name]);
    assert!(
        !again.status.success(),
        "up over a stale lab should ask for down or --recreate"
    );

    ok(&labyrinth(&["lab", "down", "--name", &name]));
    if let Some(pid) = vpc_pid {
        reap(pid as u32);
    }
    assert!(!std::path::Path::new(&format!("/run/labyrinth/{name}")).exists());
    assert_eq!(
        before,
        HostSnapshot::take(),
        "host changed after kill -9 at {point} and down"
    );
}

#[test]
fn down_after_kill_9_of_up_leaves_the_host_as_before() {
    if !need_root("down_after_kill_9_of_up_leaves_the_host_as_before") {
        return;
    }
    for point in ["vpc", "nodes", "wired"] {
        kill_up_at(point);
    }
}

#[test]
fn bad_lab_files_are_refused_naming_the_field() {
    if !need_root("bad_lab_files_are_refused_naming_the_field") {
        return;
    }
    let cases = [
        ("unknown", "name: {n}\nworkerz: 2\n", "workerz"),
        ("overlap", "name: {n}\nunderlayCIDR: 10.0.3.0/24\n", "podCIDR"),
        (
            "svc-overlap",
            "name: {n}\nserviceCIDR: 10.168.0.0/16\n",
            "serviceCIDR",
        ),
        ("zero", "name: {n}\nworkers: 0\n", "workers"),
        ("many", "name: {n}\nworkers: 251\n", "workers"),
        ("mtu", "name: {n}\nmtu: 1200\n", "mtu"),
        ("name", "name: Not_A_Name\n", "name"),
        ("datapath", "name: {n}\ndatapath: ipvs\n", "ipvs"),
        ("empty", "# nothing but a comment\n", "no settings"),
    ];
    let before = HostSnapshot::take();
    let dir = std::env::temp_dir().join(format!("labfiles-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for (tag, text, field) in cases {
        let name = lab_name(&format!("bad-{tag}"));
        let path = dir.join(format!("{tag}.yaml"));
        std::fs::write(&path, text.replace("{n}", &name)).unwrap();
        let out = labyrinth(&["lab", "up", "--config", path.to_str().unwrap()]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{tag}: accepted");
        assert!(err.contains(field), "{tag}: error does not name {field}: {err}");
        assert!(
            err.contains(path.to_str().unwrap()),
            "{tag}: error does not name the file: {err}"
        );
        assert!(
            !std::path::Path::new(&format!("/run/labyrinth/{name}")).exists(),
            "{tag}: state created"
        );
        assert!(lab_processes(&name).is_empty(), "{tag}: processes started");
    }
    // Flags are checked the same way.
    let out = labyrinth(&[
        "lab",
        "up",
        "--bare",
        "--name",
        &lab_name("flag"),
        "--workers",
        "0",
    ]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("workers"));
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(before, HostSnapshot::take());
}
