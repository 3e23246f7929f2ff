//! TCP (RFC 7766): length-prefixed messages, a thread per connection with
//! idle timeouts and a connection cap so slow or hostile clients can't
//! exhaust the server.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsFd;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Result;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use socket2::{Domain, Protocol, Socket, Type};

use super::answer::{answer, Path};
use super::forward::Forwarder;
use crate::catalog::Shared;
use crate::metrics::{question_type, Metrics, Proto};
use crate::wire::{Outcome, Transport};

const MAX_CONNECTIONS: usize = 256;
/// Read timeout slice; the connection closes after IDLE_SLICES idle ones.
const SLICE: Duration = Duration::from_millis(500);
const IDLE_SLICES: u32 = 20;

pub fn bind(addr: SocketAddr) -> Result<TcpListener> {
    let s = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    s.set_reuse_address(true)?;
    s.set_reuse_port(true)?;
    s.bind(&addr.into())?;
    s.listen(1024)?;
    Ok(s.into())
}

pub fn serve(
    listener: TcpListener,
    catalog: Shared,
    path: Path,
    fwd: Option<Forwarder>,
    metrics: Option<Arc<Metrics>>,
    stop: Arc<AtomicBool>,
) {
    let active = Arc::new(AtomicUsize::new(0));
    while !stop.load(Ordering::Relaxed) {
        let mut fds = [PollFd::new(listener.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, PollTimeout::from(200u16)) {
            Ok(0) | Err(_) => continue,
            Ok(_) => {}
        }
        let Ok((conn, peer)) = listener.accept() else {
            continue;
        };
        if active.load(Ordering::Relaxed) >= MAX_CONNECTIONS {
            drop(conn);
            continue;
        }
        active.fetch_add(1, Ordering::Relaxed);
        let (catalog, fwd, stop, active) = (catalog.clone(), fwd.clone(), stop.clone(), active.clone());
        let counted = metrics.clone().map(|m| (m, peer.is_ipv6()));
        let spawned = std::thread::Builder::new()
            .name("dns-tcp-conn".into())
            .spawn(move || {
                let _ = connection(conn, &catalog, path, fwd.as_ref(), counted, &stop);
                active.fetch_sub(1, Ordering::Relaxed);
            });
        if spawned.is_err() {
            tracing::warn!("could not spawn a TCP connection thread");
        }
    }
}

/// Reads exactly `buf.len()` bytes, tolerating idle slices; false on EOF,
/// stop, idle timeout or error.
fn read_full(conn: &mut TcpStream, buf: &mut [u8], stop: &AtomicBool) -> bool {
    let mut got = 0;
    let mut idle = 0;
    while got < buf.len() {
        if stop.load(Ordering::Relaxed) {
            return false;
        }
        match conn.read(&mut buf[got..]) {
            Ok(0) => return false,
            Ok(n) => {
                got += n;
                idle = 0;
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                idle += 1;
                if idle >= IDLE_SLICES {
                    return false;
                }
            }
            Err(_) => return false,
        }
    }
    true
}

fn connection(
    mut conn: TcpStream,
    catalog: &Shared,
    path: Path,
    fwd: Option<&Forwarder>,
    metrics: Option<(Arc<Metrics>, bool)>,
    stop: &AtomicBool,
) -> std::io::Result<()> {
    conn.set_read_timeout(Some(SLICE))?;
    conn.set_write_timeout(Some(SLICE * IDLE_SLICES))?;
    conn.set_nodelay(true)?;
    let tr = Transport::tcp(fwd.is_some());
    let mut msg = vec![0u8; 65535];
    let mut out = Vec::with_capacity(4096);
    loop {
        let mut len = [0u8; 2];
        if !read_full(&mut conn, &mut len, stop) {
            return Ok(());
        }
        let n = u16::from_be_bytes(len) as usize;
        if n == 0 || !read_full(&mut conn, &mut msg[..n], stop) {
            return Ok(());
        }
        let snap = catalog.load();
        let t0 = Instant::now();
        let qt = question_type(&msg[..n]);
        if let Some((m, v6)) = &metrics {
            m.request(Proto::Tcp, *v6, qt);
        }
        let reply = match answer(path, &snap, &msg[..n], tr, &mut out) {
            Outcome::Reply => &out[..],
            Outcome::Forward => match fwd.and_then(|f| f.exchange(&msg[..n])) {
                Some(r) => {
                    out = r;
                    &out[..]
                }
                None => continue,
            },
            // A packet not worth answering ends the stream (can't resync).
            Outcome::Drop => return Ok(()),
        };
        if let Some((m, _)) = &metrics {
            m.response(reply, qt, t0.elapsed());
        }
        let mut frame = Vec::with_capacity(reply.len() + 2);
        frame.extend_from_slice(&(reply.len() as u16).to_be_bytes());
        frame.extend_from_slice(reply);
        conn.write_all(&frame)?;
    }
}
