//! Issues 3 and 4 end to end, in a real lab: the machine's kubectl against
//! our API server on node-0, workers joined by token, the journey manifests
//! scheduled by label, pods made by the agents with our CNI plugin, and a
//! line sent between the two pods' IPs across the VXLAN tunnel (TCP and UDP).

mod common;
use common::journey::*;
use common::*;

#[test]
fn journey_pods_talk_by_ip_over_the_tunnel() {
    if !need_root("journey_pods_talk_by_ip_over_the_tunnel") {
        return;
    }
    let lab = Lab::cluster("cluster", &[]);
    let nodes = kubectl_ok(&lab, &["get", "nodes"]);
    let lines: Vec<&str> = nodes.lines().collect();
    assert!(
        lines[0].starts_with("NAME") && lines[0].contains("STATUS") && lines[0].contains("ROLES"),
        "{nodes}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("node-0 ") && l.contains(" Ready ") && l.contains("control-plane")),
        "{nodes}"
    );
    assert_eq!(
        lines.iter().filter(|l| l.contains(" Ready ")).count(),
        3,
        "{nodes}"
    );

    control_node_takes_only_tolerating_pods(&lab);
    joining_again_is_refused(&lab);

    let (client, server) = journey_pods(&lab);
    let server_ip = pod_ip(&lab, "wrk-2", &server);
    assert!(server_ip.starts_with("10.0.2."), "server pod IP {server_ip}");
    let client_ip = pod_ip(&lab, "wrk-1", &client);
    assert!(client_ip.starts_with("10.0.1."), "client pod IP {client_ip}");

    // Inside the pod: hostname and resolv.conf as a kubelet makes them.
    let inside = String::from_utf8_lossy(
        &exec(&lab, "wrk-1", &client, "hostname; cat /etc/resolv.conf; ip route").stdout,
    )
    .to_string();
    assert!(inside.starts_with(&format!("{client}\n")), "{inside}");
    assert!(
        inside.contains("search wrk-1.svc.cluster.local svc.cluster.local cluster.local"),
        "{inside}"
    );
    assert!(inside.contains("options ndots:5"), "{inside}");
    assert!(inside.contains("default via 10.0.1.1 dev eth0"), "{inside}");

    for udp in [false, true] {
        let proto = if udp { "udp" } else { "tcp" };
        let got = send_line(&lab, ("wrk-1", &client), ("wrk-2", &server), &server_ip, udp);
        assert_eq!(got, format!("hello-{proto}"), "{proto} line did not arrive");
    }

    // Deleting the pods frees their IPs and sandboxes on the nodes (the
    // cluster DNS pods may share node-1: only the client's are checked).
    let uid = kubectl_ok(
        &lab,
        &[
            "-n",
            "wrk-1",
            "get",
            "pod",
            &client,
            "-o",
            "jsonpath={.metadata.uid}",
        ],
    );
    let netns = format!("cni-{uid}");
    assert!(lab.ssh_ok("node-1", &["ip", "netns", "list"]).contains(&netns));
    let veth = host_veth_of(&lab, "node-1", &client_ip);
    for ns in ["wrk-1", "wrk-2"] {
        kubectl_ok(
            &lab,
            &[
                "-n",
                ns,
                "delete",
                "-f",
                &format!("{EXAMPLES}/{ns}.yaml"),
                "--wait=true",
            ],
        );
    }
    eventually("the client's netns to go", 100, || {
        (!lab.ssh_ok("node-1", &["ip", "netns", "list"]).contains(&netns)).then_some(())
    });
    let ipam = lab.ssh_ok("node-1", &["ls", "/var/lib/cni/networks/labyrinth"]);
    assert!(
        !ipam.lines().any(|l| l == client_ip),
        "IP {client_ip} still reserved: {ipam}"
    );
    // Its veth went at once by name; the retired pair (`lxd…`, down) goes
    // with the detached deleter or the namespace, soon after.
    eventually("the client's veth pair to go", 100, || {
        let links = lab.ssh_ok("node-1", &["ip", "-o", "link", "show"]);
        (!links.contains(&format!(": {veth}")) && !links.contains(": lxd")).then_some(())
    });
    lab.down();
}

