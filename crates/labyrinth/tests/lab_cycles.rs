//! Issue 2, acceptance 3 (second half): 20 up/down cycles leak nothing:
//! no namespaces, mounts, file descriptors or processes.
//! (Its own test binary, so no other test's pipes muddle the fd count.)

mod common;
use common::*;

/// Whether a process belongs to another lab (tests run in parallel): one
/// inside a lab's pid namespace (a lab's own processes die with it, so only
/// one outside could leak a namespace), or our binary working on a lab of
/// another name (`lab up`, `lab ssh`, `kubectl`, `exec` with `--name`).
fn other_labs(pid: &std::path::Path, lab: &str) -> bool {
    let own_pid_ns = std::fs::read_link("/proc/self/ns/pid").ok();
    if std::fs::read_link(pid.join("ns/pid")).ok() != own_pid_ns {
        return true;
    }
    let cmdline = std::fs::read(pid.join("cmdline")).unwrap_or_default();
    let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
    args.first() == Some(&BIN.as_bytes())
        && args
            .windows(2)
            .any(|w| w[0] == b"--name" && w[1] != lab.as_bytes())
}

/// Distinct network namespaces held by processes on the machine, other
/// labs' left out.
fn net_namespaces(lab: &str) -> std::collections::BTreeSet<String> {
    let mut set = std::collections::BTreeSet::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        if entry.file_name().to_string_lossy().parse::<u32>().is_err() || other_labs(&entry.path(), lab) {
            continue;
        }
        if let Ok(link) = std::fs::read_link(entry.path().join("ns/net")) {
            set.insert(link.to_string_lossy().into_owned());
        }
    }
    set
}

#[test]
fn twenty_up_down_cycles_leak_nothing() {
    if !need_root("twenty_up_down_cycles_leak_nothing") {
        return;
    }
    let name = lab_name("cycle");
    let before = HostSnapshot::take();
    let (mounts, fds, netns) = (host_mounts(), own_fds(), net_namespaces(&name));
    for i in 0..20 {
        let lab = Lab::up("cycle", &[]);
        assert_eq!(lab.status()["state"], "running", "cycle {i}");
        assert_eq!(
            lab_processes(&name).len(),
            4,
            "cycle {i}: expected VPC + 3 node inits"
        );
        lab.down();
        assert!(lab_processes(&name).is_empty(), "cycle {i}: processes left");
    }
    assert_eq!(host_mounts(), mounts, "mounts leaked into the host");
    assert_eq!(own_fds(), fds, "file descriptors leaked");
    let after = net_namespaces(&name);
    let new: Vec<_> = after.difference(&netns).collect();
    assert!(new.is_empty(), "network namespaces still held: {new:?}");
    assert_eq!(before, HostSnapshot::take());
    // No zombie children left for us (we are the subreaper of lab inits).
    let zombies = std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| std::fs::read_to_string(e.path().join("stat")).ok())
        .filter(|s| {
            let rest = &s[s.rfind(')').unwrap() + 2..];
            let f: Vec<&str> = rest.split_whitespace().collect();
            f[0] == "Z" && f[1] == std::process::id().to_string()
        })
        .count();
    assert_eq!(zombies, 0, "unreaped lab inits");
}
