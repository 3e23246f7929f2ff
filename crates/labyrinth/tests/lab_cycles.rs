//! Issue 2, acceptance 3 (second half): 20 up/down cycles leak nothing:
//! no namespaces, mounts, file descriptors or processes.
//! (Its own test binary, so no other test's pipes muddle the fd count.)

mod common;
use common::*;

/// A process's start time (field 22 of /proc/<pid>/stat), if it exists.
fn start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces; fields count from its closing paren.
    stat.rsplit_once(')')?.1.split_whitespace().nth(19)?.parse().ok()
}

#[test]
fn twenty_up_down_cycles_leak_nothing() {
    if !need_root("twenty_up_down_cycles_leak_nothing") {
        return;
    }
    let name = lab_name("cycle");
    let before = HostSnapshot::take();
    let (mounts, fds) = (host_mounts(), own_fds());
    // Every machine's namespaces are held by its init alone (nothing is
    // bind-mounted on the host: the mount count is checked below), so once
    // the inits are gone, so are the lab's namespaces. Namespace inode
    // numbers are reused at once by the kernel, so other tests running
    // beside this one make comparing inodes meaningless; the holders are
    // identified by pid and start time instead.
    let mut holders = Vec::new();
    for i in 0..20 {
        let lab = Lab::up("cycle", &[]);
        assert_eq!(lab.status()["state"], "running", "cycle {i}");
        // The VPC's init, three node inits and the VPC's resolver
        // (`labyrinth vpc-dns`, a child of the VPC's init).
        let inits = lab_processes(&name);
        assert_eq!(
            inits.len(),
            5,
            "cycle {i}: expected VPC + 3 node inits + the VPC resolver"
        );
        let resolvers = inits
            .iter()
            .filter(|pid| {
                let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
                String::from_utf8_lossy(&cmd).contains("vpc-dns")
            })
            .count();
        assert_eq!(
            resolvers, 1,
            "cycle {i}: expected one VPC resolver among {inits:?}"
        );
        holders.extend(inits.into_iter().map(|pid| (pid, start_time(pid))));
        lab.down();
        assert!(lab_processes(&name).is_empty(), "cycle {i}: processes left");
    }
    let alive: Vec<_> = holders
        .iter()
        .filter(|(pid, started)| start_time(*pid).is_some() && start_time(*pid) == *started)
        .collect();
    assert!(alive.is_empty(), "namespace holders still alive: {alive:?}");
    assert_eq!(host_mounts(), mounts, "mounts leaked into the host");
    assert_eq!(own_fds(), fds, "file descriptors leaked");
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
