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
        for name in [POLICY_PODS_MAP, POLICY_RULES_MAP, POLICY_STATS_MAP] {
            assert!(text.contains(&format!("}} {name} SEC(\".maps\")")), "{name}");
        }
    }
}
