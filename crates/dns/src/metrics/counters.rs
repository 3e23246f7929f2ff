//! The counters themselves: fixed arrays of atomics, one slot per label
//! combination, bumped by the serving threads.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use super::qtype::QTYPES;

/// The transport a query came over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proto {
    Udp = 0,
    Tcp = 1,
}

pub(super) const PROTOS: [&str; 2] = ["udp", "tcp"];
/// 1 IPv4, 2 IPv6: the address family numbers CoreDNS's `family` label uses.
pub(super) const FAMILIES: [&str; 2] = ["1", "2"];
/// Response codes 0–15 by their names; the header's four bits.
pub(super) const RCODES: [&str; 16] = [
    "NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED", "YXDOMAIN", "YXRRSET", "NXRRSET",
    "NOTAUTH", "NOTZONE", "RCODE11", "RCODE12", "RCODE13", "RCODE14", "RCODE15",
];
/// Upper bounds of the duration buckets, in seconds (CoreDNS's
/// `ExponentialBuckets(0.00025, 2, 16)`).
pub(super) const BUCKETS: usize = 16;

pub(super) fn bucket_bound(i: usize) -> f64 {
    0.00025 * f64::from(1u32 << i)
}

const NT: usize = QTYPES.len();

#[derive(Debug)]
pub struct Metrics {
    /// `server` label: `dns://:PORT`, as CoreDNS names a server block.
    pub(super) server: String,
    pub(super) requests: [[[AtomicU64; NT]; 2]; 2],
    pub(super) responses: [AtomicU64; 16],
    /// Per type: one count per bucket (not cumulative), the sum in
    /// nanoseconds and the total count.
    pub(super) hist: [[AtomicU64; BUCKETS]; NT],
    pub(super) hist_sum_ns: [AtomicU64; NT],
    pub(super) hist_count: [AtomicU64; NT],
    /// Synced with the API and not stopping: what `/ready` reports
    /// (CoreDNS's `ready` plugin), so a new pod gets no query it would
    /// leave waiting in its socket, or find no socket for.
    ready: std::sync::atomic::AtomicBool,
}

impl Metrics {
    pub fn new(listen: SocketAddr) -> Arc<Self> {
        Arc::new(Metrics {
            server: format!("dns://:{}", listen.port()),
            requests: Default::default(),
            responses: Default::default(),
            hist: Default::default(),
            hist_sum_ns: Default::default(),
            hist_count: Default::default(),
            ready: Default::default(),
        })
    }

    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::Relaxed);
    }

    pub fn ready(&self) -> bool {
        self.ready.load(Ordering::Relaxed)
    }

    /// One query received; `peer_v6` for its source family, `qtype` an
    /// index into the `type` labels (see `question_type`).
    pub fn request(&self, proto: Proto, peer_v6: bool, qtype: usize) {
        self.requests[proto as usize][usize::from(peer_v6)][qtype].fetch_add(1, Ordering::Relaxed);
    }

    /// One response sent: its rcode (the header's low four bits) and how
    /// long answering took.
    pub fn response(&self, response: &[u8], qtype: usize, took: Duration) {
        if let Some(b) = response.get(3) {
            self.responses[usize::from(b & 0x0f)].fetch_add(1, Ordering::Relaxed);
        }
        let secs = took.as_secs_f64();
        let i = (0..BUCKETS).find(|&i| secs <= bucket_bound(i)).unwrap_or(BUCKETS);
        if i < BUCKETS {
            self.hist[qtype][i].fetch_add(1, Ordering::Relaxed);
        }
        self.hist_sum_ns[qtype].fetch_add(took.as_nanos() as u64, Ordering::Relaxed);
        self.hist_count[qtype].fetch_add(1, Ordering::Relaxed);
    }
}
