//! The server answered by the real `dig`: each record kind of the
//! specification, NODATA/NXDOMAIN with the SOA, truncation then TCP,
//! REFUSED outside the domain, and the journey's search-path walk.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use common::{dig, fixture_with_big, start, FIXTURE};

const SOA: &str = "cluster.local. 5 IN SOA ns.dns.cluster.local. hostmaster.cluster.local.";

#[test]
fn a_aaaa_nxdomain_srv_ptr() {
    let srv = start("127.0.53.1", FIXTURE);
    let at = srv.udp_addr();

    let a = dig(at, &["node-wrk-2-ubuntu24.wrk-2.svc.cluster.local", "A"]);
    assert_eq!(a.status, "NOERROR", "{}", a.raw);
    assert!(a.flags.contains(&"aa".to_string()), "{}", a.raw);
    assert_eq!(
        a.answer,
        vec!["node-wrk-2-ubuntu24.wrk-2.svc.cluster.local. 5 IN A 10.96.12.34"]
    );

    let aaaa = dig(at, &["node-wrk-2-ubuntu24.wrk-2.svc.cluster.local", "AAAA"]);
    assert_eq!(
        (aaaa.status.as_str(), aaaa.answer.len()),
        ("NOERROR", 0),
        "{}",
        aaaa.raw
    );
    assert_eq!(aaaa.authority.len(), 1);
    assert!(aaaa.authority[0].starts_with(SOA), "{}", aaaa.raw);
    assert!(aaaa.authority[0].ends_with(" 7200 1800 86400 5"), "{}", aaaa.raw);

    let nx = dig(at, &["node-wrk-2-ubuntu24.wrk-2.wrk-1.svc.cluster.local", "A"]);
    assert_eq!(nx.status, "NXDOMAIN", "{}", nx.raw);
    assert!(nx.authority[0].starts_with(SOA), "{}", nx.raw);

    let s = dig(at, &["_dns._udp.kube-dns.kube-system.svc.cluster.local", "SRV"]);
    assert_eq!(
        s.answer,
        vec!["_dns._udp.kube-dns.kube-system.svc.cluster.local. 5 IN SRV 0 100 53 kube-dns.kube-system.svc.cluster.local."]
    );
    assert_eq!(
        s.additional,
        vec!["kube-dns.kube-system.svc.cluster.local. 5 IN A 10.96.0.10"]
    );

    let p = dig(at, &["-x", "10.96.0.10"]);
    assert_eq!(
        p.answer,
        vec!["10.0.96.10.in-addr.arpa. 5 IN PTR kube-dns.kube-system.svc.cluster.local."]
    );
    let p = dig(at, &["-x", "10.244.1.9"]);
    assert_eq!(
        p.answer,
        vec!["9.1.244.10.in-addr.arpa. 5 IN PTR 10-244-1-9.wrk-1.pod.cluster.local."]
    );

    let cname = dig(at, &["ext.default.svc.cluster.local", "A"]);
    assert_eq!(
        cname.answer,
        vec!["ext.default.svc.cluster.local. 5 IN CNAME upstream.example."]
    );
    let txt = dig(at, &["dns-version.cluster.local", "TXT"]);
    assert_eq!(txt.answer, vec!["dns-version.cluster.local. 5 IN TXT \"1.1.0\""]);

    let mixed = dig(at, &["KUBE-DNS.Kube-System.svc.CLUSTER.local", "A"]);
    assert_eq!(
        mixed.answer,
        vec!["KUBE-DNS.Kube-System.svc.CLUSTER.local. 5 IN A 10.96.0.10"]
    );
}

