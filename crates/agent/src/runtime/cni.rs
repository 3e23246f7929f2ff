//! Calling CNI plugins the way containerd (libcni) does: the first network
//! configuration list in the conf dir, each plugin exec'd from the bin dirs
//! with the CNI_* environment and its config (plus prevResult) on stdin.
//! So our plugin and the reference plugins are interchangeable.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};

use anyhow::{anyhow, bail, Context, Result};
use serde_json::Value;

use labyrinth_contracts::cni::{ErrorResult, NetworkConfigList, PluginConf};
use labyrinth_contracts::sandbox::PodRef;

#[derive(Debug, Clone)]
pub struct CniConfig {
    pub conf_dir: PathBuf,
    pub bin_dirs: Vec<PathBuf>,
    pub ifname: String,
    /// The last list loaded, shared by clones (`load` says why).
    cache: Arc<Mutex<Option<Cached>>>,
}

impl CniConfig {
    pub fn new(conf_dir: PathBuf, bin_dirs: Vec<PathBuf>) -> Self {
        CniConfig {
            conf_dir,
            bin_dirs,
            ifname: "eth0".into(),
            cache: Arc::default(),
        }
    }

    pub fn standard() -> Self {
        Self::new("/etc/cni/net.d".into(), vec!["/opt/cni/bin".into()])
    }
}

/// A network configuration list (a .conflist, or a single .conf wrapped)
/// and the file it came from.
#[derive(Debug, Clone)]
pub struct NetworkList {
    pub conf: NetworkConfigList,
    pub file: PathBuf,
}

/// What a list was loaded from: the directory (an entry added, removed
/// or renamed changes its mtime) and the file (rewritten in place).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    ino: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
    len: u64,
}

impl Stamp {
    fn of(path: &Path) -> std::io::Result<Self> {
        use std::os::unix::fs::MetadataExt;
        let m = std::fs::metadata(path)?;
        Ok(Stamp {
            ino: m.ino(),
            mtime: (m.mtime(), m.mtime_nsec()),
            ctime: (m.ctime(), m.ctime_nsec()),
            len: m.len(),
        })
    }
}

#[derive(Debug)]
struct Cached {
    dir: Stamp,
    file: Stamp,
    list: Arc<NetworkList>,
}

/// One attachment being made or removed.
pub struct Attachment<'a> {
    pub container_id: &'a str,
    pub netns: &'a Path,
    pub pod: &'a PodRef,
}

impl CniConfig {
    /// The network containerd would pick: the lexically first config file.
    /// Every pod start and stop asks (twice for a start); the list is read
    /// and parsed again only when the directory or that file changed, as
    /// containerd re-reads it on a change it is notified of. Reading it
    /// each time cost each start two directory scans (a 32 KiB buffer each)
    /// and two parses, on the cores the burst of starts needs.
    pub fn load(&self) -> Result<Arc<NetworkList>> {
        let dir_stamp = Stamp::of(&self.conf_dir)
            .with_context(|| format!("reading CNI config dir {}", self.conf_dir.display()))?;
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(c) = cache.as_ref() {
            if c.dir == dir_stamp && Stamp::of(&c.list.file).ok() == Some(c.file) {
                return Ok(c.list.clone());
            }
        }
        *cache = None;
        let list = Arc::new(self.read()?);
        // A file that cannot be stat'ed now is read again next time.
        if let Ok(file) = Stamp::of(&list.file) {
            *cache = Some(Cached {
                dir: dir_stamp,
                file,
                list: list.clone(),
            });
        }
        Ok(list)
    }

