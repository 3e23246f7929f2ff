//! A pseudo-terminal for `exec -t`: the command gets the slave side as its
//! stdin, stdout, stderr and controlling terminal; the agent reads and writes
//! the master side and applies the client's window sizes to it. The
//! terminal is one of the container's own devpts (opened through its
//! process's root), so that in the container it is a `/dev/pts/N` of its
//! own, as a runtime's console is.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::{Context, Result};
use nix::pty::Winsize;

use super::protocol::TermSize;

pub struct Pty {
    pub master: OwnedFd,
    slave: OwnedFd,
}

fn winsize(size: TermSize) -> Winsize {
    Winsize {
        ws_row: size.height,
        ws_col: size.width,
        ws_xpixel: 0,
        ws_ypixel: 0,
    }
}

impl Pty {
    /// A new terminal of the devpts whose multiplexer is `ptmx` (a
    /// container's `/dev/ptmx`, as `/proc/PID/root/dev/ptmx`).
    pub fn open(ptmx: &Path, size: Option<TermSize>) -> Result<Pty> {
        let master: OwnedFd = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NOCTTY | libc::O_CLOEXEC)
            .open(ptmx)
            .with_context(|| format!("allocating a pseudo-terminal: {}", ptmx.display()))?
            .into();
        let fd = master.as_raw_fd();
        let unlock: libc::c_int = 0;
        // SAFETY: TIOCSPTLCK reads one int from the pointer.
        if unsafe { libc::ioctl(fd, libc::TIOCSPTLCK, &unlock) } < 0 {
            return Err(std::io::Error::last_os_error()).context("unlocking the pseudo-terminal");
        }
        // TIOCGPTPEER opens the slave from the master itself, in the
        // master's devpts, without a path the agent would have to resolve.
        // SAFETY: it takes open flags and returns a new descriptor.
        let s = unsafe {
            libc::ioctl(
                fd,
                libc::TIOCGPTPEER,
                libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC,
            )
        };
        if s < 0 {
            return Err(std::io::Error::last_os_error()).context("opening the pseudo-terminal's slave");
        }
        // SAFETY: `s` is a descriptor the call just opened, owned by nobody else.
        let slave = unsafe { OwnedFd::from_raw_fd(s) };
        if let Some(size) = size {
            resize(master.as_fd(), size)?;
        }
        Ok(Pty { master, slave })
    }

    /// Make the slave the command's terminal: its three standard streams and,
    /// in a new session, its controlling terminal. The slave is consumed (the
    /// agent must not keep it open, or reading the master never ends).
    pub fn attach(self, cmd: &mut Command) -> Result<OwnedFd> {
        let Pty { master, slave } = self;
        cmd.stdin(Stdio::from(slave.try_clone()?))
            .stdout(Stdio::from(slave.try_clone()?))
            .stderr(Stdio::from(slave));
        // SAFETY: setsid and ioctl are async-signal-safe.
        unsafe {
            cmd.pre_exec(|| {
                nix::unistd::setsid().map_err(std::io::Error::from)?;
                if libc::ioctl(0, libc::TIOCSCTTY, 0) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        Ok(master)
    }
}

/// Apply a window size to the terminal (the foreground job gets SIGWINCH).
pub fn resize(master: BorrowedFd<'_>, size: TermSize) -> Result<()> {
    let ws = winsize(size);
    // SAFETY: TIOCSWINSZ reads one struct winsize from the pointer.
    let rc = unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCSWINSZ, &ws as *const Winsize) };
    if rc < 0 {
        return Err(std::io::Error::last_os_error()).context("setting the terminal size");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn command_sees_a_terminal_of_the_given_size() {
        let pty = Pty::open(
            Path::new("/dev/ptmx"),
            Some(TermSize {
                width: 100,
                height: 30,
            }),
        )
        .unwrap();
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "tty; stty size"]);
        let master = pty.attach(&mut cmd).unwrap();
        let mut child = cmd.spawn().unwrap();
        drop(cmd);
        let status = child.wait().unwrap();
        assert!(status.success());
        let mut out = Vec::new();
        let mut f = std::fs::File::from(master);
        // Reading the master ends with EIO once the slave is closed.
        let mut buf = [0u8; 1024];
        loop {
            match f.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => out.extend_from_slice(&buf[..n]),
            }
        }
        let text = String::from_utf8_lossy(&out);
        assert!(text.contains("/dev/pts/"), "{text}");
        assert!(text.contains("30 100"), "{text}");
    }

    #[test]
    fn resize_applies() {
        let pty = Pty::open(Path::new("/dev/ptmx"), None).unwrap();
        resize(
            pty.master.as_fd(),
            TermSize {
                width: 90,
                height: 20,
            },
        )
        .unwrap();
        let mut ws = Winsize {
            ws_row: 0,
            ws_col: 0,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        // SAFETY: TIOCGWINSZ writes one struct winsize.
        let rc = unsafe { libc::ioctl(pty.slave.as_raw_fd(), libc::TIOCGWINSZ, &mut ws as *mut Winsize) };
        assert_eq!(rc, 0);
        assert_eq!((ws.ws_row, ws.ws_col), (20, 90));
    }
}