#[test]
fn headless_and_pod_records() {
    let srv = start("127.0.53.2", FIXTURE);
    let at = srv.udp_addr();
    let mut a = dig(at, &["db.default.svc.cluster.local", "A"]).answer;
    a.sort();
    assert_eq!(
        a,
        vec![
            "db.default.svc.cluster.local. 5 IN A 10.244.1.5",
            "db.default.svc.cluster.local. 5 IN A 10.244.2.6"
        ]
    );
    let host = dig(at, &["db-1.db.default.svc.cluster.local", "A"]);
    assert_eq!(
        host.answer,
        vec!["db-1.db.default.svc.cluster.local. 5 IN A 10.244.2.6"]
    );
    assert_eq!(
        dig(at, &["db-2.db.default.svc.cluster.local", "A"]).status,
        "NXDOMAIN"
    );
    let mut srv_rr = dig(at, &["_pg._tcp.db.default.svc.cluster.local", "SRV"]).answer;
    srv_rr.sort();
    assert_eq!(
        srv_rr,
        vec![
            "_pg._tcp.db.default.svc.cluster.local. 5 IN SRV 0 50 5432 db-0.db.default.svc.cluster.local.",
            "_pg._tcp.db.default.svc.cluster.local. 5 IN SRV 0 50 5432 db-1.db.default.svc.cluster.local."
        ]
    );
    let ptr = dig(at, &["-x", "10.244.1.5"]);
    assert_eq!(
        ptr.answer,
        vec!["5.1.244.10.in-addr.arpa. 5 IN PTR db-0.db.default.svc.cluster.local."]
    );
    let pod = dig(at, &["10-244-1-9.wrk-1.pod.cluster.local", "A"]);
    assert_eq!(
        pod.answer,
        vec!["10-244-1-9.wrk-1.pod.cluster.local. 5 IN A 10.244.1.9"]
    );
}

#[test]
fn truncation_then_tcp() {
    let srv = start("127.0.53.3", &fixture_with_big(120));
    let at = srv.udp_addr();
    // EDNS 1232 (dig's default) is too small for 120 A records.
    let udp = dig(at, &["+ignore", "big.default.svc.cluster.local", "A"]);
    assert!(udp.flags.contains(&"tc".to_string()), "{}", udp.raw);
    assert!(udp.answer.is_empty());
    let plain = dig(at, &["+ignore", "+noedns", "big.default.svc.cluster.local", "A"]);
    assert!(plain.flags.contains(&"tc".to_string()), "{}", plain.raw);
    let tcp = dig(at, &["+tcp", "big.default.svc.cluster.local", "A"]);
    assert!(!tcp.flags.contains(&"tc".to_string()));
    assert_eq!(tcp.answer.len(), 120, "{}", tcp.raw);
    // Without +ignore dig retries over TCP by itself.
    let retried = dig(at, &["big.default.svc.cluster.local", "A"]);
    assert_eq!(retried.answer.len(), 120);
    // A large EDNS buffer gets it all over UDP.
    let big = dig(at, &["+bufsize=4096", "big.default.svc.cluster.local", "A"]);
    assert!(!big.flags.contains(&"tc".to_string()));
    assert_eq!(big.answer.len(), 120);
}

#[test]
fn refused_outside_the_cluster_domain() {
    let srv = start("127.0.53.4", FIXTURE);
    for name in ["example.com", "local", "cluster.local.example"] {
        let r = dig(srv.udp_addr(), &[name, "A"]);
        assert_eq!(r.status, "REFUSED", "{name}: {}", r.raw);
        assert!(r.answer.is_empty());
    }
    let tcp = dig(srv.udp_addr(), &["+tcp", "example.com", "A"]);
    assert_eq!(tcp.status, "REFUSED");
}

/// docs/mission.md, journey step 4: the pod's resolver (search path of a wrk-1 pod,
/// ndots:5) walks `node-wrk-2-ubuntu24.wrk-2`: NXDOMAIN in wrk-1, then the
/// A on the second suffix. dig's own +search walk runs against a
/// resolv.conf bind-mounted in a private mount namespace.
#[test]
fn search_path_walk() {
    if !labyrinth_testkit::root::require("search_path_walk") {
        return;
    }
    let srv = start("127.0.53.5", FIXTURE);
    let at = srv.udp_addr();
    let dir = tempdir("search");
    let conf = dir.0.join("resolv.conf");
    std::fs::write(
        &conf,
        format!(
            "nameserver {}\nsearch wrk-1.svc.cluster.local svc.cluster.local cluster.local\noptions ndots:5\n",
            at.ip()
        ),
    )
    .unwrap();
    let script = format!(
        "mount --bind {} /etc/resolv.conf && dig -p {} +search +showsearch +norecurse +time=2 +tries=1 node-wrk-2-ubuntu24.wrk-2 A",
        conf.display(),
        at.port()
    );
    let out = Command::new("unshare")
        .args(["--mount", "--propagation", "private", "sh", "-c", &script])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let blocks: Vec<common::Dig> = text
        .split(";; ->>HEADER<<-")
        .skip(1)
        .map(|b| common::parse_dig(&format!(";; ->>HEADER<<-{b}")))
        .collect();
    assert!(
        blocks.len() >= 2,
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("node-wrk-2-ubuntu24.wrk-2.wrk-1.svc.cluster.local"),
        "{text}"
    );
    assert_eq!(blocks[0].status, "NXDOMAIN", "{text}");
    assert!(blocks[0].authority[0].starts_with(SOA), "{text}");
    assert_eq!(blocks[1].status, "NOERROR", "{text}");
    assert_eq!(
        blocks[1].answer,
        vec!["node-wrk-2-ubuntu24.wrk-2.svc.cluster.local. 5 IN A 10.96.12.34"]
    );
    assert_eq!(blocks.len(), 2, "the walk stops at the first answer: {text}");
}

