//! Every kind of rule the nftables layout uses, as data: rendered as `nft`
//! text (for `nft -f`, dry runs and the tracer) and encoded as netlink
//! expressions (src/nftables/netlink/expr.rs) from the same value, so the
//! two cannot drift apart.

use std::fmt;
use std::net::SocketAddrV4;

use ipnet::Ipv4Net;

use crate::model::Protocol;

pub const TABLE: &str = "labyrinth";
pub const FAMILY: &str = "ip";
/// ClusterIP . proto . port → `goto` the service's chain.
pub const SERVICE_IPS: &str = "service-ips";
/// ClusterIP . proto . port of services without endpoints → `goto reject-chain`.
pub const NO_ENDPOINTS: &str = "no-endpoint-services";
/// ClusterIP . proto . port . index → endpoint ip . port.
pub const SERVICE_ENDPOINTS: &str = "service-endpoints";
/// endpoint . endpoint: a pod reaching itself through a service (hairpin).
pub const HAIRPIN: &str = "hairpin";
pub const SERVICES_CHAIN: &str = "services";
pub const ENDPOINTS_CHECK: &str = "service-endpoints-check";
pub const REJECT_CHAIN: &str = "reject-chain";
/// Where a NodePort's new connections go when it has no local endpoint
/// for externalTrafficPolicy Local: dropped, as kube-proxy does.
pub const DROP_CHAIN: &str = "drop-chain";
pub const MARK_MASQ: &str = "mark-for-masquerade";
pub const MASQUERADING: &str = "masquerading";

/// The packet mark requesting masquerade (kube-proxy's 0x4000).
pub const MASQ_BIT: u32 = 0x4000;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Rule {
    /// `ip daddr . meta l4proto . th dport vmap @<map>`
    Dispatch(&'static str),
    /// `jump <chain>`
    Jump(&'static str),
    /// `ct state new jump <chain>`
    NewJump(&'static str),
    /// `reject` (ICMP port unreachable: connect() fails at once).
    Reject,
    /// `drop`
    Drop,
    /// `meta mark set meta mark | 0x4000`
    SetMasqMark,
    /// `meta mark & 0x4000 == 0 return`
    ReturnUnlessMarked,
    /// `meta mark set meta mark ^ 0x4000`
    ClearMasqMark,
    /// `masquerade fully-random`
    Masquerade,
    /// `ct status dnat ip saddr . ip daddr @hairpin jump mark-for-masquerade`
    Hairpin,
    /// `ip saddr != <cidr> jump mark-for-masquerade`: sources outside the
    /// cluster are masqueraded so replies come back through this node.
    MarkOutside(Ipv4Net),
    /// `goto dnat-1-of-<n>`: on to the shared chain that picks one of
    /// the service's n endpoints.
    PickOneOf(u32),
    /// `dnat ip to ip daddr . meta l4proto . th dport . numgen random mod
    /// <n> map @service-endpoints`: the body of `dnat-1-of-<n>`. `numgen`
    /// draws an index below n uniformly; the service's endpoints are the
    /// map's elements `<key> . 0` … `<key> . n−1`.
    DnatOneOf(u32),
    /// `goto <chain>` (a Service with affinity: its last endpoint chain).
    Goto(String),
    /// `numgen random mod <k> == 0 goto <chain>`: one chance in k.
    GotoOneIn(u32, String),
    /// `ip saddr @<set> goto <chain>`: a client its affinity set knows.
    AffinityRecall(String, String),
    /// `update @<set> { ip saddr }`: remember (or refresh) the client.
    AffinityRemember(String),
    /// `meta l4proto <proto> dnat ip to <ip>:<port>`: one endpoint.
    DnatTo(Protocol, SocketAddrV4),
}

/// `nft` syntax, as `nft list` prints it back (modulo the mark's padding).
impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rule::Dispatch(map) => write!(f, "ip daddr . meta l4proto . th dport vmap @{map}"),
            Rule::Jump(c) => write!(f, "jump {c}"),
            Rule::NewJump(c) => write!(f, "ct state new jump {c}"),
            Rule::Reject => write!(f, "reject"),
            Rule::Drop => write!(f, "drop"),
            Rule::SetMasqMark => write!(f, "meta mark set meta mark | {MASQ_BIT:#x}"),
            Rule::ReturnUnlessMarked => write!(f, "meta mark & {MASQ_BIT:#x} == 0 return"),
            Rule::ClearMasqMark => write!(f, "meta mark set meta mark ^ {MASQ_BIT:#x}"),
            Rule::Masquerade => write!(f, "masquerade fully-random"),
            Rule::Hairpin => write!(
                f,
                "ct status dnat ip saddr . ip daddr @{HAIRPIN} jump {MARK_MASQ}"
            ),
            Rule::MarkOutside(cidr) => write!(f, "ip saddr != {cidr} jump {MARK_MASQ}"),
            Rule::PickOneOf(n) => write!(f, "goto {}", pick_chain(*n)),
            Rule::Goto(c) => write!(f, "goto {c}"),
            Rule::GotoOneIn(k, c) => write!(f, "numgen random mod {k} == 0 goto {c}"),
            Rule::AffinityRecall(set, c) => write!(f, "ip saddr @{set} goto {c}"),
            Rule::AffinityRemember(set) => write!(f, "update @{set} {{ ip saddr }}"),
            Rule::DnatTo(p, ep) => write!(f, "meta l4proto {} dnat ip to {ep}", p.as_str()),
            Rule::DnatOneOf(n) => write!(
                f,
                "dnat ip to ip daddr . meta l4proto . th dport . numgen random mod {n} map @{SERVICE_ENDPOINTS}"
            ),
        }
    }
}

