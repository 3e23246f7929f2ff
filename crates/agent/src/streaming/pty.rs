//! A pseudo-terminal for `exec -t`: the command gets the slave side as its
//! stdin, stdout, stderr and controlling terminal; the agent reads and writes
//! the master side and applies the client's window sizes to it.

use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};

use anyhow::{Context, Result};
use nix::pty::{openpty, Winsize};

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
    pub fn open(size: Option<TermSize>) -> Result<Pty> {
        let ws = size.map(winsize);
        let p = openpty(ws.as_ref(), None).context("allocating a pseudo-terminal")?;
        Ok(Pty {
            master: p.master,
            slave: p.slave,
        })
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
    use std::os::fd::AsFd;

    #[test]
    fn command_sees_a_terminal_of_the_given_size() {
        let pty = Pty::open(Some(TermSize {
            width: 100,
            height: 30,
        }))
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
        let pty = Pty::open(None).unwrap();
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
