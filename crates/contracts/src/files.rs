//! Files only their owner may read (private keys, kubeconfigs with tokens).
//!
//! The file is written under a temporary name beside its destination,
//! created with mode 0600 (so it is never readable by others, not even
//! while being written, and whatever mode an older file at the destination
//! had), flushed to disk, then renamed over the destination: a reader sees
//! the old file or the whole new one, never a half-written key.

use std::fs::File;
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// The mode of every private file.
pub const PRIVATE_MODE: u32 = 0o600;

/// Write `data` to `path` (replacing it) readable by its owner only. The
/// error names the path.
pub fn write_private(path: &Path, data: &[u8]) -> io::Result<()> {
    let named =
        |e: io::Error, what: &str, p: &Path| io::Error::new(e.kind(), format!("{what} {}: {e}", p.display()));
    let (mut f, tmp) = create_temp(path).map_err(|(e, tmp)| named(e, "creating", &tmp))?;
    let written = f
        .write_all(data)
        .and_then(|()| f.sync_all())
        .map_err(|e| named(e, "writing", &tmp))
        .and_then(|()| std::fs::rename(&tmp, path).map_err(|e| named(e, "renaming onto", path)));
    if written.is_err() {
        // Ours (created just now): nobody else can be using it.
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

/// Temporary names taken by this process, so two threads writing the same
/// file never share one.
static NEXT_TEMP: AtomicU64 = AtomicU64::new(0);

/// A new file, mode 0600, beside `path`. A name already taken (a leftover
/// of a crashed writer whose pid we now have) is skipped, not reused.
fn create_temp(path: &Path) -> Result<(File, PathBuf), (io::Error, PathBuf)> {
    let mut tries = 0;
    loop {
        let tmp = temp_path(path, NEXT_TEMP.fetch_add(1, Ordering::Relaxed)).map_err(|e| (e, path.into()))?;
        let opened = File::options()
            .write(true)
            .create_new(true)
            .mode(PRIVATE_MODE)
            .open(&tmp);
        match opened {
            Ok(f) => return Ok((f, tmp)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && tries < 16 => tries += 1,
            Err(e) => return Err((e, tmp)),
        }
    }
}

/// `.<name>.<pid>.<n>.tmp` in the destination's directory (a rename is
/// atomic only within one filesystem).
fn temp_path(path: &Path, n: u64) -> io::Result<PathBuf> {
    let name = path.file_name().ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("private file path {} has no file name", path.display()),
        )
    })?;
    let mut tmp = std::ffi::OsString::from(".");
    tmp.push(name);
    tmp.push(format!(".{}.{n}.tmp", std::process::id()));
    Ok(path.with_file_name(tmp))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{MetadataExt, PermissionsExt};

    fn scratch(test: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("lby-files-{test}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn mode(p: &Path) -> u32 {
        std::fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn a_new_file_is_private_and_whole() {
        let dir = scratch("new");
        let key = dir.join("tls.key");
        write_private(&key, b"-----BEGIN PRIVATE KEY-----\n").unwrap();
        assert_eq!(std::fs::read(&key).unwrap(), b"-----BEGIN PRIVATE KEY-----\n");
        assert_eq!(mode(&key), 0o600);
        let left: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(left, ["tls.key"], "no temporary file is left");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// Writing in place (open, truncate) would keep an older file's mode,
    /// and its inode: the new key would be readable by everyone who could
    /// read the old one. The replacement is a new inode, 0600 from birth.
    #[test]
    fn a_world_readable_file_is_replaced_not_rewritten() {
        let dir = scratch("replace");
        let cfg = dir.join("kubeconfig");
        std::fs::write(&cfg, "old").unwrap();
        std::fs::set_permissions(&cfg, std::fs::Permissions::from_mode(0o644)).unwrap();
        let old_inode = std::fs::metadata(&cfg).unwrap().ino();
        write_private(&cfg, b"token: secret\n").unwrap();
        assert_eq!(std::fs::read_to_string(&cfg).unwrap(), "token: secret\n");
        assert_eq!(mode(&cfg), 0o600);
        assert_ne!(std::fs::metadata(&cfg).unwrap().ino(), old_inode);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// The file is 0600 the moment it exists, before a byte is written
    /// (the mode is given to open(2) with O_CREAT|O_EXCL, not set after).
    #[test]
    fn private_from_creation() {
        let dir = scratch("creation");
        let (f, tmp) = create_temp(&dir.join("tls.key")).unwrap();
        let meta = f.metadata().unwrap();
        assert_eq!((meta.permissions().mode() & 0o777, meta.len()), (0o600, 0));
        assert_eq!(tmp.parent(), Some(dir.as_path()));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// A temporary name already taken (a crashed writer's leftover that
    /// had our pid) is neither reused nor removed: the writer takes another.
    #[test]
    fn taken_temporary_names_are_skipped_and_left_alone() {
        let dir = scratch("temp");
        let key = dir.join("ca.key");
        let next = NEXT_TEMP.load(Ordering::Relaxed);
        let stale: Vec<PathBuf> = (next..next + 4).map(|n| temp_path(&key, n).unwrap()).collect();
        for s in &stale {
            assert_eq!(s.parent(), Some(dir.as_path()));
            std::fs::write(s, "stale").unwrap();
        }
        write_private(&key, b"x").unwrap();
        assert_eq!((std::fs::read(&key).unwrap(), mode(&key)), (b"x".to_vec(), 0o600));
        for s in &stale {
            assert_eq!(std::fs::read_to_string(s).unwrap(), "stale");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn errors_name_the_path() {
        let e = write_private(Path::new("/nonexistent-dir-lby/key"), b"x").unwrap_err();
        assert!(e.to_string().contains("/nonexistent-dir-lby/.key."), "{e}");
        let e = write_private(Path::new("/"), b"x").unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
    }
}
