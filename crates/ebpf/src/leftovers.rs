//! Removing the eBPF datapath from a node that now runs another one (its
//! agent restarted with a different --datapath), without loading anything:
//! the filters come off the devices we attach to, the pins go (which
//! detaches tcx links and frees the maps). kube-proxy does the same with
//! the other modes' rules when it starts.

use std::path::Path;

use anyhow::{Context, Result};

use crate::attach::{detach, AttachMode, Hook};
use crate::maps::pinned_endpoints;

/// Detach our programs from every pod veth the endpoints map names and
/// from `devices` (the tunnel, lby_net, the underlay), then remove
/// `pin_dir`. Returns whether there was anything to remove.
pub fn remove(pin_dir: &Path, devices: &[&str]) -> Result<bool> {
    if !pin_dir.exists() {
        return Ok(false);
    }
    let mut names: Vec<String> = devices.iter().map(|d| d.to_string()).collect();
    // Only the endpoints map is read: the others may be of another version
    // (an older agent's, with retired names). If even it does not open,
    // the devices still get cleaned.
    for ep in pinned_endpoints(pin_dir).unwrap_or_default().values() {
        if let Some(n) = crate::datapath::ifname_of(ep.ifindex) {
            names.push(n);
        }
    }
    let mut failures = Vec::new();
    for name in &names {
        for hook in [Hook::Ingress, Hook::Egress] {
            for mode in [AttachMode::Clsact, AttachMode::Tcx] {
                if let Err(e) = detach(mode, pin_dir, name, hook) {
                    failures.push(format!("{name}: {e:#}"));
                }
            }
        }
    }
    std::fs::remove_dir_all(pin_dir).with_context(|| format!("removing {}", pin_dir.display()))?;
    if !failures.is_empty() {
        anyhow::bail!("detaching our programs: {}", failures.join("; "));
    }
    Ok(true)
}
