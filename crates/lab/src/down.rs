//! `lab down`: end the lab's processes (and with them every namespace and
//! interface) and remove its state. Works after a crash or `kill -9` of `up`,
//! and with a torn or unreadable state record: the lab's inits are then
//! found by their command line (see leftovers.rs).

use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::leftovers;
use crate::state::{Holder, LabDir};

pub fn down(name: &str) -> Result<()> {
    let dir = LabDir::new(name);
    if !dir.path.exists() {
        bail!("no lab named {name:?} (see `labyrinth lab ls`)");
    }
    let lock = dir.lock()?;
    let mut failures = Vec::new();
    let mut holders: Vec<Holder> = Vec::new();
    match dir.load() {
        Ok(state) => {
            holders.extend(state.nodes.iter().filter_map(|n| n.holder));
            holders.extend(state.vpc);
        }
        // No state file: `up` died before writing it.
        Err(_) if !dir.exists() => {}
        Err(e) => {
            eprintln!("labyrinth: lab {name}: {e:#}; finding its machines by their command line instead")
        }
    }
    // Also every init the record does not name (a torn or half-written
    // record): none may outlive `down`.
    for h in leftovers::inits(&dir) {
        if !holders.contains(&h) {
            holders.push(h);
        }
    }
    // Killing the VPC's init alone would do (its pid namespace holds the
    // nodes), but killing each one found makes down robust to any record.
    for h in holders.iter().rev() {
        if let Err(e) = stop(h) {
            failures.push(e.to_string());
        }
    }
    let left = leftovers::inits(&dir);
    if !left.is_empty() {
        let pids: Vec<String> = left.iter().map(|h| h.pid.to_string()).collect();
        failures.push(format!("machine inits still running: pid {}", pids.join(", ")));
    }
    drop(lock);
    // Keep the directory while something of the lab lives: it is how a
    // later `down` finds it.
    if left.is_empty() {
        if let Err(e) = dir.remove() {
            failures.push(format!("{e:#}"));
        }
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
