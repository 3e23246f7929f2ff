//! The programs' conntrack over time: real flows through a ClusterIP leave
//! entries whose state (`labyrinth bpf map get ct`) follows their TCP
//! flags, and the agent's collector expires each flow by that state — a
//! closed connection after 10 s, UDP after 60 s, an established one after
//! 6 h — with the clock moved forward instead of waited for.
mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::Ipv4Addr;
use std::path::Path;
use std::time::Duration;

use common::lab::{model, pin_dir, vip, Lab, VIP};
use common::traffic::{tcp_hello, udp_ask};
use labyrinth_contracts::bpf::{CtDir, CtRow, FlowState};
use labyrinth_ebpf::ct_gc::Lifetimes;
use labyrinth_ebpf::{dump, AttachMode};
use labyrinth_proxy::{Endpoint, Protocol, ServiceModel, ServicePort, ServicePortName};

/// (direction, client-side port, state) of every entry of the client's
/// flows, as `bpf map get ct` reads them.
fn entries(client: Ipv4Addr) -> Vec<(CtDir, u16, FlowState)> {
    let rows = dump::rows::<CtRow>(Path::new(&pin_dir(1))).unwrap();
    let mut out = vec![];
    for r in rows {
        // The client's side: the service entry's source, the reply's destination.
        let side = if r.dir == CtDir::Service {
            r.source
        } else {
            r.destination
        };
        if *side.ip() == client {
            out.push((r.dir, side.port(), r.state));
        }
    }
    out.sort_by_key(|(dir, port, _)| (*dir, *port));
    out
}

fn states_of(all: &[(CtDir, u16, FlowState)], port: u16) -> Vec<FlowState> {
    all.iter()
        .filter(|(_, p, _)| *p == port)
        .map(|(_, _, s)| *s)
        .collect()
}

