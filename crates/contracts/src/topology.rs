//! Zones: the node label the lab sets, the EndpointSlice controller copies
//! into `endpoints[].zone` and hints, and each node's proxy compares hints
//! with. Also the lab's choice of zone for a node.

/// The well-known node label naming the node's zone.
pub const ZONE_LABEL: &str = "topology.kubernetes.io/zone";

/// `spec.trafficDistribution` values that ask for zone hints
/// (PreferSameZone is the 1.34 name of PreferClose).
pub const PREFER_CLOSE: &str = "PreferClose";
pub const PREFER_SAME_ZONE: &str = "PreferSameZone";

/// The lab's zones: nodes two by two, `zone-a` for node-0 (the control
/// plane) and node-1, `zone-b` for node-2 and node-3, and so on, so the
/// default 3-node lab has two zones with workers in both.
pub fn lab_zone(node_index: u32) -> String {
    let n = node_index / 2;
    // Past z, two letters (aa, ab, …): no lab has 52 nodes per letter.
    let letter = |i: u32| char::from(b'a' + (i % 26) as u8);
    if n < 26 {
        format!("zone-{}", letter(n))
    } else {
        format!("zone-{}{}", letter(n / 26 - 1), letter(n))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nodes_pair_up_into_zones() {
        let z: Vec<String> = (0..5).map(lab_zone).collect();
        assert_eq!(z, ["zone-a", "zone-a", "zone-b", "zone-b", "zone-c"]);
        assert_eq!(lab_zone(52), "zone-aa");
        assert_ne!(lab_zone(250), lab_zone(248));
    }
}
