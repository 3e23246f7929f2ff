//! An AF_PACKET socket opened inside another network namespace: a thread
//! joins the namespace, opens and binds the socket, and ends; the socket
//! stays bound to that namespace's device for its whole life.

use std::fs::File;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::Path;
use std::time::Duration;

use anyhow::{bail, Context, Result};

use super::filter::Insn;

const ETH_P_ALL: u16 = 0x0003;

pub struct PacketSocket {
    fd: OwnedFd,
}

/// One frame as the socket returned it.
pub struct Received {
    pub len: usize,
    /// Kernel receive time, since the epoch.
    pub ts: Duration,
    /// Sent by this device (PACKET_OUTGOING) rather than received.
    pub outgoing: bool,
}

/// The device is not there (a node without a tunnel in native routing).
#[derive(Debug)]
pub struct NoSuchDevice;

impl std::fmt::Display for NoSuchDevice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("no such device")
    }
}
impl std::error::Error for NoSuchDevice {}

impl PacketSocket {
    /// Open a socket on `device` in the namespace at `ns_path`, with the
    /// filter attached before it is bound (so no unfiltered frame is ever
    /// queued on it).
    pub fn open_in(ns_path: &Path, device: &str, filter: &[Insn]) -> Result<Self> {
        let ns = File::open(ns_path).with_context(|| format!("opening {}", ns_path.display()))?;
        let device = device.to_string();
        let filter = filter.to_vec();
        std::thread::scope(|s| {
            s.spawn(|| {
                nix::sched::setns(ns.as_fd(), nix::sched::CloneFlags::CLONE_NEWNET)
                    .context("entering the network namespace")?;
                Self::open_here(&device, &filter)
            })
            .join()
            .expect("capture socket thread panicked")
        })
        .with_context(|| format!("capturing on {device} in {}", ns_path.display()))
    }

    fn open_here(device: &str, filter: &[Insn]) -> Result<Self> {
        let name = std::ffi::CString::new(device)?;
        // SAFETY: plain syscalls on a socket we own.
        unsafe {
            let index = libc::if_nametoindex(name.as_ptr());
            if index == 0 {
                return Err(anyhow::Error::new(NoSuchDevice));
            }
            // Protocol 0: nothing is queued until bind() below.
            let raw = libc::socket(
                libc::AF_PACKET,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK,
                0,
            );
            if raw < 0 {
                bail!("socket(AF_PACKET): {}", std::io::Error::last_os_error());
            }
            let fd = OwnedFd::from_raw_fd(raw);
            let prog = libc::sock_fprog {
                len: filter.len() as u16,
                filter: filter.as_ptr() as *mut _,
            };
            setsockopt(
                raw,
                libc::SOL_SOCKET,
                libc::SO_ATTACH_FILTER,
                &prog,
                "SO_ATTACH_FILTER",
            )?;
            setsockopt(
                raw,
                libc::SOL_SOCKET,
                libc::SO_TIMESTAMPNS,
                &1i32,
                "SO_TIMESTAMPNS",
            )?;
            // Room for bursts: 20k packets/s must not overflow between polls.
            setsockopt(
                raw,
                libc::SOL_SOCKET,
                libc::SO_RCVBUFFORCE,
                &(8i32 << 20),
                "SO_RCVBUFFORCE",
            )?;
            let mut sll: libc::sockaddr_ll = std::mem::zeroed();
            sll.sll_family = libc::AF_PACKET as u16;
            sll.sll_protocol = ETH_P_ALL.to_be();
            sll.sll_ifindex = index as i32;
            let r = libc::bind(
                raw,
                &sll as *const _ as *const libc::sockaddr,
                std::mem::size_of::<libc::sockaddr_ll>() as u32,
            );
            if r != 0 {
                bail!("binding to {device}: {}", std::io::Error::last_os_error());
            }
            Ok(PacketSocket { fd })
        }
    }

    pub fn raw(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// One frame, or `None` when nothing is queued.
    pub fn recv(&self, buf: &mut [u8]) -> Result<Option<Received>> {
        // SAFETY: recvmsg into buffers we own, cmsgs walked with libc macros.
        unsafe {
            let mut sll: libc::sockaddr_ll = std::mem::zeroed();
            let mut iov = libc::iovec {
                iov_base: buf.as_mut_ptr() as *mut _,
                iov_len: buf.len(),
            };
            let mut control = [0u64; 16];
            let mut msg: libc::msghdr = std::mem::zeroed();
            msg.msg_name = &mut sll as *mut _ as *mut _;
            msg.msg_namelen = std::mem::size_of::<libc::sockaddr_ll>() as u32;
            msg.msg_iov = &mut iov;
            msg.msg_iovlen = 1;
            msg.msg_control = control.as_mut_ptr() as *mut _;
            msg.msg_controllen = std::mem::size_of_val(&control);
            let n = libc::recvmsg(self.raw(), &mut msg, libc::MSG_TRUNC);
            if n < 0 {
                let e = std::io::Error::last_os_error();
                return match e.kind() {
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::Interrupted => Ok(None),
                    _ => Err(e).context("receiving a captured frame"),
                };
            }
            let mut ts = None;
            let mut c = libc::CMSG_FIRSTHDR(&msg);
            while !c.is_null() {
                if (*c).cmsg_level == libc::SOL_SOCKET && (*c).cmsg_type == libc::SCM_TIMESTAMPNS {
                    let t = std::ptr::read_unaligned(libc::CMSG_DATA(c) as *const libc::timespec);
                    ts = Some(Duration::new(t.tv_sec as u64, t.tv_nsec as u32));
                }
                c = libc::CMSG_NXTHDR(&msg, c);
            }
            let ts = ts.unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap_or_default()
            });
            Ok(Some(Received {
                len: (n as usize).min(buf.len()),
                ts,
                outgoing: sll.sll_pkttype == libc::PACKET_OUTGOING,
            }))
        }
    }

    /// Frames the kernel dropped for lack of room since the last call.
    pub fn drops(&self) -> u64 {
        // SAFETY: getsockopt into a struct we own.
        unsafe {
            let mut st: libc::tpacket_stats = std::mem::zeroed();
            let mut len = std::mem::size_of::<libc::tpacket_stats>() as u32;
            let r = libc::getsockopt(
                self.raw(),
                libc::SOL_PACKET,
                libc::PACKET_STATISTICS,
                &mut st as *mut _ as *mut _,
                &mut len,
            );
            if r == 0 {
                st.tp_drops as u64
            } else {
                0
            }
        }
    }
}

impl AsFd for PacketSocket {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

unsafe fn setsockopt<T>(fd: RawFd, level: i32, name: i32, value: &T, what: &str) -> Result<()> {
    let r = libc::setsockopt(
        fd,
        level,
        name,
        value as *const T as *const _,
        std::mem::size_of::<T>() as u32,
    );
    if r != 0 {
        bail!("{what}: {}", std::io::Error::last_os_error());
    }
    Ok(())
}
