//! ServiceModel → the exact contents of the service maps (pure, no
//! kernel): frontend slot 0 with the backend count and service id, backend
//! slots 1..n in endpoint order, the backends by id, reverse NAT and names
//! by service id. Ids stay stable across syncs and agent restarts (they
//! are recovered from the pinned maps), so established flows keep theirs.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;

use anyhow::{bail, Result};
use labyrinth_proxy::{Endpoint, Protocol, ServiceModel, ServicePort};

use crate::abi::{
    addr_of, be_addr, Lb4Backend, Lb4Key, Lb4NodePort, Lb4NodePortKey, Lb4ReverseNat, Lb4Service, NP_F_LOCAL,
    PROTO_TCP, PROTO_UDP,
};

/// What the service maps hold (or should hold).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LbState {
    pub services: BTreeMap<Lb4Key, Lb4Service>,
    pub backends: BTreeMap<u32, Lb4Backend>,
    pub revnat: BTreeMap<u16, Lb4ReverseNat>,
    pub names: BTreeMap<u16, String>,
    /// NodePorts on this node (their frontends are in `services`, keyed
    /// by the node's address).
    pub nodeports: BTreeMap<Lb4NodePortKey, Lb4NodePort>,
}

/// (address, port, protocol) of a frontend or backend.
pub type Addr = (Ipv4Addr, u16, u8);

/// Stable id allocation for backends (u32) and services (u16, which is
/// also the reverse-NAT index).
#[derive(Clone, Debug, Default)]
pub struct Ids {
    backends: BTreeMap<Addr, u32>,
    services: BTreeMap<Addr, u16>,
    /// The ids in use, kept beside the maps so a new id costs O(log n).
    used_backends: BTreeSet<u32>,
    used_services: BTreeSet<u32>,
}

pub fn proto_num(p: Protocol) -> u8 {
    match p {
        Protocol::Tcp => PROTO_TCP,
        Protocol::Udp => PROTO_UDP,
    }
}

impl Ids {
    /// The ids already in use in maps written by an earlier run.
    pub fn recover(state: &LbState) -> Ids {
        let mut ids = Ids::default();
        for (id, b) in &state.backends {
            ids.backends
                .insert((addr_of(b.address), u16::from_be(b.port), b.proto), *id);
            ids.used_backends.insert(*id);
        }
        for (id, r) in &state.revnat {
            ids.services
                .insert((addr_of(r.address), u16::from_be(r.port), r.proto), *id);
            ids.used_services.insert(u32::from(*id));
        }
        ids
    }

    fn backend(&mut self, a: Addr) -> Result<u32> {
        if let Some(id) = self.backends.get(&a) {
            return Ok(*id);
        }
        let Some(id) = next_free(&self.used_backends, u32::MAX) else {
            bail!("no backend id left for {}:{}", a.0, a.1)
        };
        self.backends.insert(a, id);
        self.used_backends.insert(id);
        Ok(id)
    }

    fn service(&mut self, a: Addr) -> Result<u16> {
        if let Some(id) = self.services.get(&a) {
            return Ok(*id);
        }
        let Some(id) = next_free(&self.used_services, u32::from(u16::MAX)) else {
            bail!("more than 65535 service ports: no id left for {}:{}", a.0, a.1)
        };
        self.services.insert(a, id as u16);
        self.used_services.insert(id);
        Ok(id as u16)
    }

    /// The service id of a frontend, if it has one.
    pub fn service_id(&self, a: Addr) -> Option<u16> {
        self.services.get(&a).copied()
    }

    /// Forget ids nothing uses any more.
    fn retain(&mut self, state: &LbState) {
        let b: BTreeSet<u32> = state.backends.keys().copied().collect();
        self.backends.retain(|_, id| b.contains(id));
        self.used_backends = b;
        let s: BTreeSet<u32> = state.revnat.keys().map(|id| u32::from(*id)).collect();
        self.services.retain(|_, id| s.contains(&u32::from(*id)));
        self.used_services = s;
    }
}

