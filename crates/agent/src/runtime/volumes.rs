//! A pod's volumes on its node: the folders the runtime makes for them
//! (`emptyDir`, the files of a `configMap` or `secret`), under the pod's
//! own folder so they go with it, and each container's mounts, which the
//! container's process (native/pause.c `volumes`) attaches in its root.

use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path, PathBuf};

use serde::{Deserialize, Serialize};

/// One mount of a container, resolved on the node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mount {
    /// A path of the node.
    pub source: PathBuf,
    /// A path of the container.
    pub target: String,
    pub read_only: bool,
    /// A file, not a folder: its mount point is an empty file.
    pub file: bool,
    /// Paths under `source` made writable again (`host_path` says why).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub writable_below: Vec<String>,
}

/// Who a volume's files belong to, as kubelet sets it: the pod's `fsGroup`
/// owns every volume but a hostPath (its folders setgid, so what a
/// container makes in them belongs to the group too, and its files
/// readable by the group), and a projected volume's files belong to
/// kubelet's fsUser (the one user every container runs as), so that a
/// container not running as root can read its token.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Owner {
    pub user: Option<u32>,
    pub group: Option<u32>,
}

impl Owner {
    /// Give `path` (a folder when `dir`) to the owner; nothing when there
    /// is none.
    pub fn apply(&self, path: &Path, dir: bool) -> std::io::Result<()> {
        if *self == Owner::default() {
            return Ok(());
        }
        // chown first: it clears a file's setgid bit, not the group's read.
        std::os::unix::fs::lchown(path, self.user, self.group)?;
        if self.group.is_some() {
            let mode = std::fs::symlink_metadata(path)?.permissions().mode() & 0o7777;
            let add = if dir { 0o2050 } else { 0o040 };
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode | add))?;
        }
        Ok(())
    }

    /// The owner `apply` gave folder `path` (root's is none).
    pub fn of(path: &Path) -> Owner {
        use std::os::unix::fs::MetadataExt;
        match std::fs::metadata(path) {
            Ok(m) => Owner {
                user: Some(m.uid()).filter(|u| *u != 0),
                group: Some(m.gid()).filter(|g| *g != 0),
            },
            Err(_) => Owner::default(),
        }
    }
}

/// What a volume holds, as the runtime makes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// An empty folder of the pod's, shared by its containers.
    EmptyDir,
    /// Files (relative path, content, mode) written once at the start:
    /// a ConfigMap's or Secret's keys. Mounted read-only, as kubelet does.
    Files(Vec<(String, Vec<u8>, u32)>),
}

/// The folder of a pod's volume on the node (`state_dir`: the runtime's
/// sandbox records; a plain path, as this module is the runtime's own).
pub fn dir(state_dir: &Path, uid: &str, volume: &str) -> PathBuf {
    labyrinth_contracts::sandbox::pod_dir(state_dir, uid)
        .join("volumes")
        .join(volume)
}

/// A relative path without `..` (a file of a volume, a subPath).
pub fn check_relative(what: &str, path: &str) -> Result<(), String> {
    let p = Path::new(path);
    if p.is_absolute() {
        return Err(format!("{what} {path:?}: must be a relative path"));
    }
    if p.components().any(|c| c == Component::ParentDir) {
        return Err(format!("{what} {path:?}: must not contain '..'"));
    }
    Ok(())
}

/// Make the volume's folder and what it holds, for `group` (the pod's
/// `fsGroup`).
pub fn make(
    state_dir: &Path,
    uid: &str,
    volume: &str,
    source: &Source,
    group: Option<u32>,
) -> Result<(), String> {
    let owner = Owner { user: None, group };
    let d = dir(state_dir, uid, volume);
    let fail = |e: std::io::Error| format!("volume {volume:?}: {}: {e}", d.display());
    std::fs::create_dir_all(&d).map_err(fail)?;
    // Every container may write an emptyDir, whatever its user.
    let mode = if matches!(source, Source::EmptyDir) {
        0o777
    } else {
        0o755
    };
    std::fs::set_permissions(&d, std::fs::Permissions::from_mode(mode)).map_err(fail)?;
    owner.apply(&d, true).map_err(fail)?;
    if let Source::Files(files) = source {
        for (rel, content, mode) in files {
            check_relative(&format!("volume {volume:?}: path"), rel)?;
            let p = d.join(rel);
            let fail = |e: std::io::Error| format!("volume {volume:?}: {}: {e}", p.display());
            if let Some(parent) = p.parent() {
                std::fs::create_dir_all(parent).map_err(fail)?;
            }
            std::fs::write(&p, content).map_err(fail)?;
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(*mode)).map_err(fail)?;
            owner.apply(&p, false).map_err(fail)?;
        }
    }
    Ok(())
}

