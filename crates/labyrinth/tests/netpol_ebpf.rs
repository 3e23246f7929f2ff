//! Issue 18 in a real lab, eBPF datapath: the shared NetworkPolicy
//! scenarios (tests/common/netpol.rs) on real packets, enforced by the tc
//! programs from the pinned policy maps, which are read back with
//! `bpftool map dump` (the kernel's own view, not ours): the isolated pod's
//! row and the friend's /32 row with its one port. Then the drop counter
//! of the server's ingress and a drop event on the ring buffer, named by
//! `labyrinth observe` as a policy drop (default deny) with the pod and
//! its isolating policy; `labyrinth explain` judges from the maps' rows
//! (`bpf map get pol-pods|pol-rules`) and names the policies.

mod common;
use common::journey::*;
use common::netpol::{network_policy_scenarios, until_connects, Rendering, EXAMPLES};
use common::*;
use labyrinth_ebpf::policy_abi::{POLICY_PODS_MAP, POLICY_RULES_MAP, POLICY_STATS_MAP};
use serde_json::Value;
use std::net::Ipv4Addr;
use std::process::{Command, Stdio};

use labyrinth_ebpf::DEFAULT_PIN_DIR as PIN_DIR;

/// A pinned map's entries as bpftool formats them with the maps' BTF.
fn dump(lab: &Lab, node: &str, map: &str) -> Vec<Value> {
    let path = format!("{PIN_DIR}/{map}");
    let out = lab.ssh(node, &["bpftool", "-j", "map", "dump", "pinned", &path]);
    if !out.status.success() {
        return Vec::new(); // not pinned (yet): nothing enforced
    }
    let v: Value = serde_json::from_slice(&out.stdout).expect("bpftool -j prints JSON");
    v.as_array()
        .unwrap()
        .iter()
        .map(|e| {
            e.get("formatted")
                .cloned()
                .unwrap_or_else(|| panic!("no BTF for {map}: {e}"))
        })
        .collect()
}

/// An address as bpftool prints a __be32 (its bytes read as a host u32).
fn addr(v: &Value) -> Ipv4Addr {
    Ipv4Addr::from((v.as_u64().unwrap() as u32).to_ne_bytes())
}

/// The node's policy maps as lines: `pod IP isolated N` and
/// `rule POD DIR proto P from NET ports LO-HI,…`.
fn list(lab: &Lab, node: &str) -> String {
    let mut out = String::new();
    for e in dump(lab, node, POLICY_PODS_MAP) {
        out += &format!("pod {} isolated {}\n", addr(&e["key"]), e["value"]["isolated"]);
    }
    for e in dump(lab, node, POLICY_RULES_MAP) {
        let (k, v) = (&e["key"], &e["value"]);
        let dir = if k["dir"] == 0 { "ingress" } else { "egress" };
        let bits = k["prefixlen"].as_u64().unwrap() - 64;
        let n = v["count"].as_u64().unwrap() as usize;
        let ranges: Vec<String> = v["ranges"].as_array().unwrap()[..n]
            .iter()
            .map(|r| format!("{}-{}", r["lo"], r["hi"]))
            .collect();
        out += &format!(
            "rule {} {dir} proto {} from {}/{bits} ports {}\n",
            addr(&k["pod"]),
            k["proto"],
            addr(&k["peer"]),
            ranges.join(",")
        );
    }
    out
}

#[test]
fn network_policies_enforced_by_ebpf() {
    if !need_root("network_policies_enforced_by_ebpf") {
        return;
    }
    let lab = network_policy_scenarios(
        "netpol-bpf",
        &Rendering {
            datapath: "ebpf",
            list,
            // Isolated for ingress (bit 1), and no row allows anything.
            deny_all: |server| vec![format!("pod {server} isolated 1\n")],
            allow_friend: |friend| vec![format!("ingress proto 6 from {friend}/32 ports 8080-8080\n")],
            pod_chain_marks: &["pod ", "rule "],
            explained_as: Some("eBPF map lby_pol_rules_v1"),
            observe_names: false,
            single_agent: false,
        },
    );
    let server = pod_ip(&lab, "np-srv", "server");
    let deny = format!("{EXAMPLES}/deny-all.yaml");
    kubectl_ok(&lab, &["-n", "np-srv", "apply", "-f", &deny]);
    until_connects(&lab, ("np-srv", "stranger"), &server, false);

    // Drops are counted per pod and direction.
    let drops = dump(&lab, "node-2", POLICY_STATS_MAP)
        .iter()
        .filter(|e| addr(&e["key"]["pod"]).to_string() == server && e["key"]["verdict"] == 1)
        .map(|e| e["value"].as_u64().unwrap())
        .sum::<u64>();
    assert!(drops > 0, "no drop counted for {server}");

    // And reported on the ring buffer, named as policy drops with the pod
    // and the policy that isolates it.
    let mut observe = Command::new(BIN)
        .args([
            "lab",
            "ssh",
            "--name",
            &lab.name,
            "node-2",
            "--",
            BIN,
            "observe",
            "--json",
            "--seconds",
            "20",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = observe.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut stdout, &mut s).unwrap();
        s
    });
    // The reader may start after the first attempts: try for a while.
    for _ in 0..5 {
        let _ = exec(&lab, "np-srv", "stranger", &format!("nc -z -w 1 {server} 8080"));
        std::thread::sleep(std::time::Duration::from_secs(2));
    }
    observe.wait().unwrap();
    let flows = reader.join().unwrap();
    let dropped = flows.lines().any(|l| {
        l.contains(&format!("\"dst\":\"{server}:8080\""))
            && l.contains("isolated for ingress, no rule allows (default deny)")
            // Named from the agent's names file.
            && l.contains("\"policy\":\"np-srv/server isolated for ingress by np-srv/deny-all\"")
    });
    assert!(dropped, "no policy drop of {server}:8080 observed:\n{flows}");
    lab.down();
}
