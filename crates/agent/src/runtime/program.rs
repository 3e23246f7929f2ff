//! Installing one of our embedded programs on the node.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use anyhow::{Context, Result};

/// Put `bytes` at `path` (0755), unless they are there already; replaced
/// by rename, so a process starting meanwhile runs the old or the new one.
/// A symlink at `path` is replaced, not followed.
pub fn install(path: &Path, bytes: &[u8]) -> Result<()> {
    let is_file = std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_file());
    if is_file && std::fs::read(path).is_ok_and(|b| b == bytes) {
        return Ok(());
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
    f.write_all(bytes)?;
    f.set_permissions(std::fs::Permissions::from_mode(0o755))?;
    drop(f);
    std::fs::rename(&tmp, path).with_context(|| format!("installing {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn installs_over_a_symlink_and_only_when_changed() {
        let dir = std::env::temp_dir().join(format!("lab-agent-program-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let target = dir.join("other");
        std::fs::write(&target, b"not ours").unwrap();
        let path = dir.join("prog");
        std::os::unix::fs::symlink(&target, &path).unwrap();
        install(&path, b"#!new").unwrap();
        assert!(std::fs::symlink_metadata(&path).unwrap().file_type().is_file());
        assert_eq!(std::fs::read(&path).unwrap(), b"#!new");
        assert_eq!(
            std::fs::read(&target).unwrap(),
            b"not ours",
            "the link's target untouched"
        );
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o755);
        let before = std::fs::metadata(&path).unwrap().modified().unwrap();
        install(&path, b"#!new").unwrap();
        assert_eq!(
            std::fs::metadata(&path).unwrap().modified().unwrap(),
            before,
            "unchanged: not rewritten"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
