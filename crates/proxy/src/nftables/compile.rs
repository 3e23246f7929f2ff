//! The service model compiled into one nftables table owned by Labyrinth.
//!
//! Layout, chosen for sync speed (numbers in docs/performance.md): the kernel's
//! cost is per object and per expression, per-service sets or maps (named
//! or anonymous) make a load quadratic, and every transaction that adds a
//! rule or a verdict re-validates every chain reachable from the hooks. So
//! a service port is
//! - one element in the `service-ips` verdict map (or, without endpoints,
//!   in `no-endpoint-services`, which sends new connections to `reject`),
//! - one chain `service-<hash8>-<ns>/<svc>/<proto>/<port>`: the masquerade
//!   mark for outside sources, then `goto dnat-1-of-<n>`,
//! - its endpoints as data elements `<ClusterIP> . <proto> . <port> . <i> :
//!   <ip> . <port>` of the one `service-endpoints` map, which the shared
//!   chain `dnat-1-of-<n>` indexes with `numgen random mod n`,
//! - and its endpoints in the one `hairpin` set (elements `ep . ep`).
//!
//! An endpoint change that keeps the count touches only data elements (no
//! re-validation at all); a count change rewrites two rules.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{Ipv4Addr, SocketAddrV4};

use super::affinity::{compile_affinity, pick_rules};
pub use super::rules::*;
use crate::hash::nft_service_chain;
use crate::model::{ServiceModel, ServicePort, ServicePortName};

pub use super::objects::{ServiceKey, ServiceObjects};

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Compiled {
    pub services: BTreeMap<ServicePortName, ServiceObjects>,
    /// Endpoint IP → how many service ports use it (its `hairpin` element
    /// exists while the count is above zero).
    pub hairpin: BTreeMap<Ipv4Addr, u32>,
    /// n → how many service ports go to `dnat-1-of-<n>` (the chain exists
    /// while the count is above zero).
    pub pickers: BTreeMap<u32, u32>,
}

pub fn compile_service(sp: &ServicePort, model: &ServiceModel) -> ServiceObjects {
    let key = ServiceKey {
        ip: sp.cluster_ip,
        proto: sp.protocol(),
        port: sp.port,
    };
    // internalTrafficPolicy Local: this node's endpoints only.
    let endpoints: Vec<SocketAddrV4> = sp
        .internal_endpoints(model.node.as_ref())
        .iter()
        .map(|e| SocketAddrV4::new(e.ip, e.port))
        .collect();
    let affinity = compile_affinity(sp);
    let external = super::nodeport::compile_node_port(sp, model, &affinity).map(Box::new);
    if endpoints.is_empty() {
        return ServiceObjects {
            external,
            affinity,
            ..ServiceObjects::dead_end(sp, key)
        };
    }
    let name = nft_service_chain(&sp.name);
    let mut rules = Vec::with_capacity(2);
    if let Some(cidr) = model.cluster_cidr {
        rules.push(Rule::MarkOutside(cidr));
    }
    rules.extend(pick_rules(&affinity, &endpoints));
    ServiceObjects {
        map: SERVICE_IPS,
        key,
        target: name.clone(),
        chain: Some(Chain {
            name,
            hook: None,
            rules,
        }),
        endpoints,
        external,
        affinity,
        load_balancer: vec![],
    }
}

impl Compiled {
    fn count(&mut self, o: &ServiceObjects, add: bool) {
        fn bump<K: Ord + Copy>(m: &mut BTreeMap<K, u32>, k: K, add: bool) {
            let n = m.entry(k).or_default();
            if add {
                *n += 1;
            } else {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    m.remove(&k);
                }
            }
        }
        for ip in o.endpoint_ips() {
            bump(&mut self.hairpin, ip, add);
        }
        for f in o.frontends() {
            if f.chain.is_some() {
                bump(&mut self.pickers, f.endpoints.len() as u32, add);
            }
        }
    }
}

pub fn compile(model: &ServiceModel) -> Compiled {
    let mut c = Compiled::default();
    for (n, sp) in &model.services {
        let objs = compile_service(sp, model);
        c.count(&objs, true);
        c.services.insert(n.clone(), objs);
    }
    c
}

/// Shared objects a partial sync must add or remove: hairpin elements and
/// `dnat-1-of-<n>` chains.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct SharedChange {
    pub hairpin_added: Vec<Ipv4Addr>,
    pub hairpin_removed: Vec<Ipv4Addr>,
    pub pickers_added: Vec<u32>,
    pub pickers_removed: Vec<u32>,
}

impl Compiled {
    /// Recompile only the `changed` service ports (the others cannot have
    /// changed: a service's objects depend only on itself and the cluster
    /// CIDR, and a CIDR change is a full sync). Returns the old objects of
    /// the changed ports and what appeared or went among shared objects.
    pub fn update(
        &mut self,
        model: &ServiceModel,
        changed: &BTreeSet<ServicePortName>,
    ) -> (BTreeMap<ServicePortName, ServiceObjects>, SharedChange) {
        let new: Vec<(&ServicePortName, Option<ServiceObjects>)> = changed
            .iter()
            .map(|n| (n, model.services.get(n).map(|sp| compile_service(sp, model))))
            .collect();
        // Only IPs the changed ports use, before or after, can appear or go.
        let involved: BTreeSet<Ipv4Addr> = new
            .iter()
            .filter_map(|(_, o)| o.as_ref())
            .chain(changed.iter().filter_map(|n| self.services.get(n)))
            .flat_map(|o| o.endpoint_ips())
            .collect();
        let hairpin_before: BTreeSet<Ipv4Addr> = involved
            .iter()
            .filter(|ip| self.hairpin.contains_key(ip))
            .copied()
            .collect();
        let pickers_before: BTreeSet<u32> = self.pickers.keys().copied().collect();
        let mut old = BTreeMap::new();
        for (name, objs) in new {
            if let Some(n) = &objs {
                self.count(n, true);
            }
            let before = match objs {
                Some(n) => self.services.insert(name.clone(), n),
                None => self.services.remove(name),
            };
            if let Some(b) = before {
                self.count(&b, false);
                old.insert(name.clone(), b);
            }
        }
        let mut change = SharedChange::default();
        for ip in involved {
            match (hairpin_before.contains(&ip), self.hairpin.contains_key(&ip)) {
                (false, true) => change.hairpin_added.push(ip),
                (true, false) => change.hairpin_removed.push(ip),
                _ => {}
            }
        }
        let pickers_after: BTreeSet<u32> = self.pickers.keys().copied().collect();
        change.pickers_added = pickers_after.difference(&pickers_before).copied().collect();
        change.pickers_removed = pickers_before.difference(&pickers_after).copied().collect();
        (old, change)
    }
}
