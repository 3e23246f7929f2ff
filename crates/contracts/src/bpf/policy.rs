//! NetworkPolicy in the eBPF datapath: the Rust mirror of
//! crates/ebpf/bpf/lib/policy.h (map names, key and value layouts, the
//! numbers the programs compare against). The ebpf crate writes these
//! rows from labyrinth-policy's compiled allow lists; `observe` names the
//! drop reasons.

/// Pod address → which directions it is isolated in.
pub const POLICY_PODS_MAP: &str = "lby_pol_pods_v1";
/// LPM trie (pod, direction, protocol, peer prefix) → allowed port ranges.
pub const POLICY_RULES_MAP: &str = "lby_pol_rules_v1";
/// (pod, direction, verdict) → new connections judged.
pub const POLICY_STATS_MAP: &str = "lby_pol_stats_v1";

/// Conntrack directions of policy entries in the shared conntrack map.
pub const CT_DIR_POL_EGRESS: u8 = 2;
pub const CT_DIR_POL_INGRESS: u8 = 3;

/// Trace event drop reasons.
pub const DROP_POLICY_INGRESS: u8 = 20;
pub const DROP_POLICY_EGRESS: u8 = 21;

pub const POL_DIR_INGRESS: u8 = 0;
pub const POL_DIR_EGRESS: u8 = 1;
pub const POL_ISOLATED_INGRESS: u8 = 1;
pub const POL_ISOLATED_EGRESS: u8 = 2;
/// The protocol of rows that allow every protocol and port.
pub const POL_PROTO_ANY: u8 = 0;
pub const POL_MAX_RANGES: usize = 16;
pub const POL_VERDICT_ALLOWED: u8 = 0;
pub const POL_VERDICT_DROPPED: u8 = 1;
/// Bits of the rules key before the peer's prefix (pod, dir, proto, pad).
pub const POL_KEY_FIXED_BITS: u32 = 64;

#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PolicyPod {
    pub isolated: u8,
    pub pad: [u8; 3],
}

/// The rules trie's key after aya's prefix length (addresses in network
/// order, as the packet carries them).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PolicyKey {
    pub pod: u32,
    pub dir: u8,
    pub proto: u8,
    pub pad: u16,
    pub peer: u32,
}

/// Host-order destination ports, inclusive.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PolicyRange {
    pub lo: u16,
    pub hi: u16,
}

#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct PolicyValue {
    pub count: u16,
    pub pad: u16,
    pub ranges: [PolicyRange; POL_MAX_RANGES],
}

#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PolicyStatKey {
    pub pod: u32,
    pub dir: u8,
    pub verdict: u8,
    pub pad: u16,
}

// SAFETY: plain integers and arrays, #[repr(C)], explicit padding fields.
#[cfg(feature = "aya")]
mod pod {
    use super::*;
    unsafe impl aya::Pod for PolicyPod {}
    unsafe impl aya::Pod for PolicyKey {}
    unsafe impl aya::Pod for PolicyRange {}
    unsafe impl aya::Pod for PolicyValue {}
    unsafe impl aya::Pod for PolicyStatKey {}
}

impl PolicyValue {
    /// The ranges in use.
    pub fn ranges(&self) -> &[PolicyRange] {
        &self.ranges[..usize::from(self.count).min(POL_MAX_RANGES)]
    }
}

/// Where an eBPF node's agent writes, after each policy sync, the names
/// the maps cannot hold (their rows are addresses and ports), for
/// `labyrinth observe` to name a policy drop.
pub const POLICY_NAMES_FILE: &str = "/var/lib/labyrinth/policy-names.json";

/// One isolated pod and direction in [`POLICY_NAMES_FILE`].
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PolicyNameRow {
    pub pod_ip: std::net::Ipv4Addr,
    /// "ingress" or "egress".
    pub direction: String,
    /// "ns/pod".
    pub pod: String,
    /// The policies isolating it in that direction, "ns/name".
    pub isolated_by: Vec<String>,
}

/// `bpf map get pol-pods`: a pod of this node isolated in some direction.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PolicyPodRow {
    pub pod: std::net::Ipv4Addr,
    pub ingress: bool,
    pub egress: bool,
}

/// `bpf map get pol-rules`: the port ranges allowed for (pod, direction,
/// protocol, peers in `peer`); `protocol` None is the row of every
/// protocol and port (its existence allows).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PolicyRuleRow {
    pub pod: std::net::Ipv4Addr,
    /// "ingress" or "egress".
    pub direction: String,
    pub protocol: Option<u8>,
    pub peer: ipnet::Ipv4Net,
    pub ports: Vec<(u16, u16)>,
}

/// A direction's name in the rows.
pub fn direction_name(dir: u8) -> &'static str {
    if dir == POL_DIR_EGRESS {
        "egress"
    } else {
        "ingress"
    }
}

