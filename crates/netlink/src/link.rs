//! Links: create (bridge, veth, vxlan), move between namespaces, configure,
//! list and delete.

use std::net::Ipv4Addr;
use std::os::fd::AsRawFd;

use netlink_packet_core::{NLM_F_CREATE, NLM_F_EXCL};
use netlink_packet_route::link::{
    InfoData, InfoKind, InfoVeth, InfoVxlan, LinkAttribute, LinkFlags, LinkInfo, LinkMessage,
};
use netlink_packet_route::RouteNetlinkMessage;

use crate::netns::NetNs;
use crate::{Error, Handle, Result};

/// What we know of one link, decoded from a dump.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub index: u32,
    pub name: String,
    pub mtu: u32,
    pub up: bool,
    pub kind: LinkKind,
    /// Index of the bridge this link is enslaved to, if any.
    pub master: Option<u32>,
    /// Index of the peer (veth) or lower device, in its own namespace.
    pub link: Option<u32>,
    /// The namespace id (as seen from this namespace) the peer lives in.
    pub link_netnsid: Option<i32>,
    pub mac: Option<[u8; 6]>,
    /// A VXLAN device in collect-metadata ("external") mode.
    pub collect_metadata: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkKind {
    Loopback,
    Bridge,
    Veth,
    Vxlan,
    Other(String),
    /// A device without IFLA_LINKINFO (physical NICs, loopback).
    Plain,
}

/// A veth pair: `name` stays here, `peer` goes to `peer_netns` (if given).
pub struct VethSpec<'a> {
    pub name: &'a str,
    pub peer: &'a str,
    pub peer_netns: Option<&'a NetNs>,
    pub mtu: Option<u32>,
}

/// A VXLAN device bound to UDP `port`, with a fixed VNI; or, with
/// `collect_metadata`, in "external" mode: every packet's tunnel key (VNI,
/// remote) comes from whoever sends it (eBPF programs), and `vni`, `local`
/// and `underlay_index` are not used (iproute2 refuses a VNI there too).
pub struct VxlanSpec<'a> {
    pub name: &'a str,
    pub vni: u32,
    pub port: u16,
    pub local: Option<Ipv4Addr>,
    pub underlay_index: Option<u32>,
    pub mtu: Option<u32>,
    pub learning: bool,
    pub collect_metadata: bool,
}

fn new_link_message(index: u32) -> LinkMessage {
    let mut msg = LinkMessage::default();
    msg.header.index = index;
    msg
}

impl Handle {
    /// Every link in this namespace.
    pub fn links(&mut self) -> Result<Vec<Link>> {
        let replies = self.dump(
            RouteNetlinkMessage::GetLink(LinkMessage::default()),
            "listing links",
        )?;
        Ok(replies
            .into_iter()
            .filter_map(|m| match m {
                RouteNetlinkMessage::NewLink(l) => Some(decode_link(&l)),
                _ => None,
            })
            .collect())
    }