#[test]
fn flows_expire_by_state() {
    need_root!("flows_expire_by_state");
    common::private_bpffs();
    let lab = Lab::new("ebpf-ct", &[3, 1], &[0, 1, 3], AttachMode::Tcx);
    let backends: Vec<_> = [0, 1, 3].iter().map(|&i| lab.topo.pods[i].ip).collect();
    lab.sync_all(&model(&backends, lab.topo.pods[0].ip));
    let client = &lab.topo.pods[2].ns;
    let client_ip = lab.topo.pods[2].ip;

    // One connection kept open, one opened and closed, one UDP exchange.
    let (mut open, hello) = client.run(|| tcp_hello(vip(VIP))).expect("connect");
    assert!(hello.starts_with('p'), "{hello}");
    let open_port = open.local_addr().unwrap().port();
    let closed_port = client.run(|| {
        let (s, _) = tcp_hello(vip(VIP)).expect("second connection");
        s.local_addr().unwrap().port()
    });
    let udp_port = client.run(|| {
        let s = std::net::UdpSocket::bind("0.0.0.0:0").unwrap();
        s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
        s.connect(vip(VIP)).unwrap();
        udp_ask(&s).expect("UDP through the ClusterIP");
        s.local_addr().unwrap().port()
    });

    // The FIN exchange of the closed connection reaches the map.
    let mut all = vec![];
    for _ in 0..100 {
        all = entries(client_ip);
        if states_of(&all, closed_port) == [FlowState::Closing; 2] {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    eprintln!("{all:?}");
    assert_eq!(states_of(&all, closed_port), [FlowState::Closing; 2], "{all:?}");
    assert_eq!(states_of(&all, open_port), [FlowState::Established; 2], "{all:?}");
    assert_eq!(states_of(&all, udp_port), [FlowState::Stateless; 2], "{all:?}");

    let now = labyrinth_ebpf::dump::monotonic_ns();
    let gc = |after: Duration| {
        let g = lab.datapaths[0].lock().unwrap();
        let stats = g
            .as_ref()
            .unwrap()
            .lock()
            .gc_conntrack_at(now + after.as_nanos() as u64, &Lifetimes::default())
            .expect("conntrack collection");
        eprintln!("gc at +{after:?}: {stats:?}");
        entries(client_ip)
    };
    let all = gc(Duration::from_secs(5));
    assert_eq!(
        states_of(&all, closed_port).len(),
        2,
        "nothing expires within 10 s"
    );
    let all = gc(Duration::from_secs(12));
    assert!(
        states_of(&all, closed_port).is_empty(),
        "the closed flow stayed: {all:?}"
    );
    assert_eq!(states_of(&all, udp_port).len(), 2, "UDP lives 60 s");
    let all = gc(Duration::from_secs(62));
    assert!(
        states_of(&all, udp_port).is_empty(),
        "the UDP flow stayed: {all:?}"
    );
    assert_eq!(states_of(&all, open_port).len(), 2, "established lives 6 h");

    // The open connection still goes to the same backend.
    open.write_all(b"still there\n").unwrap();
    let mut line = String::new();
    BufReader::new(open.try_clone().unwrap())
        .read_line(&mut line)
        .expect("echo on the established connection");
    assert_eq!(line.trim(), "still there");

    let all = gc(Duration::from_secs(6 * 3600 + 2));
    assert!(states_of(&all, open_port).is_empty(), "6 h later: {all:?}");
}

/// A UDP Service whose one backend, p0, has no listener on its port (9):
/// its flows are asked and never answered (the port unreachable that comes
/// back is an error, not an answer).
const CLOSED_VIP: Ipv4Addr = Ipv4Addr::new(10, 96, 0, 60);

/// `model` over the pods `backends`, plus the closed Service while p0 is
/// among them, with the pods `terminating` not ready but serving.
fn with_closed(lab: &Lab, backends: &[usize], terminating: &[usize]) -> ServiceModel {
    let ips: Vec<Ipv4Addr> = backends.iter().map(|&i| lab.topo.pods[i].ip).collect();
    let mut m = model(&ips, lab.topo.pods[0].ip);
    let closed = if backends.contains(&0) {
        vec![Endpoint::new(lab.topo.pods[0].ip, 9)]
    } else {
        vec![]
    };
    m.insert(ServicePort::new(
        ServicePortName::new("wrk-2", "closed", "", Protocol::Udp),
        CLOSED_VIP,
        80,
        closed,
    ));
    for &t in terminating {
        let ip = lab.topo.pods[t].ip;
        for sp in m.services.values_mut() {
            for e in sp.endpoints.iter_mut().filter(|e| e.ip == ip) {
                e.ready = false;
            }
        }
    }
    m
}

#[test]
fn a_terminating_backend_keeps_only_the_udp_flows_still_waiting() {
    need_root!("a_terminating_backend_keeps_only_the_udp_flows_still_waiting");
    common::private_bpffs();
    let lab = Lab::new("ebpf-drain", &[3, 1], &[0, 1, 3], AttachMode::Tcx);
    lab.sync_all(&with_closed(&lab, &[0, 1, 3], &[]));
    let client = &lab.topo.pods[2].ns;
    let client_ip = lab.topo.pods[2].ip;
    let udp = |to: Ipv4Addr| {
        let s = std::net::UdpSocket::bind("0.0.0.0:0").unwrap();
        s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
        s.connect(std::net::SocketAddr::from((to, 80))).unwrap();
        s
    };
    // An answered flow to the web Service, from p1; a waiting one to the
    // closed Service.
    let (answered, answered_port) = client.run(move || {
        for _ in 0..300 {
            let s = udp(VIP);
            if udp_ask(&s).expect("UDP through the ClusterIP").starts_with("p1") {
                let port = s.local_addr().unwrap().port();
                return (s, port);
            }
        }
        panic!("no UDP flow landed on p1");
    });
    let waiting_port = client.run(move || {
        let s = udp(CLOSED_VIP);
        let asked = udp_ask(&s);
        assert!(asked.is_err(), "the closed Service answered: {asked:?}");
        s.local_addr().unwrap().port()
    });
    let rows = |port: u16| {
        dump::rows::<CtRow>(Path::new(&pin_dir(1)))
            .unwrap()
            .into_iter()
            .filter(|r| {
                let side = if r.dir == CtDir::Service {
                    r.source
                } else {
                    r.destination
                };
                *side.ip() == client_ip && side.port() == port
            })
            .map(|r| (r.dir, r.answered))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        rows(answered_port),
        [(CtDir::Service, false), (CtDir::Reply, true)],
        "the answer marks the reply entry"
    );
    assert_eq!(
        rows(waiting_port),
        [(CtDir::Service, false), (CtDir::Reply, false)]
    );

    // p1 and p0 start terminating and still serve: the answered flow is
    // drained, the waiting one keeps its entries.
    lab.sync_all(&with_closed(&lab, &[0, 1, 3], &[0, 1]));
    assert!(rows(answered_port).is_empty(), "{:?}", rows(answered_port));
    assert_eq!(rows(waiting_port).len(), 2, "the waiting flow was drained");
    let moved = client.run(move || udp_ask(&answered).expect("the drained flow asks again"));
    assert!(
        moved.starts_with("p2"),
        "the drained flow did not move to the one ready backend: {moved}"
    );

    // They go: whatever they still had goes with them.
    lab.sync_all(&with_closed(&lab, &[3], &[]));
    assert!(rows(waiting_port).is_empty(), "{:?}", rows(waiting_port));
}
