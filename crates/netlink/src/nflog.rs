//! NFLOG: the packets netfilter rules hand to a log group (iptables
//! `-j NFLOG --nflog-group N`, nft `log group N`), read from an
//! nfnetlink_log socket of the caller's network namespace. The messages
//! are a few fixed layouts (linux/netfilter/nfnetlink_log.h), written and
//! read here by hand: a group binds with one config message, and each
//! logged packet arrives as one message of attributes.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::time::Duration;

use netlink_sys::{protocols::NETLINK_NETFILTER, Socket, SocketAddr};

use crate::{Error, Result};

const NFNL_SUBSYS_ULOG: u16 = 4;
const NFULNL_MSG_PACKET: u16 = 0;
const NFULNL_MSG_CONFIG: u16 = 1;
const NFULA_CFG_CMD: u16 = 1;
const NFULA_CFG_MODE: u16 = 2;
const NFULNL_CFG_CMD_BIND: u8 = 1;
const NFULNL_COPY_PACKET: u8 = 2;
const NFULA_IFINDEX_INDEV: u16 = 4;
const NFULA_IFINDEX_OUTDEV: u16 = 5;
const NFULA_PAYLOAD: u16 = 9;
const NFULA_PREFIX: u16 = 10;
const NLMSG_ERROR: u16 = 2;
const NLM_F_REQUEST: u16 = 1;
const NLM_F_ACK: u16 = 4;
/// Attribute type bits that are flags, not the type.
const NLA_TYPE_MASK: u16 = 0x3fff;
/// Bytes of each packet copied: the IP and transport headers are enough.
const COPY_RANGE: u32 = 128;

/// One packet a rule logged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggedPacket {
    /// The rule's log prefix.
    pub prefix: String,
    /// The packet from its network header on (at most 128 bytes).
    pub payload: Vec<u8>,
    pub in_ifindex: Option<u32>,
    pub out_ifindex: Option<u32>,
}

fn align4(n: usize) -> usize {
    (n + 3) & !3
}

fn attr(out: &mut Vec<u8>, kind: u16, data: &[u8]) {
    let len = 4 + data.len();
    out.extend_from_slice(&(len as u16).to_ne_bytes());
    out.extend_from_slice(&kind.to_ne_bytes());
    out.extend_from_slice(data);
    out.resize(align4(out.len()), 0);
}

