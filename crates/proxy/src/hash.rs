//! Chain names derived exactly as kube-proxy derives them, so a user can match
//! our KUBE-SVC-/KUBE-SEP- chains with a real cluster's.

use crate::model::{Endpoint, ServicePortName};

const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// RFC 4648 base32 (standard alphabet), enough characters for `len` output
/// characters; kube-proxy only ever uses a prefix, so padding never matters.
fn base32_prefix(data: &[u8], len: usize) -> String {
    let mut out = String::with_capacity(len);
    let mut acc: u64 = 0;
    let mut bits = 0;
    for &byte in data {
        acc = (acc << 8) | u64::from(byte);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(ALPHABET[((acc >> bits) & 31) as usize] as char);
            if out.len() == len {
                return out;
            }
        }
    }
    if bits > 0 && out.len() < len {
        out.push(ALPHABET[((acc << (5 - bits)) & 31) as usize] as char);
    }
    out
}

pub(crate) fn hash16(input: &str) -> String {
    base32_prefix(
        ring::digest::digest(&ring::digest::SHA256, input.as_bytes()).as_ref(),
        16,
    )
}

/// base32(sha256(servicePortName + protocol))[:16], kube-proxy's portProtoHash.
pub fn port_proto_hash(name: &ServicePortName) -> String {
    hash16(&format!("{}{}", name, name.protocol.as_str()))
}

/// `KUBE-SVC-<hash>`.
pub fn svc_chain(name: &ServicePortName) -> String {
    format!("KUBE-SVC-{}", port_proto_hash(name))
}

/// `KUBE-EXT-<hash>`: where a NodePort's traffic enters.
pub fn ext_chain(name: &ServicePortName) -> String {
    format!("KUBE-EXT-{}", port_proto_hash(name))
}

/// `KUBE-SVL-<hash>`: the node-local endpoints (externalTrafficPolicy Local).
pub fn svl_chain(name: &ServicePortName) -> String {
    format!("KUBE-SVL-{}", port_proto_hash(name))
}

/// `KUBE-SEP-<hash>`: the hash also covers the endpoint's "ip:port".
pub fn sep_chain(name: &ServicePortName, ep: &Endpoint) -> String {
    format!(
        "KUBE-SEP-{}",
        hash16(&format!("{}{}{}", name, name.protocol.as_str(), ep.addr()))
    )
}

/// The nftables per-service chain, named like kube-proxy's nftables mode:
/// `service-<hash8>-<ns>/<svc>/<proto>/<port>`.
pub fn nft_service_chain(name: &ServicePortName) -> String {
    nft_chain("service", name)
}

/// The nftables chain a NodePort's traffic enters, as kube-proxy's
/// nftables mode names it: `external-<hash8>-<ns>/<svc>/<proto>/<port>`.
pub fn nft_external_chain(name: &ServicePortName) -> String {
    nft_chain("external", name)
}

fn nft_chain(kind: &str, name: &ServicePortName) -> String {
    format!(
        "{kind}-{}-{}/{}/{}/{}",
        &port_proto_hash(name)[..8],
        name.namespace,
        name.name,
        name.protocol.as_str(),
        name.port
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Protocol;

    #[test]
    fn base32_matches_rfc4648_vectors() {
        // RFC 4648 section 10 test vectors (prefixes, padding excluded).
        assert_eq!(base32_prefix(b"f", 2), "MY");
        assert_eq!(base32_prefix(b"foo", 5), "MZXW6");
        assert_eq!(base32_prefix(b"foobar", 10), "MZXW6YTBOI");
    }

    #[test]
    fn kube_dns_udp_chain_matches_real_clusters() {
        let n = ServicePortName::new("kube-system", "kube-dns", "dns", Protocol::Udp);
        assert_eq!(svc_chain(&n), "KUBE-SVC-TCOU7JCQXEZGVUNU");
    }

    #[test]
    fn kubernetes_https_chain_matches_real_clusters() {
        let n = ServicePortName::new("default", "kubernetes", "https", Protocol::Tcp);
        assert_eq!(svc_chain(&n), "KUBE-SVC-NPX46M4PTMTKRN6Y");
    }

    #[test]
    fn unnamed_port_chain_matches_real_clusters() {
        // docs/mission.md's `mysvc` (one unnamed port): the chain a real
        // cluster lists as KUBE-SVC-BM6F4AVTDKG47F3K.
        let n = ServicePortName::new("default", "mysvc", "", Protocol::Tcp);
        assert_eq!(svc_chain(&n), "KUBE-SVC-BM6F4AVTDKG47F3K");
    }

    #[test]
    fn sep_chain_hashes_name_protocol_and_endpoint() {
        // base32(sha256("default/mysvctcp10.0.1.5:8080"))[:16], computed
        // outside this code (Python's hashlib and base64).
        let n = ServicePortName::new("default", "mysvc", "", Protocol::Tcp);
        let ep = Endpoint::new("10.0.1.5".parse().unwrap(), 8080);
        assert_eq!(sep_chain(&n, &ep), "KUBE-SEP-2VS25LKEXUUDUDLK");
    }

    #[test]
    fn sep_chain_depends_on_endpoint() {
        let n = ServicePortName::new("ns", "svc", "http", Protocol::Tcp);
        let a = sep_chain(&n, &Endpoint::new("10.0.1.5".parse().unwrap(), 80));
        let b = sep_chain(&n, &Endpoint::new("10.0.1.6".parse().unwrap(), 80));
        assert!(a.starts_with("KUBE-SEP-") && a.len() == 25, "{a}");
        assert_ne!(a, b);
        assert_eq!(
            nft_service_chain(&n),
            format!("service-{}-ns/svc/tcp/http", &svc_chain(&n)[9..17])
        );
    }
}
