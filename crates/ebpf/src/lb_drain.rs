//! Which UDP flows a sync leaves behind: UDP has no end of flow, so the
//! conntrack entries of a backend that left must go, or its clients keep
//! sending to it. A backend that left the slots because it is terminating
//! and still serves (a DNS pod in lame duck) is drained: its answered flows
//! go, so a client port used again picks a ready backend, and a query still
//! waiting keeps its entries, so its answer comes back translated. Once it
//! stops serving, everything of it goes. The same rule as the iptables and
//! nftables datapaths (`labyrinth_proxy::conntrack`), on our own map.

use std::collections::{BTreeMap, BTreeSet};

use labyrinth_proxy::conntrack::Stale;
use labyrinth_proxy::ServiceModel;

use crate::abi::{be_addr, PROTO_UDP};
use crate::lb_compile::{proto_num, Ids, LbState};

/// A backend's (address, port), network order, as the maps hold it.
pub type Backend = (u32, u16);

/// Backends per service id.
pub type Backends = BTreeMap<u16, BTreeSet<Backend>>;

/// Per UDP frontend id, the backends that still answer flows already sent
/// to them: the ready ones and the terminating ones that serve (whatever
/// the frontend's locality; only those that were its slots are ever drained).
pub fn udp_serving(model: &ServiceModel, ids: &Ids) -> Backends {
    let mut out = Backends::new();
    for sp in model
        .services
        .values()
        .filter(|sp| proto_num(sp.protocol()) == PROTO_UDP)
    {
        let serving: BTreeSet<Backend> = sp
            .serving_endpoints()
            .map(|e| (be_addr(e.ip), e.port.to_be()))
            .collect();
        let mut at = vec![(sp.cluster_ip, sp.port)];
        if let (Some(np), Some(node)) = (sp.node_port, model.node.as_ref()) {
            at.push((node.ip, np.port));
            at.extend(sp.load_balancer_ips.iter().map(|ip| (*ip, sp.port)));
        }
        for (ip, port) in at {
            if let Some(id) = ids.service_id((ip, port, PROTO_UDP)) {
                out.insert(id, serving.clone());
            }
        }
    }
    out
}

/// What to flush after taking the maps from `old` to `new`, and which
/// backends stay drained (flushed with `Stale::Gone` once they stop
/// serving). `draining` is what the last sync left drained; a restarted
/// agent starts with none, and what a drained backend still had then
/// expires with the collector's UDP lifetime.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Flushes {
    pub flush: Vec<(u16, Stale, BTreeSet<Backend>)>,
    pub draining: Backends,
}

pub fn flushes(old: &LbState, new: &LbState, serving: &Backends, draining: &Backends) -> Flushes {
    let is_udp = |id: &u16| {
        let r = new.revnat.get(id).or_else(|| old.revnat.get(id));
        r.is_some_and(|r| r.proto == PROTO_UDP)
    };
    let slots_new = slots(new);
    let serves = |id: u16, b: &Backend| serving.get(&id).is_some_and(|s| s.contains(b));
    let mut drain = Backends::new();
    let mut gone = Backends::new();
    let mut still = Backends::new();
    for (id, was) in slots(old).into_iter().filter(|(id, _)| is_udp(id)) {
        let now = slots_new.get(&id);
        for b in was.iter().filter(|b| now.is_none_or(|n| !n.contains(b))) {
            let to = if serves(id, b) { &mut drain } else { &mut gone };
            to.entry(id).or_default().insert(*b);
        }
    }
    for (id, set) in draining.iter().filter(|(id, _)| is_udp(id)) {
        let back = slots_new.get(id);
        for b in set.iter().filter(|b| back.is_none_or(|n| !n.contains(b))) {
            let to = if serves(*id, b) { &mut still } else { &mut gone };
            to.entry(*id).or_default().insert(*b);
        }
    }
    for (id, set) in &drain {
        still.entry(*id).or_default().extend(set.iter().copied());
    }
    let mut flush: Vec<_> = gone.into_iter().map(|(id, s)| (id, Stale::Gone, s)).collect();
    flush.extend(drain.into_iter().map(|(id, s)| (id, Stale::Draining, s)));
    Flushes {
        flush,
        draining: still,
    }
}

/// The backends in each service id's slots.
fn slots(s: &LbState) -> Backends {
    let mut m = Backends::new();
    for v in s.services.iter().filter(|(k, _)| k.slot > 0).map(|(_, v)| v) {
        if let Some(b) = s.backends.get(&v.backend_id) {
            m.entry(v.rev_nat_index).or_default().insert((b.address, b.port));
        }
    }
    m
}

#[cfg(test)]
#[path = "lb_drain_tests.rs"]
mod tests;
