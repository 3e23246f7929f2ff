//! host-local's on-disk layout, so either implementation can read the other's
//! state: `<dataDir>/<network>/` holds one file per reserved IP (named by the
//! address, containing `<container id>\r\n<ifname>`), `last_reserved_ip.0`
//! for round-robin, and an empty `lock` file that every operation flocks.

use std::borrow::Cow;
use std::ffi::CStr;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::net::Ipv4Addr;
use std::ops::ControlFlow;
use std::os::fd::{AsRawFd, BorrowedFd, RawFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use nix::dir::Dir;
use nix::fcntl::{openat, Flock, FlockArg, OFlag};
use nix::sys::stat::Mode;

/// host-local writes Windows line breaks; we write the same and read both.
const LINE_BREAK: &str = "\r\n";
const LAST_RESERVED: &str = "last_reserved_ip.0";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reservation {
    pub ip: Ipv4Addr,
    pub container_id: String,
    /// Absent in files written by old host-local versions.
    pub ifname: Option<String>,
}

impl Reservation {
    /// Does this reservation belong to the attachment (id, ifname)?
    pub fn belongs_to(&self, id: &str, ifname: &str) -> bool {
        Owner {
            container_id: &self.container_id,
            ifname: self.ifname.as_deref(),
        }
        .belongs_to(id, ifname)
    }
}

/// A reservation file's owner, borrowed from the bytes read (the store's
/// own: callers get [`Reservation`]s).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Owner<'a> {
    container_id: &'a str,
    ifname: Option<&'a str>,
}

impl<'a> Owner<'a> {
    /// `<container id>` then `<ifname>` on the next line (either line
    /// break; blank lines and surrounding spaces ignored).
    fn parse(text: &'a str) -> Owner<'a> {
        let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
        Owner {
            container_id: lines.next().unwrap_or_default(),
            ifname: lines.next(),
        }
    }

    fn belongs_to(&self, id: &str, ifname: &str) -> bool {
        self.container_id == id && self.ifname.is_none_or(|i| i == ifname)
    }
}

/// The network's IPAM directory, held under its flock while this lives.
pub struct Locked {
    dir: PathBuf,
    _lock: Flock<File>,
}

impl Locked {
    /// Lock `dir` (creating it if `create`); `Ok(None)` if it does not exist
    /// and we were not to create it (nothing was ever reserved there).
    pub fn open(dir: &Path, create: bool) -> io::Result<Option<Locked>> {
        if create {
            fs::create_dir_all(dir)?;
        } else if !dir.is_dir() {
            return Ok(None);
        }
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .open(dir.join("lock"))?;
        let lock = Flock::lock(file, FlockArg::LockExclusive).map_err(|(_, errno)| io::Error::from(errno))?;
        Ok(Some(Locked {
            dir: dir.to_path_buf(),
            _lock: lock,
        }))
    }

    pub fn reservations(&self) -> io::Result<Vec<Reservation>> {
        let mut out = Vec::new();
        self.scan(|ip, owner| {
            out.push(Reservation {
                ip,
                container_id: owner.container_id.to_string(),
                ifname: owner.ifname.map(str::to_string),
            });
            ControlFlow::Continue(())
        })?;
        Ok(out)
    }

    /// The first reservation (id, ifname) holds, if any: what every ADD
    /// asks before it reserves, so it reads the files in place.
    pub fn held_by(&self, id: &str, ifname: &str) -> io::Result<Option<Ipv4Addr>> {
        let mut found = None;
        self.scan(|ip, owner| {
            if owner.belongs_to(id, ifname) {
                found = Some(ip);
                return ControlFlow::Break(());
            }
            ControlFlow::Continue(())
        })?;
        Ok(found)
    }