    fn read(&self) -> Result<NetworkList> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(&self.conf_dir)
            .with_context(|| format!("reading CNI config dir {}", self.conf_dir.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                matches!(
                    p.extension().and_then(|e| e.to_str()),
                    Some("conflist" | "conf" | "json")
                )
            })
            .collect();
        files.sort();
        let file = files
            .into_iter()
            .next()
            .ok_or_else(|| anyhow!("no CNI config in {}", self.conf_dir.display()))?;
        let text = std::fs::read_to_string(&file)
            .with_context(|| format!("reading CNI config {}", file.display()))?;
        let conf = NetworkConfigList::from_text(&text)
            .map_err(|e| anyhow!("parsing CNI config {}: {e}", file.display()))?;
        Ok(NetworkList { conf, file })
    }

    /// ADD through every plugin; on failure, DEL what was started.
    pub fn add(&self, list: &NetworkList, att: &Attachment<'_>) -> Result<Value> {
        let mut prev: Option<Value> = None;
        for plugin in &list.conf.plugins {
            match self.exec(list, plugin, "ADD", att, prev.as_ref()) {
                Ok(r) => prev = Some(r),
                Err(e) => {
                    let _ = self.del(list, att, prev.as_ref());
                    return Err(e);
                }
            }
        }
        prev.context("CNI network has no plugins")
    }

    /// DEL through every plugin in reverse order; every plugin is asked even
    /// if one fails, and all failures are reported.
    pub fn del(&self, list: &NetworkList, att: &Attachment<'_>, prev: Option<&Value>) -> Result<()> {
        let mut errors = Vec::new();
        for plugin in list.conf.plugins.iter().rev() {
            if let Err(e) = self.exec(list, plugin, "DEL", att, prev) {
                errors.push(format!("{e:#}"));
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            bail!("{}", errors.join("; "))
        }
    }

    fn find(&self, kind: &str) -> Result<PathBuf> {
        if kind.contains('/') {
            bail!("CNI plugin type {kind:?} must be a bare name");
        }
        self.bin_dirs
            .iter()
            .map(|d| d.join(kind))
            .find(|p| p.is_file())
            .ok_or_else(|| anyhow!("CNI plugin {kind:?} not found in {:?}", self.bin_dirs))
    }

    fn exec(
        &self,
        list: &NetworkList,
        plugin: &PluginConf,
        cmd: &str,
        att: &Attachment<'_>,
        prev: Option<&Value>,
    ) -> Result<Value> {
        let kind = plugin.kind.as_str();
        let bin = self.find(kind)?;
        let conf = list.conf.invocation(plugin, prev);
        let path = std::env::join_paths(&self.bin_dirs)?;
        let args = format!(
            "IgnoreUnknown=1;K8S_POD_NAMESPACE={};K8S_POD_NAME={};K8S_POD_INFRA_CONTAINER_ID={};K8S_POD_UID={}",
            att.pod.namespace, att.pod.name, att.container_id, att.pod.uid
        );
        let mut child = Command::new(&bin)
            .env_clear()
            .env("PATH", labyrinth_contracts::node::STANDARD_PATH)
            .env("CNI_COMMAND", cmd)
            .env("CNI_CONTAINERID", att.container_id)
            .env("CNI_NETNS", att.netns)
            .env("CNI_IFNAME", &self.ifname)
            .env("CNI_ARGS", args)
            .env("CNI_PATH", path)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("running CNI plugin {}", bin.display()))?;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(&serde_json::to_vec(&conf)?)?;
        let out = child.wait_with_output()?;
        if !out.status.success() {
            // A plugin that died without printing its error result has
            // only its stderr to say why.
            let err: ErrorResult = serde_json::from_slice(&out.stdout).unwrap_or_default();
            bail!(
                "CNI plugin {kind} {cmd} failed (code {}): {} {}{}",
                err.code,
                err.msg,
                err.details,
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        if cmd == "DEL" || out.stdout.iter().all(|b| b.is_ascii_whitespace()) {
            return Ok(Value::Null);
        }
        serde_json::from_slice(&out.stdout)
            .with_context(|| format!("CNI plugin {kind} {cmd} printed bad JSON"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const B: (&str, &str) = (
        "20-b.conf",
        r#"{"cniVersion":"0.4.0","name":"b","type":"bridge"}"#,
    );

    /// A fresh conf dir holding `files`, and a config over it.
    fn conf_dir(tag: &str, files: &[(&str, &str)]) -> (PathBuf, CniConfig) {
        let dir = std::env::temp_dir().join(format!("cni-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for (name, text) in files {
            std::fs::write(dir.join(name), text).unwrap();
        }
        (dir.clone(), CniConfig::new(dir, vec![]))
    }

    #[test]
    fn picks_the_first_config_and_wraps_single_plugins() {
        let a = (
            "10-a.conflist",
            r#"{"cniVersion":"1.0.0","name":"a","plugins":[{"type":"ptp"},{"type":"portmap"}]}"#,
        );
        let (dir, cfg) = conf_dir("conf", &[B, a]);
        let l = cfg.load().unwrap();
        assert_eq!(
            (
                l.conf.name.as_str(),
                l.conf.plugins.len(),
                l.conf.cni_version.as_str()
            ),
            ("a", 2, "1.0.0")
        );
        std::fs::remove_file(dir.join("10-a.conflist")).unwrap();
        let l = cfg.load().unwrap();
        assert_eq!((l.conf.name.as_str(), l.conf.plugins.len()), ("b", 1));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// The list is read once while nothing changes, by every clone of the
    /// config; a file added or rewritten is read again.
    #[test]
    fn the_list_is_read_again_only_after_a_change() {
        let (dir, cfg) = conf_dir("cache", &[B]);
        let first = cfg.load().unwrap();
        assert!(Arc::ptr_eq(&first, &cfg.load().unwrap()));
        assert!(Arc::ptr_eq(&first, &cfg.clone().load().unwrap()));
        // A new first file: the directory changed.
        std::fs::write(
            dir.join("05-c.conflist"),
            r#"{"cniVersion":"1.0.0","name":"c","plugins":[{"type":"ptp"}]}"#,
        )
        .unwrap();
        assert_eq!(cfg.load().unwrap().conf.name, "c");
        // The same file rewritten in place.
        std::fs::write(
            dir.join("05-c.conflist"),
            r#"{"cniVersion":"1.0.0","name":"c2","plugins":[{"type":"ptp"},{"type":"portmap"}]}"#,
        )
        .unwrap();
        let l = cfg.load().unwrap();
        assert_eq!((l.conf.name.as_str(), l.conf.plugins.len()), ("c2", 2));
        // Gone: the next is picked, and an empty directory is an error.
        std::fs::remove_file(dir.join("05-c.conflist")).unwrap();
        assert_eq!(cfg.load().unwrap().conf.name, "b");
        std::fs::remove_file(dir.join("20-b.conf")).unwrap();
        assert!(cfg.load().is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
