//! A corpus of malformed packets, generated here, thrown at a running
//! server over UDP and TCP. The server must answer FORMERR (or drop) and
//! keep answering valid queries after every batch.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::time::Duration;

use common::{start, FIXTURE};

/// Small deterministic PRNG (xorshift64*), so failures reproduce.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn valid_query(id: u16, name: &str) -> Vec<u8> {
    let mut q = vec![(id >> 8) as u8, id as u8, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
    for label in name.split('.') {
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.extend_from_slice(&[0, 0, 1, 0, 1]);
    q
}

fn corpus() -> Vec<(String, Vec<u8>)> {
    let mut c: Vec<(String, Vec<u8>)> = Vec::new();
    let good = valid_query(7, "kube-dns.kube-system.svc.cluster.local");
    c.push(("zero-length".into(), Vec::new()));
    for n in 1..12 {
        c.push((format!("header cut to {n}"), good[..n].to_vec()));
    }
    for n in 12..good.len() {
        c.push((format!("query cut to {n}"), good[..n].to_vec()));
    }
    let hdr = |qd: u16, an: u16, ns: u16, ar: u16| {
        let mut h = vec![0x12, 0x34, 0x01, 0x00];
        for v in [qd, an, ns, ar] {
            h.extend_from_slice(&v.to_be_bytes());
        }
        h
    };
    // Compression pointer loops: self, mutual, and inside the OPT owner.
    let mut p = hdr(1, 0, 0, 0);
    p.extend_from_slice(&[0xC0, 12, 0, 1, 0, 1]);
    c.push(("pointer to itself".into(), p));
    let mut p = hdr(1, 0, 0, 0);
    p.extend_from_slice(&[1, b'a', 0xC0, 14, 0, 1, 0, 1]);
    c.push(("pointer loop after a label".into(), p));
    let mut p = hdr(1, 0, 0, 0);
    p.extend_from_slice(&[0xC0, 14, 0xC0, 12, 0, 1, 0, 1]);
    c.push(("two pointers at each other".into(), p));
    let mut p = good.clone();
    p[11] = 1;
    p.extend_from_slice(&[0xC0, (p.len() & 0xff) as u8, 0, 41, 4, 0, 0, 0, 0, 0, 0, 0]);
    c.push(("OPT owner pointing at itself".into(), p));
    // Counts larger than the data.
    for (qd, an, ns, ar) in [
        (65535, 0, 0, 0),
        (1, 65535, 0, 0),
        (1, 0, 65535, 0),
        (1, 0, 0, 65535),
        (2, 0, 0, 0),
        (0, 0, 0, 0),
    ] {
        let mut p = hdr(qd, an, ns, ar);
        p.extend_from_slice(&good[12..]);
        c.push((format!("counts {qd}/{an}/{ns}/{ar}"), p));
    }
    // Oversized and reserved label lengths, over-long names.
    for len in [64u8, 100, 0x40, 0x80, 0xBF, 255] {
        let mut p = hdr(1, 0, 0, 0);
        p.push(len);
        p.extend(std::iter::repeat_n(b'a', len as usize % 128));
        p.extend_from_slice(&[0, 0, 1, 0, 1]);
        c.push((format!("label length {len:#x}"), p));
    }
    let mut p = hdr(1, 0, 0, 0);
    for _ in 0..5 {
        p.push(63);
        p.extend(std::iter::repeat_n(b'b', 63));
    }
    p.extend_from_slice(&[0, 0, 1, 0, 1]);
    c.push(("name over 255 bytes".into(), p));
    let mut p = hdr(1, 0, 0, 0);
    for _ in 0..200 {
        p.extend_from_slice(&[1, b'x']);
    }
    p.extend_from_slice(&[0, 0, 1, 0, 1]);
    c.push(("400-byte name of 1-char labels".into(), p));
    // OPT rdlength beyond the packet, two OPTs.
    let mut p = good.clone();
    p[11] = 1;
    p.extend_from_slice(&[0, 0, 41, 4, 0, 0, 0, 0, 0, 0xff, 0xff]);
    c.push(("OPT rdlength beyond data".into(), p));
    let mut p = good.clone();
    p[11] = 2;
    for _ in 0..2 {
        p.extend_from_slice(&[0, 0, 41, 4, 0, 0, 0, 0, 0, 0, 0]);
    }
    c.push(("two OPT records".into(), p));
    // A response (QR set) must not be answered (no reflection loops).
    let mut p = good.clone();
    p[2] |= 0x80;
    c.push(("QR set".into(), p));
    // Random bytes and random mutations of a valid query.
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for i in 0..2000 {
        let n = rng.below(600);
        let p: Vec<u8> = (0..n).map(|_| rng.next() as u8).collect();
        c.push((format!("random #{i}"), p));
    }
    for i in 0..2000 {
        let mut p = good.clone();
        for _ in 0..1 + rng.below(4) {
            let at = rng.below(p.len());
            p[at] ^= 1 << rng.below(8);
        }
        c.push((format!("bit-flipped #{i}"), p));
    }
    c
}

fn ask_ok(sock: &UdpSocket, server: SocketAddr, id: u16) -> bool {
    let q = valid_query(id, "kube-dns.kube-system.svc.cluster.local");
    let mut buf = [0u8; 2048];
    for _ in 0..3 {
        sock.send_to(&q, server).unwrap();
        loop {
            match sock.recv_from(&mut buf) {
                // Skip late replies to the corpus; wait for ours.
                Ok((n, _)) if n >= 12 && buf[..2] == id.to_be_bytes() => {
                    return buf[3] & 0xF == 0 && u16::from_be_bytes([buf[6], buf[7]]) == 1;
                }
                Ok(_) => continue,
                Err(_) => break,
            }
        }
    }
    false
}

#[test]
fn malformed_udp_corpus_never_stalls_the_server() {
    let srv = start("127.0.54.1", FIXTURE);
    let at = srv.udp_addr();
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let corpus = corpus();
    let mut formerr = 0;
    for (i, chunk) in corpus.chunks(64).enumerate() {
        for (_, pkt) in chunk {
            sock.send_to(pkt, at).unwrap();
        }
        // Drain what came back; count FORMERRs.
        sock.set_read_timeout(Some(Duration::from_millis(20))).unwrap();
        let mut buf = [0u8; 2048];
        while let Ok((n, _)) = sock.recv_from(&mut buf) {
            assert!(n >= 12, "every reply has a header");
            assert!(buf[2] & 0x80 != 0, "every reply is a response");
            if buf[3] & 0xF == 1 {
                formerr += 1;
            }
        }
        sock.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        let first = &chunk[0].0;
        assert!(
            ask_ok(&sock, at, 0xA000 + i as u16),
            "server stopped answering after batch starting with {first}"
        );
    }
    assert!(formerr > 100, "malformed packets get FORMERR (got {formerr})");
}

#[test]
fn malformed_tcp_streams_never_stall_the_server() {
    let srv = start("127.0.54.2", FIXTURE);
    let at = srv.tcp_addr();
    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    udp.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    // Idle and half-sent connections are held open while others work.
    let idle: Vec<TcpStream> = (0..20).map(|_| TcpStream::connect(at).unwrap()).collect();
    let mut half = TcpStream::connect(at).unwrap();
    half.write_all(&[0x01, 0x00, 0xAB]).unwrap();
    for (i, (name, pkt)) in corpus().iter().enumerate().step_by(7) {
        let mut s = TcpStream::connect(at).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
        let mut framed = (pkt.len() as u16).to_be_bytes().to_vec();
        framed.extend_from_slice(pkt);
        // The server may close on garbage: write errors are fine.
        let _ = s.write_all(&framed);
        let mut len = [0u8; 2];
        if s.read_exact(&mut len).is_ok() {
            let mut body = vec![0u8; u16::from_be_bytes(len) as usize];
            s.read_exact(&mut body)
                .unwrap_or_else(|e| panic!("{name}: short TCP reply: {e}"));
            assert!(body.len() >= 12 && body[2] & 0x80 != 0, "{name}");
        }
        if i % 70 == 0 {
            assert!(ask_ok(&udp, srv.udp_addr(), 0xB000 + i as u16), "after {name}");
        }
    }
    // A valid query over TCP still works with the idle ones open.
    let mut s = TcpStream::connect(at).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    let q = valid_query(0xCAFE, "kube-dns.kube-system.svc.cluster.local");
    let mut framed = (q.len() as u16).to_be_bytes().to_vec();
    framed.extend_from_slice(&q);
    s.write_all(&framed).unwrap();
    let mut len = [0u8; 2];
    s.read_exact(&mut len).unwrap();
    let mut body = vec![0u8; u16::from_be_bytes(len) as usize];
    s.read_exact(&mut body).unwrap();
    assert_eq!(&body[..2], &[0xCA, 0xFE]);
    assert_eq!(u16::from_be_bytes([body[6], body[7]]), 1, "one answer");
    drop(idle);
}
