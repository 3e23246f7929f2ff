//! The container runtime half of the kubelet: pod sandboxes (a "pause"
//! process, native/pause.c, holding the pod's network, UTS, IPC and mount namespaces), the
//! CNI plugins called exactly as containerd calls them, and the pod's
//! processes started inside the sandbox. Images are recorded, not pulled:
//! a container's command is a program of the machine.

pub mod by_name;
pub mod cni;
pub mod container;
pub mod files;
pub mod pause;
pub mod program;
pub mod sandbox;
pub mod stages;

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// Where the agent puts its own binary for containers to run (on PATH in
/// every container): addon pods use `labyrinth <role>` as their image.
pub const BIN_DIR: &str = "/opt/labyrinth/bin";

/// Where the runtime keeps things, all inside the node's own filesystem.
#[derive(Debug, Clone)]
pub struct RuntimeConfig {
    /// The sandbox's program (`pause::install` puts it there).
    pub pause: PathBuf,
    /// Sandbox records, one JSON file per pod.
    pub state_dir: PathBuf,
    /// Named network namespaces (`ip netns list` reads this).
    pub netns_dir: PathBuf,
    /// Container logs, as the kubelet lays them out.
    pub log_dir: PathBuf,
    pub cni: cni::CniConfig,
    pub dns: files::DnsConfig,
}

impl RuntimeConfig {
    pub fn standard(dns: files::DnsConfig) -> Self {
        RuntimeConfig {
            pause: PathBuf::from(BIN_DIR).join("labyrinth-pause"),
            state_dir: "/var/lib/labyrinth/pods".into(),
            netns_dir: "/run/netns".into(),
            log_dir: "/var/log/pods".into(),
            cni: cni::CniConfig::standard(),
            dns,
        }
    }
}

/// What the runtime needs to know of a pod.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PodRef {
    pub uid: String,
    pub namespace: String,
    pub name: String,
}

impl PodRef {
    /// The pod's hostname: its name, cut to a DNS label as the kubelet does.
    pub fn hostname(&self) -> String {
        let h: String = self.name.chars().take(63).collect();
        h.trim_end_matches(['-', '.']).to_string()
    }

    /// The kubelet's log folder name: `<ns>_<name>_<uid>`.
    pub fn log_folder(&self) -> String {
        format!("{}_{}_{}", self.namespace, self.name, self.uid)
    }
}

/// One container to run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerSpec {
    pub name: String,
    /// Recorded only.
    pub image: String,
    /// command + args; empty means "sleep forever" (the pause role).
    pub argv: Vec<String>,
    pub env: Vec<(String, String)>,
}
