//! Issue 4 (node networking): the agent's gateway pair, VXLAN device and peer
//! routes carry pod traffic between nodes, in tunnel and native routing,
//! checked with real packets and tshark on the underlay.
//!
//! Pods here are made by hand (namespace + veth + /32 + routes, as a CNI
//! plugin does) so this test isolates the node network.

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

fn cfg(node: &str, ip: &str, cidr: &str, routing: Routing) -> NodeNetConfig {
    NodeNetConfig {
        node_name: node.into(),
        underlay_ip: ip.parse().unwrap(),
        underlay_dev: "ens4".into(),
        underlay_mtu: 1460,
        pod_cidr: cidr.parse().unwrap(),
        routing,
        vni: 1,
        collect_md: false,
    }
}

/// Program both workers' node networks from the host, through their netns.
pub fn program(lab: &Lab, routing: Routing) {
    let nodes = [
        ("node-1", "10.168.0.3", "10.0.1.0/24"),
        ("node-2", "10.168.0.4", "10.0.2.0/24"),
    ];
    let peers: Vec<Peer> = nodes
        .iter()
        .map(|(n, ip, c)| Peer {
            name: n.to_string(),
            underlay_ip: ip.parse().unwrap(),
            pod_cidr: c.parse().unwrap(),
        })
        .collect();
    for (n, ip, c) in nodes {
        let ns = NetNs::of_pid(node_pid(lab, n), n).unwrap();
        let mut h = Handle::in_netns(&ns).unwrap();
        let c = cfg(n, ip, c, routing);
        nodenet::setup_devices(&ns, &mut h, &c).unwrap();
        let sync = nodenet::sync_peers(&mut h, &c, &peers).unwrap();
        assert_eq!(sync.added.len(), 1, "{n}: one peer route expected: {sync:?}");
        // A second sync is a no-op (idempotent, as on every agent resync).
        let again = nodenet::sync_peers(&mut h, &c, &peers).unwrap();
        assert!(
            again.added.is_empty() && again.removed.is_empty(),
            "{n}: {again:?}"
        );
        nodenet::setup_devices(&ns, &mut h, &c).unwrap();
    }
}

/// A pod made by hand inside `node`, the way a CNI plugin makes one.
fn hand_pod(lab: &Lab, node: &str, name: &str, ip: &str, gw: &str, mtu: u32) {
    let script = format!(
        "set -e
ip netns add {name}
ip link add lxc{name} type veth peer name eth0 netns {name}
ip link set lxc{name} mtu {mtu} up
ip -n {name} link set lo up
ip -n {name} link set eth0 mtu {mtu} up
ip -n {name} addr add {ip}/32 dev eth0
ip -n {name} route add {gw} dev eth0 scope link
ip -n {name} route add default via {gw} dev eth0
ip route add {ip}/32 dev lxc{name}"
    );
    lab.ssh_ok(node, &["sh", "-c", &script]);
}

fn pod(lab: &Lab, node: &str, pod: &str, cmd: &str) -> std::process::Output {
    lab.ssh(node, &["ip", "netns", "exec", pod, "sh", "-c", cmd])
}

