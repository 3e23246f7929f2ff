//! One logged policy drop, decoded and named from the node's rules.

use std::fmt;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::{SystemTime, UNIX_EPOCH};

use etherparse::{NetSlice, SlicedPacket, TransportSlice};
use labyrinth_policy::{Direction, Protocol};
use serde::Serialize;

use crate::predict::policy::{judge, Judgement};
use crate::predict::policy_nft;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PolicyDrop {
    pub time: SystemTime,
    pub verdict: &'static str,
    pub direction: Direction,
    pub protocol: Protocol,
    pub src: SocketAddrV4,
    pub dst: SocketAddrV4,
    /// The judged pod ("ns/pod"), from its drop rule.
    pub pod: String,
    /// The rules that dropped: "iptables LABY-IN-…" or "nftables chain …".
    pub rules: String,
    /// The policies isolating the pod in that direction (none allows).
    pub isolated_by: Vec<String>,
}

/// Source and destination of an IPv4 packet with a TCP, UDP or SCTP header.
fn ends(packet: &[u8]) -> Option<(Protocol, SocketAddrV4, SocketAddrV4)> {
    let p = SlicedPacket::from_ip(packet).ok()?;
    let Some(NetSlice::Ipv4(ip)) = &p.net else {
        return None;
    };
    let (s, d) = (ip.header().source_addr(), ip.header().destination_addr());
    let (proto, sp, dp) = match &p.transport {
        Some(TransportSlice::Tcp(t)) => (Protocol::Tcp, t.source_port(), t.destination_port()),
        Some(TransportSlice::Udp(u)) => (Protocol::Udp, u.source_port(), u.destination_port()),
        // etherparse does not slice SCTP: its ports lead the header too.
        _ if ip.header().protocol().0 == 132 => {
            let t = ip.payload().payload;
            (
                Protocol::Sctp,
                u16::from_be_bytes([*t.first()?, *t.get(1)?]),
                u16::from_be_bytes([*t.get(2)?, *t.get(3)?]),
            )
        }
        _ => return None,
    };
    Some((proto, SocketAddrV4::new(s, sp), SocketAddrV4::new(d, dp)))
}

impl PolicyDrop {
    /// The drop of `packet` in `dir`, named by the rules now in `filter`
    /// (iptables-save) or `nft` (nft -j of our table); None when it is no
    /// IPv4 TCP/UDP/SCTP packet. Rules changed since leave the names out.
    pub fn of(
        time: SystemTime,
        dir: Direction,
        packet: &[u8],
        filter: &str,
        nft: &str,
    ) -> Option<PolicyDrop> {
        let (protocol, src, dst) = ends(packet)?;
        let (me, peer): (Ipv4Addr, Ipv4Addr) = match dir {
            Direction::Ingress => (*dst.ip(), *src.ip()),
            Direction::Egress => (*src.ip(), *dst.ip()),
        };
        let port = dst.port();
        let judged = judge(filter, dir, me, peer, protocol.lower(), port)
            .map(|j| (j, "iptables"))
            .or_else(|| {
                let doc: serde_json::Value = serde_json::from_str(nft).ok()?;
                policy_nft::judge(&doc, dir, me, peer, protocol, port).map(|j| (j, "nftables chain"))
            });
        let (pod, rules, isolated_by) = match judged {
            Some((
                Judgement::Dropped {
                    chain,
                    pod,
                    isolated_by,
                },
                kind,
            )) => (pod, format!("{kind} {chain}"), isolated_by),
            _ => (me.to_string(), "rules changed since".to_string(), vec![]),
        };
        Some(PolicyDrop {
            time,
            verdict: "DROPPED",
            direction: dir,
            protocol,
            src,
            dst,
            pod,
            rules,
            isolated_by,
        })
    }
}

impl fmt::Display for PolicyDrop {
    /// As an eBPF flow line: time, ends, protocol, verdict, then why.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = self.time.duration_since(UNIX_EPOCH).unwrap_or_default();
        let s = d.as_secs() % 86_400;
        write!(
            f,
            "{:02}:{:02}:{:02}.{:06} {} -> {} {} {} policy: {} isolated for {}",
            s / 3600,
            s / 60 % 60,
            s % 60,
            d.subsec_micros(),
            self.src,
            self.dst,
            self.protocol.lower(),
            self.verdict,
            self.pod,
            self.direction.as_str(),
        )?;
        if !self.isolated_by.is_empty() {
            write!(f, " by {}", self.isolated_by.join(", "))?;
        }
        write!(f, ", no rule allows (default deny) [{}]", self.rules)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAVE: &str = "*filter\n:LABY-POLICY - [0:0]\n:LABY-IN-AAAA - [0:0]\n\
-A LABY-POLICY -d 10.0.2.5/32 -m comment --comment \"s/server ingress\" -j LABY-IN-AAAA\n\
-A LABY-IN-AAAA -j NFLOG --nflog-prefix \"LABY-POLICY ingress\" --nflog-group 1818\n\
-A LABY-IN-AAAA -m comment --comment \"s/server: isolated for ingress by s/deny-all; no rule allows\" -j DROP\n\
COMMIT\n";

    /// An IPv4 TCP SYN 10.0.1.3:40000 → 10.0.2.5:80.
    fn syn() -> Vec<u8> {
        let b = etherparse::PacketBuilder::ipv4([10, 0, 1, 3], [10, 0, 2, 5], 64)
            .tcp(40000, 80, 1, 64000)
            .syn();
        let mut out = Vec::new();
        b.write(&mut out, &[]).unwrap();
        out
    }

    #[test]
    fn a_logged_syn_is_named_by_its_drop_rule() {
        let t = UNIX_EPOCH + std::time::Duration::from_micros(3_723_000_042);
        let d = PolicyDrop::of(t, Direction::Ingress, &syn(), SAVE, "").unwrap();
        assert_eq!(d.pod, "s/server");
        assert_eq!(d.isolated_by, ["s/deny-all"]);
        assert_eq!(
            d.to_string(),
            "01:02:03.000042 10.0.1.3:40000 -> 10.0.2.5:80 tcp DROPPED policy: s/server isolated for ingress \
             by s/deny-all, no rule allows (default deny) [iptables LABY-IN-AAAA]"
        );
        let j = serde_json::to_value(&d).unwrap();
        assert_eq!(
            (j["direction"].as_str(), j["protocol"].as_str()),
            (Some("ingress"), Some("TCP"))
        );
        // The rules moved on: the drop is still shown, unnamed.
        let gone = PolicyDrop::of(t, Direction::Ingress, &syn(), "", "").unwrap();
        assert_eq!((gone.pod.as_str(), gone.isolated_by.len()), ("10.0.2.5", 0));
        assert!(PolicyDrop::of(t, Direction::Ingress, &[0x45, 0], SAVE, "").is_none());
    }
}
