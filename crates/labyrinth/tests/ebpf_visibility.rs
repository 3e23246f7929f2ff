//! Issue 15 acceptance 6: the eBPF datapath as the articles show Cilium.
//! `bpftool link` inside node-1 lists tcx links on every pod's host veth
//! and on the tunnel device; by default a packet for a local pod leaves
//! the pod's host veth (bpf_redirect to its egress), so a capture there
//! during a journey-like flow (a Service name looked up, then TCP to its
//! ClusterIP, backed by a pod on the other node) has the DNS answers and
//! the SYN-ACK on the client's veth and the SYN on the server's. With peer
//! redirect on (the lab file's `peerRedirect: true`) those deliveries are
//! absent there, and the journey's delivery note names bpf_redirect_peer.
//! Also: `journey --datapath D` on a running lab of another datapath is
//! refused naming both.

mod common;
use common::*;

/// The journey's target: a Service name the client resolves (search path
/// included) and reaches through its ClusterIP.
const TARGET: &str = "node-wrk-2-ubuntu24.wrk-2";

/// Our tcx links on every pod veth and on the tunnel device of `node`, as
/// `bpftool link` lists them, and none of our programs as a clsact filter.
fn check_tcx(lab: &Lab, node: &str) {
    let all = attached(lab, node);
    let tcx = |dev: &str, prog: &str, hook: &str| {
        all.iter()
            .any(|a| a.tcx && a.dev == dev && a.prog == prog && a.hook == hook)
    };
    let veths = pod_veths(lab, node);
    for v in &veths {
        assert!(tcx(v, "lby_from_container", "ingress"), "{node} {v}: {all:#?}");
    }
    assert!(tcx("lby_vxlan", "lby_from_overlay", "ingress"), "{all:#?}");
    assert!(tcx("lby_vxlan", "lby_to_overlay", "egress"), "{all:#?}");
    assert!(all.iter().all(|a| a.tcx), "clsact filters left: {all:#?}");
    // What a user types: the plain listing has tcx links (type 11 in
    // Debian 12's bpftool 7.1), and with -f names each link's pin.
    let plain = bpftool_ok(lab, node, &["link"]);
    assert!(plain.contains("type 11") || plain.contains("tcx"), "{plain}");
    let plain = bpftool_ok(lab, node, &["-f", "link"]);
    for dev in veths.iter().map(String::as_str).chain(["lby_vxlan"]) {
        let pin = format!("pinned /sys/fs/bpf/labyrinth/links/{dev}@");
        assert!(plain.contains(&pin), "{pin} not in `bpftool -f link`:\n{plain}");
    }
}

/// tcpdump on `veth` inside `node` into a file of the node's.
struct Capture {
    node: &'static str,
    file: String,
    child: std::process::Child,
}

impl Capture {
    fn start(lab: &Lab, node: &'static str, veth: &str) -> Capture {
        let file = format!("/var/tmp/{}-{veth}.pcap", lab.name);
        let child = start_capture(
            lab,
            node,
            &[
                "tcpdump",
                "--immediate-mode",
                "-i",
                veth,
                "-U",
                "-n",
                "-w",
                &file,
                "port 53 or port 9999",
            ],
        );
        Capture { node, file, child }
    }

    /// Stop, then count the packets matching each tshark display filter.
    fn count(mut self, lab: &Lab, filters: &[&str]) -> Vec<usize> {
        stop(&mut self.child);
        let counts = filters
            .iter()
            .map(|f| {
                let out = lab.ssh_ok(self.node, &["tshark", "-r", &self.file, "-Y", f]);
                out.lines().filter(|l| !l.trim().is_empty()).count()
            })
            .collect();
        lab.ssh_ok(self.node, &["rm", "-f", &self.file]);
        counts
    }
}

const DNS_QUERY: &str = "dns.flags.response == 0";
const DNS_ANSWER: &str = "dns.flags.response == 1";
const SYN: &str = "tcp.flags.syn == 1 && tcp.flags.ack == 0 && tcp.dstport == 9999";
const SYN_ACK: &str = "tcp.flags.syn == 1 && tcp.flags.ack == 1 && tcp.srcport == 9999";

