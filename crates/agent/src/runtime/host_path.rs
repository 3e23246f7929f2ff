//! hostPath volumes: a path of the NODE. In the lab a node is a set of
//! namespaces over the host's own filesystem: its /etc, /opt, /var and
//! /root are copy-on-write layers of its own, /run, /tmp and /sys/fs/bpf
//! are its own mounts (lab/src/sandbox.rs), and everything else (/usr,
//! /home, / itself) IS the host's. A hostPath therefore resolves in the
//! node's mount namespace (the agent's own), as kubelet resolves it in its
//! node's, and may be written only where the node owns what is written:
//! inside one of the node's own mounts it is writable (unless the mount
//! says `readOnly`); elsewhere it is mounted read-only, with the node's
//! own mounts below it made writable again. So `kubectl debug node`'s
//! hostPath `/` sees the whole node and can edit the node's /etc, but
//! never the host's /usr; a path outside the node's own mounts is never
//! created.

use std::os::unix::fs::FileTypeExt;
use std::path::{Component, Path, PathBuf};

use labyrinth_contracts::node::{MACHINE_DIRS, NODE_OWN_MOUNTS};

/// What a hostPath volume mounts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    pub source: PathBuf,
    /// A file rather than a folder (its mount point is a file).
    pub file: bool,
    /// The path is (inside) one of the node's own mounts.
    pub node_own: bool,
    /// The node's own mounts under the path, relative to it: writable
    /// again under a read-only mount of a host folder.
    pub own_below: Vec<String>,
}

/// The node's own mounts that are mounted (bpffs is optional), absolute.
fn own_mounts(mountinfo: &str) -> Vec<String> {
    let points: Vec<&str> = mountinfo
        .lines()
        .filter_map(|l| l.split_whitespace().nth(4))
        .collect();
    MACHINE_DIRS
        .iter()
        .chain(NODE_OWN_MOUNTS.iter())
        .map(|d| format!("/{d}"))
        .filter(|d| points.contains(&d.as_str()))
        .collect()
}

/// Checks the path's form: absolute, no `..`; returns it normalised.
fn normal(path: &str) -> Result<PathBuf, String> {
    let p = Path::new(path);
    if !p.is_absolute() {
        return Err(format!("hostPath {path:?}: not an absolute path"));
    }
    if p.components().any(|c| c == Component::ParentDir) {
        return Err(format!("hostPath {path:?}: must not contain '..'"));
    }
    Ok(p.components().collect())
}

/// Where (and whether) `path` of the given `type` mounts; the `OrCreate`
/// types create it, but only inside the node's own mounts.
pub fn resolve(path: &str, kind: Option<&str>) -> Result<Resolved, String> {
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    resolve_with(path, kind, &own_mounts(&mountinfo))
}

