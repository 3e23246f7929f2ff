//! Issue 4 (runtime): pod sandboxes made by the node's runtime, networked by
//! CNI plugins called as containerd calls them — here the reference ptp +
//! host-local plugins — reach each other across nodes over the agent's
//! VXLAN; teardown leaves no netns, veth, IP or process.

mod common;
use common::*;

use labyrinth_agent::nodenet::{self, NodeNetConfig, Peer, Routing};
use labyrinth_netlink::{netns::NetNs, Handle};

fn node_pid(lab: &Lab, node: &str) -> u32 {
    let st = lab.status();
    let n = st["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["name"] == node)
        .unwrap();
    n["pid"].as_u64().unwrap() as u32
}

const NODES: [(&str, &str, &str); 2] = [
    ("node-1", "10.168.0.3", "10.0.1.0/24"),
    ("node-2", "10.168.0.4", "10.0.2.0/24"),
];

fn setup_nodes(lab: &Lab) {
    let peers: Vec<Peer> = NODES
        .iter()
        .map(|(n, ip, c)| Peer {
            name: n.to_string(),
            underlay_ip: ip.parse().unwrap(),
            pod_cidr: c.parse().unwrap(),
        })
        .collect();
    for (n, ip, cidr) in NODES {
        let ns = NetNs::of_pid(node_pid(lab, n), n).unwrap();
        let mut h = Handle::in_netns(&ns).unwrap();
        let c = NodeNetConfig {
            node_name: n.into(),
            underlay_ip: ip.parse().unwrap(),
            underlay_dev: "ens4".into(),
            underlay_mtu: 1460,
            pod_cidr: cidr.parse().unwrap(),
            routing: Routing::Tunnel,
            vni: 1,
            collect_md: false,
        };
        nodenet::setup_devices(&ns, &mut h, &c).unwrap();
        nodenet::sync_peers(&mut h, &c, &peers).unwrap();
        let gw = nodenet::gateway_of(cidr.parse().unwrap());
        let conf = format!(
            r#"{{"cniVersion":"1.0.0","name":"lab","plugins":[{{"type":"ptp","mtu":1410,"ipam":{{"type":"host-local","ranges":[[{{"subnet":"{cidr}","gateway":"{gw}"}}]],"routes":[{{"dst":"0.0.0.0/0"}}]}}}}]}}"#
        );
        lab.ssh_ok(
            n,
            &[
                "sh",
                "-c",
                &format!("mkdir -p /etc/cni/net.d && echo '{conf}' > /etc/cni/net.d/10-reference.conflist"),
            ],
        );
    }
}

fn runtime(lab: &Lab, node: &str, args: &[&str]) -> std::process::Output {
    let mut a = vec![BIN, "runtime", "--cni-bin-dir", "/usr/lib/cni"];
    a.extend_from_slice(args);
    lab.ssh(node, &a)
}

#[test]
fn runtime_pods_with_reference_cni_plugins_talk_across_nodes() {
    if !need_root("runtime_pods_with_reference_cni_plugins_talk_across_nodes") {
        return;
    }
    let lab = Lab::up("rt", &[]);
    setup_nodes(&lab);
    let client = ok(&runtime(&lab, "node-1", &["runp", "-n", "wrk-1", "client"]));
    let server = ok(&runtime(
        &lab,
        "node-2",
        &[
            "runp",
            "-n",
            "wrk-2",
            "server",
            "--",
            "sh",
            "-c",
            // It stays up after the line: an exec that picks a container
            // the moment its process exits fails to open its namespaces
            // (`runtime exec` checks it is alive, then the helper opens
            // /proc/PID/ns: a fresh-clone CI run lost that race).
            "nc -l -p 9999 > /tmp/got; exec sleep 600",
        ],
    ));
    let server_ip = server.split('\t').nth(2).unwrap().to_string();
    assert!(server_ip.starts_with("10.0.2."), "server pod ip {server_ip}");
    let client_netns = client.split('\t').nth(3).unwrap().trim().to_string();

    // Inside the pod: its hostname, the cluster search path, a default
    // route via the gateway; on the node, the host veth names the pod netns.
    let inside = ok(&runtime(
        &lab,
        "node-1",
        &[
            "exec",
            "wrk-1/client",
            "--",
            "sh",
            "-c",
            "hostname; cat /etc/resolv.conf; ip route",
        ],
    ));
    assert!(inside.starts_with("client\n"), "{inside}");
    assert!(
        inside.contains("search wrk-1.svc.cluster.local svc.cluster.local cluster.local"),
        "{inside}"
    );
    assert!(inside.contains("default via 10.0.1.1 dev eth0"), "{inside}");
    assert!(lab
        .ssh_ok("node-1", &["ip", "netns", "list"])
        .contains(&client_netns));
    assert!(lab
        .ssh_ok("node-1", &["ip", "-d", "link"])
        .contains(&format!("link-netns {client_netns}")));

    // A line from the client pod reaches the server pod's process.
    let mut sent = false;
    for _ in 0..50 {
        let cmd = format!("echo hello-from-wrk-1 | nc -N -w 2 {server_ip} 9999");
        if runtime(&lab, "node-1", &["exec", "wrk-1/client", "--", "sh", "-c", &cmd])
            .status
            .success()
        {
            sent = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(sent, "could not connect to the server pod");
    let mut got = String::new();
    for _ in 0..50 {
        got = String::from_utf8_lossy(
            &runtime(&lab, "node-2", &["exec", "wrk-2/server", "--", "cat", "/tmp/got"]).stdout,
        )
        .to_string();
        if !got.is_empty() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert_eq!(got, "hello-from-wrk-1\n");

    // Teardown frees everything.
    ok(&runtime(&lab, "node-1", &["rmp", "wrk-1/client"]));
    assert_eq!(
        lab.ssh_ok("node-1", &["ip", "netns", "list"]),
        "",
        "pod netns left"
    );
    let links = lab.ssh_ok("node-1", &["ip", "-o", "link"]);
    assert!(!links.contains("veth"), "pod veth left: {links}");
    let ipam = lab.ssh_ok("node-1", &["ls", "/var/lib/cni/networks/lab"]);
    assert_eq!(ipam, "last_reserved_ip.0\nlock\n", "IP not released");
    assert_eq!(lab.ssh_ok("node-1", &["ls", "/var/lib/labyrinth/pods"]), "");
    let procs = lab.ssh_ok("node-1", &["ps", "-e", "-o", "args="]);
    assert!(
        !procs.lines().any(|l| l.contains("labyrinth-pause")),
        "pause left: {procs}"
    );
    ok(&runtime(&lab, "node-2", &["rmp", "wrk-2/server"]));
    lab.down();
}
