//! Sending batches to nf_tables in the calling thread's network namespace
//! and collecting the kernel's verdict on each message. The socket is kept
//! between transactions: closing a NETLINK_NETFILTER socket costs several
//! milliseconds (nf_tables cleans up after the departing port), more than
//! a small transaction itself.

use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::MetadataExt;
use std::time::Duration;

use netlink_sys::{protocols::NETLINK_NETFILTER, Socket, SocketAddr};

use super::msg::messages;

const NLMSG_ERROR: u16 = 2;

fn setsockopt<T>(sock: &Socket, level: libc::c_int, name: libc::c_int, value: T) -> io::Result<()> {
    // SAFETY: `value` is a plain value of the size we pass, alive for the call.
    let rc = unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            level,
            name,
            &value as *const T as *const libc::c_void,
            std::mem::size_of::<T>() as libc::socklen_t,
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// The calling thread's network namespace (device, inode).
fn current_netns() -> io::Result<(u64, u64)> {
    let m = std::fs::metadata("/proc/thread-self/ns/net")?;
    Ok((m.dev(), m.ino()))
}

struct Open {
    sock: Socket,
    netns: (u64, u64),
    sndbuf: usize,
}

/// A NETLINK_NETFILTER socket, opened on first use in the caller's
/// namespace and reopened if a later caller is in another one.
#[derive(Default)]
pub struct Session {
    open: Option<Open>,
    next_seq: u32,
    buf: Vec<u8>,
}

impl Session {
    /// The first sequence number for the next batch: numbers are never
    /// reused on one socket, so answers to an earlier batch cannot be
    /// mistaken for this one's.
    pub fn next_seq(&self) -> u32 {
        self.next_seq
    }

    fn socket(&mut self, batch_len: usize) -> io::Result<&Socket> {
        let netns = current_netns()?;
        if self.open.as_ref().is_some_and(|o| o.netns != netns) {
            self.open = None;
        }
        if self.open.is_none() {
            let mut sock = Socket::new(NETLINK_NETFILTER)?;
            sock.bind_auto()?;
            setsockopt(
                &sock,
                libc::SOL_SOCKET,
                libc::SO_RCVBUFFORCE,
                (4 << 20) as libc::c_int,
            )?;
            let timeout = libc::timeval {
                tv_sec: Duration::from_secs(60).as_secs() as libc::time_t,
                tv_usec: 0,
            };
            setsockopt(&sock, libc::SOL_SOCKET, libc::SO_RCVTIMEO, timeout)?;
            // Errors without a copy of the (possibly large) failing message.
            sock.set_cap_ack(true)?;
            self.open = Some(Open {
                sock,
                netns,
                sndbuf: 0,
            });
        }
        let open = self.open.as_mut().expect("opened above");
        // The socket must hold the whole batch; big ones need the FORCE
        // variant (we are root: nf_tables needs CAP_NET_ADMIN anyway).
        let want = batch_len + (1 << 16);
        if open.sndbuf < want {
            let v = want.min(i32::MAX as usize) as libc::c_int;
            setsockopt(&open.sock, libc::SOL_SOCKET, libc::SO_SNDBUFFORCE, v)?;
            open.sndbuf = want;
        }
        Ok(&open.sock)
    }

    /// Send `batch` (one sendmsg: the kernel applies a batch atomically
    /// only if it arrives whole) and wait for the ACK of `last_seq`.
    /// Returns the (seq, errno) of each rejected message; empty means
    /// committed.
    pub fn send(&mut self, batch: &[u8], begin_seq: u32, last_seq: u32) -> io::Result<Vec<(u32, i32)>> {
        // The batch-end message follows `last_seq`.
        self.next_seq = last_seq.wrapping_add(2);
        let result = self.exchange(batch, begin_seq, last_seq);
        if result.is_err() {
            // Unknown state (timeout, lost messages): start afresh next time.
            self.open = None;
        }
        result
    }

    fn exchange(&mut self, batch: &[u8], begin_seq: u32, last_seq: u32) -> io::Result<Vec<(u32, i32)>> {
        if self.buf.len() < 1 << 20 {
            self.buf = vec![0u8; 1 << 20];
        }
        let sock = self.socket(batch.len())?;
        let sent = sock.send_to(batch, &SocketAddr::new(0, 0), 0)?;
        if sent != batch.len() {
            return Err(io::Error::other(format!(
                "sent {sent} of {} bytes of the batch",
                batch.len()
            )));
        }
        let mut errors = Vec::new();
        loop {
            let sock = &self.open.as_ref().expect("socket open").sock;
            let n = sock.recv(&mut &mut self.buf[..], 0).map_err(|e| match e.kind() {
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => {
                    io::Error::new(e.kind(), "no answer from nf_tables within 60 s")
                }
                _ => e,
            })?;
            for (ty, _, _, payload) in messages(&self.buf[..n]) {
                if ty != NLMSG_ERROR || payload.len() < 4 + 16 {
                    continue;
                }
                let code = i32::from_ne_bytes(payload[..4].try_into().expect("4 bytes"));
                let seq = u32::from_ne_bytes(payload[12..16].try_into().expect("4 bytes"));
                if seq.wrapping_sub(begin_seq) > last_seq.wrapping_sub(begin_seq) {
                    continue; // left over from an earlier batch
                }
                if code != 0 {
                    errors.push((seq, -code));
                }
                // The batch header itself failing means nothing else follows.
                if seq == last_seq || (seq == begin_seq && code != 0) {
                    return Ok(errors);
                }
            }
        }
    }
}
