//! What each datapath shows of a Service on node-1, read with the tool an
//! operator would use: iptables-save, nft, or bpftool and the eBPF maps.

use crate::common::*;

pub fn node_out(lab: &Lab, node: &str, cmd: &str) -> String {
    lab.ssh_ok(node, &["sh", "-c", cmd])
}

/// `labyrinth bpf map get <map>` inside node-1.
fn bpf_map(lab: &Lab, map: &str) -> String {
    lab.ssh_ok("node-1", &[BIN, "bpf", "map", "get", map])
}

/// The Service is programmed (and, for iptables, counted packets).
pub fn check_programmed(lab: &Lab, dp: &str, cluster_ip: &str, client_veth: &str) {
    let nat = node_out(lab, "node-1", "iptables-save -t nat");
    match dp {
        "iptables" => {
            // The same chain names as on every real cluster.
            assert!(nat.contains(":KUBE-SVC-TCOU7JCQXEZGVUNU"), "{nat}");
            assert!(nat.contains(":KUBE-SVC-NPX46M4PTMTKRN6Y"), "{nat}");
            let listing = node_out(lab, "node-1", "iptables -t nat -L KUBE-SERVICES -v -n -x");
            let line = listing
                .lines()
                .find(|l| l.contains("wrk-2/node-wrk-2-ubuntu24:tcp-9999 cluster IP"))
                .unwrap_or_else(|| panic!("no rule for the Service: {listing}"));
            let pkts: u64 = line.split_whitespace().next().unwrap().parse().unwrap();
            assert!(pkts > 0, "the Service rule counted nothing: {line}");
        }
        "nftables" => {
            let map = node_out(lab, "node-1", "nft list map ip labyrinth service-ips");
            assert!(map.contains(&format!("{cluster_ip} . tcp . 9999")), "{map}");
            assert!(
                !nat.contains("KUBE-SVC"),
                "iptables rules in the nftables datapath: {nat}"
            );
        }
        _ => {
            assert!(
                !nat.contains("KUBE-SVC"),
                "iptables rules in the eBPF datapath: {nat}"
            );
            // Every node runs pods (node-0 a spread backend): every pod
            // veth and the tunnel device carry our programs.
            for node in ["node-0", "node-1", "node-2"] {
                let veths = ebpf_on_every_pod_veth(lab, node);
                assert!(
                    node != "node-1" || veths.iter().any(|v| v == client_veth),
                    "{client_veth} not in {veths:?}"
                );
                let all = attached(lab, node);
                assert!(
                    bpf_on(&all, "lby_vxlan", "lby_from_overlay", "ingress"),
                    "{node}: {all:#?}"
                );
                assert!(
                    bpf_on(&all, "lby_vxlan", "lby_to_overlay", "egress"),
                    "{node}: {all:#?}"
                );
            }
            // The node's own connections are translated too (through
            // lby_host → lby_net), to a pod and to the API server.
            let own = node_out(
                lab,
                "node-1",
                "nc -z -w 5 10.96.0.1 443 && nc -z -w 5 10.96.0.10 53 && echo ok",
            );
            assert_eq!(own.trim(), "ok", "node-1 to ClusterIPs");
            let services = bpf_map(lab, "services");
            assert!(
                services.contains(&format!("{cluster_ip}:9999/TCP"))
                    && services.contains("wrk-2/node-wrk-2-ubuntu24:tcp-9999"),
                "{services}"
            );
        }
    }
}

/// Whether node-1's datapath still sends the Service to `ip`:9999.
pub fn backend_listed(lab: &Lab, dp: &str, ip: &str) -> bool {
    let text = match dp {
        "iptables" => node_out(lab, "node-1", "iptables-save -t nat"),
        "nftables" => node_out(lab, "node-1", "nft list table ip labyrinth"),
        _ => bpf_map(lab, "backends"),
    };
    // iptables `--to-destination ip:9999`; nftables a `service-endpoints`
    // element `… : ip . 9999`; eBPF backends `ip:9999`.
    text.contains(&format!("{ip}:9999"))
        || text.contains(&format!("{ip}/9999"))
        || text.contains(&format!(": {ip} . 9999"))
}

/// The capture of the client's traffic: on its host veth for the kernel
/// datapaths; inside the pod on eth0 for eBPF, whose replies are redirected
/// straight into the pod (bpf_redirect_peer), past the host veth's taps.
pub fn capture_argv(lab: &Lab, dp: &str, client: &str, veth: &str) -> Vec<String> {
    let base = ["tcpdump", "--immediate-mode", "-U", "-n", "-w", PCAP];
    let filter = "udp port 53 or tcp port 9999";
    let mut argv: Vec<String> = Vec::new();
    let dev = if dp == "ebpf" {
        let uid = kubectl_ok(
            lab,
            &[
                "-n",
                "wrk-1",
                "get",
                "pod",
                client,
                "-o",
                "jsonpath={.metadata.uid}",
            ],
        );
        argv.extend(["ip", "netns", "exec"].map(String::from));
        argv.push(format!("cni-{uid}"));
        "eth0".to_string()
    } else {
        veth.to_string()
    };
    argv.extend(base.map(String::from));
    argv.extend(["-i".to_string(), dev, filter.to_string()]);
    argv
}

pub const PCAP: &str = "/var/tmp/journey.pcap";
