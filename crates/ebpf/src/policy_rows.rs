//! labyrinth-policy's compiled allow lists as the rows of the policy maps
//! (bpf/lib/policy.h): per isolated pod its isolation bits, and per (pod,
//! direction, protocol, peer prefix) the port ranges every allow whose
//! peers contain that prefix admits. Merging the containing prefixes'
//! ranges into each row is what lets the program decide with one longest-
//! prefix lookup per protocol: the longest prefix holding a packet's peer
//! lies inside every other prefix that holds it.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::{bail, Result};
use ipnet::Ipv4Net;
use labyrinth_contracts::bpf::abi::be_addr;
use labyrinth_contracts::bpf::policy::*;
use labyrinth_policy::{Compiled, Direction, Protocol};

/// A rules trie row's key: prefix length (bits from the pod on) and data.
pub type RuleKey = (u32, PolicyKey);

/// One allow of a protocol: its peer networks and port range.
type ProtoAllow = (Vec<Ipv4Net>, (u16, u16));

/// What the policy maps should hold.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PolicyRows {
    /// Pod address (network order) → isolation.
    pub pods: BTreeMap<u32, PolicyPod>,
    pub rules: BTreeMap<RuleKey, PolicyValue>,
}

pub fn dir_code(d: Direction) -> u8 {
    match d {
        Direction::Ingress => POL_DIR_INGRESS,
        Direction::Egress => POL_DIR_EGRESS,
    }
}

pub fn proto_code(p: Protocol) -> u8 {
    match p {
        Protocol::Tcp => 6,
        Protocol::Udp => 17,
        Protocol::Sctp => 132,
    }
}

fn key(pod: u32, dir: u8, proto: u8, net: Ipv4Net) -> RuleKey {
    let net = net.trunc();
    let k = PolicyKey {
        pod,
        dir,
        proto,
        pad: 0,
        peer: be_addr(net.network()),
    };
    (POL_KEY_FIXED_BITS + u32::from(net.prefix_len()), k)
}

/// Sorted, overlapping and adjacent ranges joined.
fn merge(mut r: Vec<(u16, u16)>) -> Vec<(u16, u16)> {
    r.sort_unstable();
    let mut out: Vec<(u16, u16)> = Vec::new();
    for (lo, hi) in r {
        match out.last_mut() {
            Some(last) if u32::from(lo) <= u32::from(last.1) + 1 => last.1 = last.1.max(hi),
            _ => out.push((lo, hi)),
        }
    }
    out
}

pub fn rows(c: &Compiled) -> Result<PolicyRows> {
    let every = || vec![Ipv4Net::default()];
    let mut out = PolicyRows::default();
    for r in &c.pods {
        let pod = be_addr(r.ip);
        let dir = dir_code(r.direction);
        let bit = match r.direction {
            Direction::Ingress => POL_ISOLATED_INGRESS,
            Direction::Egress => POL_ISOLATED_EGRESS,
        };
        out.pods.entry(pod).or_default().isolated |= bit;
        // Per protocol: each allow's peer networks and port range.
        let mut by_proto: BTreeMap<Protocol, Vec<ProtoAllow>> = BTreeMap::new();
        for a in &r.allows {
            let nets = a.nets.clone().unwrap_or_else(every);
            match a.protocol {
                None => {
                    for n in nets {
                        out.rules
                            .insert(key(pod, dir, POL_PROTO_ANY, n), PolicyValue::default());
                    }
                }
                Some(p) => by_proto
                    .entry(p)
                    .or_default()
                    .push((nets, a.ports.unwrap_or((0, u16::MAX)))),
            }
        }
        for (proto, allows) in by_proto {
            let prefixes: BTreeSet<Ipv4Net> = allows
                .iter()
                .flat_map(|(n, _)| n.iter().map(|n| n.trunc()))
                .collect();
            // Each allow's range goes to every prefix inside one of its
            // nets, found as a span of the sorted prefixes (those inside n
            // sort between (n's network, /0) and (n's broadcast, /32)):
            // testing every allow at every prefix made 1,000 /32 allows a
            // million tests per compile.
            let mut ranges_of: BTreeMap<Ipv4Net, Vec<(u16, u16)>> = BTreeMap::new();
            for (nets, range) in &allows {
                for n in nets.iter().map(Ipv4Net::trunc) {
                    let lo = Ipv4Net::new(n.network(), 0).expect("a /0 is valid");
                    let hi = Ipv4Net::new(n.broadcast(), 32).expect("a /32 is valid");
                    for p in prefixes.range(lo..=hi).filter(|p| n.contains(*p)) {
                        ranges_of.entry(*p).or_default().push(*range);
                    }
                }
            }
            for (prefix, ranges) in ranges_of {
                let ranges = merge(ranges);
                if ranges.len() > POL_MAX_RANGES {
                    bail!(
                        "{} {}: {} separate port ranges for peers in {prefix} ({}); the eBPF datapath holds at most {POL_MAX_RANGES} per peer",
                        r.pod(),
                        r.direction.as_str(),
                        ranges.len(),
                        proto.as_str(),
                    );
                }
                let mut v = PolicyValue {
                    count: ranges.len() as u16,
                    ..Default::default()
                };
                for (slot, (lo, hi)) in v.ranges.iter_mut().zip(ranges) {
                    *slot = PolicyRange { lo, hi };
                }
                out.rules.insert(key(pod, dir, proto_code(proto), prefix), v);
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
#[path = "policy_rows_tests.rs"]
mod tests;
