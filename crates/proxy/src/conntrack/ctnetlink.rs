//! The two ctnetlink requests the flush needs, in the calling thread's
//! network namespace: dump the IPv4 table, delete one entry by its original
//! tuple. The messages are netlink-packet-netfilter's; the socket is a
//! plain NETLINK_NETFILTER one (the nf_tables batch socket has its own
//! sequence and buffer bookkeeping that a dump would disturb).

use std::io;
use std::net::{IpAddr, Ipv4Addr};
use std::os::fd::AsRawFd;

use netlink_packet_core::{
    DefaultNla, NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_ACK, NLM_F_DUMP, NLM_F_REQUEST,
};
use netlink_packet_netfilter::conntrack::{
    ConntrackAttribute, ConntrackMessage, IPTuple, ProtoTuple, Protocol, Status, Tuple,
};
use netlink_packet_netfilter::{
    NetfilterHeader, NetfilterMessage, NetfilterMessageInner, NetfilterProtoFamily,
};
use netlink_sys::{protocols::NETLINK_NETFILTER, Socket, SocketAddr};

/// What the table says an entry's id and zone are; a delete names both,
/// so it removes exactly the entry that was dumped, in its zone.
const CTA_ID: u16 = 12;
const CTA_ZONE: u16 = 18;

/// A dump's datagrams are at most 32 KiB (the kernel's cap); twice that
/// leaves room.
const RECV_BUF: usize = 64 << 10;

/// One direction of a flow: protocol number, addresses and ports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tuple4 {
    pub proto: u8,
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub sport: u16,
    pub dport: u16,
}

impl std::fmt::Display for Tuple4 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "proto {} {}:{} -> {}:{}",
            self.proto, self.src, self.sport, self.dst, self.dport
        )
    }
}

/// An entry of the table: both directions, and what identifies it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub orig: Tuple4,
    pub reply: Tuple4,
    /// A packet went back in the reply direction (IPS_SEEN_REPLY): for a
    /// UDP query, its answer came.
    pub answered: bool,
    /// CTA_ID and CTA_ZONE as the kernel sent them.
    ids: Vec<DefaultNla>,
}

impl Entry {
    #[cfg(test)]
    pub fn new(orig: Tuple4, reply: Tuple4, answered: bool) -> Entry {
        Entry {
            orig,
            reply,
            answered,
            ids: vec![],
        }
    }
}

pub struct Ctnetlink {
    sock: Socket,
    seq: u32,
    buf: Vec<u8>,
}

impl Ctnetlink {
    /// A ctnetlink socket in the calling thread's namespace.
    pub fn open() -> io::Result<Ctnetlink> {
        let mut sock = Socket::new(NETLINK_NETFILTER)?;
        sock.bind_auto()?;
        // An answer never comes only if something is badly wrong; say so
        // rather than hang the sync loop.
        let timeout = libc::timeval {
            tv_sec: 10,
            tv_usec: 0,
        };
        // SAFETY: a timeval we own, alive for the call, of the size passed.
        let rc = unsafe {
            libc::setsockopt(
                sock.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVTIMEO,
                &timeout as *const libc::timeval as *const libc::c_void,
                std::mem::size_of::<libc::timeval>() as libc::socklen_t,
            )
        };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Ctnetlink {
            sock,
            seq: 1,
            buf: vec![0; RECV_BUF],
        })
    }

    /// Every IPv4 entry (those of other families or unparsed shapes are
    /// left out: nothing to flush there).
    pub fn dump_ipv4(&mut self) -> io::Result<Vec<Entry>> {
        let seq = self.send(ConntrackMessage::Get(vec![]), NLM_F_REQUEST | NLM_F_DUMP)?;
        let mut entries = Vec::new();
        loop {
            for msg in self.receive(seq)? {
                match msg.payload {
                    NetlinkPayload::Done(_) => return Ok(entries),
                    NetlinkPayload::Error(e) => {
                        return Err(io::Error::new(
                            e.to_io().kind(),
                            format!("dumping the table: {e}"),
                        ))
                    }
                    NetlinkPayload::InnerMessage(NetfilterMessage {
                        inner: NetfilterMessageInner::Conntrack(ConntrackMessage::New(attrs)),
                        ..
                    }) => entries.extend(entry(&attrs)),
                    _ => {}
                }
            }
        }
    }

    /// Delete `e`; `false` if it was already gone (expired, or deleted by
    /// someone else since the dump).
    pub fn delete(&mut self, e: &Entry) -> io::Result<bool> {
        let mut attrs = vec![ConntrackAttribute::CtaTupleOrig(tuple_attrs(&e.orig))];
        attrs.extend(e.ids.iter().cloned().map(ConntrackAttribute::Other));
        let seq = self.send(ConntrackMessage::Delete(attrs), NLM_F_REQUEST | NLM_F_ACK)?;
        loop {
            for msg in self.receive(seq)? {
                if let NetlinkPayload::Error(err) = msg.payload {
                    return match err.code {
                        None => Ok(true),
                        Some(c) if c.get() == -libc::ENOENT => Ok(false),
                        Some(_) => Err(io::Error::new(
                            err.to_io().kind(),
                            format!("deleting {}: {err}", e.orig),
                        )),
                    };
                }
            }
        }
    }

    fn send(&mut self, msg: ConntrackMessage, flags: u16) -> io::Result<u32> {
        self.seq = self.seq.wrapping_add(1);
        let mut header = NetlinkHeader::default();
        header.flags = flags;
        header.sequence_number = self.seq;
        let nf = NetfilterMessage::new(NetfilterHeader::new(NetfilterProtoFamily::IPv4, 0, 0), msg);
        let mut packet = NetlinkMessage::new(header, NetlinkPayload::from(nf));
        packet.finalize();
        let mut bytes = vec![0; packet.buffer_len()];
        packet.serialize(&mut bytes);
        self.sock.send_to(&bytes, &SocketAddr::new(0, 0), 0)?;
        Ok(self.seq)
    }

    /// The messages of one datagram that answer request `seq`.
    fn receive(&mut self, seq: u32) -> io::Result<Vec<NetlinkMessage<NetfilterMessage>>> {
        let n = self
            .sock
            .recv(&mut &mut self.buf[..], 0)
            .map_err(|e| match e.kind() {
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => {
                    io::Error::new(e.kind(), "no answer from ctnetlink within 10 s")
                }
                _ => e,
            })?;
        let mut out = Vec::new();
        let mut at = 0;
        while at + 16 <= n {
            let msg = NetlinkMessage::<NetfilterMessage>::deserialize(&self.buf[at..n])
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("ctnetlink answer: {e}")))?;
            let len = msg.header.length as usize;
            if len < 16 {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("ctnetlink answer with length {len}"),
                ));
            }
            at += (len + 3) & !3;
            if msg.header.sequence_number == seq {
                out.push(msg);
            }
        }
        Ok(out)
    }
}

