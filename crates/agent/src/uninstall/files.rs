//! The pods the agent ran and the files it made on the node: the CNI
//! config, program, socket and address leases; the sandbox records,
//! containers' roots and logs; the sandbox and log programs.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use labyrinth_contracts::node::{CNI_CONFLIST, CNI_NETWORK, CNI_PROGRAM};

use super::report::Report;
use crate::runtime::{sandbox, RuntimeConfig};

/// Every recorded pod torn down as the kubelet role does: containers
/// stopped, CNI DEL (the installed program runs the whole plugin, the
/// agent being gone), the network namespace unnamed, the sandbox ended.
pub(super) fn end_pods(r: &mut Report, rt: &RuntimeConfig) {
    let recs = match sandbox::load_all(rt) {
        Ok(recs) => recs,
        Err(e) => return r.failed("pods", &e),
    };
    if recs.is_empty() {
        println!("pods: nothing to remove");
    }
    for rec in recs {
        match sandbox::destroy(rt, &rec) {
            Ok(()) => r.removed(
                "pods",
                &format!("pod {} (containers, CNI DEL, netns)", rec.pod.label()),
            ),
            Err(e) => r.failed("pods", &e),
        }
    }
}

/// Remove a file or a folder with all in it; true if there was one. A
/// folder that is a mount point (a node may keep /var/log/pods on a disk
/// of its own, as a lab's node does on a tmpfs) cannot go: it is emptied
/// and kept.
fn remove(path: &Path) -> Result<bool> {
    let meta = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    let res = if meta.is_dir() {
        std::fs::remove_dir_all(path).or_else(|e| match e.raw_os_error() {
            Some(libc::EBUSY) if emptied(path) => Ok(()),
            _ => Err(e),
        })
    } else {
        std::fs::remove_file(path)
    };
    res.with_context(|| format!("removing {}", path.display()))?;
    Ok(true)
}

/// Whether `path` is a folder with nothing left in it.
fn emptied(path: &Path) -> bool {
    std::fs::read_dir(path).is_ok_and(|mut d| d.next().is_none())
}

/// Where the agent put its files: the runtime's folders, the CNI
/// plugin's socket and its address leases.
pub(super) struct Installed {
    pub rt: RuntimeConfig,
    pub cni_socket: PathBuf,
    pub leases_dir: PathBuf,
    /// The policies' names, for `observe` to show a drop's policy.
    pub policy_names: PathBuf,
}

impl Installed {
    pub fn standard(rt: RuntimeConfig) -> Self {
        Installed {
            rt,
            cni_socket: labyrinth_cni::delegate::SOCKET.into(),
            leases_dir: Path::new(labyrinth_cni::config::DEFAULT_DATA_DIR).join(CNI_NETWORK),
            policy_names: labyrinth_contracts::bpf::policy::POLICY_NAMES_FILE.into(),
        }
    }

    /// What the agent put on the node, by what it is.
    fn made(&self) -> Vec<(&'static str, PathBuf)> {
        let rt = &self.rt;
        let mut out = vec![("CNI config", rt.cni.conf_dir.join(CNI_CONFLIST))];
        out.extend(
            rt.cni
                .bin_dirs
                .iter()
                .map(|d| ("CNI program", d.join(CNI_PROGRAM))),
        );
        out.extend([
            ("CNI socket", self.cni_socket.clone()),
            ("CNI address leases", self.leases_dir.clone()),
            ("policy names", self.policy_names.clone()),
            ("pod records", rt.state_dir.clone()),
            ("containers' roots", rt.rootfs_dir.clone()),
            ("containers' logs", rt.log_dir.clone()),
            ("sandbox program", rt.pause.clone()),
            ("log program", rt.crilog.clone()),
        ]);
        out
    }

