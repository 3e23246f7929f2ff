//! The maps after a sync, as `labyrinth bpf map get` prints them (golden),
//! cross-checked with bpftool; and drift: an entry deleted by hand with
//! bpftool breaks the Service until the periodic resync repairs it.
mod common;

use std::path::Path;

use common::lab::{model, pin_dir, vip, Lab, VIP};
use common::traffic::tcp_once;
use labyrinth_contracts::bpf::{MapDump, ServiceRow};
use labyrinth_ebpf::{dump, AttachMode, MapKind};
use labyrinth_proxy::SyncKind;

const SERVICES: &str = "\
SERVICE            SLOT  BACKEND ID  COUNT  REV NAT ID  BACKEND         NAME
10.96.0.50:80/TCP  0     0           2      5                           wrk-2/web:http
10.96.0.50:80/TCP  1     4           0      5           10.0.1.10:8080  wrk-2/web:http
10.96.0.50:80/TCP  2     5           0      5           10.0.2.10:8080  wrk-2/web:http
10.96.0.50:80/UDP  0     0           2      4                           wrk-2/web:dgram
10.96.0.50:80/UDP  1     2           0      4           10.0.1.10:8080  wrk-2/web:dgram
10.96.0.50:80/UDP  2     3           0      4           10.0.2.10:8080  wrk-2/web:dgram
10.96.0.51:80/TCP  0     0           0      2                           wrk-2/empty
10.96.0.51:80/UDP  0     0           0      3                           wrk-2/empty
10.96.0.52:80/TCP  0     0           1      1                           wrk-1/self
10.96.0.52:80/TCP  1     1           0      1           10.0.1.11:8080  wrk-1/self
";

#[test]
fn golden_dump_bpftool_and_drift_repair() {
    need_root!("golden_dump_bpftool_and_drift_repair");
    common::private_bpffs();
    let lab = Lab::new("ebpf-maps", &[2, 1], &[0, 2], AttachMode::Tcx);
    let backends = [lab.topo.pods[0].ip, lab.topo.pods[2].ip];
    lab.sync_all(&model(&backends, lab.topo.pods[1].ip));
    let dir = pin_dir(1);
    let table = |k| dump(Path::new(&dir), k).unwrap();

    let services = table(MapKind::Services).to_text();
    eprintln!("{services}");
    assert_eq!(services, SERVICES);
    assert_eq!(
        table(MapKind::Backends).to_text(),
        "ID  ADDRESS         PROTO\n1   10.0.1.11:8080  TCP\n2   10.0.1.10:8080  UDP\n\
         3   10.0.2.10:8080  UDP\n4   10.0.1.10:8080  TCP\n5   10.0.2.10:8080  TCP\n"
    );
    assert_eq!(
        table(MapKind::Ipcache).to_text(),
        "PREFIX       TUNNEL ENDPOINT  IDENTITY\n10.0.2.0/24  10.168.0.4       0\n"
    );
    let eps = table(MapKind::Endpoints);
    assert_eq!(eps.rows.len(), 2);
    assert_eq!(eps.rows[0][0], "10.0.1.10");
    // `--json` prints the typed rows, read back as the tracer reads them.
    let svc = dump::rows::<ServiceRow>(Path::new(&dir)).unwrap();
    assert_eq!(svc[1].backend, Some("10.0.1.10:8080".parse().unwrap()));
    let json: MapDump<ServiceRow> = serde_json::from_str(&table(MapKind::Services).to_json()).unwrap();
    assert_eq!((json.map.as_str(), json.entries), ("lby_lb4_services_v1", svc));

    // bpftool reads the same pinned map (BTF-formatted) independently.
    let bt: serde_json::Value = serde_json::from_str(&lab.node_sh(
        0,
        &format!("bpftool -j map dump pinned {dir}/lby_lb4_services_v1"),
    ))
    .unwrap();
    let entries = bt.as_array().unwrap();
    assert_eq!(entries.len(), 10);
    let fe = entries
        .iter()
        .map(|e| &e["formatted"])
        .find(|f| f["key"]["slot"] == 0 && f["key"]["proto"] == 6 && f["value"]["count"] == 2)
        .unwrap_or_else(|| panic!("{bt:#}"));
    assert_eq!(fe["key"]["dport"], 80u16.to_be());

    // Someone deletes the TCP frontend by hand: key 10.96.0.50, port 80, slot 0, TCP.
    let client = &lab.topo.pods[1].ns;
    assert!(client.run(|| tcp_once(vip(VIP))).is_ok());
    lab.node_sh(
        0,
        &format!("bpftool map delete pinned {dir}/lby_lb4_services_v1 key 10 96 0 50 0 80 0 0 6 0 0 0"),
    );
    assert!(
        client.run(|| tcp_once(vip(VIP))).is_err(),
        "the hand-made damage did not break the service"
    );
    let drift = lab.proxy(0, |p| p.check_drift().unwrap()).expect("drift seen");
    assert!(drift.contains("PutFrontend"), "{drift}");
    let report = lab.proxy(0, |p| p.resync().unwrap());
    assert!(matches!(report.kind, SyncKind::Repaired(_)), "{report:?}");
    assert!(
        client.run(|| tcp_once(vip(VIP))).is_ok(),
        "the resync did not repair the service"
    );
    assert_eq!(table(MapKind::Services).to_text(), SERVICES);

    // A pod goes away, and the other node leaves: its link pin, endpoint
    // and ipcache entries go.
    let dp = lab.datapaths[0].lock().unwrap().clone().unwrap();
    let (ip, ifname) = (lab.topo.pods[1].ip, lab.topo.pods[1].host_if.clone());
    lab.topo.nodes[0].ns.run(move || {
        let mut d = dp.lock();
        d.detach_endpoint(ip, &ifname).unwrap();
        d.sync_ipcache(&[]).unwrap();
    });
    let eps = table(MapKind::Endpoints);
    assert_eq!(eps.rows.len(), 1, "{eps:?}");
    assert!(table(MapKind::Ipcache).rows.is_empty());
    let links = lab.node_sh(0, &format!("ls {dir}/links"));
    assert!(
        !links.contains(&lab.topo.pods[1].host_if) && links.contains(&lab.topo.pods[0].host_if),
        "{links}"
    );

    // cleanup() empties the service maps.
    lab.proxy(0, |p| p.cleanup().unwrap());
    for k in [MapKind::Services, MapKind::Backends, MapKind::Revnat] {
        assert!(table(k).rows.is_empty(), "{k:?} not empty after cleanup");
    }
}