/// The shared chain balancing over n endpoints.
pub fn pick_chain(n: u32) -> String {
    format!("dnat-1-of-{n}")
}

/// The chain `dnat-1-of-<n>`.
pub fn pick_chain_of(n: u32) -> Chain {
    Chain {
        name: pick_chain(n),
        hook: None,
        rules: vec![Rule::DnatOneOf(n)],
    }
}

/// A base chain's hook.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Hook {
    /// "nat" or "filter".
    pub kind: &'static str,
    /// "prerouting", "output", …
    pub hook: &'static str,
    pub priority: i32,
}

impl Hook {
    /// The kernel's NF_INET_* number.
    pub fn number(&self) -> u32 {
        match self.hook {
            "prerouting" => 0,
            "input" => 1,
            "forward" => 2,
            "output" => 3,
            _ => 4, // postrouting
        }
    }
}

impl fmt::Display for Hook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "type {} hook {} priority {}; policy accept;",
            self.kind, self.hook, self.priority
        )
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Chain {
    pub name: String,
    pub hook: Option<Hook>,
    pub rules: Vec<Rule>,
}

/// The fixed part of the table: dispatch, reject, masquerade and hook chains.
pub fn skeleton() -> Vec<Chain> {
    let chain = |name: &str, hook: Option<Hook>, rules: Vec<Rule>| Chain {
        name: name.into(),
        hook,
        rules,
    };
    let hook = |kind, hook, priority| Some(Hook { kind, hook, priority });
    [
        chain(SERVICES_CHAIN, None, vec![Rule::Dispatch(SERVICE_IPS)]),
        chain(ENDPOINTS_CHECK, None, vec![Rule::Dispatch(NO_ENDPOINTS)]),
        chain(REJECT_CHAIN, None, vec![Rule::Reject]),
        chain(DROP_CHAIN, None, vec![Rule::Drop]),
        chain(MARK_MASQ, None, vec![Rule::SetMasqMark]),
        chain(
            MASQUERADING,
            None,
            vec![Rule::ReturnUnlessMarked, Rule::ClearMasqMark, Rule::Masquerade],
        ),
    ]
    .into_iter()
    .chain(
        // Base chains last: nothing is hooked until everything they reach exists.
        [
            (
                "nat-prerouting",
                "nat",
                "prerouting",
                -100,
                vec![Rule::Jump(SERVICES_CHAIN)],
            ),
            (
                "nat-output",
                "nat",
                "output",
                -100,
                vec![Rule::Jump(SERVICES_CHAIN)],
            ),
            (
                "nat-postrouting",
                "nat",
                "postrouting",
                100,
                vec![Rule::Hairpin, Rule::Jump(MASQUERADING)],
            ),
            (
                "filter-forward",
                "filter",
                "forward",
                -110,
                vec![Rule::NewJump(ENDPOINTS_CHECK)],
            ),
            (
                "filter-output",
                "filter",
                "output",
                -110,
                vec![Rule::NewJump(ENDPOINTS_CHECK)],
            ),
            // NodePorts without (local) endpoints: new connections to the
            // node's own address.
            (
                "filter-input",
                "filter",
                "input",
                -110,
                vec![Rule::NewJump(ENDPOINTS_CHECK)],
            ),
        ]
        .into_iter()
        .map(|(name, kind, h, priority, rules)| chain(name, hook(kind, h, priority), rules)),
    )
    .collect()
}
