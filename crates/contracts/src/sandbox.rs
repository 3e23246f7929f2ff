//! The pod sandbox record: one JSON file per pod that the agent's runtime
//! writes when it has made a pod's sandbox (and rewrites as containers
//! start and restart), so a restarted agent adopts its pods, and that the
//! tracer reads from outside the node to find pods, their addresses and
//! veths. Both sides use these types and paths; records written by older
//! agents load (the field names and shapes are the ones they wrote).

use std::io;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::by_name::ByName;
use crate::cni::{CniResult, ResultError};
use crate::process::ProcessRef;

/// Where the records live inside a node's filesystem: one folder per pod
/// uid, holding the record and the pod's resolv.conf, hosts and hostname.
pub const PODS_DIR: &str = "/var/lib/labyrinth/pods";
/// Where a node's named network namespaces are (`ip netns list`); a
/// record's `netns` is a name in it.
pub const NETNS_DIR: &str = "/run/netns";
/// Containers' writable roots, one folder per pod uid, then one per
/// container: on the node's /run, a tmpfs, because overlayfs takes no
/// overlay (the node's /var) as the layer it writes to.
pub const ROOTFS_DIR: &str = "/run/labyrinth/rootfs";
/// The record's file name inside a pod's folder.
pub const RECORD_FILE: &str = "sandbox.json";
/// The pod's /etc/resolv.conf inside its folder (the tracer reads the
/// search path from it).
pub const RESOLV_FILE: &str = "resolv.conf";
/// Written first, then renamed over `RECORD_FILE`, so a reader never sees
/// half a record.
const RECORD_TMP: &str = "sandbox.json.tmp";

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

    /// `namespace/name`.
    pub fn label(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }
}

/// One container process as recorded.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ContainerRecord {
    pub process: Option<ProcessRef>,
    pub restarts: u32,
    pub last_exit: Option<i32>,
    pub started_at: Option<u64>,
    /// When it last exited (unix seconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<u64>,
    /// Exited and to be started again at this time (unix seconds): the
    /// kubelet's restart back-off (CrashLoopBackOff meanwhile).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restart_at: Option<u64>,
    /// The back-off of the last restart, in seconds (0: none yet).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub backoff: u64,
}

impl ContainerRecord {
    /// Its start number `attempt` (1 for the first restart) is running as
    /// `process` since `now` (unix seconds): no restart pending.
    pub fn started_again(&mut self, process: Option<ProcessRef>, attempt: u32, now: u64) {
        self.restarts = attempt;
        self.process = process;
        self.started_at = Some(now);
        self.restart_at = None;
    }
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SandboxRecord {
    pub pod: PodRef,
    /// CNI_CONTAINERID.
    pub id: String,
    /// Name under the node's /run/netns (`ip netns list`), as containerd's
    /// `cni-<uuid>`.
    pub netns: String,
    pub pause: ProcessRef,
    pub ip: Option<Ipv4Addr>,
    pub cni_network: Option<String>,
    /// The CNI ADD result as the last plugin printed it, kept as its text:
    /// it goes back to the plugins as DEL's prevResult unchanged, whatever
    /// fields they added. Read it typed with `cni_result()`.
    pub cni_result: Option<Box<RawValue>>,
    pub containers: ByName<ContainerRecord>,
    /// `hostNetwork: true`: the pod shares the node's network (no CNI ADD,
    /// its IP is the node's, `netns` names the node's own namespace).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub host_network: bool,
}

impl SandboxRecord {
    /// The recorded CNI result, typed; `None` when the pod had no network.
    pub fn cni_result(&self) -> Result<Option<CniResult>, ResultError> {
        self.cni_result
            .as_ref()
            .map(|raw| CniResult::from_text(raw.get()))
            .transpose()
    }

    /// The host side of the pod's veth, from the CNI result (`None` for a
    /// pod without one, or with a result that does not parse).
    pub fn host_veth(&self) -> Option<String> {
        let result = self.cni_result().ok()??;
        result.host_interface().map(|i| i.name.clone())
    }
}

/// A pod's folder under `pods_dir` (`PODS_DIR` on a node).
pub fn pod_dir(pods_dir: &Path, uid: &str) -> PathBuf {
    pods_dir.join(uid)
}

/// The record file in a pod's folder.
pub fn record_path(pod_dir: &Path) -> PathBuf {
    pod_dir.join(RECORD_FILE)
}

/// A record that exists but cannot be read.
#[derive(Debug)]
pub struct RecordError {
    pub path: PathBuf,
    pub error: String,
}

impl std::fmt::Display for RecordError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "sandbox record {}: {}", self.path.display(), self.error)
    }
}

impl std::error::Error for RecordError {}