    /// Visit every reservation file until `f` breaks. Every ADD reads them
    /// all (the container's own may be among them, as host-local's
    /// `GetByID` checks), so a node's N-th pod costs N reads: each is
    /// opened relative to the directory (no walk of the whole path, which
    /// on a node's overlay crosses both layers per component) and read
    /// into a buffer on the stack, with nothing allocated per file.
    fn scan(&self, mut f: impl FnMut(Ipv4Addr, Owner<'_>) -> ControlFlow<()>) -> io::Result<()> {
        let mut dir = Dir::open(
            &self.dir,
            OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .map_err(io::Error::from)?;
        let fd = dir.as_raw_fd();
        let mut buf = [0u8; 512];
        for entry in dir.iter() {
            let entry = entry.map_err(io::Error::from)?;
            let Some(ip) = entry
                .file_name()
                .to_str()
                .ok()
                .and_then(|n| n.parse::<Ipv4Addr>().ok())
            else {
                continue;
            };
            let data = match read_at(fd, entry.file_name(), &mut buf) {
                Ok(d) => d,
                // Released by someone not honouring the lock; skip it.
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            };
            let text =
                std::str::from_utf8(&data).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
            if f(ip, Owner::parse(text)).is_break() {
                break;
            }
        }
        Ok(())
    }

    /// Reserve `ip`; false if it is taken already.
    pub fn reserve(&self, ip: Ipv4Addr, id: &str, ifname: &str) -> io::Result<bool> {
        let path = self.dir.join(ip.to_string());
        let mut f = match OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o644)
            .open(&path)
        {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => return Ok(false),
            Err(e) => return Err(e),
        };
        if let Err(e) = f.write_all(format!("{}{LINE_BREAK}{ifname}", id.trim()).as_bytes()) {
            let _ = fs::remove_file(&path);
            return Err(e);
        }
        Ok(true)
    }

    pub fn remove(&self, ip: Ipv4Addr) -> io::Result<()> {
        match fs::remove_file(self.dir.join(ip.to_string())) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    pub fn last_reserved(&self) -> Option<Ipv4Addr> {
        fs::read_to_string(self.dir.join(LAST_RESERVED))
            .ok()?
            .trim()
            .parse()
            .ok()
    }

    pub fn set_last_reserved(&self, ip: Ipv4Addr) -> io::Result<()> {
        fs::write(self.dir.join(LAST_RESERVED), ip.to_string())
    }
}

/// A reservation file's bytes, read relative to the directory `dir`: in
/// `buf` when they fit (a container id and an interface name always do),
/// else in a buffer grown to the file. A short read of a regular file is
/// its end, so no statx for the size and no second read to see the end.
fn read_at<'b>(dir: RawFd, name: &CStr, buf: &'b mut [u8]) -> io::Result<Cow<'b, [u8]>> {
    let fd = openat(
        // SAFETY: `dir` is the descriptor of a Dir the caller holds open.
        unsafe { BorrowedFd::borrow_raw(dir) },
        name,
        OFlag::O_RDONLY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(io::Error::from)?;
    let mut file = File::from(fd);
    let n = read_full(&mut file, buf)?;
    if n < buf.len() {
        return Ok(Cow::Borrowed(&buf[..n]));
    }
    let mut more = buf.to_vec();
    file.read_to_end(&mut more)?;
    Ok(Cow::Owned(more))
}

/// Read until `buf` is full or the file ends; how many bytes came.
fn read_full(file: &mut File, buf: &mut [u8]) -> io::Result<usize> {
    let mut len = 0;
    while len < buf.len() {
        match file.read(&mut buf[len..]) {
            Ok(0) => break,
            Ok(n) => len += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(len)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_are_read_whole_at_any_length() {
        let dir = std::env::temp_dir().join(format!("lab-cni-small-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let d = Dir::open(&dir, OFlag::O_RDONLY | OFlag::O_DIRECTORY, Mode::empty()).unwrap();
        for len in [0, 1, 255, 256, 257, 600, 1024] {
            let name = format!("f{len}");
            let text: String = (0..len).map(|i| char::from(b'a' + (i % 26) as u8)).collect();
            fs::write(dir.join(&name), &text).unwrap();
            let mut buf = [0u8; 256];
            let c = std::ffi::CString::new(name).unwrap();
            let got = read_at(d.as_raw_fd(), &c, &mut buf).unwrap();
            assert_eq!(&got[..], text.as_bytes(), "{len} bytes");
            // Within the buffer nothing is allocated.
            assert_eq!(matches!(got, Cow::Borrowed(_)), len < 256, "{len} bytes");
        }
        assert_eq!(
            read_at(d.as_raw_fd(), c"missing", &mut [0u8; 8])
                .unwrap_err()
                .kind(),
            io::ErrorKind::NotFound
        );
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn owners_parse_as_host_local_writes_them() {
        let o = Owner::parse("abc\r\neth0");
        assert_eq!((o.container_id, o.ifname), ("abc", Some("eth0")));
        assert!(o.belongs_to("abc", "eth0") && !o.belongs_to("abc", "eth1") && !o.belongs_to("ab", "eth0"));
        // Old host-local: the id alone, any interface.
        let o = Owner::parse(" old \n\n");
        assert_eq!((o.container_id, o.ifname), ("old", None));
        assert!(o.belongs_to("old", "eth3"));
        assert_eq!(Owner::parse("").container_id, "");
    }
}
