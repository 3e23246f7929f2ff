//! Issue 15, acceptance 4 and 5: nodes resolve as cloud VMs through the
//! VPC's resolver (`labyrinth vpc-dns` on the gateway), so `iptables -L`
//! without `-n` is instant and prints node names; the cluster DNS is the
//! `coredns` Deployment, and `rollout restart deployment coredns` rolls
//! its pods while every query to the ClusterIP is answered, in each
//! datapath.
//! Root only; each test makes and removes its own lab.

mod common;

use std::collections::BTreeSet;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{labyrinth, need_root, Lab, BIN};

/// One `dig` inside a node against the VPC resolver: (status, flags, answers).
fn dig(lab: &Lab, node: &str, args: &[&str]) -> (String, String, Vec<String>) {
    let mut cmd = vec!["dig", "+time=2", "+tries=1", "@10.168.0.1"];
    cmd.extend_from_slice(args);
    let out = String::from_utf8_lossy(&lab.ssh(node, &cmd).stdout).into_owned();
    let status = out
        .split("status: ")
        .nth(1)
        .and_then(|s| s.split(',').next())
        .unwrap_or_else(|| panic!("no status in dig output:\n{out}"))
        .to_string();
    let flags = out
        .split("flags: ")
        .nth(1)
        .and_then(|s| s.split(';').next())
        .unwrap_or("")
        .to_string();
    let answers = out
        .split(";; ANSWER SECTION:\n")
        .nth(1)
        .map(|s| {
            s.lines()
                .take_while(|l| !l.is_empty())
                .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
                .collect()
        })
        .unwrap_or_default();
    (status, flags, answers)
}

/// `iptables -t nat -L -v` (no `-n`) in a node: its output and how long it took.
fn timed_listing(lab: &Lab, node: &str) -> (String, Duration) {
    let t = Instant::now();
    let out = lab.ssh_ok(node, &["iptables", "-t", "nat", "-L", "-v"]);
    (out, t.elapsed())
}

/// Generous: the machine is shared and noisy; the bug took about 5 minutes.
const LISTING_BOUND: Duration = Duration::from_secs(10);

/// Processes whose command line names this lab's resolver zone file.
fn resolver_processes(lab: &str) -> Vec<u32> {
    let needle = format!("/{lab}/vpc-dns.json");
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|c| String::from_utf8_lossy(&c).contains(&needle))
        })
        .collect()
}

#[test]
fn nodes_resolve_through_the_vpc_resolver() {
    if !need_root("nodes_resolve_through_the_vpc_resolver") {
        return;
    }
    let lab = Lab::up("vdns", &["--workers", "2"]);
    let domain = format!("{}.internal", lab.name);

    let conf = lab.ssh_ok("node-1", &["cat", "/etc/resolv.conf"]);
    assert!(conf.contains("nameserver 10.168.0.1\n"), "{conf}");
    assert!(conf.contains(&format!("search {domain}\n")), "{conf}");

    let (st, flags, an) = dig(&lab, "node-1", &["node-2", "A"]);
    assert_eq!(st, "NOERROR");
    assert!(flags.contains("aa"), "{flags}");
    assert_eq!(an, vec!["node-2. 60 IN A 10.168.0.4"]);
    let (st, _, an) = dig(&lab, "node-1", &[&format!("node-0.{domain}"), "A"]);
    assert_eq!(st, "NOERROR");
    assert_eq!(an, vec![format!("node-0.{domain}. 60 IN A 10.168.0.2")]);

    let (st, _, an) = dig(&lab, "node-1", &["-x", "10.168.0.3"]);
    assert_eq!(st, "NOERROR");
    assert_eq!(
        an,
        vec![format!("3.0.168.10.in-addr.arpa. 60 IN PTR node-1.{domain}.")]
    );
    // A pod address (default pod range 10.0.0.0/16) and kube-dns's
    // ClusterIP: answered at once, authoritatively, that there is no name.
    for addr in ["10.0.1.5", "10.96.0.10"] {
        let (st, flags, _) = dig(&lab, "node-1", &["-x", addr]);
        assert_eq!(st, "NXDOMAIN", "{addr}");
        assert!(flags.contains("aa"), "{addr}: {flags}");
    }
    let (st, _, _) = dig(&lab, "node-1", &["example.com", "A"]);
    assert_eq!(st, "REFUSED");

    // The C library's resolver, through resolv.conf and its search domain.
    let hosts = lab.ssh_ok("node-2", &["getent", "hosts", "node-1"]);
    assert!(hosts.starts_with("10.168.0.3 "), "{hosts}");
    assert!(hosts.contains(&format!("node-1.{domain}")), "{hosts}");

    // A rule naming another node's address, listed without -n.
    lab.ssh_ok(
        "node-1",
        &[
            "iptables",
            "-t",
            "nat",
            "-A",
            "POSTROUTING",
            "-d",
            "10.168.0.4",
            "-j",
            "RETURN",
        ],
    );
    let (out, took) = timed_listing(&lab, "node-1");
    eprintln!("iptables -t nat -L -v in a bare lab's node-1: {took:?}");
    assert!(out.contains(&format!("node-2.{domain}")), "{out}");
    assert!(took < LISTING_BOUND, "took {took:?}:\n{out}");

    // The resolver is a process of the lab: it ends with it.
    assert_eq!(resolver_processes(&lab.name).len(), 1);
    let name = lab.name.clone();
    lab.down();
    assert_eq!(resolver_processes(&name), Vec::<u32>::new());
}