/// The record in `pod_dir`; `Ok(None)` when there is none (a sandbox being
/// made or removed).
pub fn read(pod_dir: &Path) -> Result<Option<SandboxRecord>, RecordError> {
    let path = record_path(pod_dir);
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(RecordError {
                path,
                error: e.to_string(),
            })
        }
    };
    // The error names the field that is wrong (`pod.uid: …`).
    let mut de = serde_json::Deserializer::from_slice(&bytes);
    serde_path_to_error::deserialize(&mut de)
        .map(Some)
        .map_err(|e| RecordError {
            path,
            error: e.to_string(),
        })
}

/// Write `rec` into `pod_dir` (which must exist), replacing the record
/// there in one rename.
pub fn write(pod_dir: &Path, rec: &SandboxRecord) -> io::Result<()> {
    let tmp = pod_dir.join(RECORD_TMP);
    std::fs::write(&tmp, serde_json::to_vec_pretty(rec)?)?;
    std::fs::rename(&tmp, record_path(pod_dir))
}

/// Every pod folder under `pods_dir`, sorted; none when it does not exist.
pub fn pod_dirs(pods_dir: &Path) -> io::Result<Vec<PathBuf>> {
    let entries = match std::fs::read_dir(pods_dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut dirs: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    Ok(dirs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("contracts-sandbox-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    /// A record as an agent before this crate wrote it (field for field).
    const OLD_RECORD: &str = r#"{
      "pod": {"uid": "u-1", "namespace": "wrk-1", "name": "web-0"},
      "id": "u1",
      "netns": "cni-u-1",
      "pause": {"pid": 4242, "start_time": 77},
      "ip": "10.0.1.5",
      "cni_network": "labyrinth",
      "cni_result": {"cniVersion": "1.1.0",
        "interfaces": [{"name": "lxc93ff43d0a991", "mac": "66:df:5a:74:81:52", "sandbox": ""},
                       {"name": "eth0", "mac": "0a:58:0a:00:01:05", "sandbox": "/run/netns/cni-u-1"}],
        "ips": [{"address": "10.0.1.5/32", "gateway": "10.0.1.1", "interface": 1}],
        "dns": {}, "someFieldAPluginAdded": [1, 2]},
      "containers": {"app": {"process": {"pid": 4243, "start_time": 78}, "restarts": 1,
                              "last_exit": 137, "started_at": 1700000000}}
    }"#;

    #[test]
    fn an_older_record_loads_and_keeps_the_plugins_text() {
        let rec: SandboxRecord = serde_json::from_str(OLD_RECORD).unwrap();
        assert_eq!(rec.pod.label(), "wrk-1/web-0");
        assert_eq!(
            rec.pause,
            ProcessRef {
                pid: 4242,
                start_time: 77
            }
        );
        assert_eq!(rec.containers.get("app").unwrap().restarts, 1);
        // The empty sandbox path marks the host side, as the spec says.
        assert_eq!(rec.host_veth().as_deref(), Some("lxc93ff43d0a991"));
        let result = rec.cni_result().unwrap().unwrap();
        assert_eq!(result.pod_ipv4(), Some("10.0.1.5/32".parse().unwrap()));
        // DEL gets back what the plugin printed, including what we do not
        // model.
        assert!(rec
            .cni_result
            .as_ref()
            .unwrap()
            .get()
            .contains("someFieldAPluginAdded"));
    }

    #[test]
    fn written_records_read_back_and_absent_ones_are_none() {
        let dir = scratch("rw");
        let rec: SandboxRecord = serde_json::from_str(OLD_RECORD).unwrap();
        let pod = pod_dir(&dir, &rec.pod.uid);
        assert!(read(&pod).unwrap().is_none(), "no folder: no record");
        std::fs::create_dir_all(&pod).unwrap();
        assert!(read(&pod).unwrap().is_none(), "a sandbox being made");
        write(&pod, &rec).unwrap();
        let back = read(&pod).unwrap().unwrap();
        assert_eq!((back.pod, back.ip), (rec.pod, rec.ip));
        assert!(!pod.join(RECORD_TMP).exists());
        assert_eq!(pod_dirs(&dir).unwrap(), vec![pod.clone()]);
        assert!(pod_dirs(&dir.join("absent")).unwrap().is_empty());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_broken_record_is_an_error_naming_its_file() {
        let dir = scratch("bad");
        std::fs::write(record_path(&dir), b"{\"pod\": 3}").unwrap();
        let e = read(&dir).unwrap_err().to_string();
        assert!(e.contains(RECORD_FILE) && e.contains("pod: invalid type"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_pod_without_network_has_no_veth() {
        let mut rec: SandboxRecord = serde_json::from_str(OLD_RECORD).unwrap();
        rec.cni_result = None;
        assert_eq!(rec.cni_result().unwrap(), None);
        assert_eq!(rec.host_veth(), None);
    }

    #[test]
    fn hostnames_are_dns_labels() {
        let p = PodRef {
            uid: "u".into(),
            namespace: "ns".into(),
            name: format!("{}-x", "a".repeat(62)),
        };
        assert_eq!(p.hostname(), "a".repeat(62));
        assert_eq!(p.log_folder(), format!("ns_{}_u", p.name));
    }
}
