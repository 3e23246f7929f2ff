//! The Rust mirror of the eBPF programs' crates/ebpf/bpf/lib/maps.h,
//! common.h and trace.h: versioned map names, key and value layouts
//! (`#[repr(C)]`, the same sizes the C `_Static_assert`s pin), and
//! constants. Addresses and ports are kept in network byte order, exactly
//! as the programs read them from packets. The ebpf crate reads and writes
//! the kernel maps with these (the `aya` feature makes them `aya::Pod`);
//! everyone else reads the maps as the typed rows of `super::rows`.

use std::net::{Ipv4Addr, SocketAddrV4};

/// Map names as pinned (the C variable names).
pub const SERVICES_MAP: &str = "lby_lb4_services_v1";
pub const BACKENDS_MAP: &str = "lby_lb4_backends_v1";
pub const REVNAT_MAP: &str = "lby_lb4_reverse_nat_v1";
pub const NAMES_MAP: &str = "lby_lb4_names_v1";
pub const CT_MAP: &str = "lby_ct4_v1";
pub const IPCACHE_MAP: &str = "lby_ipcache_v1";
pub const ENDPOINTS_MAP: &str = "lby_endpoints_v1";
pub const CONFIG_MAP: &str = "lby_config_v1";
/// v2: 65,536 rows (v1 held 8,192, fewer than 10,000 NodePort Services).
pub const NODEPORT_MAP: &str = "lby_lb4_nodeport_v2";
/// Retired names, each with the map that replaced it under the same key
/// and value layout (a pinned map keeps the size it was made with, so a
/// new size is a new name). Opening the datapath carries a retired map's
/// rows over and removes its pin, so an upgraded node keeps its NodePorts
/// until the first sync and no old pin is left behind.
pub const RETIRED_MAPS: &[(&str, &str)] = &[("lby_lb4_nodeport_v1", NODEPORT_MAP)];
pub const EVENTS_MAP: &str = "lby_events";

pub const PROTO_TCP: u8 = 6;
pub const PROTO_UDP: u8 = 17;

pub const CT_DIR_SERVICE: u8 = 0;
pub const CT_DIR_REPLY: u8 = 1;
pub const CT_F_HAIRPIN: u8 = 1;
/// The source was rewritten to the service entry's `orig_addr` (a NodePort
/// with externalTrafficPolicy Cluster, masqueraded to the node).
pub const CT_F_SNAT: u8 = 2;
/// On a reply entry: an answer passed through it (a terminating backend's
/// drain keeps the flows without it, which still wait for their answer).
pub const CT_F_ANSWERED: u8 = 4;

/// `Lb4NodePort::flags`: externalTrafficPolicy Local (bpf/lib/lb_external.h).
pub const NP_F_LOCAL: u8 = 1;

/// The TCP flags conntrack records in `Ct4Entry::tcp_seen` (common.h).
pub const TCP_FIN: u8 = 0x01;
pub const TCP_SYN: u8 = 0x02;
pub const TCP_RST: u8 = 0x04;
pub const TCP_ACK: u8 = 0x10;

pub const ROUTING_TUNNEL: u8 = 0;
pub const ROUTING_NATIVE: u8 = 1;

/// `LbyConfig::delivery`: how a packet enters a local pod (maps.h). Zero,
/// what a config written before the field existed holds, is the default.
pub const DELIVERY_HOST_VETH: u8 = 0;
pub const DELIVERY_PEER_REDIRECT: u8 = 1;

/// Network-order u32 from an address, as the packet carries it.
pub fn be_addr(ip: Ipv4Addr) -> u32 {
    u32::from_ne_bytes(ip.octets())
}

pub fn addr_of(be: u32) -> Ipv4Addr {
    Ipv4Addr::from(be.to_ne_bytes())
}

/// An address and port as the maps hold them (both in network order).
pub fn sock_of(be: u32, port_be: u16) -> SocketAddrV4 {
    SocketAddrV4::new(addr_of(be), u16::from_be(port_be))
}