/// One past the largest id in use, or the lowest gap once that runs out.
fn next_free(used: &BTreeSet<u32>, max: u32) -> Option<u32> {
    let top = used.iter().next_back().copied().unwrap_or(0);
    if top < max {
        return Some(top + 1);
    }
    (1..=max).find(|i| !used.contains(i))
}

pub fn lb_key(vip: Ipv4Addr, port: u16, proto: u8, slot: u16) -> Lb4Key {
    Lb4Key {
        address: be_addr(vip),
        dport: port.to_be(),
        slot,
        proto,
        pad: [0; 3],
    }
}

/// Compile the model. Only ready endpoints become backend slots; a service
/// with none keeps its frontend with count 0 (the program answers with a
/// reset / port unreachable).
pub fn compile(model: &ServiceModel, ids: &mut Ids) -> Result<LbState> {
    model.validate().map_err(anyhow::Error::msg)?;
    let mut st = LbState::default();
    for sp in model.services.values() {
        let proto = proto_num(sp.protocol());
        // internalTrafficPolicy Local: this node's endpoints only (none
        // leaves the frontend with count 0).
        let ready = sp.internal_endpoints(model.node.as_ref());
        let name = sp.name.to_string();
        frontend(&mut st, ids, (sp.cluster_ip, sp.port, proto), &ready, sp, name)?;
        // The NodePort: a frontend on the node's address over the
        // endpoints externalTrafficPolicy allows.
        let (Some(np), Some(node)) = (sp.node_port, model.node.as_ref()) else {
            continue;
        };
        let external = sp.external_endpoints(Some(node));
        // The NodePort, then each LoadBalancer address on the Service's
        // port: frontends reached from outside, with the same policy.
        let at = std::iter::once((node.ip, np.port, format!("NodePort {}", np.port))).chain(
            sp.load_balancer_ips
                .iter()
                .map(|ip| (*ip, sp.port, format!("LoadBalancer {ip}"))),
        );
        for (ip, port, what) in at {
            let name = format!("{} ({what})", sp.name);
            let id = frontend(&mut st, ids, (ip, port, proto), &external, sp, name)?;
            st.nodeports.insert(
                Lb4NodePortKey {
                    address: be_addr(ip),
                    port: port.to_be(),
                    proto,
                    pad: 0,
                },
                Lb4NodePort {
                    rev_nat_index: id,
                    flags: if np.local { NP_F_LOCAL } else { 0 },
                    pad: 0,
                },
            );
        }
    }
    ids.retain(&st);
    Ok(st)
}

/// One frontend (`at`: address, port, protocol) over `ready`: its backend
/// slots, the frontend row, reverse NAT and name. Returns its service id.
fn frontend(
    st: &mut LbState,
    ids: &mut Ids,
    at: Addr,
    ready: &[&Endpoint],
    sp: &ServicePort,
    name: String,
) -> Result<u16> {
    let (vip, port, proto) = at;
    let id = ids.service(at)?;
    if ready.len() > usize::from(u16::MAX) {
        bail!("{}: {} endpoints, at most 65535", sp.name, ready.len());
    }
    for (i, ep) in ready.iter().enumerate() {
        let bid = ids.backend((ep.ip, ep.port, proto))?;
        st.backends.insert(
            bid,
            Lb4Backend {
                address: be_addr(ep.ip),
                port: ep.port.to_be(),
                proto,
                flags: 0,
            },
        );
        st.services.insert(
            lb_key(vip, port, proto, i as u16 + 1),
            Lb4Service {
                backend_id: bid,
                count: 0,
                rev_nat_index: id,
            },
        );
    }
    st.services.insert(
        lb_key(vip, port, proto, 0),
        Lb4Service {
            // A frontend has no backend: the field carries the
            // sessionAffinity ClientIP timeout (lib/lb_affinity.h).
            backend_id: sp.affinity_seconds.unwrap_or(0),
            count: ready.len() as u16,
            rev_nat_index: id,
        },
    );
    st.revnat.insert(
        id,
        Lb4ReverseNat {
            address: be_addr(vip),
            port: port.to_be(),
            proto,
            pad: 0,
        },
    );
    st.names.insert(id, name);
    Ok(id)
}
