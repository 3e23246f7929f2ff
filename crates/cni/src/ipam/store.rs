//! host-local's on-disk layout, so either implementation can read the other's
//! state: `<dataDir>/<network>/` holds one file per reserved IP (named by the
//! address, containing `<container id>\r\n<ifname>`), `last_reserved_ip.0`
//! for round-robin, and an empty `lock` file that every operation flocks.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::net::Ipv4Addr;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};

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
        self.container_id == id && self.ifname.as_deref().is_none_or(|i| i == ifname)
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
        for entry in fs::read_dir(&self.dir)? {
            let entry = entry?;
            let Some(ip) = entry
                .file_name()
                .to_str()
                .and_then(|n| n.parse::<Ipv4Addr>().ok())
            else {
                continue;
            };
            let data = match read_small(&entry.path()) {
                Ok(d) => d,
                // Released by someone not honouring the lock; skip it.
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            };
            let mut lines = data.lines().map(str::trim).filter(|l| !l.is_empty());
            let container_id = lines.next().unwrap_or_default().to_string();
            let ifname = lines.next().map(str::to_string);
            out.push(Reservation {
                ip,
                container_id,
                ifname,
            });
        }
        Ok(out)
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

/// A reservation file's few bytes. Every ADD reads every reservation (to
/// find the container's own), so this skips what `read_to_string` adds per
/// file: a statx for the size and a second read to see the end. A short
/// read of a regular file is its end.
fn read_small(path: &std::path::Path) -> io::Result<String> {
    use std::io::Read;
    let mut f = fs::File::open(path)?;
    let mut buf = vec![0u8; 256];
    let mut len = 0;
    loop {
        let n = f.read(&mut buf[len..])?;
        len += n;
        if len < buf.len() {
            break;
        }
        buf.resize(buf.len() * 2, 0);
    }
    buf.truncate(len);
    String::from_utf8(buf).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_reads_give_whole_files_of_any_length() {
        let dir = std::env::temp_dir().join(format!("lab-cni-small-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        for len in [0, 1, 255, 256, 257, 600, 1024] {
            let path = dir.join(format!("f{len}"));
            let text: String = (0..len).map(|i| char::from(b'a' + (i % 26) as u8)).collect();
            fs::write(&path, &text).unwrap();
            assert_eq!(read_small(&path).unwrap(), text, "{len} bytes");
        }
        assert_eq!(
            read_small(&dir.join("missing")).unwrap_err().kind(),
            io::ErrorKind::NotFound
        );
        fs::remove_dir_all(&dir).unwrap();
    }
}
