//! One pod's allow list (one direction) cut into disjoint pieces, so a
//! datapath can decide with one lookup in an interval set whatever the
//! number of policies: sets of intervals (nftables `flags interval`,
//! concatenated or not) refuse overlapping elements, and each piece keeps
//! the allow it stands for, so the element can name its policy.
//!
//! Cutting: the peer addresses at every network's start and end, then,
//! inside each address piece, the ports at every range's start and end.
//! A piece belongs to the first allow (list order) covering it; adjacent
//! port pieces of the same allow are joined again.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use crate::compile::{Allow, PodRules};
use crate::model::Protocol;

/// Addresses `lo..=hi` of one protocol's ports `ports` (inclusive),
/// allowed by `allow` (an index into the pod's allows).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortPiece {
    pub addrs: (Ipv4Addr, Ipv4Addr),
    pub protocol: Protocol,
    pub ports: (u16, u16),
    pub allow: usize,
}

/// Addresses `lo..=hi` allowed in every protocol by `allow`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnyPiece {
    pub addrs: (Ipv4Addr, Ipv4Addr),
    pub allow: usize,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pieces {
    /// Allows of one protocol (with or without ports).
    pub ports: Vec<PortPiece>,
    /// Allows of every protocol.
    pub any: Vec<AnyPiece>,
}

/// An allow's address intervals as `[start, end)` in u64 (the end of
/// 255.255.255.255 does not fit a u32).
fn spans(a: &Allow) -> Vec<(u64, u64)> {
    match &a.nets {
        None => vec![(0, 1 << 32)],
        Some(nets) => nets
            .iter()
            .map(|n| {
                let lo = u64::from(u32::from(n.network()));
                (lo, u64::from(u32::from(n.broadcast())) + 1)
            })
            .collect(),
    }
}

fn ip(v: u64) -> Ipv4Addr {
    Ipv4Addr::from(v as u32)
}

/// The elementary `[start, end)` address pieces of `allows` (by index)
/// and, per piece, the allows covering it, in list order. One sweep over
/// the spans' ends, so a thousand allows cost a sort, not a million
/// comparisons.
fn address_pieces(allows: &[(usize, &Allow)]) -> Vec<((u64, u64), Vec<usize>)> {
    // (where, +1 starts / -1 ends, allow), ends first at the same place.
    let mut edges: Vec<(u64, i32, usize)> = allows
        .iter()
        .flat_map(|(i, a)| {
            spans(a)
                .into_iter()
                .flat_map(move |(lo, hi)| [(lo, 1, *i), (hi, -1, *i)])
        })
        .collect();
    edges.sort_unstable();
    // Allow index → how many of its spans cover the sweep's position.
    let mut active: BTreeMap<usize, u32> = BTreeMap::new();
    let mut out = Vec::new();
    let mut k = 0;
    while k < edges.len() {
        let at = edges[k].0;
        while k < edges.len() && edges[k].0 == at {
            let (_, d, i) = edges[k];
            if d > 0 {
                *active.entry(i).or_default() += 1;
            } else if let Some(n) = active.get_mut(&i) {
                *n -= 1;
                if *n == 0 {
                    active.remove(&i);
                }
            }
            k += 1;
        }
        if let (Some(next), false) = (edges.get(k), active.is_empty()) {
            out.push(((at, next.0), active.keys().copied().collect()));
        }
    }
    out
}