/// The same journey with `--routing native`: no tunnel, node-1's uplink
/// carries the pod addresses themselves; to the pod's IP and by Service
/// name, TCP and UDP, and a 1 MB payload arrives intact (MTU right, nothing
/// dropped).
#[test]
fn journey_in_native_routing() {
    if need_root("journey_in_native_routing") {
        native_journey("nftables");
    }
}

/// The same in the eBPF datapath: the programs translate the ClusterIP and
/// a FIB lookup (not the tunnel) takes the packet to node-2; replies come
/// in through the program on the uplink.
#[test]
fn journey_in_native_routing_ebpf() {
    if need_root("journey_in_native_routing_ebpf") {
        native_journey("ebpf");
    }
}

fn native_journey(dp: &str) {
    let lab = Lab::cluster(
        &format!("native-{dp}"),
        &["--routing", "native", "--datapath", dp],
    );
    let (client, server) = journey_pods(&lab);
    let (client_ip, server_ip) = (pod_ip(&lab, "wrk-1", &client), pod_ip(&lab, "wrk-2", &server));
    let routes = lab.ssh_ok("node-1", &["ip", "route"]);
    assert!(
        routes.contains("10.0.2.0/24 via 10.168.0.4 dev ens4"),
        "native route to node-2's pods: {routes}"
    );
    assert!(!routes.contains("lby_vxlan"), "{routes}");

    let pcap = "/var/tmp/native.pcap";
    let mut capture = start_capture(
        &lab,
        "node-1",
        &[
            "tcpdump",
            "--immediate-mode",
            "-i",
            "ens4",
            "-U",
            "-n",
            "-w",
            pcap,
            "tcp port 9999 or udp port 8472",
        ],
    );
    // To the pod's IP (issue 4), then by Service name (issue 5).
    for target in [server_ip.as_str(), "node-wrk-2-ubuntu24.wrk-2"] {
        for (udp, want) in [(false, "hello-tcp"), (true, "hello-udp")] {
            let got = send_line(&lab, ("wrk-1", &client), ("wrk-2", &server), target, udp);
            assert_eq!(got, want, "to {target}");
        }
    }
    stop(&mut capture);
    let seen = lab.ssh_ok(
        "node-1",
        &[
            "tshark",
            "-r",
            pcap,
            "-T",
            "fields",
            "-e",
            "ip.src",
            "-e",
            "ip.dst",
            "-e",
            "udp.dstport",
        ],
    );
    assert!(
        seen.lines()
            .any(|l| l.starts_with(&format!("{client_ip}\t{server_ip}"))),
        "the pod addresses on the wire: {seen}"
    );
    assert!(!seen.contains("8472"), "VXLAN in native routing: {seen}");
    // Balanced over a backend on each node, through the FIB's routes.
    check_spread(&lab, dp, &client);
    if dp == "ebpf" {
        check_ebpf_native(&lab);
    }

    // 1 MB across, checked by digest on both ends.
    let want = exec_ok(
        &lab,
        "wrk-1",
        &client,
        "head -c 1048576 /dev/urandom > /tmp/mb; sha256sum < /tmp/mb",
    );
    let mut listener = std::process::Command::new(BIN)
        .args(["exec", "--name", &lab.name, "-n", "wrk-2", &server, "--"])
        .args(["timeout", "30", "sh", "-c", "nc -l -p 9998 > /tmp/mb"])
        .spawn()
        .unwrap();
    eventually("the 1 MB payload", 100, || {
        exec(
            &lab,
            "wrk-1",
            &client,
            &format!("nc -N -w 3 {server_ip} 9998 < /tmp/mb"),
        );
        let got = exec_ok(&lab, "wrk-2", &server, "sha256sum < /tmp/mb 2>/dev/null || true");
        (got == want).then_some(())
    });
    stop(&mut listener);
    lab.down();
}

