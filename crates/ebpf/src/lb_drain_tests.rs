//! Which UDP backends a sync drains or flushes (no kernel needed).

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

use labyrinth_proxy::conntrack::Stale;
use labyrinth_proxy::external::{NodePort, ThisNode};
use labyrinth_proxy::{Endpoint, Protocol, ServiceModel, ServicePort, ServicePortName};

use super::*;
use crate::lb_compile::{compile, Ids, LbState};

const VIP: Ipv4Addr = Ipv4Addr::new(10, 96, 0, 10);
const NODE: Ipv4Addr = Ipv4Addr::new(10, 168, 0, 3);

fn ip(d: u8) -> Ipv4Addr {
    Ipv4Addr::new(10, 0, 1, d)
}

fn ready(d: u8) -> Endpoint {
    Endpoint::new(ip(d), 53)
}

fn terminating(d: u8, serving: bool) -> Endpoint {
    Endpoint {
        ready: false,
        serving,
        ..ready(d)
    }
}

/// kube-dns over `eps` for `proto`, with a NodePort on this node.
fn model(proto: Protocol, eps: Vec<Endpoint>) -> ServiceModel {
    let mut m = ServiceModel::new(None);
    m.node = Some(ThisNode {
        name: "node-1".into(),
        ip: NODE,
        zone: None,
    });
    let np = NodePort {
        port: 30053,
        local: false,
        health_check: None,
    };
    m.insert(
        ServicePort::new(
            ServicePortName::new("kube-system", "kube-dns", "dns", proto),
            VIP,
            53,
            eps,
        )
        .with_node_port(np),
    );
    m
}

/// One sync: the flushes (as (frontend address, which, backend addresses))
/// and the state it leaves.
struct Syncs {
    ids: Ids,
    applied: LbState,
    draining: Backends,
}

impl Syncs {
    fn new() -> Syncs {
        Syncs {
            ids: Ids::default(),
            applied: LbState::default(),
            draining: Backends::new(),
        }
    }

    fn to(&mut self, m: &ServiceModel) -> BTreeSet<(Ipv4Addr, Stale, Vec<Ipv4Addr>)> {
        let new = compile(m, &mut self.ids).unwrap();
        let f = flushes(&self.applied, &new, &udp_serving(m, &self.ids), &self.draining);
        let at = |id: &u16| {
            let r = new
                .revnat
                .get(id)
                .or_else(|| self.applied.revnat.get(id))
                .unwrap();
            crate::abi::addr_of(r.address)
        };
        let out = f
            .flush
            .iter()
            .map(|(id, stale, set)| {
                let addrs = set.iter().map(|(a, _)| crate::abi::addr_of(*a)).collect();
                (at(id), *stale, addrs)
            })
            .collect();
        self.applied = new;
        self.draining = f.draining;
        out
    }
}

fn both(stale: Stale, d: u8) -> BTreeSet<(Ipv4Addr, Stale, Vec<Ipv4Addr>)> {
    [(VIP, stale, vec![ip(d)]), (NODE, stale, vec![ip(d)])].into()
}

#[test]
fn a_terminating_backend_is_drained_while_it_serves_and_flushed_when_it_stops() {
    let mut s = Syncs::new();
    assert!(s.to(&model(Protocol::Udp, vec![ready(1), ready(2)])).is_empty());
    // Backend 1 terminates and still serves: drained, on the ClusterIP and
    // the NodePort alike.
    let lame_duck = model(Protocol::Udp, vec![terminating(1, true), ready(2)]);
    assert_eq!(s.to(&lame_duck), both(Stale::Draining, 1));
    // Nothing changes for it: not drained again.
    assert!(s.to(&lame_duck).is_empty());
    // It stops serving: every flow of it goes, and it is forgotten.
    assert_eq!(
        s.to(&model(Protocol::Udp, vec![terminating(1, false), ready(2)])),
        both(Stale::Gone, 1)
    );
    assert!(s.to(&model(Protocol::Udp, vec![ready(2)])).is_empty());
    assert!(s.draining.is_empty());
}

#[test]
fn a_drained_backend_that_leaves_is_flushed_and_one_that_comes_back_is_not() {
    let mut s = Syncs::new();
    s.to(&model(Protocol::Udp, vec![ready(1), ready(2)]));
    s.to(&model(Protocol::Udp, vec![terminating(1, true), ready(2)]));
    // The pod is deleted: gone from the slice.
    assert_eq!(s.to(&model(Protocol::Udp, vec![ready(2)])), both(Stale::Gone, 1));

    let mut s = Syncs::new();
    s.to(&model(Protocol::Udp, vec![ready(1), ready(2)]));
    s.to(&model(Protocol::Udp, vec![terminating(1, true), ready(2)]));
    // Ready again: a slot again, nothing to flush, no longer draining.
    assert!(s.to(&model(Protocol::Udp, vec![ready(1), ready(2)])).is_empty());
    assert!(s.draining.is_empty());
}

#[test]
fn a_backend_that_dies_ready_is_flushed_at_once_and_tcp_never() {
    let mut s = Syncs::new();
    s.to(&model(Protocol::Udp, vec![ready(1), ready(2)]));
    assert_eq!(s.to(&model(Protocol::Udp, vec![ready(2)])), both(Stale::Gone, 1));
    // The whole Service goes: its backends' flows with it.
    assert_eq!(s.to(&ServiceModel::new(None)), both(Stale::Gone, 2));

    let mut s = Syncs::new();
    s.to(&model(Protocol::Tcp, vec![ready(1), ready(2)]));
    assert!(s
        .to(&model(Protocol::Tcp, vec![terminating(1, true), ready(2)]))
        .is_empty());
    assert!(s.to(&model(Protocol::Tcp, vec![ready(2)])).is_empty());
}