fn cross_node_traffic(routing: Routing, tag: &str) {
    let lab = Lab::up(tag, &[]);
    program(&lab, routing);
    let mtu = if routing == Routing::Tunnel { 1410 } else { 1460 };
    hand_pod(&lab, "node-1", "pa", "10.0.1.5", "10.0.1.1", mtu);
    hand_pod(&lab, "node-2", "pb", "10.0.2.5", "10.0.2.1", mtu);

    // The devices the issue names, as `ip` shows them.
    let links = lab.ssh_ok("node-1", &["ip", "-d", "link", "show"]);
    assert!(links.contains("lby_host") && links.contains("lby_net"), "{links}");
    if routing == Routing::Tunnel {
        assert!(
            links.contains("vxlan id 1") && links.contains("dstport 8472"),
            "{links}"
        );
    }
    let routes = lab.ssh_ok("node-1", &["ip", "route"]);
    let want = match routing {
        Routing::Tunnel => "10.0.2.0/24 via 10.0.2.0 dev lby_vxlan proto 76 src 10.0.1.1 onlink",
        Routing::Native => "10.0.2.0/24 via 10.168.0.4 dev ens4 proto 76 src 10.0.1.1",
    };
    assert!(routes.contains(want), "node-1 routes:\n{routes}");

    // Capture the underlay while a pod pings across.
    let cap = std::process::Command::new(BIN)
        .args([
            "lab",
            "ssh",
            "--name",
            &lab.name,
            "node-1",
            "--",
            "tshark",
            "-i",
            "ens4",
            "-l",
            "-c",
            "4",
            "-a",
            "duration:15",
            "-d",
            "udp.port==8472,vxlan",
            "-f",
            // Unicast IPv4 only: the nodes' IGMP reports are not the flow.
            "ip and not ip multicast",
            "-T",
            "fields",
            "-E",
            "separator=,",
            "-e",
            "ip.src",
            "-e",
            "ip.dst",
            "-e",
            "udp.dstport",
            "-e",
            "vxlan.vni",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Keep pinging until the capture has its packets (bounded by -w).
    let ping = pod(&lab, "node-1", "pa", "ping -c 2 -W 2 10.0.2.5");
    if !ping.status.success() {
        let diag = |n: &str| {
            lab.ssh_ok(n, &["sh", "-c", "ip -d link show lby_vxlan; ip route; ip neigh; bridge fdb show dev lby_vxlan; ip -s link"])
        };
        panic!(
            "pod ping across nodes failed: {}\nnode-1:\n{}\nnode-2:\n{}",
            String::from_utf8_lossy(&ping.stdout),
            diag("node-1"),
            diag("node-2")
        );
    }
    let mut pinger = std::process::Command::new(BIN)
        .args([
            "lab", "ssh", "--name", &lab.name, "node-1", "--", "ip", "netns", "exec", "pa", "ping", "-q",
            "-i", "0.2", "-w", "15", "10.0.2.5",
        ])
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let out = cap.wait_with_output().unwrap();
    stop(&mut pinger);
    let seen = String::from_utf8_lossy(&out.stdout).to_string();
    let first = seen.lines().next().unwrap_or_default().to_string();
    match routing {
        // Outer: node to node on 8472 with the VNI; inner: the pods.
        Routing::Tunnel => assert!(
            first.starts_with("10.168.0.3,10.0.1.5,10.168.0.4,10.0.2.5,8472,1")
                || first.starts_with("10.168.0.3,10.168.0.4,8472,1"),
            "underlay saw: {seen}"
        ),
        Routing::Native => assert!(first.starts_with("10.0.1.5,10.0.2.5"), "underlay saw: {seen}"),
    }
    if routing == Routing::Tunnel {
        assert!(
            seen.lines().all(|l| l.contains("8472")),
            "non-VXLAN pod traffic on the underlay: {seen}"
        );
    }

    // TCP and UDP lines arrive, and a 1 MB payload crosses intact.
    let listen = std::process::Command::new(BIN)
        .args([
            "lab",
            "ssh",
            "--name",
            &lab.name,
            "node-2",
            "--",
            "ip",
            "netns",
            "exec",
            "pb",
            "sh",
            "-c",
            "timeout 20 nc -l -p 9999 | sha256sum",
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut sent = None;
    for _ in 0..50 {
        let o = pod(&lab, "node-1", "pa",
            "head -c 1048576 /dev/urandom > /tmp/payload.$$; sha256sum < /tmp/payload.$$; nc -N -w 5 10.0.2.5 9999 < /tmp/payload.$$; rc=$?; rm -f /tmp/payload.$$; exit $rc");
        if o.status.success() {
            sent = Some(
                String::from_utf8_lossy(&o.stdout)
                    .lines()
                    .next()
                    .unwrap()
                    .to_string(),
            );
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let got = String::from_utf8_lossy(&listen.wait_with_output().unwrap().stdout)
        .trim()
        .to_string();
    assert_eq!(Some(got), sent, "1 MB over TCP arrived damaged or not at all");

    let udp = std::process::Command::new(BIN)
        .args([
            "lab", "ssh", "--name", &lab.name, "node-2", "--", "ip", "netns", "exec", "pb", "timeout", "10",
            "nc", "-u", "-l", "-W", "1", "-p", "9999",
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let listening = || {
        pod(&lab, "node-2", "pb", "ss -uan | grep -q ':9999'")
            .status
            .success()
    };
    for _ in 0..100 {
        if listening() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    // Send until the listener, which exits after its first datagram, is gone.
    for _ in 0..20 {
        pod(
            &lab,
            "node-1",
            "pa",
            "echo hello-over-udp | nc -u -w 1 10.0.2.5 9999",
        );
        if !listening() {
            break;
        }
    }
    let got = String::from_utf8_lossy(&udp.wait_with_output().unwrap().stdout).to_string();
    assert!(got.contains("hello-over-udp"), "UDP line not delivered: {got:?}");

    // Removing the peer removes its route (nodes leaving).
    let ns = NetNs::of_pid(node_pid(&lab, "node-1"), "node-1").unwrap();
    let mut h = Handle::in_netns(&ns).unwrap();
    let c = cfg("node-1", "10.168.0.3", "10.0.1.0/24", routing);
    let sync = nodenet::sync_peers(&mut h, &c, &[]).unwrap();
    assert_eq!(
        sync.removed,
        vec!["10.0.2.0/24".parse::<ipnet::Ipv4Net>().unwrap()]
    );
    assert!(!lab.ssh_ok("node-1", &["ip", "route"]).contains("10.0.2.0/24"));
    lab.down();
}

#[test]
fn pods_talk_across_nodes_over_vxlan() {
    if !need_root("pods_talk_across_nodes_over_vxlan") {
        return;
    }
    cross_node_traffic(Routing::Tunnel, "vxlan");
}

#[test]
fn pods_talk_across_nodes_with_native_routing() {
    if !need_root("pods_talk_across_nodes_with_native_routing") {
        return;
    }
    cross_node_traffic(Routing::Native, "native");
}
