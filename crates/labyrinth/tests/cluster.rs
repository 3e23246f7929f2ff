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

    let (client, server) = journey_pods(&lab);
    let server_ip = kubectl_ok(
        &lab,
        &[
            "-n",
            "wrk-2",
            "get",
            "pod",
            &server,
            "-o",
            "jsonpath={.status.podIP}",
        ],
    );
    assert!(server_ip.starts_with("10.0.2."), "server pod IP {server_ip}");
    let client_ip = kubectl_ok(
        &lab,
        &[
            "-n",
            "wrk-1",
            "get",
            "pod",
            &client,
            "-o",
            "jsonpath={.status.podIP}",
        ],
    );
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
    lab.down();
}
