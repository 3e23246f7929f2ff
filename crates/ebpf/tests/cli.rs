//! The `labyrinth` binary's `bpf map get` and `observe` against a live
//! datapath. The binary lives in another package: point LABYRINTH_BIN at it
//! (target/debug/labyrinth), or the test says it skipped.
mod common;

use std::process::{Command, Stdio};

use common::lab::{model, pin_dir, vip, Lab, VIP};
use common::traffic::tcp_once;
use labyrinth_contracts::bpf::{BackendRow, ConfigRow, MapDump};
use labyrinth_ebpf::AttachMode;

fn labyrinth(args: &[&str]) -> Option<String> {
    let bin = std::env::var("LABYRINTH_BIN").ok()?;
    let out = Command::new(bin).args(args).output().expect("running labyrinth");
    assert!(
        out.status.success(),
        "labyrinth {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(String::from_utf8_lossy(&out.stdout).into_owned())
}

#[test]
fn bpf_map_get_and_observe() {
    need_root!("bpf_map_get_and_observe");
    if std::env::var("LABYRINTH_BIN").is_err() {
        eprintln!("SKIPPED (set LABYRINTH_BIN to the labyrinth binary): bpf_map_get_and_observe");
        return;
    }
    common::private_bpffs();
    let lab = Lab::new("ebpf-cli", &[2, 1], &[0, 2], AttachMode::Tcx);
    lab.sync_all(&model(
        &[lab.topo.pods[0].ip, lab.topo.pods[2].ip],
        lab.topo.pods[1].ip,
    ));
    let dir = pin_dir(1);

    let text = labyrinth(&["bpf", "map", "get", "services", "--pin-dir", &dir]).unwrap();
    assert!(
        text.starts_with("SERVICE") && text.contains("10.96.0.50:80/TCP  1"),
        "{text}"
    );
    let json: MapDump<BackendRow> = serde_json::from_str(
        &labyrinth(&["bpf", "map", "get", "backends", "--json", "--pin-dir", &dir]).unwrap(),
    )
    .unwrap();
    assert_eq!(json.map, "lby_lb4_backends_v1");
    assert_eq!(json.entries.len(), 5);
    for m in ["ct", "ipcache", "endpoints", "revnat", "config"] {
        labyrinth(&["bpf", "map", "get", m, "--pin-dir", &dir]).unwrap();
    }
    let config: MapDump<ConfigRow> = serde_json::from_str(
        &labyrinth(&["bpf", "map", "get", "config", "--json", "--pin-dir", &dir]).unwrap(),
    )
    .unwrap();
    assert_eq!(config.entries.len(), 1);

    // observe, live, while a connection goes through the ClusterIP.
    let observe = Command::new(std::env::var("LABYRINTH_BIN").unwrap())
        .args(["observe", "--pin-dir", &dir, "--count", "2", "--seconds", "20"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    lab.topo.pods[1]
        .ns
        .run(|| tcp_once(vip(VIP)))
        .expect("connection");
    let out = observe.wait_with_output().unwrap();
    let flows = String::from_utf8_lossy(&out.stdout);
    eprintln!("{flows}");
    assert!(
        flows.contains("10.96.0.50:80 from-endpoint TRACED") && flows.contains("service wrk-2/web:http"),
        "{flows}"
    );
}
