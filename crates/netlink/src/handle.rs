//! The netlink socket and the request/reply loop.

use netlink_packet_core::{
    NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_ACK, NLM_F_DUMP, NLM_F_REQUEST,
};
use netlink_packet_route::RouteNetlinkMessage;
use netlink_sys::{protocols::NETLINK_ROUTE, Socket, SocketAddr};

use crate::netns::NetNs;
use crate::{Error, Result};

/// An rtnetlink socket bound to one network namespace for its whole life.
pub struct Handle {
    socket: Socket,
    seq: u32,
    label: String,
    buf: Vec<u8>,
}

impl Handle {
    /// A socket in the caller's own network namespace.
    pub fn current(label: impl Into<String>) -> Result<Self> {
        let label = label.into();
        let mut socket = Socket::new(NETLINK_ROUTE)
            .map_err(|e| Error::io(format!("opening netlink socket in {label}"), e))?;
        socket
            .bind_auto()
            .map_err(|e| Error::io(format!("binding netlink socket in {label}"), e))?;
        socket
            .connect(&SocketAddr::new(0, 0))
            .map_err(|e| Error::io(format!("connecting netlink socket in {label}"), e))?;
        // Extended acks make the kernel say *which* attribute it disliked; the
        // errno alone is still what we report, so failure here is harmless.
        let _ = socket.set_ext_ack(true);
        Ok(Handle {
            socket,
            seq: 0,
            label,
            buf: vec![0; 64 * 1024],
        })
    }

    /// A socket opened inside `ns` (the socket keeps that namespace for life).
    pub fn in_netns(ns: &NetNs) -> Result<Self> {
        let label = ns.label().to_string();
        ns.run(move || Handle::current(label))?
    }

    pub fn label(&self) -> &str {
        &self.label
    }

    /// Send one request and wait for its ACK (or error).
    pub(crate) fn exec(&mut self, msg: RouteNetlinkMessage, flags: u16, op: &str) -> Result<()> {
        self.request(msg, flags | NLM_F_ACK, op).map(|_| ())
    }

    /// Send a dump request and collect every reply message.
    pub(crate) fn dump(&mut self, msg: RouteNetlinkMessage, op: &str) -> Result<Vec<RouteNetlinkMessage>> {
        self.request(msg, NLM_F_DUMP, op)
    }

    /// Send a request and collect replies until ACK/DONE or an error.
    pub(crate) fn request(
        &mut self,
        msg: RouteNetlinkMessage,
        flags: u16,
        op: &str,
    ) -> Result<Vec<RouteNetlinkMessage>> {
        let op = format!("{op} in {}", self.label);
        self.seq = self.seq.wrapping_add(1);
        let mut header = NetlinkHeader::default();
        header.flags = NLM_F_REQUEST | flags;
        header.sequence_number = self.seq;
        let mut req = NetlinkMessage::new(header, NetlinkPayload::from(msg));
        req.finalize();
        let mut out = vec![0u8; req.header.length as usize];
        req.serialize(&mut out);
        self.socket.send(&out, 0).map_err(|e| Error::io(op.clone(), e))?;

        let is_dump = flags & NLM_F_DUMP == NLM_F_DUMP;
        let mut replies = Vec::new();
        loop {
            let n = self.recv(&op)?;
            let mut offset = 0;
            while offset < n {
                let msg: NetlinkMessage<RouteNetlinkMessage> =
                    NetlinkMessage::deserialize(&self.buf[offset..n]).map_err(|e| Error::Decode {
                        op: op.clone(),
                        detail: e.to_string(),
                    })?;
                let len = msg.header.length as usize;
                if msg.header.sequence_number != self.seq {
                    // A stale reply to an earlier request; skip it.
                    offset += len.max(1);
                    continue;
                }
                match msg.payload {
                    NetlinkPayload::Done(_) => return Ok(replies),
                    NetlinkPayload::Error(e) => match e.code {
                        None => return Ok(replies),
                        Some(code) => {
                            return Err(Error::Kernel {
                                op,
                                errno: nix::errno::Errno::from_raw(-code.get()),
                            })
                        }
                    },
                    NetlinkPayload::InnerMessage(m) => replies.push(m),
                    _ => {}
                }
                if len == 0 {
                    break;
                }
                offset += len;
            }
            if !is_dump && flags & NLM_F_ACK == 0 {
                return Ok(replies);
            }
        }
    }

    fn recv(&mut self, op: &str) -> Result<usize> {
        loop {
            let mut slice = &mut self.buf[..];
            match self.socket.recv(&mut slice, 0) {
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(Error::io(op.to_string(), e)),
            }
        }
    }
}
