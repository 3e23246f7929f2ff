//! Issue 6 acceptance 1 and 2: `labyrinth journey`, the README's main
//! command, runs docs/mission.md's reference journey end to end in a lab of its
//! own and shows every hop: the search-path DNS with NXDOMAIN and the SOA,
//! the ClusterIP, the Service translation and the rule that did it, VXLAN on
//! UDP 8472 between the node addresses with the VNI, decapsulation and
//! delivery to the listening process; tshark reads the merged pcapng.

mod common;
use common::*;

use std::process::Command;

/// Takes the journey's lab down if the test fails half-way.
struct Cleanup(String);

impl Drop for Cleanup {
    fn drop(&mut self) {
        let _ = labyrinth(&["lab", "down", "--name", &self.0]);
    }
}

fn notes<'a>(v: &'a serde_json::Value, kind: &str) -> Vec<&'a str> {
    v["notes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["kind"] == kind)
        .map(|n| n["text"].as_str().unwrap())
        .collect()
}

fn has(notes: &[&str], what: &str, pred: impl Fn(&str) -> bool) {
    assert!(notes.iter().any(|n| pred(n)), "no {what} note in {notes:#?}");
}

fn tshark(pcap: &str, args: &[&str]) -> String {
    let out = Command::new("tshark")
        .args(["-r", pcap, "-d", "udp.port==8472,vxlan"])
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "tshark {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The journey in `datapath`, its lab on `store` (`test_store()`'s
/// choice, or the lab's default).
fn journey(datapath: &str, store: &Option<String>) {
    let tag = match store.as_deref() {
        Some(st) => format!("j-{datapath}-{st}"),
        None => format!("j-{datapath}"),
    };
    let name = lab_name(&tag);
    let _cleanup = Cleanup(name.clone());
    let dir = std::env::temp_dir().join(format!("{name}-out"));
    let pcap = dir.join("journey.pcapng");
    let html = dir.join("journey.html");
    let args = [
        "journey",
        "--name",
        &name,
        "--datapath",
        datapath,
        "--pcap",
        pcap.to_str().unwrap(),
        "--html",
        html.to_str().unwrap(),
        "--json",
    ];
    let out = labyrinth(&with_test_store(&args, store));
    let text = ok(&out);
    // The lab it brought up said its store (`lab up`'s summary, on stderr).
    if let Some(st) = store.as_deref().filter(|st| *st != "embedded") {
        let said = String::from_utf8_lossy(&out.stderr);
        assert!(said.contains(&format!(", store {st})")), "{said}");
    }
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["journey"]["arrived"], true, "{}", v["journey"]);
    // The lab it brought up is gone again.
    assert!(!std::path::Path::new(&format!("/run/labyrinth/{name}")).exists());

    let dns = notes(&v, "dns");
    has(&dns, "NXDOMAIN with the SOA for the wrk-1 search suffix", |n| {
        n.contains("node-wrk-2-ubuntu24.wrk-2.wrk-1.svc.cluster.local → NXDOMAIN (SOA ns.dns.cluster.local)")
    });
    has(&dns, "A answer with the ClusterIP", |n| {
        n.contains("A node-wrk-2-ubuntu24.wrk-2.svc.cluster.local → A 10.96.")
    });
    has(&dns, "the DNS pod that answered", |n| {
        n.contains("pod kube-system/coredns-")
    });
    let service = notes(&v, "service");
    let rule = match datapath {
        "iptables" => "KUBE-SVC-",
        "nftables" => "map service-ips element",
        _ => "services map 10.96.",
    };
    has(&service, "the Service translation and its rule", |n| {
        n.contains(rule) && n.contains(":9999 to 10.0.2.") && n.starts_with("node-1:")
    });
    has(&notes(&v, "encap"), "VXLAN encapsulation", |n| {
        n.starts_with("node-1 encapsulates")
            && n.contains("VNI 1")
            && n.contains("10.168.0.3 → 10.168.0.4")
            && n.contains("8472")
    });
    has(&notes(&v, "decap"), "decapsulation on node-2", |n| {
        n.starts_with("node-2 decapsulates")
    });
    // Every datapath delivers through the pod's host veth (eBPF by
    // redirecting out of it; peer redirect is an option, see
    // ebpf_visibility.rs).
    has(&notes(&v, "delivery"), "delivery to the process", |n| {
        n.contains("wrk-2/node-wrk-2-ubuntu24-")
            && n.contains("nc -l 0.0.0.0 9999")
            && n.contains("through lxc")
    });

    // The merged pcapng: every interface named, the DNS queries, VXLAN with
    // the inner pod addresses, the TCP handshake.
    let pcap = pcap.to_str().unwrap();
    let ifaces = tshark(pcap, &["-T", "fields", "-e", "frame.interface_name"]);
    let distinct: std::collections::BTreeSet<&str> = ifaces.lines().collect();
    assert!(distinct.len() >= 8, "interfaces in the pcapng: {distinct:?}");
    assert!(distinct.iter().all(|i| i.starts_with("node-")), "{distinct:?}");
    // Issue 15: every packet names its hop and what changed there, and the
    // README's preference leaves no false retransmission flag.
    let comments = tshark(pcap, &["-T", "fields", "-e", "frame.comment"]);
    assert_eq!(comments.lines().count(), ifaces.lines().count());
    assert!(
        comments
            .lines()
            .all(|c| c.starts_with("packet #") || c.starts_with("not followed")),
        "{comments}"
    );
    assert!(
        comments.contains("out: encapsulated in VXLAN: outer 10.168.0.3 → 10.168.0.4 UDP 8472 VNI 1"),
        "{comments}"
    );
    let flagged = tshark(
        pcap,
        &[
            "-o",
            "tcp.analyze_sequence_numbers:FALSE",
            "-Y",
            "tcp.analysis.retransmission",
        ],
    );
    assert_eq!(
        flagged.trim(),
        "",
        "retransmissions flagged with the README's preference"
    );
    let queries = tshark(
        pcap,
        &[
            "-Y",
            "dns.flags.response == 0",
            "-T",
            "fields",
            "-e",
            "dns.qry.name",
        ],
    );
    assert!(
        queries.contains("node-wrk-2-ubuntu24.wrk-2.wrk-1.svc.cluster.local"),
        "{queries}"
    );
    assert!(
        queries.contains("node-wrk-2-ubuntu24.wrk-2.svc.cluster.local"),
        "{queries}"
    );
    let vx = tshark(
        pcap,
        &[
            "-Y",
            "vxlan && tcp.port == 9999",
            "-T",
            "fields",
            "-e",
            "udp.dstport",
            "-e",
            "vxlan.vni",
            "-e",
            "ip.src",
        ],
    );
    assert!(
        vx.lines().any(|l| l.starts_with("8472\t1\t10.168.0.3,10.0.1.")),
        "VXLAN with outer node and inner pod addresses: {vx}"
    );
    let syn = tshark(
        pcap,
        &["-Y", "tcp.flags.syn == 1 && tcp.flags.ack == 0 && !vxlan"],
    );
    let synack = tshark(
        pcap,
        &["-Y", "tcp.flags.syn == 1 && tcp.flags.ack == 1 && !vxlan"],
    );
    assert!(!syn.trim().is_empty() && !synack.trim().is_empty(), "handshake");
    let page = std::fs::read_to_string(&html).unwrap();
    // The server's host veth sees the packet in every datapath.
    assert!(page.contains("<svg") && page.matches(r#"class="hop main""#).count() >= 8);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn journey_iptables() {
    if need_root("journey_iptables") {
        journey("iptables", &test_store());
    }
}

#[test]
fn journey_nftables() {
    if need_root("journey_nftables") {
        journey("nftables", &test_store());
    }
}

#[test]
fn journey_ebpf() {
    if need_root("journey_ebpf") {
        journey("ebpf", &test_store());
    }
}

// Issue 20, acceptance 3: the journey in each datapath on etcd, in every
// run (the other suites run on etcd with LABYRINTH_TEST_STORE=etcd).
fn etcd() -> Option<String> {
    Some("etcd".into())
}

#[test]
fn journey_iptables_on_etcd() {
    if need_root("journey_iptables_on_etcd") {
        journey("iptables", &etcd());
    }
}

#[test]
fn journey_nftables_on_etcd() {
    if need_root("journey_nftables_on_etcd") {
        journey("nftables", &etcd());
    }
}

#[test]
fn journey_ebpf_on_etcd() {
    if need_root("journey_ebpf_on_etcd") {
        journey("ebpf", &etcd());
    }
}

/// `labyrinth explain` predicts, without sending anything, the path the
/// journey's trace observed (every predicted device crossed, nothing
/// crossed that was not predicted), and names a Service without endpoints
/// as the place a connection would be rejected.
#[test]
fn explain_predicts_the_observed_path() {
    if need_root("explain_predicts_the_observed_path") {
        explain("iptables");
    }
}

/// The eBPF maps decide instead of routes and rules: the prediction names
/// the services map and the redirects, out of the far end's host veth.
#[test]
fn explain_predicts_the_observed_path_ebpf() {
    if need_root("explain_predicts_the_observed_path_ebpf") {
        explain("ebpf");
    }
}

fn explain(datapath: &str) {
    let name = lab_name(&format!("explain-{datapath}"));
    let _cleanup = Cleanup(name.clone());
    let observed = std::env::temp_dir().join(format!("{name}-trace.json"));
    let args = [
        "journey",
        "--name",
        &name,
        "--keep",
        "--json",
        "--datapath",
        datapath,
    ];
    let out = labyrinth(&with_test_store(&args, &test_store()));
    std::fs::write(&observed, ok(&out)).unwrap();
    let lab = Lab { name: name.clone() };
    let client = common::journey::kubectl_ok(
        &lab,
        &[
            "-n",
            "wrk-1",
            "get",
            "pods",
            "-o",
            "jsonpath={.items[0].metadata.name}",
        ],
    );
    let from = format!("wrk-1/{client}");
    let text = ok(&labyrinth(&[
        "explain",
        "--name",
        &name,
        &from,
        "node-wrk-2-ubuntu24.wrk-2:9999",
        "--trace",
        observed.to_str().unwrap(),
    ]));
    assert!(
        text.contains("node-wrk-2-ubuntu24.wrk-2.wrk-1.svc.cluster.local → NXDOMAIN"),
        "{text}"
    );
    let service = match datapath {
        "iptables" => "[service] iptables KUBE-SERVICES → KUBE-SVC-IWPXKGE4TAJJE4GD",
        _ => "[service] eBPF from-container: services map 10.96.",
    };
    assert!(text.contains(service), "{text}");
    assert!(
        text.contains("[encap] VXLAN VNI 1: outer 10.168.0.3 → 10.168.0.4 UDP 8472"),
        "{text}"
    );
    // eBPF delivers out of the server's host veth too (no peer redirect).
    assert_eq!(
        text.matches("✓ ").count(),
        8,
        "every predicted device observed: {text}"
    );
    assert!(!text.contains('✗'), "divergence: {text}");

    common::journey::kubectl_apply(
        &lab,
        "wrk-1",
        "apiVersion: v1\nkind: Service\nmetadata: {name: nobody}\n\
         spec: {selector: {app: nobody}, ports: [{name: http, port: 8080}]}\n",
    );
    let text = common::journey::eventually("the empty Service in node-1's rules", 100, || {
        let o = labyrinth(&["explain", "--name", &name, &from, "nobody.wrk-1:8080"]);
        let t = String::from_utf8_lossy(&o.stdout).to_string();
        t.contains("without endpoints").then_some(t)
    });
    assert!(text.contains("rejected here"), "{text}");
    let _ = std::fs::remove_file(&observed);
    lab.down();
}
