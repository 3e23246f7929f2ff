//! recvmmsg/sendmmsg batching: under load one system call moves up to
//! BATCH queries in and their answers out, instead of two calls per query.

use std::io;
use std::mem::{size_of, zeroed};
use std::os::fd::{AsRawFd, RawFd};

/// Packets per system call.
pub const BATCH: usize = 32;
/// Receive buffer per packet; larger queries are cut and answered FORMERR.
const PKT: usize = 4096;

/// Reusable buffers and kernel message headers for one worker.
pub struct Batch {
    bufs: Vec<u8>,
    addrs: Vec<libc::sockaddr_storage>,
    iov: Vec<libc::iovec>,
    hdrs: Vec<libc::mmsghdr>,
    lens: Vec<usize>,
    /// Answers to send, with the index of the query they answer.
    pub out: Vec<Vec<u8>>,
    out_idx: Vec<usize>,
    n_out: usize,
}

impl Default for Batch {
    fn default() -> Self {
        Self::new()
    }
}

impl Batch {
    pub fn new() -> Self {
        Batch {
            bufs: vec![0; BATCH * PKT],
            // SAFETY: sockaddr_storage, iovec and mmsghdr are plain C structs
            // for which all-zero bytes are a valid value.
            addrs: (0..BATCH).map(|_| unsafe { zeroed() }).collect(),
            iov: (0..BATCH).map(|_| unsafe { zeroed() }).collect(),
            hdrs: (0..BATCH).map(|_| unsafe { zeroed() }).collect(),
            lens: vec![0; BATCH],
            out: (0..BATCH).map(|_| Vec::with_capacity(1024)).collect(),
            out_idx: vec![0; BATCH],
            n_out: 0,
        }
    }

    /// Receives up to BATCH packets (blocking for the first, per the
    /// socket's read timeout). Returns how many arrived.
    pub fn recv(&mut self, sock: &impl AsRawFd) -> io::Result<usize> {
        let fd: RawFd = sock.as_raw_fd();
        for i in 0..BATCH {
            self.iov[i] = libc::iovec {
                iov_base: self.bufs[i * PKT..].as_mut_ptr().cast(),
                iov_len: PKT,
            };
            let h = &mut self.hdrs[i];
            h.msg_hdr.msg_name = (&mut self.addrs[i] as *mut libc::sockaddr_storage).cast();
            h.msg_hdr.msg_namelen = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
            h.msg_hdr.msg_iov = &mut self.iov[i];
            h.msg_hdr.msg_iovlen = 1;
            h.msg_hdr.msg_control = std::ptr::null_mut();
            h.msg_hdr.msg_controllen = 0;
            h.msg_hdr.msg_flags = 0;
            h.msg_len = 0;
        }
        // SAFETY: every header points into buffers owned by self that
        // outlive the call; lengths match the buffers.
        let n = unsafe {
            libc::recvmmsg(
                fd,
                self.hdrs.as_mut_ptr(),
                BATCH as libc::c_uint,
                libc::MSG_WAITFORONE,
                std::ptr::null_mut(),
            )
        };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        let n = n as usize;
        for i in 0..n {
            self.lens[i] = (self.hdrs[i].msg_len as usize).min(PKT);
        }
        self.n_out = 0;
        Ok(n)
    }

    /// The i-th received packet.
    pub fn packet(&self, i: usize) -> &[u8] {
        &self.bufs[i * PKT..i * PKT + self.lens[i]]
    }

    /// The i-th packet's source address.
    pub fn peer(&self, i: usize) -> Option<std::net::SocketAddr> {
        let ss = &self.addrs[i];
        match i32::from(ss.ss_family) {
            libc::AF_INET => {
                // SAFETY: the family says the storage holds a sockaddr_in.
                let a: &libc::sockaddr_in = unsafe { &*(ss as *const _ as *const libc::sockaddr_in) };
                let ip = std::net::Ipv4Addr::from(u32::from_be(a.sin_addr.s_addr));
                Some((ip, u16::from_be(a.sin_port)).into())
            }
            libc::AF_INET6 => {
                // SAFETY: the family says the storage holds a sockaddr_in6.
                let a: &libc::sockaddr_in6 = unsafe { &*(ss as *const _ as *const libc::sockaddr_in6) };
                let ip = std::net::Ipv6Addr::from(a.sin6_addr.s6_addr);
                Some((ip, u16::from_be(a.sin6_port)).into())
            }
            _ => None,
        }
    }

    /// A buffer for the answer to packet `i`; call [`Batch::commit`] to send it.
    pub fn take_out(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.out[self.n_out])
    }

    /// Queues `buf` as the answer to packet `i`.
    pub fn commit(&mut self, i: usize, buf: Vec<u8>) {
        self.out[self.n_out] = buf;
        self.out_idx[self.n_out] = i;
        self.n_out += 1;
    }

    /// Gives back an unused buffer from [`Batch::take_out`].
    pub fn give_back(&mut self, buf: Vec<u8>) {
        self.out[self.n_out] = buf;
    }

    /// Sends every queued answer to its query's source.
    pub fn send(&mut self, sock: &impl AsRawFd) {
        let fd = sock.as_raw_fd();
        let mut done = 0;
        for k in 0..self.n_out {
            let i = self.out_idx[k];
            self.iov[k] = libc::iovec {
                iov_base: self.out[k].as_mut_ptr().cast(),
                iov_len: self.out[k].len(),
            };
            let namelen = match i32::from(self.addrs[i].ss_family) {
                libc::AF_INET6 => size_of::<libc::sockaddr_in6>(),
                _ => size_of::<libc::sockaddr_in>(),
            };
            let h = &mut self.hdrs[k];
            h.msg_hdr.msg_name = (&mut self.addrs[i] as *mut libc::sockaddr_storage).cast();
            h.msg_hdr.msg_namelen = namelen as libc::socklen_t;
            h.msg_hdr.msg_iov = &mut self.iov[k];
            h.msg_hdr.msg_iovlen = 1;
            h.msg_len = 0;
        }
        while done < self.n_out {
            // SAFETY: headers k < n_out point at live buffers in self.
            let n = unsafe {
                libc::sendmmsg(
                    fd,
                    self.hdrs[done..].as_mut_ptr(),
                    (self.n_out - done) as libc::c_uint,
                    0,
                )
            };
            if n <= 0 {
                // Skip the message that failed (e.g. unreachable peer).
                done += 1;
            } else {
                done += n as usize;
            }
        }
        self.n_out = 0;
    }
}