/// The programs' judgement of a new connection from the rows (policy.h,
/// steps 3 and 4): None when `pod` is not isolated in `direction`;
/// otherwise whether the longest prefix holding `peer` among the rows of
/// the protocol holds `port`, or a row of every protocol holds `peer`, and
/// the deciding row.
pub fn judge_rows<'a>(
    pods: &[PolicyPodRow],
    rules: &'a [PolicyRuleRow],
    pod: std::net::Ipv4Addr,
    direction: &str,
    protocol: u8,
    peer: std::net::Ipv4Addr,
    port: u16,
) -> Option<(bool, Option<&'a PolicyRuleRow>)> {
    let p = pods.iter().find(|p| p.pod == pod)?;
    if !(if direction == "egress" {
        p.egress
    } else {
        p.ingress
    }) {
        return None;
    }
    let longest = |proto: Option<u8>| {
        rules
            .iter()
            .filter(|r| {
                r.pod == pod && r.direction == direction && r.protocol == proto && r.peer.contains(&peer)
            })
            .max_by_key(|r| r.peer.prefix_len())
    };
    if let Some(r) =
        longest(Some(protocol)).filter(|r| r.ports.iter().any(|(lo, hi)| (*lo..=*hi).contains(&port)))
    {
        return Some((true, Some(r)));
    }
    match longest(None) {
        Some(r) => Some((true, Some(r))),
        None => Some((false, None)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::mem::size_of;

    const HEADER: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../ebpf/bpf/lib/policy.h");

    /// Sizes and numbers as policy.h pins and defines them: a change on
    /// one side only would misread every row or flip a verdict.
    #[test]
    fn layouts_and_numbers_match_policy_h() {
        let text = std::fs::read_to_string(HEADER).expect("reading policy.h");
        let size = |name: &str| -> usize {
            let pat = format!("_Static_assert(sizeof(struct {name}) == ");
            let rest = text
                .split_once(&pat)
                .unwrap_or_else(|| panic!("no size of {name}"))
                .1;
            rest.split(',').next().unwrap().trim().parse().unwrap()
        };
        assert_eq!(size("policy_pod"), size_of::<PolicyPod>());
        // The C key starts with the trie's prefix length.
        assert_eq!(size("policy_key"), 4 + size_of::<PolicyKey>());
        assert_eq!(size("policy_value"), size_of::<PolicyValue>());
        assert_eq!(size("policy_stat_key"), size_of::<PolicyStatKey>());
        let define = |name: &str| -> u64 {
            text.lines()
                .find_map(|l| {
                    l.trim()
                        .strip_prefix("#define ")?
                        .strip_prefix(name)?
                        .split_whitespace()
                        .next()
                })
                .unwrap_or_else(|| panic!("no #define {name}"))
                .parse()
                .unwrap()
        };
        assert_eq!(define("CT_DIR_POL_EGRESS "), u64::from(CT_DIR_POL_EGRESS));
        assert_eq!(define("CT_DIR_POL_INGRESS "), u64::from(CT_DIR_POL_INGRESS));
        assert_eq!(define("DROP_POLICY_INGRESS "), u64::from(DROP_POLICY_INGRESS));
        assert_eq!(define("DROP_POLICY_EGRESS "), u64::from(DROP_POLICY_EGRESS));
        assert_eq!(define("POL_DIR_INGRESS "), u64::from(POL_DIR_INGRESS));
        assert_eq!(define("POL_DIR_EGRESS "), u64::from(POL_DIR_EGRESS));
        assert_eq!(define("POL_ISOLATED_INGRESS "), u64::from(POL_ISOLATED_INGRESS));
        assert_eq!(define("POL_ISOLATED_EGRESS "), u64::from(POL_ISOLATED_EGRESS));
        assert_eq!(define("POL_PROTO_ANY "), u64::from(POL_PROTO_ANY));
        assert_eq!(define("POL_MAX_RANGES "), POL_MAX_RANGES as u64);
        assert_eq!(define("POL_VERDICT_DROPPED "), u64::from(POL_VERDICT_DROPPED));
        assert_eq!(direction_name(POL_DIR_EGRESS), "egress");
        for name in [POLICY_PODS_MAP, POLICY_RULES_MAP, POLICY_STATS_MAP] {
            assert!(text.contains(&format!("}} {name} SEC(\".maps\")")), "{name}");
        }
    }

    #[test]
    fn rows_judge_as_the_programs_do() {
        let ip = |s: &str| s.parse::<std::net::Ipv4Addr>().unwrap();
        let pods = [PolicyPodRow {
            pod: ip("10.0.2.5"),
            ingress: true,
            egress: false,
        }];
        let row = |proto, peer: &str, ports: Vec<(u16, u16)>| PolicyRuleRow {
            pod: ip("10.0.2.5"),
            direction: "ingress".into(),
            protocol: proto,
            peer: peer.parse().unwrap(),
            ports,
        };
        let rules = [
            row(Some(6), "10.0.0.0/16", vec![(80, 81)]),
            // The longer prefix alone decides (the agent merged the ranges).
            row(Some(6), "10.0.1.0/24", vec![(9000, 9000)]),
            row(None, "10.0.3.7/32", vec![]),
        ];
        let j = |peer: &str, proto, port| {
            judge_rows(&pods, &rules, ip("10.0.2.5"), "ingress", proto, ip(peer), port)
                .map(|(ok, r)| (ok, r.map(|r| r.peer.to_string())))
        };
        assert_eq!(j("10.0.9.9", 6, 80), Some((true, Some("10.0.0.0/16".into()))));
        assert_eq!(j("10.0.1.9", 6, 80), Some((false, None)));
        assert_eq!(j("10.0.1.9", 6, 9000), Some((true, Some("10.0.1.0/24".into()))));
        assert_eq!(j("10.0.9.9", 17, 80), Some((false, None)));
        assert_eq!(j("10.0.3.7", 17, 5), Some((true, Some("10.0.3.7/32".into()))));
        assert_eq!(
            judge_rows(&pods, &rules, ip("10.0.2.5"), "egress", 6, ip("1.1.1.1"), 80),
            None
        );
        assert_eq!(
            judge_rows(&pods, &rules, ip("10.0.2.6"), "ingress", 6, ip("1.1.1.1"), 80),
            None
        );
    }
}
