//! UDP: one SO_REUSEPORT socket per worker thread, so the kernel spreads
//! queries over workers with no shared state between them.

use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use socket2::{Domain, Protocol, Socket, Type};

use super::answer::{answer, Path};
use super::batch::Batch;
use super::forward::Forwarder;
use crate::catalog::Shared;
use crate::metrics::{question_type, Metrics, Proto};
use crate::wire::{Outcome, Transport};

/// How often an idle worker looks at the stop flag.
const POLL: Duration = Duration::from_millis(200);

fn one(addr: SocketAddr) -> Result<UdpSocket> {
    let s = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    s.set_reuse_port(true).context("SO_REUSEPORT")?;
    s.set_reuse_address(true)?;
    // Absorb bursts (dnsperf keeps many queries in flight).
    let _ = s.set_recv_buffer_size(4 << 20);
    let _ = s.set_send_buffer_size(4 << 20);
    s.bind(&addr.into())?;
    let s: UdpSocket = s.into();
    s.set_read_timeout(Some(POLL))?;
    Ok(s)
}

/// Binds `n` sockets to the same address (port 0: the first one picks it).
pub fn bind(addr: SocketAddr, n: usize) -> Result<Vec<UdpSocket>> {
    let first = one(addr)?;
    let bound = first.local_addr()?;
    let mut out = vec![first];
    for _ in 1..n {
        out.push(one(bound)?);
    }
    Ok(out)
}

/// Serves until `stop` is set.
pub fn serve(
    sock: UdpSocket,
    catalog: Shared,
    path: Path,
    fwd: Option<Forwarder>,
    metrics: Option<Arc<Metrics>>,
    stop: Arc<AtomicBool>,
) {
    let mut batch = Batch::new();
    let tr = Transport::udp(fwd.is_some());
    while !stop.load(Ordering::Relaxed) {
        let n = match batch.recv(&sock) {
            Ok(n) => n,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock
                        | std::io::ErrorKind::TimedOut
                        | std::io::ErrorKind::Interrupted
                ) =>
            {
                continue
            }
            Err(e) => {
                tracing::debug!(error = %e, "UDP receive failed");
                continue;
            }
        };
        // One snapshot per batch: a batch never mixes catalog versions.
        let snap = catalog.load();
        for i in 0..n {
            let mut out = batch.take_out();
            let counted = metrics.as_ref().map(|m| {
                let qt = question_type(batch.packet(i));
                m.request(Proto::Udp, batch.peer(i).is_some_and(|p| p.is_ipv6()), qt);
                (m, qt, Instant::now())
            });
            match answer(path, &snap, batch.packet(i), tr, &mut out) {
                Outcome::Reply => {
                    if let Some((m, qt, t0)) = counted {
                        m.response(&out, qt, t0.elapsed());
                    }
                    batch.commit(i, out)
                }
                Outcome::Forward => {
                    if let (Some(f), Some(peer), Ok(reply_sock)) = (&fwd, batch.peer(i), sock.try_clone()) {
                        f.forward_udp(batch.packet(i).to_vec(), peer, reply_sock);
                    }
                    batch.give_back(out);
                }
                Outcome::Drop => batch.give_back(out),
            }
        }
        batch.send(&sock);
    }
}
