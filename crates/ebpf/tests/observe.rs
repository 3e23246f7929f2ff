//! Trace events: one connection through a ClusterIP whose backend is on the
//! other node is reported at every named point on both nodes, with the
//! Service and the chosen backend, and a refused one as a drop with reason.
mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::lab::{model, pin_dir, vip, Lab, EMPTY_VIP, VIP};
use common::traffic::tcp_once;
use labyrinth_ebpf::{AttachMode, EventReader, Flow};

/// Add flows to `flows` until `done` holds (or a generous bound).
fn collect(readers: &mut [EventReader], flows: &mut Vec<Flow>, done: impl Fn(&[Flow]) -> bool) {
    let start = Instant::now();
    while !done(flows) && start.elapsed() < Duration::from_secs(20) {
        for r in readers.iter_mut() {
            flows.extend(r.poll(Duration::from_millis(100)).unwrap());
        }
    }
}

#[test]
fn trace_events_at_every_point() {
    need_root!("trace_events_at_every_point");
    common::private_bpffs();
    let lab = Lab::new("ebpf-obs", &[2, 1], &[2], AttachMode::Tcx);
    let (client, remote) = (&lab.topo.pods[1], &lab.topo.pods[2]);
    lab.sync_all(&model(&[remote.ip], lab.topo.pods[0].ip));

    let mut readers: Vec<EventReader> = [1, 2]
        .iter()
        .map(|n| EventReader::open(Path::new(&pin_dir(*n))).unwrap())
        .collect();
    for r in readers.iter_mut() {
        r.poll(Duration::ZERO).unwrap(); // what setting up left behind
    }
    client
        .ns
        .run(|| tcp_once(vip(VIP)))
        .expect("connection to the remote backend");
    let backend = format!("{}:8080", remote.ip);
    let syn = |f: &Flow| f.tcp_flags == ["SYN"];
    let points = ["from-endpoint", "to-overlay", "from-overlay", "to-endpoint"];
    let mut flows = Vec::new();
    collect(&mut readers, &mut flows, |fl| {
        points.iter().all(|p| fl.iter().any(|f| syn(f) && f.point == *p))
    });
    for f in &flows {
        eprintln!("{f}");
    }
    for p in points {
        let f = flows
            .iter()
            .find(|f| syn(f) && f.point == p)
            .unwrap_or_else(|| panic!("no SYN at {p}: {flows:#?}"));
        match p {
            "from-endpoint" => assert_eq!(f.dst, "10.96.0.50:80".parse().unwrap()),
            // The client's node translated it and names what it did.
            "to-overlay" => {
                let line = f.to_string();
                let want = format!(
                    "to-overlay FORWARDED service wrk-2/web:http (10.96.0.50:80 -> backend {backend})"
                );
                assert!(line.contains(&want), "{line}");
            }
            // The backend's node sees a plain pod-to-pod packet.
            _ => assert_eq!(f.dst.to_string(), backend, "{f}"),
        }
    }
    // The SYN-ACK comes back reverse-translated on the client's node.
    collect(&mut readers, &mut flows, |fl| {
        fl.iter().any(|f| f.reply && f.point == "to-endpoint")
    });
    let back = flows
        .iter()
        .find(|f| f.reply && f.point == "to-endpoint")
        .expect("reply at to-endpoint");
    assert_eq!(back.src.to_string(), "10.96.0.50:80");
    assert!(
        back.to_string()
            .contains(&format!("reply of service wrk-2/web:http from backend {backend}")),
        "{back}"
    );

    // A Service without backends: a drop with its reason.
    assert!(client.ns.run(|| tcp_once(vip(EMPTY_VIP))).is_err());
    collect(&mut readers, &mut flows, |fl| {
        fl.iter().any(|f| f.verdict == "DROPPED")
    });
    let d = flows
        .iter()
        .find(|f| f.verdict == "DROPPED")
        .expect("a drop event");
    assert_eq!(d.drop_reason, Some("no service backends"));
    assert!(
        d.to_string()
            .contains("drop DROPPED (no service backends) service wrk-2/empty"),
        "{d}"
    );
}
