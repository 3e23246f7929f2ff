//! A Service translation seen in a capture: the record every datapath's
//! explainer (iptables, nftables, eBPF) takes.

use std::net::Ipv4Addr;

/// One translation seen in the capture.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Translation {
    pub node: String,
    pub proto: &'static str,
    pub vip: Ipv4Addr,
    pub vport: u16,
    pub backend: Ipv4Addr,
    pub bport: u16,
}

impl Translation {
    /// "rewrote VIP:PORT to BACKEND:PORT (proto)".
    pub fn rewrite(&self) -> String {
        format!(
            "rewrote {}:{} to {}:{} ({})",
            self.vip, self.vport, self.backend, self.bport, self.proto
        )
    }

    #[cfg(test)]
    pub fn example(backend: &str) -> Translation {
        Translation {
            node: "node-1".into(),
            proto: "tcp",
            vip: "10.96.0.12".parse().unwrap(),
            vport: 9999,
            backend: backend.parse().unwrap(),
            bport: 9999,
        }
    }
}
