//! The lab file: YAML → `LabConfig::from_yaml` → `validate` → the node
//! plan the lab builds from it.
//!
//! Input: the file's bytes (text that is not UTF-8 is refused on reading,
//! before the parser; it is skipped here).
//!
//! Properties: no panic; a validation error starts with the name of the
//! field it is about, as the file spells it; an accepted config lays out
//! `controlPlanes + workers` nodes, each with a distinct address inside underlayCIDR
//! (never its network, gateway or broadcast address) and its own /24 inside
//! podCIDR.

use labyrinth_lab::config::LabConfig;

const FIELDS: &[&str] = &[
    "name",
    "workers",
    "underlayCIDR",
    "mtu",
    "podCIDR",
    "serviceCIDR",
    "clusterDomain",
    "datapath",
    "routing",
    "controlPlanes",
    "manualJoin",
    "loadBalancerPool",
    "peerRedirect",
];

pub fn check(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(cfg) = LabConfig::from_yaml(text) else {
        return;
    };
    if let Err(e) = cfg.validate() {
        let msg = format!("{e:#}");
        assert!(
            FIELDS.iter().any(|f| msg.starts_with(f)),
            "validation error names no field: {msg}"
        );
        return;
    }
    let nodes = cfg.nodes();
    assert_eq!(
        nodes.len() as u64,
        u64::from(cfg.control_planes) + u64::from(cfg.workers),
        "node count"
    );
    let underlay = cfg.underlay_cidr.trunc();
    let pods = cfg.pod_cidr.trunc();
    let mut seen = std::collections::HashSet::new();
    for n in &nodes {
        assert!(underlay.contains(&n.address), "{} outside {underlay}", n.address);
        assert!(
            n.address != underlay.network()
                && n.address != underlay.broadcast()
                && u32::from(n.address) != u32::from(underlay.network()) + 1,
            "{} is a reserved address of {underlay}",
            n.address
        );
        assert!(pods.contains(&n.pod_cidr), "{} outside {pods}", n.pod_cidr);
        assert!(seen.insert(n.address), "{} given twice", n.address);
    }
    for pair in nodes.windows(2) {
        assert_ne!(pair[0].pod_cidr, pair[1].pod_cidr, "pod CIDR given twice");
    }
}
