//! `serve` and `dial` against each other on loopback: every try answered,
//! each from its own source port; a closed port counts as refused.

use std::net::{TcpListener, UdpSocket};

use labyrinth_netexec::dial::{dial, DialArgs, Protocol};
use labyrinth_netexec::serve::{serve_tcp, spawn_udp};

fn args(target: String, protocol: Protocol, tries: u64) -> DialArgs {
    DialArgs {
        target,
        protocol,
        tries,
        timeout: 5.0,
        backends: None,
        source_port: None,
    }
}

/// `serve` on a loopback port (TCP and UDP) answering `name`.
fn serve(name: &str) -> u16 {
    let tcp = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = tcp.local_addr().unwrap().port();
    let udp = UdpSocket::bind(("127.0.0.1", port)).unwrap();
    let answer = name.to_string();
    std::thread::spawn(move || serve_tcp(tcp, answer));
    spawn_udp(udp, name.into()).unwrap();
    port
}

#[test]
fn serve_answers_every_new_flow_with_its_name() {
    let port = serve("pod-x");
    for proto in [Protocol::Tcp, Protocol::Udp] {
        let r = dial(&args(format!("127.0.0.1:{port}"), proto, 200)).unwrap();
        assert_eq!(r.tries, 200);
        assert_eq!(r.answers.get("pod-x"), Some(&200), "{r:?}");
        assert!(r.errors.is_empty(), "{r:?}");
        assert_eq!(r.source_ports, 200, "a new source port per try: {r:?}");
        // One backend: nothing to test for evenness, unless told of more.
        assert_eq!(r.uniform, None);
    }
    let mut three = args(format!("localhost:{port}"), Protocol::Tcp, 30);
    three.backends = Some(3);
    let r = dial(&three).unwrap();
    assert_eq!(r.target, format!("127.0.0.1:{port}"), "resolved once, IPv4");
    assert!(r.uniform.unwrap().p_value < 1e-6, "{r:?}");
}

#[test]
fn every_try_from_one_source_port() {
    let port = serve("pod-y");
    // A port that was just free, for the client.
    let from = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    for proto in [Protocol::Tcp, Protocol::Udp] {
        let mut a = args(format!("127.0.0.1:{port}"), proto, 20);
        a.source_port = Some(from);
        let r = dial(&a).unwrap();
        assert_eq!(r.answers.get("pod-y"), Some(&20), "{r:?}");
        assert_eq!(r.source_ports, 1, "{r:?}");
    }
}

#[test]
fn a_closed_port_is_refused() {
    // A port that was just free: nothing listens on it.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    for proto in [Protocol::Tcp, Protocol::Udp] {
        let r = dial(&args(format!("127.0.0.1:{port}"), proto, 3)).unwrap();
        assert!(r.answers.is_empty(), "{r:?}");
        assert_eq!(r.errors.get("refused"), Some(&3), "{r:?}");
    }
}
