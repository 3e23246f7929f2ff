//! A volume's files replaced all at once, as kubelet's atomic writer does:
//! each version is written into a fresh hidden folder `..<stamp>`, the
//! link `..data` is swapped to it with one rename, and each visible name
//! is a link through `..data`. A reader (a client re-reading its token)
//! sees the old set or the new one, never half of each. Each version
//! belongs to whoever the folder belongs to (`volumes::Owner`), so a
//! renewal keeps the owner the volume was made for.

use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};

/// The link every visible name goes through.
const DATA: &str = "..data";

/// Write `files` (relative path, content, mode) as the folder's new
/// content; the previous version's folder is removed afterwards.
pub fn write(dir: &Path, files: &[(String, Vec<u8>, u32)]) -> Result<(), String> {
    let fail = |what: &Path, e: std::io::Error| format!("{}: {e}", what.display());
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let version = format!("..{stamp}");
    let vdir = dir.join(&version);
    std::fs::create_dir(&vdir).map_err(|e| fail(&vdir, e))?;
    std::fs::set_permissions(&vdir, std::fs::Permissions::from_mode(0o755)).map_err(|e| fail(&vdir, e))?;
    let owner = super::volumes::Owner::of(dir);
    owner.apply(&vdir, true).map_err(|e| fail(&vdir, e))?;
    let mut top: Vec<String> = Vec::new();
    for (rel, content, mode) in files {
        super::volumes::check_relative("path", rel)?;
        let p = vdir.join(rel);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).map_err(|e| fail(parent, e))?;
            owner.apply(parent, true).map_err(|e| fail(parent, e))?;
        }
        std::fs::write(&p, content).map_err(|e| fail(&p, e))?;
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(*mode)).map_err(|e| fail(&p, e))?;
        owner.apply(&p, false).map_err(|e| fail(&p, e))?;
        let first = rel.split('/').next().unwrap_or(rel).to_string();
        if !top.contains(&first) {
            top.push(first);
        }
    }
    let old = std::fs::read_link(dir.join(DATA)).ok();
    // The swap: a new link under a temporary name, renamed over `..data`.
    let tmp = dir.join("..data_tmp");
    let _ = std::fs::remove_file(&tmp);
    symlink(&version, &tmp).map_err(|e| fail(&tmp, e))?;
    std::fs::rename(&tmp, dir.join(DATA)).map_err(|e| fail(&tmp, e))?;
    for name in &top {
        let link = dir.join(name);
        if std::fs::symlink_metadata(&link).is_err() {
            symlink(Path::new(DATA).join(name), &link).map_err(|e| fail(&link, e))?;
        }
    }
    // Names the new version no longer has go, then the old version.
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if !name.starts_with("..") && !top.contains(&name) {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
    if let Some(old) = old.filter(|o| o.as_os_str() != version.as_str()) {
        let _ = std::fs::remove_dir_all(dir.join(old));
    }
    Ok(())
}

/// The folder's current files (relative path, content, mode) as [`write`]
/// last put them, sorted by path: what a rewrite of one file (a renewed
/// token) starts from, so that nobody keeps the others in memory.
pub fn read(dir: &Path) -> Result<Vec<(String, Vec<u8>, u32)>, String> {
    let fail = |what: &Path, e: std::io::Error| format!("{}: {e}", what.display());
    let data = dir.join(DATA);
    let mut out = Vec::new();
    let mut folders = vec![PathBuf::new()];
    while let Some(rel) = folders.pop() {
        let at = data.join(&rel);
        for e in std::fs::read_dir(&at).map_err(|e| fail(&at, e))? {
            let e = e.map_err(|e| fail(&at, e))?;
            let (path, name) = (e.path(), rel.join(e.file_name()));
            let meta = std::fs::symlink_metadata(&path).map_err(|e| fail(&path, e))?;
            if meta.is_dir() {
                folders.push(name);
            } else if meta.is_file() {
                let name = name
                    .to_str()
                    .ok_or_else(|| format!("{}: not UTF-8", path.display()))?
                    .to_string();
                let content = std::fs::read(&path).map_err(|e| fail(&path, e))?;
                out.push((name, content, meta.permissions().mode() & 0o777));
            }
        }
    }
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A folder removed when the test ends, however it ends.
    struct Dir(std::path::PathBuf);
    impl Dir {
        fn path(&self) -> &Path {
            &self.0
        }
    }
    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn a_new_version_replaces_the_old_through_one_link() {
        let root = std::env::temp_dir().join(format!("labyrinth-atomic-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).unwrap();
        let d = Dir(root);
        let files = |token: &str| {
            vec![
                ("token".to_string(), token.as_bytes().to_vec(), 0o644),
                ("sub/ca.crt".to_string(), b"CA".to_vec(), 0o600),
            ]
        };
        write(d.path(), &files("one")).unwrap();
        assert_eq!(std::fs::read_to_string(d.path().join("token")).unwrap(), "one");
        assert_eq!(
            std::fs::read_link(d.path().join("token")).unwrap(),
            Path::new("..data/token")
        );
        let first = std::fs::read_link(d.path().join(DATA)).unwrap();
        write(d.path(), &files("two")).unwrap();
        assert_eq!(std::fs::read_to_string(d.path().join("token")).unwrap(), "two");
        assert_eq!(
            std::fs::read_to_string(d.path().join("sub/ca.crt")).unwrap(),
            "CA"
        );
        let mode = std::fs::metadata(d.path().join("sub/ca.crt"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        assert!(!d.path().join(first).exists(), "the old version is gone");
        let mut names: Vec<String> = std::fs::read_dir(d.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| !n.starts_with("..") || n == DATA)
            .collect();
        names.sort();
        assert_eq!(names, ["..data", "sub", "token"]);
        // Read back as written (sorted by path).
        let mut want = files("two");
        want.sort();
        assert_eq!(read(d.path()).unwrap(), want);
        // A name the next version drops goes.
        write(d.path(), &files("three")[..1]).unwrap();
        assert_eq!(read(d.path()).unwrap(), files("three")[..1]);
        assert!(!d.path().join("sub").exists());
    }
}
