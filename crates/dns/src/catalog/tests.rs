//! Catalog behaviour against the specification, checked end-to-end through
//! the fast path and decoded with hickory-proto.

use hickory_proto::rr::RecordType as T;

use super::testutil::*;
use super::{Change, Kind, Store, ZoneConfig};

const NX: u8 = 3;
const OK: u8 = 0;
const SOA: &str = "SOA ns.dns.cluster.local. hostmaster.cluster.local.";

fn store_with(objs: Vec<super::Object>) -> Store {
    let mut s = Store::new(ZoneConfig::new("cluster.local"));
    for o in objs {
        s.apply(Change::Apply(o));
    }
    s
}

fn journey() -> Store {
    store_with(vec![
        cluster_ip(
            "wrk-2",
            "node-wrk-2-ubuntu24",
            "10.96.12.34",
            &[("nc", 9999, "TCP"), ("", 53, "UDP")],
        ),
        cluster_ip(
            "kube-system",
            "kube-dns",
            "10.96.0.10",
            &[("dns", 53, "UDP"), ("dns-tcp", 53, "TCP")],
        ),
    ])
}

#[test]
fn cluster_ip_a_srv_ptr() {
    let snap = journey().snapshot().unwrap();
    let a = ask(&snap, "node-wrk-2-ubuntu24.wrk-2.svc.cluster.local.", T::A);
    assert_eq!((a.rcode, a.aa), (OK, true));
    assert_eq!(a.answers, vec!["A 10.96.12.34"]);
    assert_eq!(a.ttls, vec![5]);

    let srv = ask(&snap, "_dns._udp.kube-dns.kube-system.svc.cluster.local.", T::SRV);
    assert_eq!(
        srv.answers,
        vec!["SRV 0 100 53 kube-dns.kube-system.svc.cluster.local."]
    );
    assert_eq!(srv.additional, vec!["A 10.96.0.10"]);
    let srv = ask(
        &snap,
        "_dns-tcp._tcp.kube-dns.kube-system.svc.cluster.local.",
        T::SRV,
    );
    assert_eq!(srv.answers.len(), 1);
    // Wrong protocol for a named port: the name does not exist.
    assert_eq!(
        ask(&snap, "_dns._tcp.kube-dns.kube-system.svc.cluster.local.", T::SRV).rcode,
        NX
    );
    // Unnamed ports get no SRV.
    assert_eq!(
        ask(
            &snap,
            "_._udp.node-wrk-2-ubuntu24.wrk-2.svc.cluster.local.",
            T::SRV
        )
        .rcode,
        NX
    );

    let ptr = ask(&snap, "10.0.96.10.in-addr.arpa.", T::PTR);
    assert_eq!(ptr.answers, vec!["PTR kube-dns.kube-system.svc.cluster.local."]);
}

#[test]
fn nodata_and_nxdomain_carry_the_soa() {
    let snap = journey().snapshot().unwrap();
    let aaaa = ask(&snap, "node-wrk-2-ubuntu24.wrk-2.svc.cluster.local.", T::AAAA);
    assert_eq!((aaaa.rcode, aaaa.answers.len()), (OK, 0));
    assert_eq!(aaaa.authority.len(), 1);
    assert!(aaaa.authority[0].starts_with(SOA), "{:?}", aaaa.authority);
    assert!(
        aaaa.authority[0].ends_with(" 7200 1800 86400 5"),
        "{:?}",
        aaaa.authority
    );

    let nx = ask(&snap, "node-wrk-2-ubuntu24.wrk-2.wrk-1.svc.cluster.local.", T::A);
    assert_eq!((nx.rcode, nx.answers.len()), (NX, 0));
    assert!(nx.authority[0].starts_with(SOA));

    // Empty non-terminals exist: NODATA, not NXDOMAIN.
    for ent in [
        "wrk-2.svc.cluster.local.",
        "svc.cluster.local.",
        "_udp.kube-dns.kube-system.svc.cluster.local.",
    ] {
        let r = ask(&snap, ent, T::A);
        assert_eq!((r.rcode, r.answers.len(), r.authority.len()), (OK, 0, 1), "{ent}");
    }
    let r = ask(&snap, "0.96.10.in-addr.arpa.", T::PTR);
    assert_eq!((r.rcode, r.answers.len()), (OK, 0));
    let r = ask(&snap, "9.9.9.10.in-addr.arpa.", T::PTR);
    assert_eq!(r.rcode, NX);
    assert!(r.authority[0].starts_with(SOA));
}

