//! Interface addresses.

use std::net::IpAddr;

use netlink_packet_core::{NLM_F_CREATE, NLM_F_EXCL, NLM_F_REPLACE};
use netlink_packet_route::address::{AddressAttribute, AddressMessage, AddressScope};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};

use crate::{Handle, Result};

/// One address on one link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Addr {
    pub index: u32,
    pub addr: IpAddr,
    pub prefix_len: u8,
}

/// The message naming `addr/prefix_len` on link `index`.
fn address_message(index: u32, addr: IpAddr, prefix_len: u8) -> AddressMessage {
    let mut msg = AddressMessage::default();
    msg.header.family = match addr {
        IpAddr::V4(_) => AddressFamily::Inet,
        IpAddr::V6(_) => AddressFamily::Inet6,
    };
    msg.header.prefix_len = prefix_len;
    msg.header.index = index;
    msg.attributes.push(AddressAttribute::Local(addr));
    msg.attributes.push(AddressAttribute::Address(addr));
    msg
}

impl Handle {
    /// Add `addr/prefix_len` to link `index` (replacing an identical one, so a
    /// retried setup converges instead of failing with EEXIST).
    pub fn add_addr(&mut self, index: u32, addr: IpAddr, prefix_len: u8) -> Result<()> {
        let mut msg = address_message(index, addr, prefix_len);
        msg.header.scope = AddressScope::Universe;
        self.exec(
            RouteNetlinkMessage::NewAddress(msg),
            NLM_F_CREATE | NLM_F_REPLACE,
            &format!("adding address {addr}/{prefix_len} to link {index}"),
        )
    }

    /// Add an address that must not exist yet.
    pub fn add_addr_exclusive(&mut self, index: u32, addr: IpAddr, prefix_len: u8) -> Result<()> {
        let msg = address_message(index, addr, prefix_len);
        self.exec(
            RouteNetlinkMessage::NewAddress(msg),
            NLM_F_CREATE | NLM_F_EXCL,
            &format!("adding address {addr}/{prefix_len} to link {index}"),
        )
    }

    /// Remove `addr/prefix_len` from link `index`; Ok(false) when it was not
    /// there (a holder giving an address up converges either way).
    pub fn del_addr(&mut self, index: u32, addr: IpAddr, prefix_len: u8) -> Result<bool> {
        let present = self
            .addrs()?
            .iter()
            .any(|a| a.index == index && a.addr == addr && a.prefix_len == prefix_len);
        if !present {
            return Ok(false);
        }
        let msg = address_message(index, addr, prefix_len);
        self.exec(
            RouteNetlinkMessage::DelAddress(msg),
            0,
            &format!("removing address {addr}/{prefix_len} from link {index}"),
        )?;
        Ok(true)
    }

    /// Every address in this namespace.
    pub fn addrs(&mut self) -> Result<Vec<Addr>> {
        let replies = self.dump(
            RouteNetlinkMessage::GetAddress(AddressMessage::default()),
            "listing addresses",
        )?;
        Ok(replies
            .into_iter()
            .filter_map(|m| match m {
                RouteNetlinkMessage::NewAddress(a) => {
                    let addr = a.attributes.iter().find_map(|attr| match attr {
                        AddressAttribute::Local(ip) => Some(*ip),
                        _ => None,
                    });
                    let addr = addr.or_else(|| {
                        a.attributes.iter().find_map(|attr| match attr {
                            AddressAttribute::Address(ip) => Some(*ip),
                            _ => None,
                        })
                    })?;
                    Some(Addr {
                        index: a.header.index,
                        addr,
                        prefix_len: a.header.prefix_len,
                    })
                }
                _ => None,
            })
            .collect())
    }
}
