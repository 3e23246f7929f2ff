//! Static neighbours (ARP entries) and bridge forwarding entries: what a
//! VXLAN overlay without multicast needs to know about each peer (the VTEP's
//! MAC for the peer's gateway address, and which underlay IP owns that MAC).

use std::net::Ipv4Addr;

use netlink_packet_core::{NLM_F_APPEND, NLM_F_CREATE, NLM_F_REPLACE};
use netlink_packet_route::neighbour::{
    NeighbourAddress, NeighbourAttribute, NeighbourFlags, NeighbourMessage, NeighbourState,
};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};

use crate::{Handle, Result};

/// A forwarding entry on a VXLAN device: frames for `mac` go to `dst`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fdb {
    pub index: u32,
    pub mac: [u8; 6],
    pub dst: Option<Ipv4Addr>,
}

fn arp_message(index: u32, ip: Ipv4Addr, mac: Option<[u8; 6]>) -> NeighbourMessage {
    let mut msg = NeighbourMessage::default();
    msg.header.family = AddressFamily::Inet;
    msg.header.ifindex = index;
    msg.header.state = NeighbourState::Permanent;
    msg.attributes
        .push(NeighbourAttribute::Destination(NeighbourAddress::Inet(ip)));
    if let Some(mac) = mac {
        msg.attributes
            .push(NeighbourAttribute::LinkLayerAddress(mac.to_vec()));
    }
    msg
}

fn fdb_message(index: u32, mac: [u8; 6], dst: Ipv4Addr) -> NeighbourMessage {
    let mut msg = NeighbourMessage::default();
    msg.header.family = AddressFamily::Bridge;
    msg.header.ifindex = index;
    msg.header.state = NeighbourState::Permanent;
    msg.header.flags = NeighbourFlags::Own;
    msg.attributes
        .push(NeighbourAttribute::LinkLayerAddress(mac.to_vec()));
    msg.attributes
        .push(NeighbourAttribute::Destination(NeighbourAddress::Inet(dst)));
    msg
}

impl Handle {
    /// A permanent ARP entry `ip → mac` on link `index` (replacing any).
    pub fn set_neighbour(&mut self, index: u32, ip: Ipv4Addr, mac: [u8; 6]) -> Result<()> {
        self.exec(
            RouteNetlinkMessage::NewNeighbour(arp_message(index, ip, Some(mac))),
            NLM_F_CREATE | NLM_F_REPLACE,
            &format!("adding neighbour {ip} on link {index}"),
        )
    }

    /// Remove an ARP entry; a missing one is fine.
    pub fn del_neighbour(&mut self, index: u32, ip: Ipv4Addr) -> Result<()> {
        match self.exec(
            RouteNetlinkMessage::DelNeighbour(arp_message(index, ip, None)),
            0,
            &format!("deleting neighbour {ip} on link {index}"),
        ) {
            Err(e) if e.errno() == Some(nix::errno::Errno::ENOENT) => Ok(()),
            other => other,
        }
    }

    /// A VXLAN forwarding entry: frames to `mac` are sent to underlay `dst`.
    pub fn set_fdb(&mut self, index: u32, mac: [u8; 6], dst: Ipv4Addr) -> Result<()> {
        self.exec(
            RouteNetlinkMessage::NewNeighbour(fdb_message(index, mac, dst)),
            NLM_F_CREATE | NLM_F_REPLACE,
            &format!("adding fdb entry for {dst} on link {index}"),
        )
    }

    /// Append a flooding entry (all-zero MAC) so broadcast reaches `dst`.
    pub fn append_fdb(&mut self, index: u32, mac: [u8; 6], dst: Ipv4Addr) -> Result<()> {
        self.exec(
            RouteNetlinkMessage::NewNeighbour(fdb_message(index, mac, dst)),
            NLM_F_CREATE | NLM_F_APPEND,
            &format!("appending fdb entry for {dst} on link {index}"),
        )
    }

    pub fn del_fdb(&mut self, index: u32, mac: [u8; 6], dst: Ipv4Addr) -> Result<()> {
        match self.exec(
            RouteNetlinkMessage::DelNeighbour(fdb_message(index, mac, dst)),
            0,
            &format!("deleting fdb entry for {dst} on link {index}"),
        ) {
            Err(e) if e.errno() == Some(nix::errno::Errno::ENOENT) => Ok(()),
            other => other,
        }
    }

    /// Forwarding entries with a remote destination on link `index`.
    pub fn fdb(&mut self, index: u32) -> Result<Vec<Fdb>> {
        let mut req = NeighbourMessage::default();
        req.header.family = AddressFamily::Bridge;
        let replies = self.dump(RouteNetlinkMessage::GetNeighbour(req), "listing fdb")?;
        Ok(replies
            .into_iter()
            .filter_map(|m| match m {
                RouteNetlinkMessage::NewNeighbour(n) if n.header.ifindex == index => {
                    let mut mac = None;
                    let mut dst = None;
                    for a in &n.attributes {
                        match a {
                            NeighbourAttribute::LinkLayerAddress(l) if l.len() == 6 => {
                                let mut m = [0u8; 6];
                                m.copy_from_slice(l);
                                mac = Some(m);
                            }
                            NeighbourAttribute::Destination(NeighbourAddress::Inet(ip)) => dst = Some(*ip),
                            _ => {}
                        }
                    }
                    Some(Fdb {
                        index,
                        mac: mac?,
                        dst,
                    })
                }
                _ => None,
            })
            .collect())
    }
}
