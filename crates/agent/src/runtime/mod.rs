//! The container runtime half of the kubelet: pod sandboxes (a "pause"
//! process, native/pause.c, holding the pod's network, UTS, IPC and mount namespaces), the
//! CNI plugins called exactly as containerd calls them, and the pod's
//! processes started inside the sandbox. Images are not pulled: an image
//! is the node's filesystem, copy-on-write per container, and what the
//! image catalog (images.yaml) says it runs.

pub mod atomic_dir;
pub mod cni;
pub mod container;
pub mod expansion;
pub mod files;
pub mod host_path;
pub mod images;
pub mod log_query;
pub mod logs;
pub mod pause;
pub mod privileges;
pub mod program;
pub mod sandbox;
pub mod stages;
pub mod stdin;
pub mod volumes;

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// Where the agent puts its own binary for containers to run (on PATH in
/// every container): addon pods use `labyrinth <role>` as their image.
pub use labyrinth_contracts::node::BIN_DIR;

/// A container's PATH: the usual one, then the lab's own tools.
pub fn container_path() -> String {
    format!("{}:{BIN_DIR}", labyrinth_contracts::node::STANDARD_PATH)
}

/// Where the runtime keeps things, all inside the node's own filesystem.
#[derive(Debug, Clone)]
pub struct RuntimeConfig {
    /// The sandbox's program (`pause::install` puts it there).
    pub pause: PathBuf,
    /// A container's log writer (`logs::install` puts it there).
    pub crilog: PathBuf,
    /// Sandbox records, one folder per pod (`sandbox::PODS_DIR` on a node).
    pub state_dir: PathBuf,
    /// Named network namespaces (`ip netns list` reads this).
    pub netns_dir: PathBuf,
    /// Container logs, as the kubelet lays them out.
    pub log_dir: PathBuf,
    /// Containers' writable roots (`sandbox::ROOTFS_DIR` on a node).
    pub rootfs_dir: PathBuf,
    /// The `kubernetes` Service (the first address of the service range,
    /// port 443), which every container finds in its environment.
    pub api_service: std::net::SocketAddrV4,
    pub cni: cni::CniConfig,
    pub dns: files::DnsConfig,
}

impl RuntimeConfig {
    pub fn standard(dns: files::DnsConfig) -> Self {
        RuntimeConfig {
            pause: PathBuf::from(BIN_DIR).join("labyrinth-pause"),
            crilog: PathBuf::from(BIN_DIR).join("labyrinth-crilog"),
            state_dir: labyrinth_contracts::sandbox::PODS_DIR.into(),
            netns_dir: labyrinth_contracts::sandbox::NETNS_DIR.into(),
            log_dir: "/var/log/pods".into(),
            rootfs_dir: labyrinth_contracts::sandbox::ROOTFS_DIR.into(),
            api_service: std::net::SocketAddrV4::new(std::net::Ipv4Addr::new(10, 96, 0, 1), 443),
            cni: cni::CniConfig::standard(),
            dns,
        }
    }
}

/// What the runtime needs to know of a pod: recorded in the sandbox
/// record, so defined with it.
pub use labyrinth_contracts::sandbox::PodRef;

/// One container to run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerSpec {
    pub name: String,
    /// Looked up in the image catalog (`images`).
    pub image: String,
    /// The manifest's `command` and `args` (see `images::launch`).
    pub command: Vec<String>,
    pub args: Vec<String>,
    /// The manifest's env, after the image's.
    pub env: Vec<(String, String)>,
    /// `stdin: true`: a kept stdin pipe that `kubectl attach -i` writes to.
    #[serde(default)]
    pub stdin: bool,
    /// Its volumes, resolved on the node (`volumes`).
    #[serde(default)]
    pub mounts: Vec<volumes::Mount>,
    /// Its capabilities, from its `securityContext`.
    #[serde(default)]
    pub privileges: privileges::Privileges,
}