#[test]
fn search_path_walk_of_the_journey() {
    let snap = journey().snapshot().unwrap();
    let search = ["wrk-1.svc.cluster.local", "svc.cluster.local", "cluster.local"];
    let mut outcome = Vec::new();
    for suffix in search {
        let name = format!("node-wrk-2-ubuntu24.wrk-2.{suffix}.");
        let a = ask(&snap, &name, T::A);
        outcome.push((suffix, a.rcode, a.answers.clone()));
        if !a.answers.is_empty() {
            break;
        }
    }
    assert_eq!(outcome.len(), 2, "{outcome:?}");
    assert_eq!(outcome[0].1, NX);
    assert_eq!(
        (outcome[1].1, outcome[1].2.clone()),
        (OK, vec!["A 10.96.12.34".to_string()])
    );
}

#[test]
fn case_insensitive_and_case_preserving() {
    let snap = journey().snapshot().unwrap();
    let a = ask(&snap, "Node-WRK-2-Ubuntu24.Wrk-2.SVC.Cluster.Local.", T::A);
    assert_eq!(a.answers, vec!["A 10.96.12.34"]);
    assert_eq!(a.owners, vec!["Node-WRK-2-Ubuntu24.Wrk-2.SVC.Cluster.Local."]);
}

#[test]
fn headless_ready_endpoints_hostnames_srv_ptr() {
    let mut s = store_with(vec![
        headless("default", "db", false),
        slice(
            "default",
            "db-a",
            "db",
            &[
                ("10.244.1.5", Some("db-0"), Some(true)),
                ("10.244.2.6", None, None),
                ("10.244.2.7", Some("db-2"), Some(false)),
            ],
            &[("pg", 5432), ("metrics", 9187)],
        ),
        slice(
            "default",
            "db-b",
            "db",
            &[("10.244.3.8", Some("db-3"), Some(true))],
            &[("pg", 5432), ("metrics", 9187)],
        ),
    ]);
    let snap = s.snapshot().unwrap();
    let a = ask(&snap, "db.default.svc.cluster.local.", T::A);
    let mut got = a.answers.clone();
    got.sort();
    assert_eq!(
        got,
        vec!["A 10.244.1.5", "A 10.244.2.6", "A 10.244.3.8"],
        "unready endpoint excluded"
    );
    assert_eq!(
        ask(&snap, "db-0.db.default.svc.cluster.local.", T::A).answers,
        vec!["A 10.244.1.5"]
    );
    // No hostname: a system-assigned one (the dashed IP).
    assert_eq!(
        ask(&snap, "10-244-2-6.db.default.svc.cluster.local.", T::A).answers,
        vec!["A 10.244.2.6"]
    );
    assert_eq!(ask(&snap, "db-2.db.default.svc.cluster.local.", T::A).rcode, NX);
    // N ready endpoints × named port = N SRV records, targets in additional.
    let srv = ask(&snap, "_pg._tcp.db.default.svc.cluster.local.", T::SRV);
    assert_eq!(srv.answers.len(), 3);
    assert!(srv.answers.iter().all(|r| r.contains(" 5432 ")));
    assert!(srv
        .answers
        .iter()
        .any(|r| r.ends_with("db-3.db.default.svc.cluster.local.")));
    assert_eq!(srv.additional.len(), 3);
    assert_eq!(
        ask(&snap, "_metrics._tcp.db.default.svc.cluster.local.", T::SRV)
            .answers
            .len(),
        3
    );
    assert_eq!(
        ask(&snap, "5.1.244.10.in-addr.arpa.", T::PTR).answers,
        vec!["PTR db-0.db.default.svc.cluster.local."]
    );

    // publishNotReadyAddresses includes the unready one.
    s.apply(Change::Apply(headless("default", "db", true)));
    let snap = s.snapshot().unwrap();
    assert_eq!(ask(&snap, "db.default.svc.cluster.local.", T::A).answers.len(), 4);
}

#[test]
fn headless_without_endpoints_is_nodata() {
    let snap = store_with(vec![headless("default", "empty", false)])
        .snapshot()
        .unwrap();
    let r = ask(&snap, "empty.default.svc.cluster.local.", T::A);
    assert_eq!((r.rcode, r.answers.len(), r.authority.len()), (OK, 0, 1));
}

#[test]
fn external_name_is_a_cname_for_every_type() {
    let snap = store_with(vec![external("default", "ext", "Example.COM.")])
        .snapshot()
        .unwrap();
    for t in [T::A, T::AAAA, T::CNAME] {
        let r = ask(&snap, "ext.default.svc.cluster.local.", t);
        assert_eq!(
            (r.rcode, r.answers.clone()),
            (OK, vec!["CNAME example.com.".to_string()]),
            "{t:?}"
        );
    }
}