/// node-0 carries kubeadm's control-plane taint: three replicas of a
/// Deployment land on the workers only, and a pod that tolerates the taint
/// and asks for node-0 runs there.
fn control_node_takes_only_tolerating_pods(lab: &Lab) {
    let taints = kubectl_ok(lab, &["get", "node", "node-0", "-o", "jsonpath={.spec.taints}"]);
    let taints: serde_json::Value = serde_json::from_str(&taints).expect("taints as JSON");
    assert_eq!(
        taints,
        serde_json::json!([{"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}])
    );
    kubectl_ok(lab, &["create", "namespace", "taints"]);
    kubectl_apply(
        lab,
        "taints",
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: spread}\nspec:\n  replicas: 3\n  \
         selector: {matchLabels: {app: spread}}\n  template:\n    metadata: {labels: {app: spread}}\n    \
         spec: {containers: [{name: c, image: busybox, command: [sleep, '3600']}]}\n---\n\
         apiVersion: v1\nkind: Pod\nmetadata: {name: on-control}\nspec:\n  \
         nodeSelector: {kubernetes.io/hostname: node-0}\n  \
         tolerations: [{key: node-role.kubernetes.io/control-plane, operator: Exists, effect: NoSchedule}]\n  \
         containers: [{name: c, image: busybox, command: [sleep, '3600']}]\n",
    );
    let placed = eventually("the three replicas scheduled", 60, || {
        let nodes = kubectl_ok(
            lab,
            &[
                "-n",
                "taints",
                "get",
                "pods",
                "-l",
                "app=spread",
                "-o",
                "jsonpath={.items[*].spec.nodeName}",
            ],
        );
        let nodes: Vec<String> = nodes.split_whitespace().map(str::to_string).collect();
        (nodes.len() == 3).then_some(nodes)
    });
    assert!(
        placed.iter().all(|n| n != "node-0"),
        "a replica on the control node: {placed:?}"
    );
    wait_ready(lab, "taints", "on-control");
    let node = kubectl_ok(
        lab,
        &[
            "-n",
            "taints",
            "get",
            "pod",
            "on-control",
            "-o",
            "jsonpath={.spec.nodeName}",
        ],
    );
    assert_eq!(node.trim(), "node-0");
    kubectl_ok(lab, &["delete", "namespace", "taints", "--wait=false"]);
}

/// The join command `token create` prints, run on node-2 which has joined
/// already, refuses (kubeadm's preflight) and node-2 stays Ready: the rest
/// of the journey runs pods there.
fn joining_again_is_refused(lab: &Lab) {
    let cmd = lab.ssh_ok("node-0", &[BIN, "token", "create", "--print-join-command"]);
    let mut argv: Vec<&str> = cmd.split_whitespace().collect();
    assert_eq!(argv.first(), Some(&"labyrinth"), "{cmd}");
    argv[0] = BIN;
    let out = lab.ssh("node-2", &argv);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "a second join succeeded: {err}");
    assert!(
        err.contains("[preflight]") && err.contains("already exists"),
        "{err}"
    );
    let ready = kubectl_ok(
        lab,
        &[
            "get",
            "node",
            "node-2",
            "-o",
            "jsonpath={.status.conditions[?(@.type==\"Ready\")].status}",
        ],
    );
    assert_eq!(ready.trim(), "True");
}

/// No tunnel device, our programs on every pod veth and on the uplink's
/// ingress, and no iptables Service rules.
fn check_ebpf_native(lab: &Lab) {
    for node in ["node-0", "node-1", "node-2"] {
        ebpf_on_every_pod_veth(lab, node);
        let all = attached(lab, node);
        assert!(
            bpf_on(&all, "ens4", "lby_from_overlay", "ingress"),
            "{node}: {all:#?}"
        );
        assert!(!all.iter().any(|a| a.dev == "lby_vxlan"), "{node}: {all:#?}");
        let nat = lab.ssh_ok(node, &["iptables-save", "-t", "nat"]);
        assert!(!nat.contains("KUBE-SVC"), "{node}: iptables Service rules: {nat}");
    }
}
