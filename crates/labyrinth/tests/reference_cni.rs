//! Issue 4: the agent runs pods with any CNI plugin, as a kubelet does. The
//! workers' agents are restarted with `--keep-cni-config` and the reference
//! plugins (Debian's containernetworking-plugins: ptp + host-local)
//! configured instead of ours; the journey's pods get their network from
//! them and a TCP line crosses between the nodes over the agent's VXLAN.

mod common;
use common::agent::*;
use common::journey::*;
use common::*;

use labyrinth_agent::nodenet;
use serde_json::Value;

/// Our config out, the reference plugins' in, the agent told to leave it.
fn use_reference_plugins(lab: &Lab, node: &str) -> String {
    // Ready comes before the node IPAM controller's podCIDR.
    let mut cidr = String::new();
    wait_until("the node's podCIDR", || {
        cidr = kubectl_ok(lab, &["get", "node", node, "-o", "jsonpath={.spec.podCIDR}"]);
        !cidr.is_empty()
    });
    let gw = nodenet::gateway_of(cidr.parse().unwrap());
    // Our plugin already gave addresses to the cluster DNS pods from the
    // bottom of the range; the reference IPAM takes the top half.
    let net: ipnet::Ipv4Net = cidr.parse().unwrap();
    let start = std::net::Ipv4Addr::from(u32::from(net.network()) + 128);
    // Once the agent has built the node's network and installed our plugin.
    let ours = "/etc/cni/net.d/10-labyrinth.conflist";
    wait_until("our CNI config", || {
        lab.ssh(node, &["test", "-s", ours]).status.success()
    });
    let mut argv = stop_agent(lab, node);
    let conf = format!(
        r#"{{"cniVersion":"1.0.0","name":"reference","plugins":[{{"type":"ptp","mtu":1410,"ipam":{{"type":"host-local","ranges":[[{{"subnet":"{cidr}","rangeStart":"{start}","gateway":"{gw}"}}]],"routes":[{{"dst":"0.0.0.0/0"}}]}}}}]}}"#
    );
    let script = format!("rm {ours} && echo '{conf}' > /etc/cni/net.d/10-reference.conflist");
    lab.ssh_ok(node, &["sh", "-c", &script]);
    argv.extend(["--keep-cni-config", "--cni-bin-dir", "/usr/lib/cni"].map(String::from));
    start_agent(lab, node, &argv);
    cidr
}

#[test]
fn journey_pods_on_reference_cni_plugins_talk_across_nodes() {
    if !need_root("journey_pods_on_reference_cni_plugins_talk_across_nodes") {
        return;
    }
    let lab = Lab::cluster("refcni", &["--single-agent"]);
    let cidrs: Vec<String> = ["node-1", "node-2"]
        .iter()
        .map(|n| use_reference_plugins(&lab, n))
        .collect();
    let (client, server) = journey_pods(&lab);

    for ((node, ns, pod), cidr) in [("node-1", "wrk-1", &client), ("node-2", "wrk-2", &server)]
        .into_iter()
        .zip(&cidrs)
    {
        // The sandbox was networked by the reference config, through ptp's
        // host veth (veth…), not ours (lxc…).
        let recs: Value =
            serde_json::from_str(&lab.ssh_ok(node, &[BIN, "runtime", "pods", "--json"])).unwrap();
        // (The cluster DNS pods may share the node: pick this pod's record.)
        let rec = recs
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["pod"]["name"] == *pod.as_str())
            .unwrap_or_else(|| panic!("no sandbox for {pod}: {recs}"));
        assert_eq!(rec["cni_network"], "reference", "{rec}");
        let host_if = rec["cni_result"]["interfaces"][0]["name"].as_str().unwrap();
        assert!(host_if.starts_with("veth"), "{host_if}");
        let links = lab.ssh_ok(node, &["ip", "-br", "link"]);
        assert!(links.contains(host_if), "{links}");
        let ip = pod_ip(&lab, ns, pod);
        let net: ipnet::Ipv4Net = cidr.parse().unwrap();
        assert!(
            net.contains(&ip.parse::<std::net::Ipv4Addr>().unwrap()),
            "{ip} not in {cidr}"
        );
        assert_eq!(rec["ip"], ip.as_str());
        let ipam = lab.ssh_ok(node, &["ls", "/var/lib/cni/networks/reference"]);
        assert!(ipam.contains(&ip), "host-local holds no {ip}: {ipam}");
    }

    let server_ip = pod_ip(&lab, "wrk-2", &server);
    let got = send_line_by_kubectl_exec(&lab, &client, &server, &server_ip, "hello-over-ptp");
    assert_eq!(got, "hello-over-ptp\n");
    lab.down();
}