/// The standalone binary in `--records` mode, as the benchmark runs it.
#[test]
fn binary_serves_a_records_file() {
    let dir = tempdir("bin");
    let file = dir.0.join("records.yaml");
    std::fs::write(&file, FIXTURE).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_labyrinth-dns"))
        .args(["--listen", "127.0.53.6:0", "--records"])
        .arg(&file)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let guard = KillOnDrop(child.id());
    let mut line = String::new();
    BufReader::new(child.stderr.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr: std::net::SocketAddr = line
        .split(" on ")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no address in {line:?}"));
    let a = dig(addr, &["kube-dns.kube-system.svc.cluster.local", "A"]);
    assert_eq!(
        a.answer,
        vec!["kube-dns.kube-system.svc.cluster.local. 5 IN A 10.96.0.10"]
    );
    drop(guard);
    let _ = child.wait();

    let bad = dir.0.join("bad.yaml");
    std::fs::write(&bad, "kind: Secret\nmetadata: {name: x, namespace: y}\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_labyrinth-dns"))
        .args(["--listen", "127.0.53.6:0", "--records"])
        .arg(&bad)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("unsupported kind \"Secret\""), "{err}");
}

struct KillOnDrop(u32);
impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.0 as i32),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
}

struct TempDir(std::path::PathBuf);
impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
fn tempdir(tag: &str) -> TempDir {
    let p = std::env::temp_dir().join(format!("labyrinth-dns-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&p).unwrap();
    TempDir(p)
}

/// Forwarding (off by default) to a resolver of our own on loopback: a
/// second server authoritative for `upstream.test`.
#[test]
fn forwards_out_of_zone_queries_when_an_upstream_is_set() {
    use labyrinth_dns::catalog::{Change, Store, ZoneConfig};
    use labyrinth_dns::server::{Config, Server};
    let objs = labyrinth_dns::records_file::parse(FIXTURE).unwrap();
    let mut up_store = Store::new(ZoneConfig::new("upstream.test"));
    for o in objs {
        up_store.apply(Change::Apply(o));
    }
    let up_shared = labyrinth_dns::catalog::shared(up_store.snapshot().unwrap());
    let upstream = Server::start(Config::new("127.0.53.8:0".parse().unwrap()), up_shared).unwrap();
    let (_, shared) = labyrinth_dns::catalog_from_objects(
        ZoneConfig::new("cluster.local"),
        labyrinth_dns::records_file::parse(FIXTURE).unwrap(),
    )
    .unwrap();
    let mut cfg = Config::new("127.0.53.7:0".parse().unwrap());
    cfg.upstream = Some(upstream.udp_addr());
    let srv = Server::start(cfg, shared).unwrap();

    let name = "kube-dns.kube-system.svc.upstream.test";
    for extra in [&[][..], &["+tcp"][..]] {
        let mut args: Vec<&str> = extra.to_vec();
        args.extend([name, "A"]);
        let r = dig(srv.udp_addr(), &args);
        assert_eq!(r.status, "NOERROR", "{}", r.raw);
        assert_eq!(r.answer, vec![format!("{name}. 5 IN A 10.96.0.10")]);
    }
    // Our own zone is still answered locally; without an upstream: REFUSED.
    let local = dig(srv.udp_addr(), &["kube-dns.kube-system.svc.cluster.local", "A"]);
    assert_eq!(local.answer.len(), 1);
    let plain = start("127.0.53.9", FIXTURE);
    assert_eq!(dig(plain.udp_addr(), &[name, "A"]).status, "REFUSED");
}
