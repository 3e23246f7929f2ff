//! An agent restart: dropping the datapath leaves programs, links and maps
//! pinned; re-opening swaps in freshly loaded programs and resyncs the maps
//! with no gap. An established connection and a stream of new connections
//! through the ClusterIP keep working throughout.
mod common;

use std::io::{BufRead, BufReader, Write};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use common::lab::{model, vip, Lab, VIP};
use common::traffic::{tcp_hello, tcp_once};
use labyrinth_ebpf::abi::{NODEPORT_MAP, RETIRED_MAPS};
use labyrinth_ebpf::{dump, AttachMode, MapKind};
use labyrinth_proxy::SyncKind;

fn echo(s: &mut std::net::TcpStream, line: &str) -> String {
    s.write_all(format!("{line}\n").as_bytes())
        .expect("write on the old connection");
    let mut r = BufReader::new(s.try_clone().unwrap());
    let mut got = String::new();
    r.read_line(&mut got).expect("read on the old connection");
    got.trim().to_string()
}

#[test]
fn restart_keeps_programs_maps_and_connections() {
    need_root!("restart_keeps_programs_maps_and_connections");
    common::private_bpffs();
    let lab = Lab::new("ebpf-rst", &[3, 1], &[0, 1, 3], AttachMode::Tcx);
    let backends: Vec<_> = [0, 1, 3].iter().map(|&i| lab.topo.pods[i].ip).collect();
    let m = model(&backends, lab.topo.pods[0].ip);
    lab.sync_all(&m);
    let client = &lab.topo.pods[2].ns;

    // A long-lived connection, and a prober opening new ones all along.
    let (mut conn, hello) = client.run(|| tcp_hello(vip(VIP))).expect("connect");
    assert!(hello.starts_with('p'), "{hello}");
    let (stop, ok, failed) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicU64::new(0)),
    );
    let prober = {
        let (stop, ok, failed) = (stop.clone(), ok.clone(), failed.clone());
        client.spawn(move || {
            while !stop.load(Ordering::SeqCst) {
                match tcp_once(vip(VIP)) {
                    Ok(_) => ok.fetch_add(1, Ordering::SeqCst),
                    Err(e) => {
                        eprintln!("probe failed: {e}");
                        failed.fetch_add(1, Ordering::SeqCst)
                    }
                };
            }
        })
    };
    let before = dump(std::path::Path::new(&common::lab::pin_dir(1)), MapKind::Services).unwrap();

    // The agent goes away: nothing changes for packets.
    lab.close(0);
    let pins = lab.node_sh(0, "ls /sys/fs/bpf/lby-node1 /sys/fs/bpf/lby-node1/links");
    assert!(
        pins.contains("lby_lb4_services_v1") && pins.contains("@ingress"),
        "{pins}"
    );
    let (line, mut conn) = client.run(move || (echo(&mut conn, "while away"), conn));
    assert_eq!(line, "while away");
    assert!(
        client.run(|| tcp_once(vip(VIP))).is_ok(),
        "new connection while away"
    );

    // It comes back: programs replaced in place, maps diffed, not rewritten.
    lab.open(0);
    let kind = lab.proxy(0, |p| {
        p.set_model(m.clone(), None);
        p.sync().expect("first sync after restart").kind
    });
    assert_eq!(kind, SyncKind::Full);
    let after = dump(std::path::Path::new(&common::lab::pin_dir(1)), MapKind::Services).unwrap();
    assert_eq!(before, after, "ids or slots changed across the restart");
    assert_eq!(lab.proxy(0, |p| p.check_drift().unwrap()), None);
    let line = client.run(move || echo(&mut conn, "after restart"));
    assert_eq!(line, "after restart");

    stop.store(true, Ordering::SeqCst);
    prober.join().unwrap();
    let (ok, failed) = (ok.load(Ordering::SeqCst), failed.load(Ordering::SeqCst));
    eprintln!("new connections during the restart: {ok} ok, {failed} failed");
    assert!(ok > 0 && failed == 0, "{ok} ok, {failed} failed");
}

/// An agent of this version on a node an older one left: the NodePort
/// map pinned under its retired name (8,192 rows) gives its rows to the
/// new one and its pin goes, read back with bpftool.
#[test]
fn an_upgrade_carries_the_retired_nodeport_map_over_and_unpins_it() {
    need_root!("an_upgrade_carries_the_retired_nodeport_map_over_and_unpins_it");
    common::private_bpffs();
    let lab = Lab::new("ebpf-upg", &[1, 1], &[0], AttachMode::Tcx);
    let dir = common::lab::pin_dir(1);
    let (old, new) = RETIRED_MAPS[0];
    assert_eq!(new, NODEPORT_MAP);
    lab.close(0);
    // What the older agent made: its layout, its size, one row
    // (10.168.0.4:30080/TCP, rev NAT 7, Local).
    lab.node_sh(
        0,
        &format!(
            "bpftool map create {dir}/{old} type hash key 8 value 4 entries 8192 name lby_np_v1 flags 1 && \
             bpftool map update pinned {dir}/{old} key 10 168 0 4 0x75 0x80 6 0 value 7 0 1 0"
        ),
    );
    lab.open(0);
    let pins = lab.node_sh(0, &format!("ls {dir}"));
    assert!(!pins.contains(old), "the retired pin is gone: {pins}");
    let dump = lab.node_sh(0, &format!("bpftool -j map dump pinned {dir}/{new}"));
    let rows: serde_json::Value = serde_json::from_str(&dump).expect("bpftool -j");
    let bytes = |v: &serde_json::Value| -> Vec<u8> {
        v.as_array()
            .into_iter()
            .flatten()
            .map(|b| u8::from_str_radix(b.as_str().unwrap().trim_start_matches("0x"), 16).unwrap())
            .collect()
    };
    let rows: Vec<(Vec<u8>, Vec<u8>)> = rows
        .as_array()
        .expect("a list of rows")
        .iter()
        .map(|r| (bytes(&r["key"]), bytes(&r["value"])))
        .collect();
    assert_eq!(
        rows,
        vec![(vec![10, 168, 0, 4, 0x75, 0x80, 6, 0], vec![7, 0, 1, 0])],
        "the row carried over"
    );
    let info = lab.node_sh(0, &format!("bpftool -j map show pinned {dir}/{new}"));
    let info: serde_json::Value = serde_json::from_str(&info).expect("bpftool -j");
    assert_eq!(info["max_entries"], 65536, "{info}");
}