#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Lb4Key {
    pub address: u32,
    pub dport: u16,
    pub slot: u16,
    pub proto: u8,
    pub pad: [u8; 3],
}

#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Lb4Service {
    pub backend_id: u32,
    pub count: u16,
    pub rev_nat_index: u16,
}

#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Lb4Backend {
    pub address: u32,
    pub port: u16,
    pub proto: u8,
    pub flags: u8,
}

#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Lb4ReverseNat {
    pub address: u32,
    pub port: u16,
    pub proto: u8,
    pub pad: u8,
}

#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Lb4Name {
    pub name: [u8; 64],
}

#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Ct4Key {
    pub saddr: u32,
    pub daddr: u32,
    pub sport: u16,
    pub dport: u16,
    pub proto: u8,
    pub dir: u8,
    pub pad: u16,
}

#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Ct4Entry {
    pub backend_addr: u32,
    pub backend_port: u16,
    pub rev_nat_index: u16,
    pub backend_id: u32,
    pub orig_addr: u32,
    pub flags: u8,
    /// TCP flags seen in this direction (SYN, ACK, FIN, RST bits).
    pub tcp_seen: u8,
    pub pad: [u8; 2],
    pub pad2: u32,
    pub last_seen_ns: u64,
}

/// An external frontend (bpf/lib/lb_external.h): a NodePort on the node's
/// address, or a LoadBalancer address on the Service's port (address and
/// port in network order), and the protocol.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Lb4NodePortKey {
    pub address: u32,
    pub port: u16,
    pub proto: u8,
    pub pad: u8,
}

/// What a NodePort is: its frontend's service id (the frontend itself is
/// the services map's row keyed by the node's address) and its policy.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Lb4NodePort {
    pub rev_nat_index: u16,
    pub flags: u8,
    pub pad: u8,
}

/// The LPM trie key after aya's prefix length: the address.
pub type IpcacheAddr = u32;

#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IpcacheValue {
    pub tunnel_endpoint: u32,
    pub identity: u32,
    pub flags: u8,
    pub pad: [u8; 3],
}

#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EndpointValue {
    pub ifindex: u32,
    pub pod_mac: [u8; 6],
    pub node_mac: [u8; 6],
    pub flags: u32,
}

#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LbyConfig {
    pub tunnel_ifindex: u32,
    pub vni: u32,
    pub node_ip: u32,
    pub hairpin_ip: u32,
    pub routing: u8,
    pub trace_level: u8,
    pub delivery: u8,
    pub pad: u8,
}

#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TraceEvent {
    pub ts_ns: u64,
    pub saddr: u32,
    pub daddr: u32,
    pub sport: u16,
    pub dport: u16,
    pub proto: u8,
    pub point: u8,
    pub reason: u8,
    pub tcp_flags: u8,
    pub ifindex: u32,
    pub orig_daddr: u32,
    pub orig_dport: u16,
    pub rev_nat_index: u16,
    pub len: u32,
    pub xlate: u8,
    pub pad: [u8; 7],
}

// SAFETY: all plain integers/arrays, #[repr(C)], every bit pattern valid,
// explicit padding fields (no implicit padding bytes). Implemented here
// because neither the trait nor the types would be local to the ebpf crate.
#[cfg(feature = "aya")]
mod pod {
    use super::*;
    unsafe impl aya::Pod for Lb4Key {}
    unsafe impl aya::Pod for Lb4Service {}
    unsafe impl aya::Pod for Lb4Backend {}
    unsafe impl aya::Pod for Lb4ReverseNat {}
    unsafe impl aya::Pod for Lb4Name {}
    unsafe impl aya::Pod for Ct4Key {}
    unsafe impl aya::Pod for Ct4Entry {}
    unsafe impl aya::Pod for IpcacheValue {}
    unsafe impl aya::Pod for EndpointValue {}
    unsafe impl aya::Pod for LbyConfig {}
    unsafe impl aya::Pod for Lb4NodePortKey {}
    unsafe impl aya::Pod for Lb4NodePort {}
}

