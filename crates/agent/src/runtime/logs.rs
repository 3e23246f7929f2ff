//! Container logs as the kubelet lays them out: one file per container
//! start, `<log_dir>/<ns>_<pod>_<uid>/<container>/<restarts>.log`, in the
//! CRI log format, written by native/crilog.c (a small process per
//! container, not a thread of the agent: output keeps landing while the
//! agent restarts).

use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{bail, Context, Result};
use nix::fcntl::OFlag;

use super::{PodRef, RuntimeConfig};

/// The writer's bytes, installed on the node by [`install`].
const PROGRAM: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/labyrinth-crilog"));

/// Put the writer at `path` (see [`super::program::install`]).
pub fn install(path: &Path) -> Result<()> {
    super::program::install(path, PROGRAM)
}

/// The folder of one container's logs.
pub fn container_dir(log_dir: &Path, pod: &PodRef, container: &str) -> PathBuf {
    log_dir.join(pod.log_folder()).join(container)
}

/// The log of a container's start number `restarts` (0 for the first).
pub fn file(log_dir: &Path, pod: &PodRef, container: &str, restarts: u32) -> PathBuf {
    start_file(&container_dir(log_dir, pod, container), restarts)
}

/// A start's log inside the container's folder.
pub fn start_file(dir: &Path, restarts: u32) -> PathBuf {
    dir.join(format!("{restarts}.log"))
}

/// Remove a pod's logs (it is gone).
pub fn remove(cfg: &RuntimeConfig, pod: &PodRef) {
    let _ = std::fs::remove_dir_all(cfg.log_dir.join(pod.log_folder()));
}

/// The log folder of pod `ns/name` and its newest start's number, found
/// from the files alone (a pod run to completion has no sandbox record
/// left, only its logs).
pub fn newest(log_dir: &Path, ns: &str, name: &str, container: &str) -> Option<(PathBuf, u32)> {
    let prefix = format!("{ns}_{name}_");
    std::fs::read_dir(log_dir)
        .ok()?
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
        .filter_map(|e| {
            let dir = e.path().join(container);
            let last = std::fs::read_dir(&dir)
                .ok()?
                .flatten()
                .filter_map(|f| f.file_name().to_str()?.strip_suffix(".log")?.parse::<u32>().ok())
                .max()?;
            Some((dir, last))
        })
        .next()
}

/// Start the writer of one container start's log; the two ends returned
/// are the container's stdout and stderr.
pub fn start_writer(
    cfg: &RuntimeConfig,
    pod: &PodRef,
    container: &str,
    restarts: u32,
) -> Result<(OwnedFd, OwnedFd)> {
    let path = file(&cfg.log_dir, pod, container, restarts);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    // Close-on-exec: the writer gets the read ends as its stdin and stdout,
    // only the container the write ends. Nothing runs between fork and
    // exec, so std spawns it without copying this process's page tables
    // (a pre_exec placing them on fds 3 and 4 made it fork: a tenth of the
    // kubelet role's CPU in a burst of pod starts).
    let (out_r, out_w) = nix::unistd::pipe2(OFlag::O_CLOEXEC)?;
    let (err_r, err_w) = nix::unistd::pipe2(OFlag::O_CLOEXEC)?;
    let mut cmd = Command::new(&cfg.crilog);
    cmd.arg(&path)
        .stdin(Stdio::from(out_r))
        .stdout(Stdio::from(err_r))
        .stderr(Stdio::piped());
    // The writer forks and its parent exits once the file is open.
    let done = cmd
        .output()
        .with_context(|| format!("starting the log writer {}", cfg.crilog.display()))?;
    if !done.status.success() {
        bail!(
            "container {container}'s log writer: {}",
            String::from_utf8_lossy(&done.stderr).trim()
        );
    }
    Ok((out_w, err_w))
}
