//! A sync as a list of table operations, in the order one transaction must
//! apply them; rendered as an `nft -f` script (text.rs) or sent as one
//! netlink batch (netlink/), from the same list.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::net::{Ipv4Addr, SocketAddrV4};

use super::compile::{
    pick_chain, pick_chain_of, Chain, Compiled, ServiceKey, ServiceObjects, SharedChange, HAIRPIN,
    NO_ENDPOINTS, SERVICE_ENDPOINTS, SERVICE_IPS,
};
use crate::model::ServicePortName;

/// A set or map of the table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SetKind {
    /// ipv4_addr . inet_proto . inet_service : verdict
    ServiceMap,
    /// ClusterIP . proto . port . index : ip . port
    EndpointMap,
    /// ipv4_addr . ipv4_addr
    Hairpin,
    /// ipv4_addr, dynamic, elements expiring after this many seconds
    /// (a sessionAffinity set, affinity.rs).
    Affinity(u32),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Elements<'a> {
    /// key : goto chain
    Services(Vec<(ServiceKey, &'a str)>),
    /// key . index : endpoint
    Endpoints(Vec<(ServiceKey, u32, SocketAddrV4)>),
    /// ip . ip
    Hairpin(Vec<Ipv4Addr>),
}

impl Elements<'_> {
    pub fn len(&self) -> usize {
        match self {
            Elements::Services(v) => v.len(),
            Elements::Endpoints(v) => v.len(),
            Elements::Hairpin(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op<'a> {
    /// add, delete, add: a fresh table whether one existed or not.
    ResetTable,
    AddSet(Cow<'a, str>, SetKind),
    /// Declare a chain (with its hook, if a base chain); no rules.
    AddChain(Cow<'a, Chain>),
    /// Append all of the chain's rules.
    AddRules(Cow<'a, Chain>),
    FlushChain(String),
    DeleteChain(String),
    AddElements(&'static str, Elements<'a>),
    DeleteElements(&'static str, Elements<'a>),
}

fn chain_ops<'a>(ops: &mut Vec<Op<'a>>, c: Cow<'a, Chain>) {
    ops.push(Op::AddChain(c.clone()));
    ops.push(Op::AddRules(c));
}

fn endpoint_elements(o: &ServiceObjects) -> impl Iterator<Item = (ServiceKey, u32, SocketAddrV4)> + '_ {
    o.endpoints.iter().enumerate().map(|(i, e)| (o.key, i as u32, *e))
}

/// Recreate the whole table. Chains come before the elements and jumps
/// that name them, base chains last.
pub fn full<'a>(c: &'a Compiled, skel: &'a [Chain]) -> Vec<Op<'a>> {
    let mut ops = vec![
        Op::ResetTable,
        Op::AddSet(SERVICE_IPS.into(), SetKind::ServiceMap),
        Op::AddSet(NO_ENDPOINTS.into(), SetKind::ServiceMap),
        Op::AddSet(SERVICE_ENDPOINTS.into(), SetKind::EndpointMap),
        Op::AddSet(HAIRPIN.into(), SetKind::Hairpin),
    ];
    // Affinity sets and endpoint chains before the service chains that
    // name them.
    for a in c.services.values().flat_map(|s| &s.affinity) {
        ops.push(Op::AddSet(
            a.set.as_str().into(),
            SetKind::Affinity(a.timeout_seconds),
        ));
        chain_ops(&mut ops, Cow::Borrowed(&a.chain));
    }
    let (base, regular): (Vec<&Chain>, Vec<&Chain>) = skel.iter().partition(|c| c.hook.is_some());
    for ch in regular {
        chain_ops(&mut ops, Cow::Borrowed(ch));
    }
    for n in c.pickers.keys() {
        chain_ops(&mut ops, Cow::Owned(pick_chain_of(*n)));
    }
    let mut maps: BTreeMap<&'static str, Vec<(ServiceKey, &str)>> = BTreeMap::new();
    let mut endpoints = Vec::new();
    for s in c.services.values().flat_map(ServiceObjects::frontends) {
        if let Some(ch) = &s.chain {
            chain_ops(&mut ops, Cow::Borrowed(ch));
        }
        maps.entry(s.map).or_default().push((s.key, s.target.as_str()));
        endpoints.extend(endpoint_elements(s));
    }
    for (map, els) in maps {
        ops.push(Op::AddElements(map, Elements::Services(els)));
    }
    ops.push(Op::AddElements(SERVICE_ENDPOINTS, Elements::Endpoints(endpoints)));
    let hairpin = c.hairpin.keys().copied().collect();
    ops.push(Op::AddElements(HAIRPIN, Elements::Hairpin(hairpin)));
    for ch in base {
        chain_ops(&mut ops, Cow::Borrowed(ch));
    }
    ops.retain(|op| !matches!(op, Op::AddElements(_, e) if e.is_empty()));
    ops
}

type ServiceElements<'a> = BTreeMap<&'static str, Vec<(ServiceKey, &'a str)>>;

/// Add (or delete) these elements of the three maps and the hairpin set.
fn element_ops<'a>(
    ops: &mut Vec<Op<'a>>,
    add: bool,
    services: ServiceElements<'a>,
    endpoints: Vec<(ServiceKey, u32, SocketAddrV4)>,
    hairpin: &[Ipv4Addr],
) {
    let op = |set, els| {
        if add {
            Op::AddElements(set, els)
        } else {
            Op::DeleteElements(set, els)
        }
    };
    for (map, els) in services {
        ops.push(op(map, Elements::Services(els)));
    }
    ops.push(op(SERVICE_ENDPOINTS, Elements::Endpoints(endpoints)));
    ops.push(op(HAIRPIN, Elements::Hairpin(hairpin.to_vec())));
}

/// What a partial sync changes, gathered frontend by frontend.
#[derive(Default)]
struct Edit<'a> {
    del_services: ServiceElements<'a>,
    add_services: ServiceElements<'a>,
    del_endpoints: Vec<(ServiceKey, u32, SocketAddrV4)>,
    add_endpoints: Vec<(ServiceKey, u32, SocketAddrV4)>,
    chains: Vec<Op<'a>>,
    deletes: Vec<Op<'a>>,
}

impl<'a> Edit<'a> {
    /// One frontend (a ClusterIP, or a NodePort) from `o` to `n`.
    fn frontend(&mut self, o: Option<&'a ServiceObjects>, n: Option<&'a ServiceObjects>) {
        let same_element = match (o, n) {
            (Some(o), Some(n)) => o.map == n.map && o.key == n.key && o.target == n.target,
            _ => false,
        };
        if !same_element {
            if let Some(o) = o {
                self.del_services
                    .entry(o.map)
                    .or_default()
                    .push((o.key, o.target.as_str()));
            }
            if let Some(n) = n {
                self.add_services
                    .entry(n.map)
                    .or_default()
                    .push((n.key, n.target.as_str()));
            }
        }
        // Endpoint elements by index: out where the old one differs or is
        // gone, in where the new one differs or is new.
        let olds: Vec<_> = o.map(|o| endpoint_elements(o).collect()).unwrap_or_default();
        let news: Vec<_> = n.map(|n| endpoint_elements(n).collect()).unwrap_or_default();
        self.del_endpoints
            .extend(olds.iter().filter(|e| !news.contains(e)).copied());
        self.add_endpoints
            .extend(news.iter().filter(|e| !olds.contains(e)).copied());
        let before = o.and_then(|o| o.chain.as_ref());
        let after = n.and_then(|n| n.chain.as_ref());
        match (before, after) {
            (Some(b), Some(a)) if b.name == a.name => {
                if b.rules != a.rules {
                    self.chains.push(Op::FlushChain(a.name.clone()));
                    self.chains.push(Op::AddRules(Cow::Borrowed(a)));
                }
            }
            (b, a) => {
                if let Some(a) = a {
                    chain_ops(&mut self.chains, Cow::Borrowed(a));
                }
                if let Some(b) = b {
                    self.deletes.push(Op::DeleteChain(b.name.clone()));
                }
            }
        }
    }
}

/// Only what the `changed` service ports need. Order: elements that go or
/// change out; new shared chains; service chains (re)filled; elements in;
/// chains no longer referenced deleted.
pub fn partial<'a>(
    old: &'a BTreeMap<ServicePortName, ServiceObjects>,
    new: &'a Compiled,
    changed: &'a BTreeSet<ServicePortName>,
    shared: &SharedChange,
) -> Vec<Op<'a>> {
    let mut edit = Edit::default();
    for name in changed {
        let o = old.get(name);
        let n = new.services.get(name);
        edit.frontend(o, n);
        let (oe, ne) = (
            o.and_then(|o| o.external.as_deref()),
            n.and_then(|n| n.external.as_deref()),
        );
        edit.frontend(oe, ne);
        // LoadBalancer addresses, paired by address.
        let olb = oe.map(|e| e.load_balancer.as_slice()).unwrap_or_default();
        let nlb = ne.map(|e| e.load_balancer.as_slice()).unwrap_or_default();
        for x in olb.iter().filter(|x| !nlb.iter().any(|y| y.key == x.key)) {
            edit.frontend(Some(x), None);
        }
        for y in nlb {
            edit.frontend(olb.iter().find(|x| x.key == y.key), Some(y));
        }
    }
    let Edit {
        del_services,
        add_services,
        del_endpoints,
        add_endpoints,
        chains,
        deletes,
    } = edit;
    let mut ops = Vec::new();
    element_ops(
        &mut ops,
        false,
        del_services,
        del_endpoints,
        &shared.hairpin_removed,
    );
    for n in &shared.pickers_added {
        chain_ops(&mut ops, Cow::Owned(pick_chain_of(*n)));
    }
    ops.extend(chains);
    element_ops(&mut ops, true, add_services, add_endpoints, &shared.hairpin_added);
    ops.extend(deletes);
    ops.extend(
        shared
            .pickers_removed
            .iter()
            .map(|n| Op::DeleteChain(pick_chain(*n))),
    );
    ops.retain(|op| match op {
        Op::AddElements(_, e) | Op::DeleteElements(_, e) => !e.is_empty(),
        _ => true,
    });
    ops
}