impl Lb4Name {
    pub fn new(s: &str) -> Self {
        let mut name = [0u8; 64];
        let b = s.as_bytes();
        let n = b.len().min(63);
        name[..n].copy_from_slice(&b[..n]);
        Lb4Name { name }
    }

    pub fn as_str(&self) -> String {
        let end = self.name.iter().position(|&c| c == 0).unwrap_or(64);
        String::from_utf8_lossy(&self.name[..end]).into_owned()
    }
}

impl TraceEvent {
    /// Decode one ring buffer record (None if it is too short).
    pub fn from_bytes(b: &[u8]) -> Option<Self> {
        if b.len() < std::mem::size_of::<TraceEvent>() {
            return None;
        }
        // SAFETY: length checked; TraceEvent is plain data, read unaligned.
        Some(unsafe { std::ptr::read_unaligned(b.as_ptr().cast::<TraceEvent>()) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::mem::{offset_of, size_of};

    #[test]
    fn layouts_match_the_c_headers() {
        assert_eq!(size_of::<Lb4Key>(), 12);
        assert_eq!(offset_of!(Lb4Key, slot), 6);
        assert_eq!(offset_of!(Lb4Key, proto), 8);
        assert_eq!(size_of::<Lb4Service>(), 8);
        assert_eq!(offset_of!(Lb4Service, rev_nat_index), 6);
        assert_eq!(size_of::<Lb4Backend>(), 8);
        assert_eq!(size_of::<Lb4ReverseNat>(), 8);
        assert_eq!(size_of::<Lb4Name>(), 64);
        assert_eq!(size_of::<Ct4Key>(), 16);
        assert_eq!(offset_of!(Ct4Key, dir), 13);
        assert_eq!(size_of::<Ct4Entry>(), 32);
        assert_eq!(offset_of!(Ct4Entry, flags), 16);
        assert_eq!(offset_of!(Ct4Entry, tcp_seen), 17);
        assert_eq!(offset_of!(Ct4Entry, last_seen_ns), 24);
        assert_eq!(size_of::<IpcacheValue>(), 12);
        assert_eq!(size_of::<EndpointValue>(), 20);
        assert_eq!(offset_of!(EndpointValue, node_mac), 10);
        assert_eq!(size_of::<LbyConfig>(), 20);
        assert_eq!(offset_of!(LbyConfig, delivery), 18);
        assert_eq!(size_of::<TraceEvent>(), 48);
        assert_eq!(offset_of!(TraceEvent, ifindex), 24);
        assert_eq!(offset_of!(TraceEvent, xlate), 40);
    }

    /// Every size maps.h pins with `_Static_assert(sizeof(struct x) == n)`
    /// is the size of the Rust mirror (the table grows with the header).
    #[test]
    fn sizes_match_the_static_asserts_of_maps_h() {
        let header = concat!(env!("CARGO_MANIFEST_DIR"), "/../ebpf/bpf/lib/maps.h");
        let text = std::fs::read_to_string(header).expect("reading maps.h");
        let rust = [
            ("lb4_key", size_of::<Lb4Key>()),
            ("lb4_service", size_of::<Lb4Service>()),
            ("lb4_backend", size_of::<Lb4Backend>()),
            ("lb4_reverse_nat", size_of::<Lb4ReverseNat>()),
            ("lb4_name", size_of::<Lb4Name>()),
            ("ct4_key", size_of::<Ct4Key>()),
            ("ct4_entry", size_of::<Ct4Entry>()),
            ("ipcache_value", size_of::<IpcacheValue>()),
            ("endpoint_value", size_of::<EndpointValue>()),
            ("lby_config", size_of::<LbyConfig>()),
        ];
        let mut checked = 0;
        for line in text.lines() {
            let Some(rest) = line.trim().strip_prefix("_Static_assert(sizeof(struct ") else {
                continue;
            };
            let (name, rest) = rest
                .split_once(") == ")
                .expect("_Static_assert(sizeof(struct x) == n");
            let n: usize = rest.split(',').next().unwrap().trim().parse().unwrap();
            let (_, size) = rust
                .iter()
                .find(|(s, _)| *s == name)
                .unwrap_or_else(|| panic!("struct {name} of maps.h has no Rust mirror here"));
            assert_eq!(*size, n, "struct {name}");
            checked += 1;
        }
        assert!(checked >= 7, "only {checked} _Static_asserts found in {header}");
    }

    /// The config's mode values are the `#define`s the programs compare
    /// against: a renumbering on one side only would flip a mode.
    #[test]
    fn mode_values_match_the_defines_of_maps_h() {
        let header = concat!(env!("CARGO_MANIFEST_DIR"), "/../ebpf/bpf/lib/maps.h");
        let text = std::fs::read_to_string(header).expect("reading maps.h");
        let define = |name: &str| -> u8 {
            text.lines()
                .find_map(|l| {
                    l.trim()
                        .strip_prefix("#define ")?
                        .strip_prefix(name)?
                        .split_whitespace()
                        .next()
                })
                .unwrap_or_else(|| panic!("no #define {name} in {header}"))
                .parse()
                .unwrap()
        };
        assert_eq!(define("ROUTING_TUNNEL "), ROUTING_TUNNEL);
        assert_eq!(define("ROUTING_NATIVE "), ROUTING_NATIVE);
        assert_eq!(define("DELIVERY_HOST_VETH "), DELIVERY_HOST_VETH);
        assert_eq!(define("DELIVERY_PEER_REDIRECT "), DELIVERY_PEER_REDIRECT);
    }

    /// The NodePort header's structs and flag, as the Rust side has them.
    #[test]
    fn nodeport_layouts_match_lb_external_h() {
        let header = concat!(env!("CARGO_MANIFEST_DIR"), "/../ebpf/bpf/lib/lb_external.h");
        let text = std::fs::read_to_string(header).expect("reading lb_external.h");
        assert!(text.contains("_Static_assert(sizeof(struct lb4_nodeport_key) == 8"));
        assert!(text.contains("_Static_assert(sizeof(struct lb4_nodeport) == 4"));
        assert!(text.contains(&format!("#define NP_F_LOCAL {NP_F_LOCAL} ")));
        assert!(text.contains(&format!("}} {NODEPORT_MAP} SEC")));
        assert_eq!(size_of::<Lb4NodePortKey>(), 8);
        assert_eq!(offset_of!(Lb4NodePortKey, proto), 6);
        assert_eq!(size_of::<Lb4NodePort>(), 4);
        assert_eq!(offset_of!(Lb4NodePort, flags), 2);
        let maps = concat!(env!("CARGO_MANIFEST_DIR"), "/../ebpf/bpf/lib/maps.h");
        let maps = std::fs::read_to_string(maps).expect("reading maps.h");
        assert!(maps.contains(&format!("#define CT_F_SNAT {CT_F_SNAT}")));
        assert!(maps.contains(&format!("#define CT_F_ANSWERED {CT_F_ANSWERED}")));
    }

    #[test]
    fn addresses_stay_in_packet_order() {
        let ip = Ipv4Addr::new(10, 96, 0, 50);
        let be = be_addr(ip);
        assert_eq!(be.to_ne_bytes(), [10, 96, 0, 50]);
        assert_eq!(addr_of(be), ip);
    }

    #[test]
    fn names_truncate_and_round_trip() {
        assert_eq!(Lb4Name::new("wrk-2/web:http").as_str(), "wrk-2/web:http");
        let long = "x".repeat(100);
        assert_eq!(Lb4Name::new(&long).as_str().len(), 63);
    }

    #[test]
    fn trace_event_decodes_from_ring_bytes() {
        let mut raw = [0u8; 48];
        raw[8..12].copy_from_slice(&[10, 0, 1, 13]);
        raw[21] = 2;
        let e = TraceEvent::from_bytes(&raw).unwrap();
        assert_eq!(addr_of(e.saddr), Ipv4Addr::new(10, 0, 1, 13));
        assert_eq!(e.point, 2);
        assert!(TraceEvent::from_bytes(&raw[..40]).is_none());
    }
}
