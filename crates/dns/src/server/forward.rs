//! Forwarding of out-of-zone queries to one upstream resolver (off by
//! default). Each forwarded UDP query gets a short-lived thread so the fast
//! path never waits on the upstream; in-flight forwards are capped.

use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

const MAX_INFLIGHT: usize = 128;
const TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Debug, Clone)]
pub struct Forwarder {
    upstream: SocketAddr,
    inflight: Arc<AtomicUsize>,
}

impl Forwarder {
    pub fn new(upstream: SocketAddr) -> Self {
        Forwarder {
            upstream,
            inflight: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// Sends `query` upstream and waits for the matching reply.
    pub fn exchange(&self, query: &[u8]) -> Option<Vec<u8>> {
        let local: SocketAddr = if self.upstream.is_ipv4() {
            "0.0.0.0:0".parse().ok()?
        } else {
            "[::]:0".parse().ok()?
        };
        let sock = UdpSocket::bind(local).ok()?;
        sock.connect(self.upstream).ok()?;
        sock.set_read_timeout(Some(TIMEOUT)).ok()?;
        sock.send(query).ok()?;
        let mut buf = vec![0u8; 65535];
        let n = sock.recv(&mut buf).ok()?;
        // Only a reply to this query (same id) is relayed.
        if n < 12 || buf[..2] != query[..2] {
            return None;
        }
        buf.truncate(n);
        Some(buf)
    }

    /// Relays a UDP query in the background, answering `peer` on `sock`.
    pub fn forward_udp(&self, query: Vec<u8>, peer: SocketAddr, sock: UdpSocket) {
        if self.inflight.fetch_add(1, Ordering::Relaxed) >= MAX_INFLIGHT {
            self.inflight.fetch_sub(1, Ordering::Relaxed);
            return;
        }
        let me = self.clone();
        let spawned = std::thread::Builder::new()
            .name("dns-forward".into())
            .spawn(move || {
                if let Some(reply) = me.exchange(&query) {
                    let _ = sock.send_to(&reply, peer);
                }
                me.inflight.fetch_sub(1, Ordering::Relaxed);
            });
        if spawned.is_err() {
            self.inflight.fetch_sub(1, Ordering::Relaxed);
        }
    }
}
