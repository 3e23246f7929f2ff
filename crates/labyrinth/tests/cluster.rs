//! Issues 3 and 4 end to end, in a real lab: the machine's kubectl against
//! our API server on node-0, workers joined by token, the journey manifests
//! scheduled by label, pods made by the agents with our CNI plugin, and a
//! line sent between the two pods' IPs across the VXLAN tunnel (TCP and UDP).

mod common;
use common::journey::*;
use common::*;

fn exec(lab: &Lab, ns: &str, pod: &str, cmd: &str) -> std::process::Output {
    labyrinth(&["exec", "--name", &lab.name, "-n", ns, pod, "--", "sh", "-c", cmd])
}

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

    for (proto, listen, send) in [
        (
            "tcp",
            "nc -l -p 9999 > /tmp/got-tcp",
            format!("echo hello-tcp | nc -N -w 2 {server_ip} 9999"),
        ),
        (
            "udp",
            "nc -u -l -W 1 -p 9999 > /tmp/got-udp",
            format!("echo hello-udp | nc -u -w 1 {server_ip} 9999"),
        ),
    ] {
        let mut listener = std::process::Command::new(BIN)
            .args([
                "exec", "--name", &lab.name, "-n", "wrk-2", &server, "--", "timeout", "30", "sh", "-c",
                listen,
            ])
            .spawn()
            .unwrap();
        let mut got = String::new();
        for _ in 0..60 {
            exec(&lab, "wrk-1", &client, &send);
            got = String::from_utf8_lossy(
                &exec(
                    &lab,
                    "wrk-2",
                    &server,
                    &format!("cat /tmp/got-{proto} 2>/dev/null"),
                )
                .stdout,
            )
            .to_string();
            if !got.is_empty() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
        stop(&mut listener);
        assert_eq!(
            got.trim(),
            format!("hello-{proto}"),
            "{proto} line did not arrive"
        );
    }

    // Deleting the pods frees their IPs and sandboxes on the nodes.
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
    for _ in 0..100 {
        if lab.ssh_ok("node-1", &["ip", "netns", "list"]).is_empty() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert_eq!(
        lab.ssh_ok("node-1", &["ip", "netns", "list"]),
        "",
        "pod netns left on node-1"
    );
    let ipam = lab.ssh_ok("node-1", &["ls", "/var/lib/cni/networks/labyrinth"]);
    assert!(!ipam.contains("10.0.1."), "IP still reserved: {ipam}");
    lab.down();
}
