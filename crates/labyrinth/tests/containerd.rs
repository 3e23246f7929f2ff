//! Issue 21, acceptance 3: a real runtime beside ours. Debian's containerd
//! 1.6 and runc run inside node-1 (its state in the node's own /tmp and
//! /run, never the host's) and start containers with `ctr run --cni`, which
//! reads the conflist exactly as the node has it. Twenty containers get
//! addresses from our plugin, reach each other, and give everything back
//! when they end; then the same with the node's agent stopped, where the
//! installed program runs the whole plugin itself.
//!
//! Before the conflist declared 1.0.0, containerd's CNI library refused
//! every result ("unsupported CNI result version \"1.1.0\"").

mod common;
use common::agent::*;
use common::*;

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

const SCRIPT: &str = include_str!("containerd/node.sh");
const NODE: &str = "node-1";
const CONTAINERS: usize = 20;

/// runc makes the containers' cgroups in the machine's cgroup tree (nodes
/// share the host's, as VMs' kernels have their own): named after the
/// containerd namespace, removed by runc when a task ends, and here also
/// when the test fails half-way.
struct Cgroups(String);

impl Drop for Cgroups {
    fn drop(&mut self) {
        let Ok(hierarchies) = std::fs::read_dir("/sys/fs/cgroup") else {
            return;
        };
        for h in hierarchies.flatten() {
            let dir = h.path().join(&self.0);
            if let Ok(children) = std::fs::read_dir(&dir) {
                for c in children.flatten().filter(|c| c.path().is_dir()) {
                    let _ = std::fs::remove_dir(c.path());
                }
            }
            let _ = std::fs::remove_dir(&dir);
        }
    }
}

fn step(lab: &Lab, args: &[&str]) -> String {
    let mut cmd = vec!["sh", "-c", SCRIPT, "node.sh"];
    cmd.extend_from_slice(args);
    lab.ssh_ok(NODE, &cmd)
}

/// What a container's network leaves on the node: host-local leases, host
/// veths, routes.
fn node_network(lab: &Lab) -> (String, String, String) {
    let leases = lab.ssh_ok(
        NODE,
        &[
            "sh",
            "-c",
            "ls /var/lib/cni/networks/labyrinth | grep '^10\\.' || true",
        ],
    );
    let links = lab.ssh_ok(
        NODE,
        &["sh", "-c", "ip -o link show | grep -o 'lxc[0-9a-f]*' || true"],
    );
    let routes = lab.ssh_ok(NODE, &["ip", "route", "show"]);
    (leases, links, routes)
}

/// The node's pod CIDR as its conflist gives it, and the declared version.
fn conflist(lab: &Lab) -> (String, u32, String) {
    let text = lab.ssh_ok(NODE, &["cat", "/etc/cni/net.d/10-labyrinth.conflist"]);
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let cidr = v["plugins"][0]["podCIDR"].as_str().unwrap().to_string();
    let (net, len) = cidr.split_once('/').unwrap();
    (
        net.to_string(),
        len.parse().unwrap(),
        v["cniVersion"].as_str().unwrap().to_string(),
    )
}

fn inside(ip: Ipv4Addr, net: &str, len: u32) -> bool {
    let mask = u32::MAX << (32 - len);
    u32::from(ip) & mask == u32::from(net.parse::<Ipv4Addr>().unwrap()) & mask
}

/// Twenty containers named `<tag>1…`: addresses, reachability, release.
fn round(lab: &Lab, ns: &str, tag: &str) {
    let (net, len, _) = conflist(lab);
    let before = node_network(lab);
    let n = CONTAINERS.to_string();
    let out = step(lab, &["run", ns, &n, tag]);
    let mut addrs = Vec::new();
    for line in out.lines() {
        let (name, cidr) = line.split_once(' ').unwrap_or_else(|| panic!("{line:?}"));
        let (ip, plen) = cidr.split_once('/').unwrap();
        assert_eq!(plen, "32", "{name}: {cidr}");
        let ip: Ipv4Addr = ip.parse().unwrap();
        assert!(inside(ip, &net, len), "{name}: {ip} outside {net}/{len}");
        addrs.push((name.to_string(), ip));
    }
    assert_eq!(addrs.len(), CONTAINERS, "{out}");
    let unique: BTreeSet<_> = addrs.iter().map(|(_, ip)| *ip).collect();
    assert_eq!(unique.len(), CONTAINERS, "addresses handed out twice: {out}");
    let leases = node_network(lab).0;
    for (name, ip) in &addrs {
        assert!(
            leases.lines().any(|l| l == ip.to_string()),
            "{name}: no lease for {ip}: {leases}"
        );
    }
    // The first reaches every other; the last reaches the first.
    let first = &addrs[0].0;
    for (name, ip) in &addrs[1..] {
        let got = step(lab, &["ping", ns, first, &ip.to_string()]);
        assert_eq!(got.trim(), "reached", "{first} → {name} ({ip})");
    }
    let (last, _) = &addrs[CONTAINERS - 1];
    let got = step(lab, &["ping", ns, last, &addrs[0].1.to_string()]);
    assert_eq!(got.trim(), "reached", "{last} → {first}");

    let stopped = step(lab, &["stop", ns, &n, tag]);
    assert_eq!(stopped.trim(), "containers: 0");
    assert_eq!(
        node_network(lab),
        before,
        "left behind on {NODE} after the containers ended"
    );
}

#[test]
fn containerd_runs_containers_on_our_conflist_with_and_without_the_agent() {
    const TEST: &str = "containerd_runs_containers_on_our_conflist_with_and_without_the_agent";
    if !need_root(TEST) {
        return;
    }
    for tool in ["containerd", "ctr", "runc", "busybox"] {
        if labyrinth_testkit::root::tool(TEST, tool).is_none() {
            return;
        }
    }
    let lab = Lab::cluster("ctrd", &["--single-agent"]);
    let ns = lab.name.clone();
    let _cgroups = Cgroups(ns.clone());
    assert_eq!(conflist(&lab).2, "1.0.0", "the version containerd 1.6 reads");
    let image = step(&lab, &["start", &ns]);
    assert_eq!(image.trim(), "docker.io/labyrinth/busybox:test");

    round(&lab, &ns, "a");

    // Without the agent the installed program is the whole plugin.
    let argv = stop_agent(&lab, NODE);
    round(&lab, &ns, "b");
    start_agent(&lab, NODE, &argv);

    step(&lab, &["down", &ns]);
    lab.down();
}