    /// One link by name, or `None` if there is no such link.
    pub fn link_by_name(&mut self, name: &str) -> Result<Option<Link>> {
        let mut msg = LinkMessage::default();
        msg.attributes.push(LinkAttribute::IfName(name.to_string()));
        match self.request(
            RouteNetlinkMessage::GetLink(msg),
            0,
            &format!("looking up link {name}"),
        ) {
            Ok(replies) => Ok(replies.into_iter().find_map(|m| match m {
                RouteNetlinkMessage::NewLink(l) => Some(decode_link(&l)),
                _ => None,
            })),
            Err(e) if e.errno() == Some(nix::errno::Errno::ENODEV) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The index of a link that must exist.
    pub fn index_of(&mut self, name: &str) -> Result<u32> {
        self.link_by_name(name)?
            .map(|l| l.index)
            .ok_or_else(|| Error::Kernel {
                op: format!("looking up link {name} in {}", self.label()),
                errno: nix::errno::Errno::ENODEV,
            })
    }

    pub fn add_bridge(&mut self, name: &str, mtu: Option<u32>) -> Result<()> {
        let mut msg = LinkMessage::default();
        msg.attributes.push(LinkAttribute::IfName(name.to_string()));
        if let Some(mtu) = mtu {
            msg.attributes.push(LinkAttribute::Mtu(mtu));
        }
        msg.attributes
            .push(LinkAttribute::LinkInfo(vec![LinkInfo::Kind(InfoKind::Bridge)]));
        self.exec(
            RouteNetlinkMessage::NewLink(msg),
            NLM_F_CREATE | NLM_F_EXCL,
            &format!("creating bridge {name}"),
        )
    }

    /// Create a veth pair; the peer is created directly in its namespace so
    /// there is never a moment where it sits, misnamed, in ours.
    /// Both ends get one TX and one RX queue from the start (as `ip link
    /// add … numtxqueues 1 numrxqueues 1`): left unset, the kernel makes
    /// one per CPU and then cuts the active count to one, and cutting it
    /// waits for an RCU grace period while holding the RTNL lock, which
    /// stalls every other netlink change and namespace creation on the
    /// node (a burst of pod starts queues behind it). One queue is what a
    /// veth uses anyway unless resized with ethtool.
    pub fn add_veth(&mut self, spec: &VethSpec<'_>) -> Result<()> {
        let mut peer = LinkMessage::default();
        peer.attributes.push(LinkAttribute::IfName(spec.peer.to_string()));
        peer.attributes.push(LinkAttribute::NumTxQueues(1));
        peer.attributes.push(LinkAttribute::NumRxQueues(1));
        if let Some(mtu) = spec.mtu {
            peer.attributes.push(LinkAttribute::Mtu(mtu));
        }
        if let Some(ns) = spec.peer_netns {
            peer.attributes
                .push(LinkAttribute::NetNsFd(ns.file().as_raw_fd()));
        }
        let mut msg = LinkMessage::default();
        msg.attributes.push(LinkAttribute::IfName(spec.name.to_string()));
        msg.attributes.push(LinkAttribute::NumTxQueues(1));
        msg.attributes.push(LinkAttribute::NumRxQueues(1));
        if let Some(mtu) = spec.mtu {
            msg.attributes.push(LinkAttribute::Mtu(mtu));
        }
        msg.attributes.push(LinkAttribute::LinkInfo(vec![
            LinkInfo::Kind(InfoKind::Veth),
            LinkInfo::Data(InfoData::Veth(InfoVeth::Peer(peer))),
        ]));
        let op = match spec.peer_netns {
            Some(ns) => format!(
                "creating veth {} with peer {} in {}",
                spec.name,
                spec.peer,
                ns.label()
            ),
            None => format!("creating veth {} with peer {}", spec.name, spec.peer),
        };
        self.exec(RouteNetlinkMessage::NewLink(msg), NLM_F_CREATE | NLM_F_EXCL, &op)
    }

    pub fn add_vxlan(&mut self, spec: &VxlanSpec<'_>) -> Result<()> {
        let mut data = vec![InfoVxlan::Port(spec.port), InfoVxlan::Learning(spec.learning)];
        if spec.collect_metadata {
            data.push(InfoVxlan::CollectMetadata(true));
        } else {
            data.push(InfoVxlan::Id(spec.vni));
            if let Some(local) = spec.local {
                data.push(InfoVxlan::Local(local));
            }
            if let Some(idx) = spec.underlay_index {
                data.push(InfoVxlan::Link(idx));
            }
        }
        let mut msg = LinkMessage::default();
        msg.attributes.push(LinkAttribute::IfName(spec.name.to_string()));
        if let Some(mtu) = spec.mtu {
            msg.attributes.push(LinkAttribute::Mtu(mtu));
        }
        msg.attributes.push(LinkAttribute::LinkInfo(vec![
            LinkInfo::Kind(InfoKind::Vxlan),
            LinkInfo::Data(InfoData::Vxlan(data)),
        ]));
        self.exec(
            RouteNetlinkMessage::NewLink(msg),
            NLM_F_CREATE | NLM_F_EXCL,
            &format!(
                "creating vxlan {} (vni {}, udp {})",
                spec.name, spec.vni, spec.port
            ),
        )
    }

    pub fn set_up(&mut self, index: u32) -> Result<()> {
        let mut msg = new_link_message(index);
        msg.header.flags = LinkFlags::Up;
        msg.header.change_mask = LinkFlags::Up;
        self.exec(
            RouteNetlinkMessage::SetLink(msg),
            0,
            &format!("setting link {index} up"),
        )
    }

    pub fn set_down(&mut self, index: u32) -> Result<()> {
        let mut msg = new_link_message(index);
        msg.header.flags = LinkFlags::empty();
        msg.header.change_mask = LinkFlags::Up;
        self.exec(
            RouteNetlinkMessage::SetLink(msg),
            0,
            &format!("setting link {index} down"),
        )
    }

    /// Rename a link (the kernel wants it down first).
    pub fn rename(&mut self, index: u32, name: &str) -> Result<()> {
        let mut msg = new_link_message(index);
        msg.attributes.push(LinkAttribute::IfName(name.to_string()));
        self.exec(
            RouteNetlinkMessage::SetLink(msg),
            0,
            &format!("renaming link {index} to {name}"),
        )
    }

    /// Turn ARP on or off (`ip link set … arp off`): with it off, frames
    /// routed out the device go to the device's own MAC, no neighbour asked.
    pub fn set_arp(&mut self, index: u32, on: bool) -> Result<()> {
        let mut msg = new_link_message(index);
        msg.header.flags = if on { LinkFlags::empty() } else { LinkFlags::Noarp };
        msg.header.change_mask = LinkFlags::Noarp;
        self.exec(
            RouteNetlinkMessage::SetLink(msg),
            0,
            &format!("setting arp {} on link {index}", if on { "on" } else { "off" }),
        )
    }

    pub fn set_mtu(&mut self, index: u32, mtu: u32) -> Result<()> {
        let mut msg = new_link_message(index);
        msg.attributes.push(LinkAttribute::Mtu(mtu));
        self.exec(
            RouteNetlinkMessage::SetLink(msg),
            0,
            &format!("setting mtu {mtu} on link {index}"),
        )
    }

    pub fn set_master(&mut self, index: u32, master: u32) -> Result<()> {
        let mut msg = new_link_message(index);
        msg.attributes.push(LinkAttribute::Controller(master));
        self.exec(
            RouteNetlinkMessage::SetLink(msg),
            0,
            &format!("attaching link {index} to bridge {master}"),
        )
    }

    pub fn set_mac(&mut self, index: u32, mac: [u8; 6]) -> Result<()> {
        let mut msg = new_link_message(index);
        msg.attributes.push(LinkAttribute::Address(mac.to_vec()));
        self.exec(
            RouteNetlinkMessage::SetLink(msg),
            0,
            &format!("setting mac on link {index}"),
        )
    }

    /// Move a link into another namespace, optionally renaming it on the way.
    pub fn move_to_netns(&mut self, index: u32, ns: &NetNs, new_name: Option<&str>) -> Result<()> {
        let mut msg = new_link_message(index);
        msg.attributes.push(LinkAttribute::NetNsFd(ns.file().as_raw_fd()));
        if let Some(name) = new_name {
            msg.attributes.push(LinkAttribute::IfName(name.to_string()));
        }
        self.exec(
            RouteNetlinkMessage::SetLink(msg),
            0,
            &format!("moving link {index} to {}", ns.label()),
        )
    }

    pub fn del_link(&mut self, index: u32) -> Result<()> {
        self.exec(
            RouteNetlinkMessage::DelLink(new_link_message(index)),
            0,
            &format!("deleting link {index}"),
        )
    }

    /// Delete a link by name; a missing link is not an error (teardown is
    /// repeatable).
    pub fn del_link_by_name(&mut self, name: &str) -> Result<bool> {
        match self.link_by_name(name)? {
            Some(l) => self.del_link(l.index).map(|_| true),
            None => Ok(false),
        }
    }
}

fn decode_link(msg: &LinkMessage) -> Link {
    let mut link = Link {
        index: msg.header.index,
        name: String::new(),
        mtu: 0,
        up: msg.header.flags.contains(LinkFlags::Up),
        kind: if msg.header.flags.contains(LinkFlags::Loopback) {
            LinkKind::Loopback
        } else {
            LinkKind::Plain
        },
        master: None,
        link: None,
        link_netnsid: None,
        mac: None,
        collect_metadata: false,
    };
    for attr in &msg.attributes {
        match attr {
            LinkAttribute::IfName(n) => link.name = n.clone(),
            LinkAttribute::Mtu(m) => link.mtu = *m,
            LinkAttribute::Controller(m) => link.master = Some(*m),
            LinkAttribute::Link(l) => link.link = Some(*l),
            LinkAttribute::LinkNetNsId(id) => link.link_netnsid = Some(*id),
            LinkAttribute::Address(a) if a.len() == 6 => {
                let mut mac = [0u8; 6];
                mac.copy_from_slice(a);
                link.mac = Some(mac);
            }
            LinkAttribute::LinkInfo(infos) => {
                for info in infos {
                    match info {
                        LinkInfo::Kind(kind) => {
                            link.kind = match kind {
                                InfoKind::Bridge => LinkKind::Bridge,
                                InfoKind::Veth => LinkKind::Veth,
                                InfoKind::Vxlan => LinkKind::Vxlan,
                                other => LinkKind::Other(other.to_string()),
                            }
                        }
                        LinkInfo::Data(InfoData::Vxlan(data)) => {
                            link.collect_metadata = data.contains(&InfoVxlan::CollectMetadata(true));
                        }
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    link
}
