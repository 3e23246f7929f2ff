//! Flushing conntrack entries that still point at a removed UDP endpoint:
//! UDP has no connection end, so without this a client keeps sending its
//! "flow" to a backend that is gone until the entry times out.

use std::net::Ipv4Addr;

use anyhow::{bail, Result};

use crate::exec;

/// `conntrack -D -p udp --orig-dst <cluster_ip> --dst-nat <endpoint>`;
/// the number of entries deleted ("no entries" is not an error).
pub fn flush_udp_endpoint(cluster_ip: Ipv4Addr, endpoint: Ipv4Addr) -> Result<u64> {
    let (cip, ep) = (cluster_ip.to_string(), endpoint.to_string());
    let out = exec::run_status(
        "conntrack",
        &["-D", "-p", "udp", "--orig-dst", &cip, "--dst-nat", &ep],
        None,
    )?;
    let text = String::from_utf8_lossy(&out.stderr);
    let deleted = parse_deleted(&text);
    match deleted {
        Some(n) => Ok(n),
        None if out.status.success() => Ok(0),
        None => bail!(
            "conntrack -D for {cip} -> {ep} failed ({}): {}",
            out.status,
            text.trim()
        ),
    }
}

/// "conntrack v1.4.7 (conntrack-tools): 3 flow entries have been deleted."
fn parse_deleted(stderr: &str) -> Option<u64> {
    let tail = stderr.split("): ").nth(1)?;
    tail.split_whitespace().next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    #[test]
    fn parses_the_deleted_count() {
        let s = "conntrack v1.4.7 (conntrack-tools): 3 flow entries have been deleted.\n";
        assert_eq!(super::parse_deleted(s), Some(3));
        assert_eq!(
            super::parse_deleted("conntrack v1.4.7 (conntrack-tools): 0 flow entries have been deleted."),
            Some(0)
        );
        assert_eq!(super::parse_deleted("garbage"), None);
    }
}
