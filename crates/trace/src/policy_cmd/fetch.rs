//! The API objects policy reads, fetched in one `kubectl get` of the lab
//! (the same path `labyrinth kubectl` takes), so a check costs one round
//! trip whatever the number of policies.

use std::process::Command;

use anyhow::{bail, Context, Result};
use labyrinth_policy::{Cluster, Objects};

const KINDS: &str = "namespaces,pods,networkpolicies.networking.k8s.io,nodes";

/// The lab's model; each policy left out is reported on stderr.
pub fn cluster(lab: &str) -> Result<Cluster> {
    let exe = std::env::current_exe()?;
    let out = Command::new(exe)
        .args(["kubectl", "--name", lab, "get", KINDS, "-A", "-o", "json"])
        .output()
        .context("running labyrinth kubectl")?;
    if !out.status.success() {
        bail!(
            "reading the lab's pods and policies: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let list: serde_json::Value =
        serde_json::from_slice(&out.stdout).context("kubectl's output is no JSON")?;
    let (cluster, errors) = Objects::from_list(&list)?.cluster();
    for e in errors {
        eprintln!("labyrinth: {e}");
    }
    Ok(cluster)
}