fn resolve_with(path: &str, kind: Option<&str>, own: &[String]) -> Result<Resolved, String> {
    let source = normal(path)?;
    let node_own = own.iter().any(|d| source.starts_with(d));
    let own_below = own
        .iter()
        .filter_map(|d| Path::new(d).strip_prefix(&source).ok())
        .filter(|rel| !rel.as_os_str().is_empty())
        .map(|rel| rel.to_string_lossy().into_owned())
        .collect();
    let kind = kind.unwrap_or("");
    let meta = std::fs::metadata(&source).ok();
    let refuse = |what: &str| Err(format!("hostPath type check failed: {path} is not {what}"));
    let create_here = || -> Result<(), String> {
        if node_own {
            Ok(())
        } else {
            Err(format!(
                "hostPath {path}: does not exist, and is not under one of the node's own folders ({}): \
                 it would be created in the host's filesystem, which a lab node does not change",
                own.join(", ")
            ))
        }
    };
    let file = match (kind, &meta) {
        ("DirectoryOrCreate", None) => {
            create_here()?;
            std::fs::create_dir_all(&source).map_err(|e| format!("hostPath {path}: creating it: {e}"))?;
            false
        }
        ("FileOrCreate", None) => {
            create_here()?;
            std::fs::File::create(&source).map_err(|e| format!("hostPath {path}: creating it: {e}"))?;
            true
        }
        (_, None) => return Err(format!("hostPath {path}: no such file or directory on the node")),
        ("" | "DirectoryOrCreate" | "FileOrCreate", Some(m)) => !m.is_dir(),
        ("Directory", Some(m)) if m.is_dir() => false,
        ("Directory", _) => return refuse("a directory"),
        ("File", Some(m)) if m.is_file() => true,
        ("File", _) => return refuse("a file"),
        ("Socket", Some(m)) if m.file_type().is_socket() => true,
        ("Socket", _) => return refuse("a socket file"),
        ("CharDevice", Some(m)) if m.file_type().is_char_device() => true,
        ("CharDevice", _) => return refuse("a character device"),
        ("BlockDevice", Some(m)) if m.file_type().is_block_device() => true,
        ("BlockDevice", _) => return refuse("a block device"),
        (other, _) => return Err(format!("hostPath {path}: unknown type {other:?}")),
    };
    Ok(Resolved {
        source,
        file,
        node_own,
        own_below,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn own() -> Vec<String> {
        ["/etc", "/opt", "/var", "/root", "/run", "/tmp"]
            .map(String::from)
            .to_vec()
    }

    #[test]
    fn the_root_is_the_hosts_with_the_nodes_own_mounts_below() {
        let r = resolve_with("/", Some("Directory"), &own()).unwrap();
        assert!(!r.node_own && !r.file);
        assert_eq!(r.own_below, ["etc", "opt", "var", "root", "run", "tmp"]);
        let r = resolve_with("/etc/", None, &own()).unwrap();
        assert!(r.node_own && r.own_below.is_empty() && r.source == Path::new("/etc"));
        let r = resolve_with("/usr/bin", None, &own()).unwrap();
        assert!(!r.node_own && r.own_below.is_empty());
    }

    #[test]
    fn bad_paths_and_types_are_refused_with_the_path() {
        let e = resolve_with("etc", None, &own()).unwrap_err();
        assert!(e.contains("absolute"), "{e}");
        let e = resolve_with("/etc/../usr", None, &own()).unwrap_err();
        assert!(e.contains(".."), "{e}");
        let e = resolve_with("/etc", Some("File"), &own()).unwrap_err();
        assert_eq!(e, "hostPath type check failed: /etc is not a file");
        let e = resolve_with("/usr/labyrinth-no-such-dir", Some("DirectoryOrCreate"), &own()).unwrap_err();
        assert!(e.contains("host's filesystem"), "{e}");
        assert!(!Path::new("/usr/labyrinth-no-such-dir").exists());
        let e = resolve_with("/labyrinth-no-such-path", None, &own()).unwrap_err();
        assert!(e.contains("no such file"), "{e}");
    }

    #[test]
    fn or_create_makes_it_inside_a_node_own_mount() {
        let dir = std::env::temp_dir().join(format!("lby-host-path-{}", std::process::id()));
        let base = dir.to_str().unwrap().to_string();
        let own = vec![base.clone()];
        let d = format!("{base}/a/b");
        let r = resolve_with(&d, Some("DirectoryOrCreate"), &own).unwrap();
        assert!(r.node_own && !r.file && Path::new(&d).is_dir());
        let f = format!("{base}/a/f");
        let r = resolve_with(&f, Some("FileOrCreate"), &own).unwrap();
        assert!(r.file && Path::new(&f).is_file());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn only_mounted_own_folders_count() {
        let info = "22 1 0:21 / /etc rw - overlay overlay rw\n23 1 0:22 / /run rw - tmpfs tmpfs rw\n";
        assert_eq!(own_mounts(info), ["/etc", "/run"]);
    }
}