fn kubectl(lab: &Lab, args: &[&str]) -> String {
    let mut cmd = vec!["kubectl"];
    cmd.extend_from_slice(args);
    lab.ssh_ok("node-0", &cmd)
}

/// Names and addresses of the DNS pods (label k8s-app=kube-dns).
fn dns_pods(lab: &Lab) -> BTreeSet<(String, String)> {
    kubectl(
        lab,
        &[
            "-n",
            "kube-system",
            "get",
            "pods",
            "-l",
            "k8s-app=kube-dns",
            "-o",
            "jsonpath={range .items[*]}{.metadata.name} {.status.podIP}{\"\\n\"}{end}",
        ],
    )
    .lines()
    .filter_map(|l| {
        let (n, ip) = l.split_once(' ')?;
        Some((n.to_string(), ip.to_string()))
    })
    .collect()
}

/// What a node's datapath programs for the Services, as text naming each
/// endpoint as `ip:port` (iptables, eBPF) or `ip . port` (nftables).
fn programmed(lab: &Lab, datapath: &str) -> String {
    let cmd: &[&str] = match datapath {
        "iptables" => &["iptables-save", "-t", "nat"],
        "nftables" => &["nft", "list", "ruleset"],
        _ => &["labyrinth", "bpf", "map", "get", "backends"],
    };
    lab.ssh_ok("node-1", cmd)
}

fn names_endpoint(programmed: &str, datapath: &str, ip: &str) -> bool {
    match datapath {
        "nftables" => programmed.contains(&format!("{ip} . 53")),
        _ => programmed.contains(&format!("{ip}:53")),
    }
}

#[test]
fn coredns_rollout_restart_keeps_names_resolving() {
    if !need_root("coredns_rollout_restart_keeps_names_resolving") {
        return;
    }
    let lab = Lab::cluster("coredns", &["--workers", "1"]);

    // Acceptance 4 on a cluster's node: KUBE-* rules with pod and Service
    // addresses, listed without -n.
    let (out, took) = timed_listing(&lab, "node-1");
    eprintln!("iptables -t nat -L -v in a cluster's node-1: {took:?}");
    assert!(took < LISTING_BOUND, "took {took:?}:\n{out}");
    assert!(out.contains("KUBE-SERVICES"), "{out}");
    rollout_keeps_names_resolving(lab, "iptables");
}

/// The same in the other datapaths: each drains the terminating pods' UDP
/// flows its own way (conntrack, or the programs' map).
#[test]
fn coredns_rollout_restart_keeps_names_resolving_nftables() {
    if !need_root("coredns_rollout_restart_keeps_names_resolving_nftables") {
        return;
    }
    let lab = Lab::cluster("coredns-nft", &["--workers", "1", "--datapath", "nftables"]);
    rollout_keeps_names_resolving(lab, "nftables");
}

