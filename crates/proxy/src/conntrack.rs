//! Flushing conntrack entries that still point at a removed UDP endpoint:
//! UDP has no connection end, so without this a client keeps sending its
//! "flow" to a backend that is gone until the entry times out.
//!
//! An endpoint that stops being ready while it still serves (a terminating
//! DNS pod in lame duck) is drained instead: the flows whose answer came are
//! flushed, so a client port used again is balanced afresh among the ready
//! endpoints, and a query still waiting for its answer keeps its entry, so
//! the answer comes back translated to the ClusterIP. kube-proxy keeps every
//! flow of a serving endpoint until it stops serving; then a client port
//! used again in the moment between the server's exit and the flush is lost.
//!
//! Spoken to the kernel over ctnetlink (`ctnetlink`), as the `conntrack`
//! tool does inside: dump the table, delete each match by its tuple.

mod ctnetlink;

use std::net::Ipv4Addr;

use anyhow::{Context, Result};

use ctnetlink::{Ctnetlink, Entry};

const IPPROTO_UDP: u8 = 17;

/// Which of a UDP endpoint's flows a flush deletes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Stale {
    /// The endpoint answers no more (gone from the Service, or no longer
    /// serving): every flow.
    Gone,
    /// It stopped being ready and still serves: the flows whose answer
    /// came, not those still waiting for it.
    Draining,
}

impl Stale {
    fn deletes(self, e: &Entry) -> bool {
        match self {
            Stale::Gone => true,
            Stale::Draining => e.answered,
        }
    }
}

/// Delete, in the calling thread's network namespace, the UDP entries sent
/// to `cluster_ip` and translated to `endpoint` (what `conntrack -D -p udp
/// --orig-dst <cluster_ip> --dst-nat <endpoint>` deletes), all of them or
/// only the answered ones as `stale` says; the number deleted. Entries that
/// vanish meanwhile are not an error.
pub fn flush_udp_endpoint(cluster_ip: Ipv4Addr, endpoint: Ipv4Addr, stale: Stale) -> Result<u64> {
    let ct = || format!("flushing UDP conntrack entries {cluster_ip} -> {endpoint}");
    let mut nl = Ctnetlink::open()
        .context("opening a ctnetlink socket")
        .with_context(ct)?;
    let entries = nl.dump_ipv4().with_context(ct)?;
    let mut deleted = 0;
    let stale_flows = entries
        .iter()
        .filter(|e| is_udp_via(e, cluster_ip, endpoint) && stale.deletes(e));
    for e in stale_flows {
        if nl.delete(e).with_context(ct)? {
            deleted += 1;
        }
    }
    Ok(deleted)
}

/// UDP, sent to `cluster_ip`, and destination-NATed to `endpoint` (the
/// answer comes from it, not from the address the client used).
fn is_udp_via(e: &Entry, cluster_ip: Ipv4Addr, endpoint: Ipv4Addr) -> bool {
    e.orig.proto == IPPROTO_UDP
        && e.orig.dst == cluster_ip
        && e.reply.src == endpoint
        && e.reply.src != e.orig.dst
}

#[cfg(test)]
mod tests {
    use super::ctnetlink::Tuple4;
    use super::*;

    fn entry(proto: u8, dst: [u8; 4], answered_by: [u8; 4]) -> Entry {
        entry_answered(proto, dst, answered_by, true)
    }

    fn entry_answered(proto: u8, dst: [u8; 4], answered_by: [u8; 4], answered: bool) -> Entry {
        let client = Ipv4Addr::new(10, 0, 1, 5);
        Entry::new(
            Tuple4 {
                proto,
                src: client,
                dst: dst.into(),
                sport: 40000,
                dport: 53,
            },
            Tuple4 {
                proto,
                src: answered_by.into(),
                dst: client,
                sport: 53,
                dport: 40000,
            },
            answered,
        )
    }

    #[test]
    fn draining_keeps_the_queries_still_waiting_for_their_answer() {
        let waiting = entry_answered(17, [10, 96, 0, 10], [10, 0, 2, 7], false);
        let done = entry(17, [10, 96, 0, 10], [10, 0, 2, 7]);
        assert!(Stale::Gone.deletes(&waiting) && Stale::Gone.deletes(&done));
        assert!(!Stale::Draining.deletes(&waiting));
        assert!(Stale::Draining.deletes(&done));
    }

    #[test]
    fn only_udp_to_the_cluster_ip_translated_to_the_endpoint_matches() {
        let (cip, ep) = (Ipv4Addr::new(10, 96, 0, 10), Ipv4Addr::new(10, 0, 2, 7));
        assert!(is_udp_via(&entry(17, [10, 96, 0, 10], [10, 0, 2, 7]), cip, ep));
        assert!(
            !is_udp_via(&entry(6, [10, 96, 0, 10], [10, 0, 2, 7]), cip, ep),
            "TCP"
        );
        assert!(
            !is_udp_via(&entry(17, [10, 96, 0, 11], [10, 0, 2, 7]), cip, ep),
            "other ClusterIP"
        );
        assert!(
            !is_udp_via(&entry(17, [10, 96, 0, 10], [10, 0, 2, 8]), cip, ep),
            "other endpoint"
        );
        // Not translated at all: the answer comes from the address itself.
        assert!(!is_udp_via(
            &entry(17, [10, 96, 0, 10], [10, 96, 0, 10]),
            cip,
            cip
        ));
    }
}