    /// Folders the agent made for the files above: removed once empty (one
    /// that held something else stays, as whatever is in it does).
    fn parents(&self) -> Vec<PathBuf> {
        let mut out = Vec::new();
        let mut climb = |p: &Path, levels: usize| {
            let mut p = p.to_path_buf();
            for _ in 0..levels {
                if !p.pop() {
                    break;
                }
                out.push(p.clone());
            }
        };
        let rt = &self.rt;
        // /etc/cni/net.d/x → /etc/cni/net.d, /etc/cni (and the like).
        climb(&rt.cni.conf_dir.join(CNI_CONFLIST), 2);
        for d in &rt.cni.bin_dirs {
            climb(&d.join(CNI_PROGRAM), 2);
        }
        climb(&self.cni_socket, 1);
        climb(&self.leases_dir, 2);
        climb(&rt.state_dir, 1);
        climb(&rt.rootfs_dir, 1);
        out
    }
}

pub(super) fn remove_all(r: &mut Report, files: &Installed) {
    let mut nothing = true;
    for (what, path) in files.made() {
        match remove(&path) {
            Ok(true) => {
                nothing = false;
                r.removed("files", &format!("{what} {}", path.display()))
            }
            Ok(false) => {}
            Err(e) => r.failed("files", &e),
        }
    }
    for dir in files.parents() {
        // Only an empty one goes; a folder that is not empty, or gone
        // already, is left as it is.
        if std::fs::remove_dir(&dir).is_ok() {
            nothing = false;
            r.removed("files", &format!("empty folder {}", dir.display()));
        }
    }
    if nothing {
        println!("files: nothing to remove");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removes_what_the_agent_installs_and_its_folders_once_empty() {
        let dir = std::env::temp_dir().join(format!("uninstall-files-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let dir = Scratch(dir);
        let mut rt = RuntimeConfig::standard(crate::runtime::files::DnsConfig::cluster(
            std::net::Ipv4Addr::UNSPECIFIED,
            "",
        ));
        rt.cni.conf_dir = dir.path().join("etc/cni/net.d");
        rt.cni.bin_dirs = vec![dir.path().join("opt/cni/bin")];
        rt.state_dir = dir.path().join("var/lib/labyrinth/pods");
        rt.rootfs_dir = dir.path().join("run/labyrinth/rootfs");
        rt.log_dir = dir.path().join("var/log/pods");
        rt.pause = dir.path().join("bin/labyrinth-pause");
        rt.crilog = dir.path().join("bin/labyrinth-crilog");
        for d in [
            &rt.cni.conf_dir,
            &rt.cni.bin_dirs[0],
            &rt.state_dir.join("u"),
            &rt.log_dir,
        ] {
            std::fs::create_dir_all(d).unwrap();
        }
        std::fs::create_dir_all(dir.path().join("bin")).unwrap();
        std::fs::write(rt.cni.conf_dir.join(CNI_CONFLIST), "{}").unwrap();
        // Someone else's config and plugin stay, and so do their folders.
        std::fs::write(rt.cni.conf_dir.join("20-other.conflist"), "{}").unwrap();
        std::fs::write(rt.cni.bin_dirs[0].join(CNI_PROGRAM), "x").unwrap();
        std::fs::write(rt.pause.clone(), "x").unwrap();
        let files = Installed {
            rt: rt.clone(),
            cni_socket: dir.path().join("run/labyrinth/cni.sock"),
            leases_dir: dir.path().join("var/lib/cni/networks/x"),
            policy_names: dir.path().join("var/lib/labyrinth/policy-names.json"),
        };
        std::fs::create_dir_all(&files.leases_dir).unwrap();
        std::fs::write(&files.policy_names, "{}").unwrap();
        let mut r = Report::default();
        remove_all(&mut r, &files);
        assert_eq!(r.failures, 0);
        assert!(!rt.cni.conf_dir.join(CNI_CONFLIST).exists());
        assert!(rt.cni.conf_dir.join("20-other.conflist").exists());
        assert!(!rt.cni.bin_dirs[0].exists() && !dir.path().join("opt/cni").exists());
        assert!(!rt.state_dir.exists() && !dir.path().join("var/lib/labyrinth").exists());
        assert!(!rt.log_dir.exists() && !rt.pause.exists());
        assert!(!dir.path().join("var/lib/cni").exists());
        assert!(dir.path().join("bin").exists(), "a folder of the lab's stays");
    }

    /// A folder removed when the test ends, passed or not.
    struct Scratch(PathBuf);

    impl Scratch {
        fn path(&self) -> &Path {
            &self.0
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}