/// A config message for `group`: bind it and copy packets.
fn bind_message(group: u16, seq: u32) -> Vec<u8> {
    // nfgenmsg: family AF_UNSPEC (0), version 0, the group (big-endian).
    let mut body = vec![0, 0];
    body.extend_from_slice(&group.to_be_bytes());
    attr(&mut body, NFULA_CFG_CMD, &[NFULNL_CFG_CMD_BIND]);
    let mut mode = COPY_RANGE.to_be_bytes().to_vec();
    mode.extend_from_slice(&[NFULNL_COPY_PACKET, 0]);
    attr(&mut body, NFULA_CFG_MODE, &mode);
    let mut msg = Vec::with_capacity(16 + body.len());
    msg.extend_from_slice(&((16 + body.len()) as u32).to_ne_bytes());
    msg.extend_from_slice(&((NFNL_SUBSYS_ULOG << 8) | NFULNL_MSG_CONFIG).to_ne_bytes());
    msg.extend_from_slice(&(NLM_F_REQUEST | NLM_F_ACK).to_ne_bytes());
    msg.extend_from_slice(&seq.to_ne_bytes());
    msg.extend_from_slice(&0u32.to_ne_bytes());
    msg.extend_from_slice(&body);
    msg
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_ne_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// What a datagram of the socket holds: logged packets, and the errno of
/// an error message (0 is an ACK).
fn parse(buf: &[u8]) -> (Vec<LoggedPacket>, Option<i32>) {
    let (mut packets, mut errno) = (Vec::new(), None);
    let mut at = 0;
    while let (Some(len), Some(kind)) = (u32_at(buf, at), u16_at(buf, at + 4)) {
        let len = len as usize;
        if len < 16 || at + len > buf.len() {
            break;
        }
        let msg = &buf[at + 16..at + len];
        if kind == NLMSG_ERROR {
            errno = u32_at(msg, 0).map(|e| -(e as i32));
        } else if kind == (NFNL_SUBSYS_ULOG << 8) | NFULNL_MSG_PACKET {
            packets.push(packet(msg));
        }
        at += align4(len);
    }
    (packets, errno)
}

/// A packet message's attributes, after its 4-byte nfgenmsg.
fn packet(msg: &[u8]) -> LoggedPacket {
    let mut p = LoggedPacket {
        prefix: String::new(),
        payload: Vec::new(),
        in_ifindex: None,
        out_ifindex: None,
    };
    let mut at = 4;
    while let (Some(len), Some(kind)) = (u16_at(msg, at), u16_at(msg, at + 2)) {
        let len = usize::from(len);
        if len < 4 || at + len > msg.len() {
            break;
        }
        let data = &msg[at + 4..at + len];
        let be32 = || {
            data.get(..4)
                .map(|b| u32::from_be_bytes(b.try_into().expect("4 bytes")))
        };
        match kind & NLA_TYPE_MASK {
            NFULA_PREFIX => {
                p.prefix =
                    String::from_utf8_lossy(data.split(|b| *b == 0).next().unwrap_or_default()).into_owned()
            }
            NFULA_PAYLOAD => p.payload = data.to_vec(),
            NFULA_IFINDEX_INDEV => p.in_ifindex = be32(),
            NFULA_IFINDEX_OUTDEV => p.out_ifindex = be32(),
            _ => {}
        }
        at += align4(len);
    }
    p
}

/// A log group of the caller's network namespace, bound for this socket's
/// life (one reader per group: a second one is refused with EBUSY).
pub struct NflogGroup {
    socket: Socket,
    group: u16,
    buf: Vec<u8>,
}

impl NflogGroup {
    pub fn bind(group: u16) -> Result<Self> {
        let what = format!("nflog group {group}");
        let mut socket = Socket::new(NETLINK_NETFILTER)
            .map_err(|e| Error::io(format!("opening a netfilter socket for {what}"), e))?;
        socket
            .bind_auto()
            .map_err(|e| Error::io(format!("binding the socket of {what}"), e))?;
        socket
            .connect(&SocketAddr::new(0, 0))
            .map_err(|e| Error::io(format!("connecting the socket of {what}"), e))?;
        socket
            .send(&bind_message(group, 1), 0)
            .map_err(|e| Error::io(format!("binding {what}"), e))?;
        let mut me = NflogGroup {
            socket,
            group,
            buf: vec![0; 64 * 1024],
        };
        let n = me
            .socket
            .recv(&mut &mut me.buf[..], 0)
            .map_err(|e| Error::io(format!("reading the answer to binding {what}"), e))?;
        match parse(&me.buf[..n]).1 {
            Some(0) => Ok(me),
            Some(errno) => Err(Error::io(
                format!("binding {what} (another reader has it?)"),
                std::io::Error::from_raw_os_error(errno),
            )),
            None => Err(Error::io(
                format!("binding {what}"),
                std::io::Error::other("no answer from nfnetlink_log"),
            )),
        }
    }

    pub fn group(&self) -> u16 {
        self.group
    }

    /// The packets logged until `timeout` passes without one (none then).
    pub fn recv(&mut self, timeout: Duration) -> Result<Vec<LoggedPacket>> {
        // SAFETY: the socket is ours and outlives this borrow.
        let fd = unsafe { BorrowedFd::borrow_raw(self.socket.as_raw_fd()) };
        let mut fds = [nix::poll::PollFd::new(fd.as_fd(), nix::poll::PollFlags::POLLIN)];
        let ms = u16::try_from(timeout.as_millis()).unwrap_or(u16::MAX);
        let ready = nix::poll::poll(&mut fds, nix::poll::PollTimeout::from(ms)).map_err(|e| {
            Error::io(
                format!("waiting on nflog group {}", self.group),
                std::io::Error::from(e),
            )
        })?;
        if ready == 0 {
            return Ok(vec![]);
        }
        let n = self
            .socket
            .recv(&mut &mut self.buf[..], 0)
            .map_err(|e| Error::io(format!("reading nflog group {}", self.group), e))?;
        Ok(parse(&self.buf[..n]).0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bind_message_is_the_kernel_layout() {
        let m = bind_message(1818, 7);
        // nlmsghdr 16 + nfgenmsg 4 + cmd attr 8 + mode attr 12.
        assert_eq!(m.len(), 40);
        assert_eq!(u32_at(&m, 0), Some(40));
        assert_eq!(u16_at(&m, 4), Some(0x0401));
        assert_eq!(&m[18..20], &1818u16.to_be_bytes());
        assert_eq!((u16_at(&m, 20), u16_at(&m, 22), m[24]), (Some(5), Some(1), 1));
        assert_eq!((u16_at(&m, 28), u16_at(&m, 30)), (Some(10), Some(2)));
        assert_eq!(&m[32..38], &[0, 0, 0, 128, 2, 0]);
    }

    #[test]
    fn a_packet_message_and_an_error_parse() {
        let mut body = vec![2, 0, 0, 0];
        attr(&mut body, NFULA_PREFIX, b"LABY-POLICY ingress\0");
        attr(&mut body, NFULA_IFINDEX_OUTDEV | 0x8000, &7u32.to_be_bytes());
        attr(&mut body, NFULA_PAYLOAD, &[0x45, 0, 0, 20]);
        let mut buf = ((16 + body.len()) as u32).to_ne_bytes().to_vec();
        buf.extend_from_slice(&0x0400u16.to_ne_bytes());
        buf.extend_from_slice(&[0; 10]);
        buf.extend_from_slice(&body);
        let mut err = 20u32.to_ne_bytes().to_vec();
        err.extend_from_slice(&NLMSG_ERROR.to_ne_bytes());
        err.extend_from_slice(&[0; 10]);
        err.extend_from_slice(&(-16i32).to_ne_bytes());
        buf.extend_from_slice(&err);
        let (packets, errno) = parse(&buf);
        assert_eq!(
            packets,
            vec![LoggedPacket {
                prefix: "LABY-POLICY ingress".into(),
                payload: vec![0x45, 0, 0, 20],
                in_ifindex: None,
                out_ifindex: Some(7),
            }]
        );
        assert_eq!(errno, Some(16));
    }
}
