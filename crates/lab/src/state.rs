//! What a lab created, recorded under /run/labyrinth/<name>/ so that `down`
//! (or `status`, `ssh`, ...) can find it from any process, also after the
//! process that ran `up` was killed.

use std::fs::{self, File};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

use crate::config::{LabConfig, NodePlan};

/// Where every lab's state directory lives (overridable for tests).
pub fn root() -> PathBuf {
    std::env::var_os("LABYRINTH_STATE_ROOT")
        .map(PathBuf::from)
        .unwrap_or_else(|| "/run/labyrinth".into())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    /// `up` is running (or died before finishing).
    Creating,
    Running,
}

/// A process holding namespaces alive (pid + start time).
pub use labyrinth_netlink::process::ProcessRef as Holder;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NodeState {
    #[serde(flatten)]
    pub plan: NodePlan,
    pub holder: Option<Holder>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LabState {
    pub config: LabConfig,
    pub phase: Phase,
    /// Seconds since the epoch when `up` started.
    pub created: u64,
    /// The lab's top-level holder: pid 1 of the lab's pid namespace and owner
    /// of the VPC network namespace. Killing it ends the whole lab.
    pub vpc: Option<Holder>,
    pub nodes: Vec<NodeState>,
    /// The API server's endpoint on the host's loopback
    /// (`crate::api_endpoint`), which the host's admin kubeconfig names;
    /// none for a bare lab.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_endpoint: Option<std::net::SocketAddr>,
}

impl LabState {
    pub fn node(&self, name: &str) -> Result<&NodeState> {
        match self.nodes.iter().find(|n| n.plan.name == name) {
            Some(n) => Ok(n),
            None => bail!(
                "lab {}: no node {name:?} (nodes: {})",
                self.config.name,
                self.nodes
                    .iter()
                    .map(|n| n.plan.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }

    pub fn running(&self) -> bool {
        self.phase == Phase::Running && self.vpc.is_some_and(|h| h.alive())
    }
}

/// The state directory of one lab.
pub struct LabDir {
    pub path: PathBuf,
    name: String,
}

impl LabDir {
    pub fn new(name: &str) -> Self {
        LabDir {
            path: root().join(name),
            name: name.to_string(),
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn exists(&self) -> bool {
        self.path.join("state.json").exists()
    }

    pub fn create(&self) -> Result<()> {
        fs::create_dir_all(&self.path).with_context(|| format!("creating {}", self.path.display()))
    }

    pub fn load(&self) -> Result<LabState> {
        let file = self.path.join("state.json");
        let text = match fs::read_to_string(&file) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                bail!("no lab named {:?} (see `labyrinth lab ls`)", self.name)
            }
            Err(e) => return Err(e).with_context(|| format!("reading {}", file.display())),
        };
        serde_json::from_str(&text).with_context(|| format!("parsing {}", file.display()))
    }

    /// Write atomically, so a reader never sees half a file.
    pub fn save(&self, state: &LabState) -> Result<()> {
        let tmp = self.path.join("state.json.tmp");
        fs::write(&tmp, serde_json::to_vec_pretty(state)?)
            .with_context(|| format!("writing {}", tmp.display()))?;
        fs::rename(&tmp, self.path.join("state.json")).context("publishing state.json")
    }

    /// Serialise `up`/`down` of one lab. The lock dies with its process, so a
    /// `kill -9` of `up` never leaves the lab locked.
    pub fn lock(&self) -> Result<File> {
        self.create()?;
        let f = File::create(self.path.join("lock")).context("opening the lab lock")?;
        // SAFETY: flock on a file descriptor we own.
        if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) } != 0 {
            bail!("locking lab {}: {}", self.name, std::io::Error::last_os_error());
        }
        Ok(f)
    }

    /// Remove the directory, and the root too when it is left empty.
    pub fn remove(&self) -> Result<()> {
        match fs::remove_dir_all(&self.path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e).with_context(|| format!("removing {}", self.path.display())),
        }
        let _ = fs::remove_dir(root()); // fails harmlessly while other labs exist
        Ok(())
    }

    /// The lab's admin kubeconfig for the host's own clients (mode 0600):
    /// the control node's /etc/kubernetes/admin.conf with the API endpoint
    /// on the host's loopback as its server (`crate::api_endpoint`).
    pub fn kubeconfig_path(&self) -> PathBuf {
        self.path.join("admin.kubeconfig")
    }

    pub fn log_path(&self, who: &str) -> PathBuf {
        self.path.join(format!("{who}.log"))
    }
}

/// Every lab with a state directory, sorted by name.
pub fn all_labs() -> Result<Vec<String>> {
    let mut names = Vec::new();
    match fs::read_dir(root()) {
        Ok(dir) => {
            for entry in dir {
                let entry = entry?;
                if entry.path().join("state.json").exists() {
                    names.push(entry.file_name().to_string_lossy().into_owned());
                }
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).context("listing labs"),
    }
    names.sort();
    Ok(names)
}

/// Whether a path looks like a lab state dir (used by tests).
pub fn is_lab_dir(path: &Path) -> bool {
    path.join("state.json").exists()
}
