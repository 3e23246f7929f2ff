//! Real traffic: echo servers in pods that answer with their name and the
//! address they saw the client as, clients for one TCP connection or one
//! UDP exchange.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::os::fd::{AsFd, AsRawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

use super::Netns;

pub const PORT: u16 = 8080;

/// TCP and UDP servers on :8080 in some pods until dropped.
pub struct Servers {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl Servers {
    pub fn start(pods: &[(&Netns, String)]) -> Servers {
        let stop = Arc::new(AtomicBool::new(false));
        let mut threads = Vec::new();
        for (ns, name) in pods {
            let (ready_tx, ready_rx) = std::sync::mpsc::channel();
            let (st, nm, tx) = (stop.clone(), name.clone(), ready_tx.clone());
            threads.push(ns.spawn(move || tcp_server(nm, st, tx)));
            let (st, nm) = (stop.clone(), name.clone());
            threads.push(ns.spawn(move || udp_server(nm, st, ready_tx)));
            ready_rx.recv().unwrap();
            ready_rx.recv().unwrap();
        }
        Servers { stop, threads }
    }
}

impl Drop for Servers {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// Each connection: "<name> <peer ip>\n", then echo lines until EOF (so a
/// long-lived connection can be checked across a datapath restart).
fn tcp_server(name: String, stop: Arc<AtomicBool>, ready: std::sync::mpsc::Sender<()>) {
    let l = TcpListener::bind(("0.0.0.0", PORT)).expect("tcp bind");
    l.set_nonblocking(true).unwrap();
    ready.send(()).unwrap();
    while !stop.load(Ordering::SeqCst) {
        // Wait for a connection without spinning, still seeing `stop`.
        let mut fds = [PollFd::new(l.as_fd(), PollFlags::POLLIN)];
        if !matches!(poll(&mut fds, PollTimeout::from(50u16)), Ok(n) if n > 0) {
            continue;
        }
        let Ok((mut s, peer)) = l.accept() else { continue };
        let hello = format!("{name} {}\n", peer.ip());
        std::thread::spawn(move || {
            let _ = s.set_nonblocking(false);
            let _ = s.set_nodelay(true);
            let _ = s.write_all(hello.as_bytes());
            let mut buf = vec![0u8; 1 << 16];
            while let Ok(n) = s.read(&mut buf) {
                if n == 0 || s.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        });
    }
}

fn udp_server(name: String, stop: Arc<AtomicBool>, ready: std::sync::mpsc::Sender<()>) {
    let s = UdpSocket::bind(("0.0.0.0", PORT)).expect("udp bind");
    s.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
    ready.send(()).unwrap();
    let mut buf = [0u8; 256];
    while !stop.load(Ordering::SeqCst) {
        if let Ok((_, peer)) = s.recv_from(&mut buf) {
            let _ = s.send_to(format!("{name} {}", peer.ip()).as_bytes(), peer);
        }
    }
}

/// Open a TCP connection and read the greeting line.
pub fn tcp_hello(to: SocketAddr) -> std::io::Result<(TcpStream, String)> {
    let mut s = TcpStream::connect_timeout(&to, Duration::from_secs(5))?;
    let line = greeting(&mut s)?;
    Ok((s, line))
}

fn greeting(s: &mut TcpStream) -> std::io::Result<String> {
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut line = Vec::new();
    let mut b = [0u8; 1];
    while s.read(&mut b)? == 1 && b[0] != b'\n' {
        line.push(b[0]);
    }
    Ok(String::from_utf8_lossy(&line).into_owned())
}

/// The greeting of one TCP connection from `from`, a fixed address and
/// port, aborted with a RST so the port is free again at once (no
/// TIME_WAIT): every call reuses the same 4-tuple.
pub fn tcp_once_from(from: SocketAddr, to: SocketAddr) -> std::io::Result<String> {
    let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)?;
    s.set_reuse_address(true)?;
    s.bind(&from.into())?;
    s.connect_timeout(&to.into(), Duration::from_secs(5))?;
    s.set_linger(Some(Duration::ZERO))?;
    greeting(&mut s.into())
}

/// The greeting of one short TCP connection.
pub fn tcp_once(to: SocketAddr) -> std::io::Result<String> {
    tcp_hello(to).map(|(_, line)| line)
}

/// One datagram and its answer on an already connected socket (the kernel
/// drops answers from any other source, so an answer proves reverse NAT).
pub fn udp_ask(s: &UdpSocket) -> std::io::Result<String> {
    s.send(b"?")?;
    let mut buf = [0u8; 256];
    let n = s.recv(&mut buf)?;
    Ok(String::from_utf8_lossy(&buf[..n]).into_owned())
}

/// A new UDP flow to `to`.
pub fn udp_once(to: SocketAddr) -> std::io::Result<String> {
    let s = UdpSocket::bind("0.0.0.0:0")?;
    s.set_read_timeout(Some(Duration::from_secs(3)))?;
    s.connect(to)?;
    udp_ask(&s)
}

/// Connect, read the greeting, close. The close is an abort (SO_LINGER 0)
/// so tens of thousands of connections leave no TIME_WAIT behind to slow
/// the client's port search (which would measure the client, not us).
pub fn conn_rate(to: SocketAddr, secs: f64) -> f64 {
    let (start, mut n) = (Instant::now(), 0u64);
    while start.elapsed().as_secs_f64() < secs {
        let (s, _) = tcp_hello(to).expect("a new connection");
        let linger = libc::linger {
            l_onoff: 1,
            l_linger: 0,
        };
        // SAFETY: a valid socket and a linger struct of the size given.
        unsafe {
            libc::setsockopt(
                s.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_LINGER,
                (&linger as *const libc::linger).cast(),
                std::mem::size_of::<libc::linger>() as libc::socklen_t,
            )
        };
        n += 1;
    }
    n as f64 / start.elapsed().as_secs_f64()
}