/// The journey-like flow with captures on both pods' host veths: returns
/// (client veth counts of [query, answer, SYN, SYN-ACK], server veth counts
/// of [SYN, SYN-ACK]).
fn captured_flow(lab: &Lab) -> (Vec<usize>, Vec<usize>) {
    let (client, server) = journey_pods(lab);
    let client_veth = host_veth_of(lab, "node-1", &pod_ip(lab, "wrk-1", &client));
    let server_veth = host_veth_of(lab, "node-2", &pod_ip(lab, "wrk-2", &server));
    check_tcx(lab, "node-1");
    let c = Capture::start(lab, "node-1", &client_veth);
    let s = Capture::start(lab, "node-2", &server_veth);
    let got = send_line(lab, ("wrk-1", &client), ("wrk-2", &server), TARGET, false);
    assert_eq!(got, "hello-tcp");
    let c = c.count(lab, &[DNS_QUERY, DNS_ANSWER, SYN, SYN_ACK]);
    let s = s.count(lab, &[SYN, SYN_ACK]);
    eprintln!("client {client_veth} [query, answer, SYN, SYN-ACK]: {c:?}; server {server_veth} [SYN, SYN-ACK]: {s:?}");
    // What the pods send passes their host veth's ingress either way.
    assert!(c[0] > 0 && c[2] > 0, "the client's queries and SYN: {c:?}");
    assert!(s[1] > 0, "the server's SYN-ACK: {s:?}");
    (c, s)
}

fn delivery_of(lab: &Lab) -> String {
    let out = lab.ssh_ok("node-1", &[BIN, "bpf", "map", "get", "config", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    v["entries"][0]["delivery"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[test]
fn ebpf_deliveries_pass_the_host_veth_and_programs_are_tcx_links() {
    if !need_root("ebpf_deliveries_pass_the_host_veth_and_programs_are_tcx_links") {
        return;
    }
    let lab = Lab::cluster("ebpf-vis", &["--datapath", "ebpf"]);
    assert_eq!(delivery_of(&lab), "host-veth");
    let (c, s) = captured_flow(&lab);
    assert!(c[1] > 0, "no DNS answer on the client's host veth: {c:?}");
    assert!(c[3] > 0, "no SYN-ACK on the client's host veth: {c:?}");
    assert!(s[0] > 0, "no SYN on the server's host veth: {s:?}");

    // The journey on this lab with another datapath: refused, naming both.
    let out = labyrinth(&["journey", "--name", &lab.name, "--datapath", "iptables"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "journey ran: {err}");
    assert!(
        err.contains("ebpf datapath, not iptables") && err.contains("lab down --name"),
        "{err}"
    );
    // And with another store: refused the same way, naming both stores.
    let has = test_store().unwrap_or_else(|| "embedded".into());
    let other = if has == "etcd" { "embedded" } else { "etcd" };
    let out = labyrinth(&["journey", "--name", &lab.name, "--store", other]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "journey ran: {err}");
    assert!(
        err.contains(&format!("in the {has} store, not {other}")) && err.contains("lab down --name"),
        "{err}"
    );
    lab.down();
}

#[test]
fn ebpf_peer_redirect_skips_the_host_veth_and_says_so() {
    if !need_root("ebpf_peer_redirect_skips_the_host_veth_and_says_so") {
        return;
    }
    let file = std::env::temp_dir().join(format!("{}-peer.yaml", lab_name("peer")));
    std::fs::write(&file, "datapath: ebpf\npeerRedirect: true\n").unwrap();
    let lab = Lab::cluster("ebpf-peer", &["--config", file.to_str().unwrap()]);
    let _ = std::fs::remove_file(&file);
    assert_eq!(delivery_of(&lab), "peer-redirect");
    let (c, s) = captured_flow(&lab);
    assert_eq!(c[1], 0, "DNS answers on the client's host veth: {c:?}");
    assert_eq!(c[3], 0, "SYN-ACK on the client's host veth: {c:?}");
    assert_eq!(s[0], 0, "SYN on the server's host veth: {s:?}");

    // The journey on the running lab (its datapath, no --datapath given)
    // names the peer redirect at the delivery.
    let out = ok(&labyrinth(&["journey", "--name", &lab.name, "--json"]));
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["journey"]["arrived"], true, "{}", v["journey"]);
    let delivery: Vec<&str> = v["notes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["kind"] == "delivery")
        .filter_map(|n| n["text"].as_str())
        .collect();
    assert!(
        delivery
            .iter()
            .any(|n| n.contains("past lxc") && n.contains("bpf_redirect_peer skipped the host veth")),
        "{delivery:#?}"
    );
    lab.down();
}