#[test]
fn pod_records_and_ptr_precedence() {
    let snap = store_with(vec![
        pod("default", "web-1", "10.244.1.9", "Running", false),
        pod("default", "done", "10.244.1.10", "Succeeded", false),
        pod("kube-system", "node-agent", "192.168.50.2", "Running", true),
        pod("default", "db-0", "10.244.1.5", "Running", false),
        headless("default", "db", false),
        slice(
            "default",
            "db-a",
            "db",
            &[("10.244.1.5", Some("db-0"), Some(true))],
            &[],
        ),
    ])
    .snapshot()
    .unwrap();
    assert_eq!(
        ask(&snap, "10-244-1-9.default.pod.cluster.local.", T::A).answers,
        vec!["A 10.244.1.9"]
    );
    assert_eq!(ask(&snap, "10-244-1-9.other.pod.cluster.local.", T::A).rcode, NX);
    assert_eq!(
        ask(&snap, "10-244-1-10.default.pod.cluster.local.", T::A).rcode,
        NX,
        "finished pod"
    );
    assert_eq!(
        ask(&snap, "9.1.244.10.in-addr.arpa.", T::PTR).answers,
        vec!["PTR 10-244-1-9.default.pod.cluster.local."]
    );
    assert_eq!(
        ask(&snap, "192-168-50-2.kube-system.pod.cluster.local.", T::A)
            .answers
            .len(),
        1
    );
    assert_eq!(
        ask(&snap, "2.50.168.192.in-addr.arpa.", T::PTR).rcode,
        NX,
        "no PTR for host-network pods"
    );
    // An endpoint hostname beats the generic pod name.
    assert_eq!(
        ask(&snap, "5.1.244.10.in-addr.arpa.", T::PTR).answers,
        vec!["PTR db-0.db.default.svc.cluster.local."]
    );
}

#[test]
fn apex_version_and_out_of_zone() {
    let snap = journey().snapshot().unwrap();
    assert_eq!(
        ask(&snap, "dns-version.cluster.local.", T::TXT).answers,
        vec!["TXT 1.1.0"]
    );
    let soa = ask(&snap, "cluster.local.", T::SOA);
    assert!(soa.answers[0].starts_with(SOA));
    assert_eq!(
        ask(&snap, "cluster.local.", T::NS).answers,
        vec!["NS ns.dns.cluster.local."]
    );
    assert_eq!(ask(&snap, "ns.dns.cluster.local.", T::A).rcode, OK);
    let r = ask(&snap, "example.com.", T::A);
    assert_eq!((r.rcode, r.aa, r.answers.len()), (5, false, 0));
    let r = ask(&snap, "local.", T::A);
    assert_eq!(r.rcode, 5, "parent of the zone is not ours");
    let any = ask(&snap, "cluster.local.", T::ANY);
    assert_eq!(any.answers.len(), 2);
}

#[test]
fn updates_follow_events_and_serial_grows() {
    let mut s = journey();
    let first = s.snapshot().unwrap();
    s.apply(Change::Apply(cluster_ip(
        "wrk-2",
        "node-wrk-2-ubuntu24",
        "10.96.99.1",
        &[],
    )));
    s.apply(Change::Apply(cluster_ip("wrk-1", "new", "10.96.1.1", &[])));
    let second = s.snapshot().unwrap();
    assert!(second.serial > first.serial);
    assert_eq!(
        ask(&second, "node-wrk-2-ubuntu24.wrk-2.svc.cluster.local.", T::A).answers,
        vec!["A 10.96.99.1"]
    );
    assert_eq!(
        ask(
            &second,
            "12.34.96.10.in-addr.arpa.".replace("12.34", "34.12").as_str(),
            T::PTR
        )
        .rcode,
        NX
    );
    assert_eq!(ask(&second, "new.wrk-1.svc.cluster.local.", T::A).rcode, OK);
    // The old snapshot is unchanged (readers holding it see a consistent view).
    assert_eq!(ask(&first, "new.wrk-1.svc.cluster.local.", T::A).rcode, NX);

    s.apply(Change::Delete(Kind::Service, ("wrk-1".into(), "new".into())));
    let third = s.snapshot().unwrap();
    assert!(third.serial > second.serial);
    assert_eq!(ask(&third, "new.wrk-1.svc.cluster.local.", T::A).rcode, NX);
    assert_eq!(
        ask(&third, "wrk-1.svc.cluster.local.", T::A).rcode,
        NX,
        "namespace gone with its last Service"
    );

    // A re-list drops whatever is not listed any more.
    s.apply(Change::Reset(
        Kind::Service,
        vec![cluster_ip("kube-system", "kube-dns", "10.96.0.10", &[])],
    ));
    let fourth = s.snapshot().unwrap();
    assert_eq!(
        ask(&fourth, "node-wrk-2-ubuntu24.wrk-2.svc.cluster.local.", T::A).rcode,
        NX
    );
    assert_eq!(s.service_count(), 1);
}