/// The entry in a dumped message, if it is IPv4 with ports (or none).
fn entry(attrs: &[ConntrackAttribute]) -> Option<Entry> {
    let mut orig = None;
    let mut reply = None;
    let mut answered = false;
    let mut ids = Vec::new();
    for a in attrs {
        match a {
            ConntrackAttribute::CtaTupleOrig(t) => orig = tuple4(t),
            ConntrackAttribute::CtaTupleReply(t) => reply = tuple4(t),
            ConntrackAttribute::CtaStatus(st) => answered = st.contains(Status::SeenReply),
            ConntrackAttribute::Other(nla) if matches!(nla_kind(nla), CTA_ID | CTA_ZONE) => {
                ids.push(nla.clone())
            }
            _ => {}
        }
    }
    Some(Entry {
        orig: orig?,
        reply: reply?,
        answered,
        ids,
    })
}

fn nla_kind(nla: &DefaultNla) -> u16 {
    use netlink_packet_core::Nla;
    nla.kind()
}

fn tuple4(parts: &[Tuple]) -> Option<Tuple4> {
    let (mut src, mut dst, mut proto) = (None, None, None);
    let (mut sport, mut dport) = (0, 0);
    for p in parts {
        match p {
            Tuple::Ip(ips) => {
                for ip in ips {
                    match ip {
                        IPTuple::SourceAddress(IpAddr::V4(a)) => src = Some(*a),
                        IPTuple::DestinationAddress(IpAddr::V4(a)) => dst = Some(*a),
                        _ => {}
                    }
                }
            }
            Tuple::Proto(ps) => {
                for pt in ps {
                    match pt {
                        ProtoTuple::Protocol(p) => proto = Some(u8::from(*p)),
                        ProtoTuple::SourcePort(p) => sport = *p,
                        ProtoTuple::DestinationPort(p) => dport = *p,
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    Some(Tuple4 {
        proto: proto?,
        src: src?,
        dst: dst?,
        sport,
        dport,
    })
}

fn tuple_attrs(t: &Tuple4) -> Vec<Tuple> {
    vec![
        Tuple::Ip(vec![
            IPTuple::SourceAddress(t.src.into()),
            IPTuple::DestinationAddress(t.dst.into()),
        ]),
        Tuple::Proto(vec![
            ProtoTuple::Protocol(Protocol::from(t.proto)),
            ProtoTuple::SourcePort(t.sport),
            ProtoTuple::DestinationPort(t.dport),
        ]),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(proto: u8, src: [u8; 4], sport: u16, dst: [u8; 4], dport: u16) -> Tuple4 {
        Tuple4 {
            proto,
            src: src.into(),
            dst: dst.into(),
            sport,
            dport,
        }
    }

    #[test]
    fn an_entry_reads_back_from_the_attributes_a_delete_sends() {
        let orig = t(17, [10, 0, 1, 5], 40000, [10, 96, 0, 10], 53);
        let reply = t(17, [10, 0, 2, 7], 53, [10, 0, 1, 5], 40000);
        let id = DefaultNla::new(CTA_ID, 7u32.to_be_bytes().to_vec());
        let attrs = vec![
            ConntrackAttribute::CtaTupleOrig(tuple_attrs(&orig)),
            ConntrackAttribute::CtaTupleReply(tuple_attrs(&reply)),
            ConntrackAttribute::CtaMark(0),
            ConntrackAttribute::Other(id.clone()),
        ];
        assert_eq!(
            entry(&attrs),
            Some(Entry {
                orig,
                reply,
                answered: false,
                ids: vec![id.clone()]
            })
        );
        // The status tells whether the answer came.
        let mut answered = attrs;
        answered.push(ConntrackAttribute::CtaStatus(
            Status::Confirmed | Status::DstNat | Status::SeenReply,
        ));
        assert!(entry(&answered).unwrap().answered);
    }

    #[test]
    fn an_entry_without_both_directions_is_left_out() {
        let orig = t(6, [1, 2, 3, 4], 1, [5, 6, 7, 8], 2);
        assert_eq!(
            entry(&[ConntrackAttribute::CtaTupleOrig(tuple_attrs(&orig))]),
            None
        );
    }
}