/// A mount of the pod's volume folder (or of `sub_path` in it, made if it
/// is missing, as kubelet makes it).
pub fn mount_of_dir(
    state_dir: &Path,
    uid: &str,
    volume: &str,
    sub_path: Option<&str>,
    target: &str,
    read_only: bool,
) -> Result<Mount, String> {
    let base = dir(state_dir, uid, volume);
    let (source, file) = match sub_path.filter(|s| !s.is_empty()) {
        None => (base, false),
        Some(sub) => {
            check_relative("subPath", sub)?;
            let p = base.join(sub);
            if !p.exists() {
                std::fs::create_dir_all(&p).map_err(|e| format!("subPath {sub:?}: creating it: {e}"))?;
            }
            // A link in the volume must not lead out of it.
            let real = p.canonicalize().map_err(|e| format!("subPath {sub:?}: {e}"))?;
            let root = base
                .canonicalize()
                .map_err(|e| format!("volume {volume:?}: {e}"))?;
            if !real.starts_with(&root) {
                return Err(format!("subPath {sub:?}: leads out of volume {volume:?}"));
            }
            let file = !real.is_dir();
            (real, file)
        }
    };
    Ok(Mount {
        source,
        target: target.to_string(),
        read_only,
        file,
        writable_below: Vec::new(),
    })
}

/// The text of a container's `mounts` file, as native/pause.c reads it.
pub fn mounts_file(mounts: &[Mount]) -> Result<String, String> {
    let mut s = String::new();
    for m in mounts {
        let source = m.source.to_str().ok_or("a volume's path is not UTF-8")?;
        for p in [source, m.target.as_str()] {
            if p.contains(['\n', '\t']) {
                return Err(format!("mount path {p:?}: has a tab or a newline"));
            }
        }
        if !m.target.starts_with('/') {
            return Err(format!("mountPath {:?}: must be an absolute path", m.target));
        }
        let kind = if m.file { 'f' } else { 'd' };
        let mode = if m.read_only { 'r' } else { 'w' };
        s.push_str(&format!("{kind} {mode} {source}\t{}\n", m.target));
        if m.read_only {
            for rel in &m.writable_below {
                s.push_str(&format!("+ {rel}\n"));
            }
        }
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mounts_file_lists_each_mount_and_what_stays_writable() {
        let m = [
            Mount {
                source: "/".into(),
                target: "/host".into(),
                read_only: true,
                file: false,
                writable_below: vec!["etc".into(), "sys/fs/bpf".into()],
            },
            Mount {
                source: "/var/lib/labyrinth/pods/u/volumes/cfg/k".into(),
                target: "/etc/k".into(),
                read_only: false,
                file: true,
                writable_below: vec![],
            },
        ];
        assert_eq!(
            mounts_file(&m).unwrap(),
            "d r /\t/host\n+ etc\n+ sys/fs/bpf\nf w /var/lib/labyrinth/pods/u/volumes/cfg/k\t/etc/k\n"
        );
        let bad = Mount {
            target: "rel".into(),
            ..m[1].clone()
        };
        assert!(mounts_file(&[bad]).unwrap_err().contains("absolute"));
    }

    #[test]
    fn relative_paths_only() {
        assert!(check_relative("subPath", "a/b").is_ok());
        assert!(check_relative("subPath", "/a").unwrap_err().contains("relative"));
        assert!(check_relative("subPath", "a/../../b").unwrap_err().contains(".."));
    }
}
