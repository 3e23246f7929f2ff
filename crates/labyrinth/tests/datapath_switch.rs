//! An operator moves a running cluster from one Service datapath to
//! another by restarting each node's agent with a new --datapath: the
//! running pods stay, the journey by Service name keeps working, and no
//! node keeps the old datapath's state (rules, table, programs, pins, the
//! eBPF Service route).
mod common;
use common::agent::*;
use common::journey::*;
use common::*;

const SVC: &str = "node-wrk-2-ubuntu24.wrk-2";
const NODES: [&str; 3] = ["node-0", "node-1", "node-2"];

/// What each datapath leaves on a node, as its tools show it.
fn state(lab: &Lab, node: &str) -> (bool, bool, bool, bool) {
    let sh = |cmd: &str| lab.ssh_ok(node, &["sh", "-c", cmd]);
    let iptables = sh("iptables-save -t nat").contains(":KUBE-SERVICES");
    let nftables = sh("nft list tables")
        .lines()
        .any(|l| l.trim() == "table ip labyrinth");
    let progs = attached(lab, node)
        .iter()
        .any(|a| a.prog.starts_with("lby_from_contai"));
    let pins_or_route = sh("ls /sys/fs/bpf/labyrinth 2>/dev/null; ip route show 10.96.0.0/12").trim() != "";
    (iptables, nftables, progs, pins_or_route)
}

#[test]
fn switching_datapaths_keeps_pods_and_leaves_nothing_behind() {
    if !need_root("switching_datapaths_keeps_pods_and_leaves_nothing_behind") {
        return;
    }
    let lab = Lab::cluster("switch", &["--datapath", "iptables", "--single-agent"]);
    let (client, server) = journey_pods(&lab);
    let uid = |ns: &str, pod: &str| {
        kubectl_ok(
            &lab,
            &["-n", ns, "get", "pod", pod, "-o", "jsonpath={.metadata.uid}"],
        )
    };
    let uids = (uid("wrk-1", &client), uid("wrk-2", &server));
    for to in ["ebpf", "nftables", "iptables"] {
        for node in NODES {
            switch_agent(&lab, node, to);
        }
        let got = send_line(&lab, ("wrk-1", &client), ("wrk-2", &server), SVC, false);
        assert_eq!(got, "hello-tcp", "by Service name after switching to {to}");
        for node in NODES {
            // The new agent cleans up before it programs its own datapath:
            // wait for its own state, then nothing else may remain.
            let want = match to {
                "iptables" => (true, false, false, false),
                "nftables" => (false, true, false, false),
                _ => (false, false, true, true),
            };
            let mut have = state(&lab, node);
            for _ in 0..100 {
                if have == want {
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(100));
                have = state(&lab, node);
            }
            assert_eq!(
                have, want,
                "{node} after switching to {to}: (KUBE-SERVICES, nft table, programs, pins/route)"
            );
        }
        // The same pods throughout: adopted, never recreated.
        assert_eq!((uid("wrk-1", &client), uid("wrk-2", &server)), uids);
    }
    lab.down();
}
