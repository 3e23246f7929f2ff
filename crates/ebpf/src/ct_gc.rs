//! Conntrack garbage collection. The programs only record a flow's TCP
//! flags and when it was last seen; the agent walks the map now and then
//! and deletes flows past their lifetime, judged per flow (both directions
//! together, so a reply entry never outlives its service entry). Lifetimes
//! follow what Cilium and the kernel's conntrack settle on: a closing
//! connection lingers seconds, an established one hours.

use std::collections::HashMap;
use std::time::Duration;

pub use labyrinth_contracts::bpf::FlowState;

use crate::abi::{Ct4Entry, Ct4Key, CT_DIR_REPLY, CT_DIR_SERVICE, CT_F_HAIRPIN, CT_F_SNAT};

/// How long a flow may stay idle, by state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lifetimes {
    pub tcp_established: Duration,
    pub tcp_opening: Duration,
    pub tcp_closing: Duration,
    pub other: Duration,
}

impl Default for Lifetimes {
    fn default() -> Self {
        Lifetimes {
            tcp_established: Duration::from_secs(6 * 3600),
            tcp_opening: Duration::from_secs(60),
            tcp_closing: Duration::from_secs(10),
            other: Duration::from_secs(60),
        }
    }
}

impl Lifetimes {
    /// How long a flow in `state` may stay idle.
    pub fn of(&self, state: FlowState) -> Duration {
        match state {
            FlowState::Opening => self.tcp_opening,
            FlowState::Established => self.tcp_established,
            FlowState::Closing => self.tcp_closing,
            FlowState::Stateless => self.other,
        }
    }
}

/// The reply-direction key a service entry wrote with it (see ct.h).
pub fn reply_key(k: &Ct4Key, v: &Ct4Entry, hairpin_addr: u32) -> Ct4Key {
    Ct4Key {
        saddr: v.backend_addr,
        daddr: if v.flags & CT_F_HAIRPIN != 0 {
            hairpin_addr
        } else if v.flags & CT_F_SNAT != 0 {
            // A masqueraded NodePort flow: the source it got.
            v.orig_addr
        } else {
            k.saddr
        },
        sport: v.backend_port,
        dport: k.sport,
        proto: k.proto,
        dir: CT_DIR_REPLY,
        pad: 0,
    }
}

/// One flow as the collector judges it: its entries' flags together and
/// the latest time either direction was seen.
pub struct Flow {
    pub keys: Vec<Ct4Key>,
    pub state: FlowState,
    pub last_seen_ns: u64,
}

/// Pair every service entry with its reply entry; unpaired entries (the
/// other half evicted by the LRU) stand alone.
pub fn flows(entries: &[(Ct4Key, Ct4Entry)], hairpin_addr: u32) -> Vec<Flow> {
    let by_key: HashMap<Ct4Key, &Ct4Entry> = entries.iter().map(|(k, v)| (*k, v)).collect();
    let mut paired_replies = std::collections::HashSet::new();
    let mut out = Vec::new();
    for (k, v) in entries.iter().filter(|(k, _)| k.dir == CT_DIR_SERVICE) {
        let rk = reply_key(k, v, hairpin_addr);
        let (mut keys, mut seen, mut last) = (vec![*k], v.tcp_seen, v.last_seen_ns);
        if let Some(r) = by_key.get(&rk) {
            paired_replies.insert(rk);
            keys.push(rk);
            seen |= r.tcp_seen;
            last = last.max(r.last_seen_ns);
        }
        out.push(Flow {
            keys,
            state: FlowState::of(k.proto, seen),
            last_seen_ns: last,
        });
    }
    // Policy entries (bpf/lib/policy.h) are one per judging point, alone.
    let unpaired = |k: &Ct4Key| k.dir != CT_DIR_SERVICE && !paired_replies.contains(k);
    for (k, v) in entries.iter().filter(|(k, _)| unpaired(k)) {
        out.push(Flow {
            keys: vec![*k],
            state: FlowState::of(k.proto, v.tcp_seen),
            last_seen_ns: v.last_seen_ns,
        });
    }
    out
}

/// The keys of every flow idle longer than its state allows at `now_ns`
/// (CLOCK_MONOTONIC, the programs' bpf_ktime_get_ns clock).
pub fn expired(
    entries: &[(Ct4Key, Ct4Entry)],
    now_ns: u64,
    hairpin_addr: u32,
    l: &Lifetimes,
) -> (usize, Vec<Ct4Key>) {
    let all = flows(entries, hairpin_addr);
    let n = all.len();
    let keys = all
        .into_iter()
        .filter(|f| now_ns.saturating_sub(f.last_seen_ns) > l.of(f.state).as_nanos() as u64)
        .flat_map(|f| f.keys)
        .collect();
    (n, keys)
}

/// What one collection did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GcStats {
    pub flows: usize,
    pub entries_deleted: usize,
}

#[cfg(test)]
#[path = "ct_gc_tests.rs"]
mod tests;