#[test]
fn coredns_rollout_restart_keeps_names_resolving_ebpf() {
    if !need_root("coredns_rollout_restart_keeps_names_resolving_ebpf") {
        return;
    }
    let lab = Lab::cluster("coredns-bpf", &["--workers", "1", "--datapath", "ebpf"]);
    rollout_keeps_names_resolving(lab, "ebpf");
}

/// Roll the coredns Deployment while three loops on node-1 query the
/// ClusterIP back to back: every query answered, and the datapath left
/// with the new pods only.
fn rollout_keeps_names_resolving(lab: Lab, datapath: &str) {
    let old = dns_pods(&lab);
    assert_eq!(old.len(), 2, "{old:?}");
    for (name, _) in &old {
        assert!(name.starts_with("coredns-"), "{name}");
    }

    // Queries to the ClusterIP from node-1, three loops back to back (so a
    // short window without a server is hit), until told to stop (bounded):
    // each prints the answer or FAIL.
    let script = "q() { i=0; while [ ! -e /tmp/stop-dig ] && [ $i -lt 2000 ]; do i=$((i+1)); \
        dig +short +time=2 +tries=1 @10.96.0.10 kubernetes.default.svc.cluster.local A | grep -x 10.96.0.1 \
        || echo FAIL; done; }; q & q & q & wait";
    let looper = Command::new(BIN)
        .args([
            "lab", "ssh", "--name", &lab.name, "node-1", "--", "sh", "-c", script,
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(2));

    let out = labyrinth(&[
        "lab",
        "ssh",
        "--name",
        &lab.name,
        "node-0",
        "--",
        "kubectl",
        "-n",
        "kube-system",
        "rollout",
        "restart",
        "deployment",
        "coredns",
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    // Rolled: two pods, none of the old ones (also not terminating).
    let old_names: BTreeSet<&String> = old.iter().map(|(n, _)| n).collect();
    let deadline = Instant::now() + Duration::from_secs(180);
    let new = loop {
        let now = dns_pods(&lab);
        if now.len() == 2 && now.iter().all(|(n, ip)| !old_names.contains(n) && !ip.is_empty()) {
            break now;
        }
        assert!(
            Instant::now() < deadline,
            "DNS pods did not roll: {now:?} (old {old:?})"
        );
        std::thread::sleep(Duration::from_millis(500));
    };
    // A few more queries against the new pods only.
    std::thread::sleep(Duration::from_secs(3));
    lab.ssh_ok("node-1", &["touch", "/tmp/stop-dig"]);
    let out = looper.wait_with_output().unwrap();
    let lines: Vec<&str> = std::str::from_utf8(&out.stdout).unwrap().lines().collect();
    let failed = lines.iter().filter(|l| **l != "10.96.0.1").count();
    eprintln!("{} queries during the rollout, {failed} unanswered", lines.len());
    assert!(
        lines.len() >= 20,
        "too few queries ran: {lines:?} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let at: Vec<String> = lines
        .iter()
        .enumerate()
        .filter(|(_, l)| **l != "10.96.0.1")
        .map(|(i, l)| format!("#{i}: {l:?}"))
        .collect();
    assert_eq!(failed, 0, "of {} queries: {at:?}", lines.len());

    // The datapath sends to the new pods only: nothing it programs names
    // an old pod's address, and the EndpointSlice holds exactly the new ones.
    let rules = programmed(&lab, datapath);
    for (name, ip) in &old {
        assert!(
            !names_endpoint(&rules, datapath, ip),
            "{name} {ip} still in:\n{rules}"
        );
    }
    for (name, ip) in &new {
        assert!(
            names_endpoint(&rules, datapath, ip),
            "{name} {ip} missing from:\n{rules}"
        );
    }
    let eps = kubectl(
        &lab,
        &[
            "-n",
            "kube-system",
            "get",
            "endpointslices",
            "-l",
            "kubernetes.io/service-name=kube-dns",
            "-o",
            "jsonpath={.items[*].endpoints[*].addresses[0]}",
        ],
    );
    let eps: BTreeSet<&str> = eps.split_whitespace().collect();
    let want: BTreeSet<&str> = new.iter().map(|(_, ip)| ip.as_str()).collect();
    assert_eq!(eps, want);
    lab.down();
}