/// The disjoint pieces of `r`'s allows.
pub fn pieces(r: &PodRules) -> Pieces {
    let mut out = Pieces::default();
    let any: Vec<(usize, &Allow)> = r
        .allows
        .iter()
        .enumerate()
        .filter(|(_, a)| a.protocol.is_none())
        .collect();
    for ((lo, hi), covering) in address_pieces(&any) {
        match out.any.last_mut() {
            // The rest of the same allow's network (cut by another's).
            Some(last) if last.allow == covering[0] && u64::from(u32::from(last.addrs.1)) + 1 == lo => {
                last.addrs.1 = ip(hi - 1)
            }
            _ => out.any.push(AnyPiece {
                addrs: (ip(lo), ip(hi - 1)),
                allow: covering[0],
            }),
        }
    }
    let ported: Vec<(usize, &Allow)> = r
        .allows
        .iter()
        .enumerate()
        .filter(|(_, a)| a.protocol.is_some())
        .collect();
    for ((lo, hi), covering) in address_pieces(&ported) {
        let addrs = (ip(lo), ip(hi - 1));
        for proto in [Protocol::Tcp, Protocol::Udp, Protocol::Sctp] {
            let ranges: Vec<(usize, (u32, u32))> = covering
                .iter()
                .map(|i| (*i, &r.allows[*i]))
                .filter(|(_, a)| a.protocol == Some(proto))
                .map(|(i, a)| {
                    let (p, q) = a.ports.unwrap_or((0, u16::MAX));
                    (i, (u32::from(p), u32::from(q) + 1))
                })
                .collect();
            let mut cuts: Vec<u32> = ranges.iter().flat_map(|(_, (a, b))| [*a, *b]).collect();
            cuts.sort_unstable();
            cuts.dedup();
            let first = out.ports.len();
            for w in cuts.windows(2) {
                let (p, q) = (w[0], w[1]);
                let Some((allow, _)) = ranges.iter().find(|(_, (a, b))| *a <= p && q <= *b) else {
                    continue;
                };
                match out.ports[first..].last_mut() {
                    Some(last) if last.allow == *allow && u32::from(last.ports.1) + 1 == p => {
                        last.ports.1 = (q - 1) as u16
                    }
                    _ => out.ports.push(PortPiece {
                        addrs,
                        protocol: proto,
                        ports: (p as u16, (q - 1) as u16),
                        allow: *allow,
                    }),
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compile::Allow;
    use crate::model::{Direction, PolicyRef};

    fn allow(name: &str, nets: Option<&str>, protocol: Option<Protocol>, ports: Option<(u16, u16)>) -> Allow {
        Allow {
            policy: PolicyRef {
                namespace: "x".into(),
                name: name.into(),
            },
            rule: 0,
            peer: Some(0),
            nets: nets.map(|n| n.split(',').map(|n| n.parse().unwrap()).collect()),
            protocol,
            ports,
        }
    }

    fn rules(allows: Vec<Allow>) -> PodRules {
        PodRules {
            namespace: "x".into(),
            name: "a".into(),
            ip: "10.0.0.9".parse().unwrap(),
            direction: Direction::Ingress,
            isolated_by: vec![],
            allows,
        }
    }

    fn a(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    /// Whatever the overlaps, every (peer, protocol, port) lies in at most
    /// one piece, and in one exactly when an allow matches it; the piece
    /// names the first such allow.
    #[test]
    fn pieces_are_disjoint_and_cover_exactly_the_allows() {
        let r = rules(vec![
            allow("p0", Some("10.1.0.0/16"), Some(Protocol::Tcp), Some((80, 90))),
            allow("p1", Some("10.1.2.3/32"), Some(Protocol::Tcp), Some((85, 100))),
            allow("p2", None, Some(Protocol::Udp), None),
            allow("p3", Some("10.1.2.0/24,10.3.0.0/16"), None, None),
            allow("p4", Some("10.1.0.0/16"), None, None),
            allow("p5", Some("10.1.2.3/32"), Some(Protocol::Tcp), Some((80, 80))),
        ]);
        let p = pieces(&r);
        let peers = [
            "10.1.2.3",
            "10.1.2.4",
            "10.1.0.1",
            "10.3.4.5",
            "10.9.0.1",
            "0.0.0.0",
            "255.255.255.255",
        ];
        for peer in peers.map(a) {
            for proto in [Protocol::Tcp, Protocol::Udp, Protocol::Sctp] {
                for port in [0, 79, 80, 84, 85, 90, 91, 100, 101, 65535] {
                    let hits: Vec<&PortPiece> = p
                        .ports
                        .iter()
                        .filter(|x| {
                            x.protocol == proto
                                && (x.addrs.0..=x.addrs.1).contains(&peer)
                                && (x.ports.0..=x.ports.1).contains(&port)
                        })
                        .collect();
                    assert!(hits.len() <= 1, "{peer} {proto:?} {port}: {hits:?}");
                    let want = r
                        .allows
                        .iter()
                        .position(|x| x.protocol.is_some() && x.matches(peer, proto, port));
                    assert_eq!(hits.first().map(|h| h.allow), want, "{peer} {proto:?} {port}");
                }
            }
            let hits: Vec<&AnyPiece> = p
                .any
                .iter()
                .filter(|x| (x.addrs.0..=x.addrs.1).contains(&peer))
                .collect();
            assert!(hits.len() <= 1, "{peer}: {hits:?}");
            let want = r
                .allows
                .iter()
                .position(|x| x.protocol.is_none() && x.matches(peer, Protocol::Tcp, 1));
            assert_eq!(hits.first().map(|h| h.allow), want, "{peer}");
        }
        // p4's /16 around p3's /24: p3 first there, p4 on both sides.
        assert_eq!(
            p.any,
            vec![
                AnyPiece {
                    addrs: (a("10.1.0.0"), a("10.1.1.255")),
                    allow: 4
                },
                AnyPiece {
                    addrs: (a("10.1.2.0"), a("10.1.2.255")),
                    allow: 3
                },
                AnyPiece {
                    addrs: (a("10.1.3.0"), a("10.1.255.255")),
                    allow: 4
                },
                AnyPiece {
                    addrs: (a("10.3.0.0"), a("10.3.255.255")),
                    allow: 3
                },
            ]
        );
    }

    /// Random overlapping allows around 10.1.0.0/26: every address and a
    /// few ports land in the piece of the first allow matching them, or
    /// in none when none matches.
    #[test]
    fn random_overlaps_cut_as_the_first_matching_allow() {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        for _ in 0..30 {
            let allows: Vec<Allow> = (0..next(12))
                .map(|_| {
                    let nets: Vec<String> = (0..1 + next(3))
                        .map(|_| format!("10.1.0.{}/{}", next(64), 26 + next(7)))
                        .map(|n| n.parse::<ipnet::Ipv4Net>().unwrap().trunc().to_string())
                        .collect();
                    let proto = [None, Some(Protocol::Tcp), Some(Protocol::Udp)][next(3) as usize];
                    let lo = 80 + next(4) as u16;
                    let ports = proto.and(Some((lo, lo + next(3) as u16)));
                    allow("p", Some(&nets.join(",")), proto, ports)
                })
                .collect();
            let r = rules(allows);
            let p = pieces(&r);
            for last in 0..=64u8 {
                let peer = Ipv4Addr::new(10, 1, 0, last);
                for port in 79..=86 {
                    let hits: Vec<usize> = p
                        .ports
                        .iter()
                        .filter(|x| {
                            x.protocol == Protocol::Tcp
                                && (x.addrs.0..=x.addrs.1).contains(&peer)
                                && (x.ports.0..=x.ports.1).contains(&port)
                        })
                        .map(|x| x.allow)
                        .collect();
                    let want = r
                        .allows
                        .iter()
                        .position(|x| x.protocol.is_some() && x.matches(peer, Protocol::Tcp, port));
                    assert_eq!(hits, want.into_iter().collect::<Vec<_>>(), "{peer}:{port} {r:?}");
                }
                let hits: Vec<usize> = p
                    .any
                    .iter()
                    .filter(|x| (x.addrs.0..=x.addrs.1).contains(&peer))
                    .map(|x| x.allow)
                    .collect();
                let want = r
                    .allows
                    .iter()
                    .position(|x| x.protocol.is_none() && x.matches(peer, Protocol::Tcp, 1));
                assert_eq!(hits, want.into_iter().collect::<Vec<_>>(), "{peer} {r:?}");
            }
        }
    }

    #[test]
    fn every_address_and_no_allows() {
        assert_eq!(pieces(&rules(vec![])), Pieces::default());
        let p = pieces(&rules(vec![allow("p", None, None, None)]));
        assert_eq!(
            p.any,
            vec![AnyPiece {
                addrs: (a("0.0.0.0"), a("255.255.255.255")),
                allow: 0
            }]
        );
        assert!(p.ports.is_empty());
    }
}
