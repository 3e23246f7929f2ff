//! Issue 6, the tracer in a real lab: `labyrinth trace` from the wrk-1 pod
//! to the wrk-2 pod's IP sends a line while capturing at every hop, and the
//! listing, the JSON, the pcapng (read by tshark) and the HTML page show the
//! whole path: both pods' veths, the tunnel devices, VXLAN on the underlay,
//! and delivery to the listening nc.

mod common;
use common::*;

use std::process::Command;

fn tshark(args: &[&str]) -> String {
    let out = Command::new("tshark")
        .args(args)
        .output()
        .expect("running tshark");
    assert!(
        out.status.success(),
        "tshark {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Wait until something listens on TCP 9999 in the pod.
fn wait_listening(lab: &Lab, ns: &str, pod: &str) {
    for _ in 0..100 {
        let out = exec(lab, ns, pod, "ss -Hltn 'sport = :9999'");
        if !String::from_utf8_lossy(&out.stdout).trim().is_empty() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    panic!("nothing listens on 9999 in {ns}/{pod}");
}

#[test]
fn trace_follows_a_line_from_pod_to_pod_over_vxlan() {
    if !need_root("trace_follows_a_line_from_pod_to_pod_over_vxlan") {
        return;
    }
    let lab = Lab::cluster("trace", &[]);
    let (client, server) = journey_pods(&lab);
    let server_ip = pod_ip(&lab, "wrk-2", &server);
    let mut listener = Command::new(BIN)
        .args([
            "exec",
            "--name",
            &lab.name,
            "-n",
            "wrk-2",
            &server,
            "--",
            "timeout",
            "60",
            "sh",
            "-c",
            "nc -l 0.0.0.0 9999 > /tmp/got-trace",
        ])
        .spawn()
        .unwrap();
    wait_listening(&lab, "wrk-2", &server);
    // A fresh cluster programs the routes to the other node's pods shortly
    // after the pods run: wait until the path carries a ping.
    let ping = format!("ping -c 1 -W 1 {server_ip}");
    assert!(
        (0..60).any(|_| exec(&lab, "wrk-1", &client, &ping).status.success()),
        "{client} never reached {server_ip}"
    );

    let dir = std::env::temp_dir().join(format!("labyrinth-trace-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let pcap = dir.join("journey.pcapng");
    let html = dir.join("journey.html");
    let from = format!("wrk-1/{client}");
    let to = format!("{server_ip}:9999");
    let out = ok(&labyrinth(&[
        "trace",
        "--name",
        &lab.name,
        &from,
        &to,
        "--send",
        "hello",
        "--pcap",
        pcap.to_str().unwrap(),
        "--html",
        html.to_str().unwrap(),
        "--json",
    ]));
    stop(&mut listener);
    let got = exec(&lab, "wrk-2", &server, "cat /tmp/got-trace");
    assert_eq!(
        String::from_utf8_lossy(&got.stdout).trim(),
        "hello",
        "the line did not arrive"
    );

    let trace: serde_json::Value = serde_json::from_str(&out).expect("trace --json");
    let points = trace["points"].as_array().unwrap();
    let name = |i: &serde_json::Value| {
        let p = &points[i.as_u64().unwrap() as usize];
        format!(
            "{} {} {}",
            p["node"].as_str().unwrap(),
            p["role"].as_str().unwrap(),
            p["device"].as_str().unwrap()
        )
    };
    // The SYN: every hop from the client's eth0 to the server's.
    let packets = trace["packets"].as_array().unwrap();
    let syn = packets
        .iter()
        .find(|p| p["hops"][0]["summary"].as_str().unwrap().contains("[SYN]"))
        .expect("a SYN in the trace");
    let hops: Vec<String> = syn["hops"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| name(&h["point"]))
        .collect();
    let roles: Vec<String> = hops
        .iter()
        .map(|h| h.split(' ').take(2).collect::<Vec<_>>().join(" "))
        .collect();
    assert_eq!(
        roles,
        vec![
            "node-1 pod-eth",
            "node-1 host-veth",
            "node-1 tunnel",
            "node-1 uplink",
            "node-2 uplink",
            "node-2 tunnel",
            "node-2 host-veth",
            "node-2 pod-eth",
        ],
        "{hops:?}"
    );
    assert!(hops[1].ends_with(" lxc") || hops[1].contains(" lxc"), "{hops:?}");
    assert!(
        hops[2].ends_with("lby_vxlan") && hops[3].ends_with("ens4"),
        "{hops:?}"
    );
    for h in &syn["hops"].as_array().unwrap()[3..5] {
        let v = &h["decoded"]["vxlan"];
        assert_eq!(v["src"], "10.168.0.3", "{h}");
        assert_eq!(v["dst"], "10.168.0.4", "{h}");
        assert_eq!(v["dport"], 8472);
        assert_eq!(v["vni"], 1);
        let s = h["summary"].as_str().unwrap();
        assert!(
            s.starts_with("10.168.0.3 → 10.168.0.4 UDP 8472 VXLAN VNI 1 [10.0.1."),
            "{s}"
        );
    }
    let notes: Vec<String> = trace["notes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| {
            format!(
                "[{}] {}",
                n["kind"].as_str().unwrap(),
                n["text"].as_str().unwrap()
            )
        })
        .collect();
    assert!(
        notes
            .iter()
            .any(|n| n.starts_with("[delivery]") && n.contains("nc -l 0.0.0.0 9999")),
        "{notes:#?}"
    );
    assert!(
        notes
            .iter()
            .any(|n| n.starts_with("[encap]") && n.contains("VNI 1")),
        "{notes:#?}"
    );
    assert!(
        notes
            .iter()
            .any(|n| n.starts_with("[route]") && n.contains("dev lby_vxlan")),
        "{notes:#?}"
    );

    // tshark reads the merged capture: every interface named, VXLAN SYNs
    // on the underlay, and the handshake.
    let pcap = pcap.to_str().unwrap();
    let ifaces = tshark(&["-r", pcap, "-T", "fields", "-e", "frame.interface_name"]);
    for h in &hops {
        let p = points
            .iter()
            .find(|p| {
                format!(
                    "{} {} {}",
                    p["node"].as_str().unwrap(),
                    p["role"].as_str().unwrap(),
                    p["device"].as_str().unwrap()
                ) == *h
            })
            .unwrap();
        let n = format!(
            "{}/{}/{}",
            p["node"].as_str().unwrap(),
            p["netns"].as_str().unwrap(),
            p["device"].as_str().unwrap()
        );
        assert!(ifaces.lines().any(|l| l == n), "{n} not in {ifaces}");
    }
    let vx = tshark(&[
        "-r",
        pcap,
        "-d",
        "udp.port==8472,vxlan",
        "-Y",
        "vxlan && tcp.flags.syn==1",
        "-T",
        "fields",
        "-e",
        "vxlan.vni",
        "-e",
        "ip.src",
    ]);
    assert!(
        vx.lines().count() >= 4,
        "VXLAN SYN and SYN-ACK on both uplinks: {vx}"
    );
    assert!(vx.lines().all(|l| l.starts_with("1\t")), "{vx}");
    let handshake = tshark(&[
        "-r",
        pcap,
        "-Y",
        "tcp.flags.syn==1 && tcp.flags.ack==1 && !vxlan",
        "-d",
        "udp.port==8472,vxlan",
    ]);
    assert!(!handshake.trim().is_empty(), "no SYN-ACK");

    // The page draws every hop of the SYN and lists every point.
    let page = std::fs::read_to_string(&html).unwrap();
    let drawn = page.matches(r#"class="hop main""#).count();
    assert_eq!(drawn, hops.len(), "hops drawn");
    for heading in [
        "node-1 / host / ens4",
        "node-2 / host / lby_vxlan",
        "node-2 / wrk-2/",
    ] {
        assert!(page.contains(heading), "{heading} missing from the listing");
    }
    screenshot(&html, hops.len());
    let _ = std::fs::remove_dir_all(&dir);
    lab.down();
}

/// Issue 6 acceptance 3: the page renders in headless Chromium (a
/// screenshot is taken) and the rendered DOM has every hop of the SYN.
fn screenshot(html: &std::path::Path, hops: usize) {
    let test = "trace_follows_a_line_from_pod_to_pod_over_vxlan (the HTML screenshot check)";
    let Some(chromium) = labyrinth_testkit::root::tool(test, "chromium") else {
        return;
    };
    let png = html.with_extension("png");
    let url = format!("file://{}", html.display());
    let base = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--hide-scrollbars",
        "--window-size=1600,1000",
    ];
    let shot = Command::new("timeout")
        .arg("90")
        .arg(&chromium)
        .args(base)
        .arg(format!("--screenshot={}", png.display()))
        .arg(&url)
        .output()
        .unwrap();
    let size = std::fs::metadata(&png).map(|m| m.len()).unwrap_or(0);
    assert!(
        size > 10_000,
        "no screenshot ({size} bytes): {}",
        String::from_utf8_lossy(&shot.stderr)
    );
    let dom = Command::new("timeout")
        .arg("90")
        .arg(&chromium)
        .args(base)
        .arg("--dump-dom")
        .arg(&url)
        .output()
        .unwrap();
    let dom = String::from_utf8_lossy(&dom.stdout);
    assert_eq!(
        dom.matches(r#"class="hop main""#).count(),
        hops,
        "hops in the rendered page"
    );
    // One device box per hop (issue 15's picture draws only the path).
    assert!(dom.contains("<svg"));
    assert_eq!(dom.matches(r#"data-box="hop""#).count(), hops, "device boxes");
}
