//! IPv4 routes in the main table.

use std::net::Ipv4Addr;

use netlink_packet_core::{NLM_F_CREATE, NLM_F_REPLACE};
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteHeader, RouteMessage, RouteProtocol, RouteScope, RouteType,
};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};

use crate::{Handle, Result};

/// What to install: `dst/prefix_len` via an optional gateway out of an
/// optional device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteSpec {
    pub dst: Ipv4Addr,
    pub prefix_len: u8,
    pub gateway: Option<Ipv4Addr>,
    pub oif: Option<u32>,
    /// Link scope for a directly connected destination (no gateway).
    pub link_scope: bool,
    /// Gateway reachable on the device although no address says so.
    pub onlink: bool,
    pub src: Option<Ipv4Addr>,
}

/// A route decoded from a dump of the main table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub dst: Ipv4Addr,
    pub prefix_len: u8,
    pub gateway: Option<Ipv4Addr>,
    pub oif: Option<u32>,
    pub src: Option<Ipv4Addr>,
    pub scope_link: bool,
    /// Who installed it (RTPROT_*; ours use their own number).
    pub protocol: u8,
}

/// RTPROT_STATIC, what `ip route add` uses.
pub const PROTO_STATIC: u8 = 4;

fn message(spec: &RouteSpec, protocol: u8) -> RouteMessage {
    let mut msg = RouteMessage::default();
    msg.header.address_family = AddressFamily::Inet;
    msg.header.destination_prefix_length = spec.prefix_len;
    msg.header.table = RouteHeader::RT_TABLE_MAIN;
    msg.header.protocol = RouteProtocol::from(protocol);
    msg.header.kind = RouteType::Unicast;
    msg.header.scope = if spec.link_scope {
        RouteScope::Link
    } else {
        RouteScope::Universe
    };
    if spec.onlink {
        msg.header.flags = netlink_packet_route::route::RouteFlags::Onlink;
    }
    if spec.prefix_len > 0 {
        msg.attributes
            .push(RouteAttribute::Destination(RouteAddress::Inet(spec.dst)));
    }
    if let Some(gw) = spec.gateway {
        msg.attributes
            .push(RouteAttribute::Gateway(RouteAddress::Inet(gw)));
    }
    if let Some(oif) = spec.oif {
        msg.attributes.push(RouteAttribute::Oif(oif));
    }
    if let Some(src) = spec.src {
        msg.attributes
            .push(RouteAttribute::PrefSource(RouteAddress::Inet(src)));
    }
    msg
}

impl Handle {
    /// Install (or replace) a route.
    pub fn add_route(&mut self, spec: &RouteSpec) -> Result<()> {
        self.add_route_with_protocol(spec, PROTO_STATIC)
    }

    /// Install (or replace) a route tagged with `protocol`, so its owner can
    /// later find exactly its own routes in a dump.
    pub fn add_route_with_protocol(&mut self, spec: &RouteSpec, protocol: u8) -> Result<()> {
        let op = format!("adding route {}/{}", spec.dst, spec.prefix_len);
        self.exec(
            RouteNetlinkMessage::NewRoute(message(spec, protocol)),
            NLM_F_CREATE | NLM_F_REPLACE,
            &op,
        )
    }

    /// Delete a route; deleting one that is gone is not an error.
    pub fn del_route(&mut self, spec: &RouteSpec) -> Result<bool> {
        let op = format!("deleting route {}/{}", spec.dst, spec.prefix_len);
        match self.exec(RouteNetlinkMessage::DelRoute(message(spec, 0)), 0, &op) {
            Ok(()) => Ok(true),
            Err(e) if e.errno() == Some(nix::errno::Errno::ESRCH) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// IPv4 routes of the main table.
    pub fn routes(&mut self) -> Result<Vec<Route>> {
        let mut req = RouteMessage::default();
        req.header.address_family = AddressFamily::Inet;
        let replies = self.dump(RouteNetlinkMessage::GetRoute(req), "listing routes")?;
        Ok(replies
            .into_iter()
            .filter_map(|m| match m {
                RouteNetlinkMessage::NewRoute(r) if r.header.table == RouteHeader::RT_TABLE_MAIN => {
                    Some(decode(&r))
                }
                _ => None,
            })
            .collect())
    }
}

fn decode(r: &RouteMessage) -> Route {
    let mut route = Route {
        dst: Ipv4Addr::UNSPECIFIED,
        prefix_len: r.header.destination_prefix_length,
        gateway: None,
        oif: None,
        src: None,
        scope_link: r.header.scope == RouteScope::Link,
        protocol: u8::from(r.header.protocol),
    };
    for a in &r.attributes {
        match a {
            RouteAttribute::Destination(RouteAddress::Inet(d)) => route.dst = *d,
            RouteAttribute::Gateway(RouteAddress::Inet(g)) => route.gateway = Some(*g),
            RouteAttribute::Oif(o) => route.oif = Some(*o),
            RouteAttribute::PrefSource(RouteAddress::Inet(s)) => route.src = Some(*s),
            _ => {}
        }
    }
    route
}

/// What `ip route get DST` answers: the kernel's own route decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteDecision {
    pub dst: Ipv4Addr,
    pub gateway: Option<Ipv4Addr>,
    pub oif: Option<u32>,
    pub src: Option<Ipv4Addr>,
    /// Delivered to this namespace itself (RTN_LOCAL).
    pub local: bool,
}

impl Handle {
    /// Ask the kernel which route it would take to `dst` (RTM_GETROUTE, as
    /// `ip route get`). "No route" comes back as the kernel's errno
    /// (ENETUNREACH / EHOSTUNREACH) in the error.
    pub fn route_get(&mut self, dst: Ipv4Addr) -> Result<RouteDecision> {
        let mut msg = RouteMessage::default();
        msg.header.address_family = AddressFamily::Inet;
        msg.header.destination_prefix_length = 32;
        msg.attributes
            .push(RouteAttribute::Destination(RouteAddress::Inet(dst)));
        let replies = self.request(
            RouteNetlinkMessage::GetRoute(msg),
            0,
            &format!("looking up the route to {dst}"),
        )?;
        let reply = replies.into_iter().find_map(|m| match m {
            RouteNetlinkMessage::NewRoute(r) => Some(r),
            _ => None,
        });
        let Some(r) = reply else {
            return Err(crate::Error::Decode {
                op: format!("looking up the route to {dst} in {}", self.label()),
                detail: "no answer".into(),
            });
        };
        let route = decode(&r);
        Ok(RouteDecision {
            dst,
            gateway: route.gateway,
            oif: route.oif,
            src: route.src,
            local: r.header.kind == RouteType::Local,
        })
    }
}
