//! Domain-name helpers: text names as the catalog stores them (lowercase, no
//! trailing dot) and their uncompressed wire form used as lookup keys.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Longest name in wire form (RFC 1035 §2.3.4).
pub const MAX_WIRE_NAME: usize = 255;
/// Longest label (RFC 1035 §2.3.4).
pub const MAX_LABEL: usize = 63;

/// Normalises a text name: lowercase, no trailing dot.
pub fn normalize(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

/// Encodes a text name into lowercase wire form (with the root label).
/// Fails on empty or oversized labels so a bad object can't poison the catalog.
pub fn to_wire(name: &str) -> Result<Vec<u8>, String> {
    let name = name.trim_end_matches('.');
    let mut out = Vec::with_capacity(name.len() + 2);
    if !name.is_empty() {
        for label in name.split('.') {
            if label.is_empty() {
                return Err(format!("empty label in name {name:?}"));
            }
            if label.len() > MAX_LABEL {
                return Err(format!("label {label:?} longer than {MAX_LABEL} bytes"));
            }
            out.push(label.len() as u8);
            out.extend(label.bytes().map(|b| b.to_ascii_lowercase()));
        }
    }
    out.push(0);
    if out.len() > MAX_WIRE_NAME {
        return Err(format!("name {name:?} longer than {MAX_WIRE_NAME} bytes"));
    }
    Ok(out)
}

/// Decodes an uncompressed wire name back to text (for diagnostics and tests).
pub fn wire_to_text(wire: &[u8]) -> String {
    let mut out = String::new();
    let mut i = 0;
    while i < wire.len() && wire[i] != 0 {
        let len = wire[i] as usize;
        let end = (i + 1 + len).min(wire.len());
        if !out.is_empty() {
            out.push('.');
        }
        out.push_str(&String::from_utf8_lossy(&wire[i + 1..end]));
        i = end;
    }
    out
}

/// The parent of a text name (`a.b.c` → `b.c`), or None at the top.
pub fn parent(name: &str) -> Option<&str> {
    name.split_once('.').map(|(_, rest)| rest)
}

/// True when `name` equals `zone` or lies below it (label-aligned).
pub fn in_zone(name: &str, zone: &str) -> bool {
    name == zone
        || (name.len() > zone.len()
            && name.ends_with(zone)
            && name.as_bytes()[name.len() - zone.len() - 1] == b'.')
}

/// `10.1.2.3` → `10-1-2-3`, `fd00::1` → `fd00--1` (the pod and endpoint
/// label form CoreDNS uses).
pub fn dashed(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string().replace('.', "-"),
        IpAddr::V6(v6) => v6.to_string().replace(':', "-"),
    }
}

/// The reverse-lookup name of an address (`in-addr.arpa` / `ip6.arpa`).
pub fn reverse(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => reverse_v4(v4),
        IpAddr::V6(v6) => reverse_v6(v6),
    }
}

fn reverse_v4(ip: Ipv4Addr) -> String {
    let [a, b, c, d] = ip.octets();
    format!("{d}.{c}.{b}.{a}.in-addr.arpa")
}

fn reverse_v6(ip: Ipv6Addr) -> String {
    let mut out = String::with_capacity(72);
    for byte in ip.octets().iter().rev() {
        out.push(char::from_digit(u32::from(byte & 0xf), 16).unwrap_or('0'));
        out.push('.');
        out.push(char::from_digit(u32::from(byte >> 4), 16).unwrap_or('0'));
        out.push('.');
    }
    out.push_str("ip6.arpa");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_round_trip_lowercases() {
        let w = to_wire("Web.Default.svc.Cluster.Local.").unwrap();
        assert_eq!(w[0], 3);
        assert_eq!(&w[1..4], b"web");
        assert_eq!(*w.last().unwrap(), 0);
        assert_eq!(wire_to_text(&w), "web.default.svc.cluster.local");
        assert_eq!(to_wire("").unwrap(), vec![0]);
    }

    #[test]
    fn wire_rejects_bad_labels() {
        assert!(to_wire("a..b").unwrap_err().contains("empty label"));
        let long = "x".repeat(64);
        assert!(to_wire(&format!("{long}.local"))
            .unwrap_err()
            .contains("longer than 63"));
        let many = vec!["abcdefghij"; 30].join(".");
        assert!(to_wire(&many).unwrap_err().contains("longer than 255"));
    }

    #[test]
    fn zone_membership_is_label_aligned() {
        assert!(in_zone("a.cluster.local", "cluster.local"));
        assert!(in_zone("cluster.local", "cluster.local"));
        assert!(!in_zone("xcluster.local", "cluster.local"));
        assert!(!in_zone("local", "cluster.local"));
    }

    #[test]
    fn reverse_and_dashed_forms() {
        assert_eq!(reverse("10.96.0.10".parse().unwrap()), "10.0.96.10.in-addr.arpa");
        let v6 = reverse("2001:db8::1".parse().unwrap());
        assert!(v6.starts_with("1.0.0.0.0.0.0.0."));
        assert!(v6.ends_with(".8.b.d.0.1.0.0.2.ip6.arpa"));
        assert_eq!(dashed("10.244.1.5".parse().unwrap()), "10-244-1-5");
        assert_eq!(dashed("fd00::1".parse().unwrap()), "fd00--1");
        assert_eq!(parent("a.b.c"), Some("b.c"));
        assert_eq!(parent("c"), None);
    }
}
