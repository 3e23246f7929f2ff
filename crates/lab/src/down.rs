//! `lab down`: end the lab's processes (and with them every namespace and
//! interface) and remove its state. Works after a crash or `kill -9` of `up`.

use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::state::{Holder, LabDir};

pub fn down(name: &str) -> Result<()> {
    let dir = LabDir::new(name);
    if !dir.path.exists() {
        bail!("no lab named {name:?} (see `labyrinth lab ls`)");
    }
    let lock = dir.lock()?;
    let mut failures = Vec::new();
    // A missing or torn state file means `up` died before writing it; the
    // VPC init (if any) has then already shut itself down.
    if let Ok(state) = dir.load() {
        let mut holders: Vec<Holder> = state.nodes.iter().filter_map(|n| n.holder).collect();
        holders.extend(state.vpc);
        // The VPC last is not needed (its death kills the nodes), but killing
        // every recorded holder makes down robust to a half-recorded state.
        for h in holders.iter().rev() {
            if let Err(e) = stop(h) {
                failures.push(e.to_string());
            }
        }
    }
    drop(lock);
    if let Err(e) = dir.remove() {
        failures.push(format!("{e:#}"));
    }
    if !failures.is_empty() {
        bail!("lab {name}: teardown incomplete:\n  {}", failures.join("\n  "));
    }
    Ok(())
}

/// SIGKILL a holder and wait until it is gone (or a zombie: its namespaces
/// and every process under it are already released then).
fn stop(h: &Holder) -> Result<()> {
    if !h.alive() {
        return Ok(());
    }
    let _ = kill(Pid::from_raw(h.pid as i32), Signal::SIGKILL);
    let deadline = Instant::now() + Duration::from_secs(30);
    while h.alive() {
        if Instant::now() > deadline {
            // A pid namespace finishes dying only when every process in it
            // is reaped; one whose parent is outside (a `lab ssh` killed
            // with SIGKILL leaves such orphans) waits for the host's init.
            bail!(
                "pid {} has not exited 30 s after SIGKILL; a process of the lab whose parent is outside it \
                 (e.g. left by a `lab ssh` killed with SIGKILL) is waiting to be reaped by the host's init; \
                 run `down` again later",
                h.pid
            );
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    Ok(())
}
