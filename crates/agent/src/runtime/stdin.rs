//! A container's kept stdin (`stdin: true`): a named pipe in the pod's
//! state folder. The container gets it opened for reading and writing, so
//! it never reads end of file while no one is attached; `kubectl attach -i`
//! writes into it.

use std::fs::File;
use std::path::PathBuf;

use anyhow::{Context, Result};
use nix::sys::stat::Mode;

use super::RuntimeConfig;

/// The pipe of container `name` of the pod with `uid`.
pub fn path(cfg: &RuntimeConfig, uid: &str, name: &str) -> PathBuf {
    labyrinth_contracts::sandbox::pod_dir(&cfg.state_dir, uid).join(format!("{name}.stdin"))
}

/// Make the pipe if missing (a restarted container keeps what was written
/// and not yet read) and open it as the container's stdin.
pub fn open(cfg: &RuntimeConfig, uid: &str, name: &str) -> Result<File> {
    let p = path(cfg, uid, name);
    match nix::unistd::mkfifo(&p, Mode::from_bits_truncate(0o600)) {
        Ok(()) | Err(nix::errno::Errno::EEXIST) => {}
        Err(e) => return Err(e).with_context(|| format!("making {}", p.display())),
    }
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&p)
        .with_context(|| format!("opening {}", p.display()))
}
