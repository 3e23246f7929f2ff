//! The NodePort (and LoadBalancer) half of a Service translation: which
//! externalTrafficPolicy the datapath applied, read from the nftables
//! `external-…` chain or from the eBPF `lby_lb4_nodeport_v2` row of the
//! frontend. (iptables' KUBE-NODEPORTS / KUBE-EXT- chains are named by the
//! proxy's own tracer walk.)

use std::net::SocketAddrV4;

use labyrinth_contracts::bpf::{IpProto, NodePortRow};

use super::translation::Translation;

/// kube-proxy's nftables mode names a NodePort's chain `external-<hash>-…`.
const NFT_EXTERNAL_PREFIX: &str = "external-";
const NFT_MASQ: &str = "jump mark-for-masquerade";

/// For a translation through an nftables `external-…` chain: the policy
/// its rules carry, in words (None for a ClusterIP's `service-…` chain).
pub fn nft_policy(chain: &str, rules: &[&str]) -> Option<String> {
    if !chain.starts_with(NFT_EXTERNAL_PREFIX) {
        return None;
    }
    Some(if rules.contains(&NFT_MASQ) {
        format!(
            "NodePort/LoadBalancer chain {chain} starts with `{NFT_MASQ}`: externalTrafficPolicy Cluster, \
             the source is masqueraded to the node's address on the way out"
        )
    } else {
        format!(
            "NodePort/LoadBalancer chain {chain} has no masquerade: externalTrafficPolicy Local, the \
             client's address is kept and only this node's endpoints are in it"
        )
    })
}

/// For a translation of a NodePort or LoadBalancer frontend in the eBPF
/// maps: its `lby_lb4_nodeport_v2` row and what the row's policy did.
pub fn ebpf_policy(t: &Translation, rows: &[NodePortRow]) -> Option<String> {
    let proto: IpProto = t.proto.parse().ok()?;
    let frontend = SocketAddrV4::new(t.vip, t.vport);
    let row = rows.iter().find(|r| r.frontend == frontend && r.proto == proto)?;
    Some(format!(
        "map {} row {frontend}/{proto} ({}, rev NAT {}): {}",
        labyrinth_contracts::bpf::abi::NODEPORT_MAP,
        row.name,
        row.rev_nat_index,
        row.policy()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nft_names_the_masquerade_or_its_absence() {
        let c = "external-QOCG5YNH-default/np/tcp/";
        let cluster = nft_policy(c, &["jump mark-for-masquerade", "goto dnat-1-of-1"]).unwrap();
        assert!(cluster.contains("externalTrafficPolicy Cluster"), "{cluster}");
        let local = nft_policy(c, &["goto dnat-1-of-1"]).unwrap();
        assert!(local.contains("externalTrafficPolicy Local"), "{local}");
        assert_eq!(nft_policy("service-IWPXKGE4-wrk-2/web/tcp/", &[NFT_MASQ]), None);
    }

    #[test]
    fn ebpf_finds_the_frontends_row() {
        let row = |local| NodePortRow {
            frontend: "10.168.0.4:30080".parse().unwrap(),
            proto: IpProto::TCP,
            rev_nat_index: 9,
            local,
            name: "default/np".into(),
        };
        let mut t = Translation::example("10.0.2.5");
        (t.vip, t.vport) = ("10.168.0.4".parse().unwrap(), 30080);
        let text = ebpf_policy(&t, &[row(false)]).unwrap();
        assert!(
            text.starts_with("map lby_lb4_nodeport_v2 row 10.168.0.4:30080/TCP (default/np, rev NAT 9)"),
            "{text}"
        );
        assert!(text.contains("Cluster") && text.contains("CT_F_SNAT"), "{text}");
        assert!(ebpf_policy(&t, &[row(true)]).unwrap().contains("Local"));
        t.vport = 30081;
        assert_eq!(ebpf_policy(&t, &[row(false)]), None);
    }
}