#[test]
fn endpoint_slices_move_and_disappear() {
    let mut s = store_with(vec![
        headless("default", "a", false),
        headless("default", "b", false),
        slice("default", "s1", "a", &[("10.244.0.1", None, None)], &[]),
    ]);
    assert_eq!(
        ask(&s.snapshot().unwrap(), "a.default.svc.cluster.local.", T::A)
            .answers
            .len(),
        1
    );
    // The slice is relabelled to b: a loses the endpoint, b gains it.
    s.apply(Change::Apply(slice(
        "default",
        "s1",
        "b",
        &[("10.244.0.1", None, None)],
        &[],
    )));
    let snap = s.snapshot().unwrap();
    assert_eq!(ask(&snap, "a.default.svc.cluster.local.", T::A).answers.len(), 0);
    assert_eq!(ask(&snap, "b.default.svc.cluster.local.", T::A).answers.len(), 1);
    s.apply(Change::Delete(Kind::Slice, ("default".into(), "s1".into())));
    let snap = s.snapshot().unwrap();
    assert_eq!(ask(&snap, "b.default.svc.cluster.local.", T::A).answers.len(), 0);
    assert_eq!(
        ask(&snap, "10-244-0-1.b.default.svc.cluster.local.", T::A).rcode,
        NX
    );
}

#[test]
fn other_cluster_domain() {
    let mut s = Store::new(ZoneConfig::new("Corp.Example."));
    s.apply(Change::Apply(cluster_ip("default", "web", "10.96.0.5", &[])));
    let snap = s.snapshot().unwrap();
    assert_eq!(
        ask(&snap, "web.default.svc.corp.example.", T::A).answers,
        vec!["A 10.96.0.5"]
    );
    let r = ask(&snap, "nope.default.svc.corp.example.", T::A);
    assert!(r.authority[0].starts_with("SOA ns.dns.corp.example. hostmaster.corp.example."));
    assert_eq!(ask(&snap, "web.default.svc.cluster.local.", T::A).rcode, 5);
}

#[test]
fn invalid_objects_are_skipped_not_fatal() {
    let long = "x".repeat(64);
    let snap = store_with(vec![
        cluster_ip("default", &long, "10.96.0.7", &[]),
        cluster_ip("default", "noip", "", &[]),
        cluster_ip("default", "ok", "10.96.0.8", &[]),
    ])
    .snapshot()
    .unwrap();
    assert_eq!(ask(&snap, "ok.default.svc.cluster.local.", T::A).answers.len(), 1);
    assert_eq!(ask(&snap, "noip.default.svc.cluster.local.", T::A).rcode, NX);
    assert_eq!(ask(&snap, "8.0.96.10.in-addr.arpa.", T::PTR).answers.len(), 1);
    assert_eq!(ask(&snap, "7.0.96.10.in-addr.arpa.", T::PTR).rcode, NX);
}

#[test]
fn only_events_that_change_a_record_ask_for_a_new_snapshot() {
    let mut s = Store::new(ZoneConfig::new("cluster.local"));
    assert!(s.take_changed(), "a new store has never been published");
    assert!(!s.take_changed());
    // Created and scheduled: no IP yet, no record.
    s.apply(Change::Apply(pod("default", "web-1", "", "Pending", false)));
    assert!(!s.take_changed());
    let running = || Change::Apply(pod("default", "web-1", "10.244.1.9", "Running", false));
    s.apply(running());
    assert!(s.take_changed());
    // A status update that leaves the address as it was.
    s.apply(running());
    assert!(!s.take_changed());
    s.apply(Change::Delete(
        super::Kind::Pod,
        ("default".into(), "web-1".into()),
    ));
    assert!(s.take_changed());
    s.apply(Change::Delete(
        super::Kind::Pod,
        ("default".into(), "web-1".into()),
    ));
    assert!(!s.take_changed());
    s.apply(Change::Apply(cluster_ip(
        "default",
        "web",
        "10.96.0.20",
        &[("http", 80, "TCP")],
    )));
    assert!(s.take_changed());
}
