//! `lab logs [NODE] [COMPONENT] [-f]`: the lab's logs from the host.
//!
//! Three kinds: each node's services (its agent) log to
//! /var/log/labyrinth/<component>.log *inside* the node, read here through
//! the node init's /proc/<pid>/root; the control plane's static pods on
//! node-0 (kube-apiserver, …) log where the runtime keeps container logs
//! (`crate::static_logs`); and every machine's init (the VPC's too) writes
//! its console, `console`, to the lab's run directory, where the VPC's
//! services (its resolver, the API endpoint's relay) log too.

use std::io::{Read, Seek, SeekFrom, Write};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context, Result};

use crate::state::{Holder, LabDir};

/// Where a node's services log, inside the node.
pub const NODE_LOG_DIR: &str = "/var/log/labyrinth";
/// The component name of a machine's init log.
pub const CONSOLE: &str = "console";
/// The VPC's "node" name in `lab logs`.
pub const VPC: &str = "vpc";
/// The VPC's resolver's log (`crate::vpc_dns`), in the lab's run directory.
pub const VPC_DNS_LOG: &str = "vpc-dns";
/// The API endpoint's relay's log (`crate::api_endpoint`), beside it.
pub const API_ENDPOINT_LOG: &str = "api-endpoint";

/// One log file of the lab.
#[derive(Debug)]
pub struct LogFile {
    pub node: String,
    pub component: String,
    /// Where the host reads it.
    pub path: PathBuf,
    /// Where it is as the node sees it (for the listing).
    pub shown: String,
    /// The machine that holds it; the log ends with it.
    pub holder: Option<Holder>,
}

/// Every log of the lab, machine by machine (VPC first), sorted by name.
pub fn all(lab: &str) -> Result<Vec<LogFile>> {
    let dir = LabDir::new(lab);
    let state = dir.load()?;
    let mut out = Vec::new();
    let machines = std::iter::once((VPC.to_string(), state.vpc))
        .chain(state.nodes.iter().map(|n| (n.plan.name.clone(), n.holder)));
    for (machine, holder) in machines {
        let console = dir.log_path(&machine);
        out.push(LogFile {
            node: machine.clone(),
            component: CONSOLE.into(),
            shown: console.display().to_string(),
            path: console,
            holder,
        });
        if machine == VPC {
            // The VPC's services log beside its console, on the host.
            for name in [VPC_DNS_LOG, API_ENDPOINT_LOG] {
                let path = dir.log_path(name);
                if path.exists() {
                    out.push(LogFile {
                        node: machine.clone(),
                        component: name.into(),
                        shown: path.display().to_string(),
                        path,
                        holder,
                    });
                }
            }
        }
        let Some(h) = holder.filter(Holder::alive) else {
            continue;
        };
        let inside = PathBuf::from(format!("/proc/{}/root{NODE_LOG_DIR}", h.pid));
        let mut names: Vec<String> = match std::fs::read_dir(&inside) {
            Ok(d) => d
                .flatten()
                .filter_map(|e| e.file_name().to_str()?.strip_suffix(".log").map(String::from))
                .collect(),
            Err(_) => Vec::new(),
        };
        names.sort();
        for name in names {
            out.push(LogFile {
                node: machine.clone(),
                shown: format!("{NODE_LOG_DIR}/{name}.log"),
                path: inside.join(format!("{name}.log")),
                component: name,
                holder: Some(h),
            });
        }
        let root = PathBuf::from(format!("/proc/{}/root", h.pid));
        for (name, file) in crate::static_logs::latest(&root, &machine) {
            out.push(LogFile {
                node: machine.clone(),
                shown: file.display().to_string(),
                path: root.join(file.strip_prefix("/").unwrap_or(&file)),
                component: name,
                holder: Some(h),
            });
        }
    }
    Ok(out)
}

/// `lab logs`: list (no component) or print (and with `follow`, follow).
pub fn run(lab: &str, node: Option<&str>, component: Option<&str>, follow: bool) -> Result<i32> {
    let logs = all(lab)?;
    let known_node = |n: &str| logs.iter().any(|l| l.node == n);
    if let Some(n) = node {
        if !known_node(n) {
            let mut names: Vec<&str> = logs.iter().map(|l| l.node.as_str()).collect();
            names.dedup();
            bail!("lab {lab}: no machine {n:?} (machines: {})", names.join(", "));
        }
    }
    let Some(component) = component else {
        if follow {
            bail!("--follow needs a NODE and a COMPONENT (run `labyrinth lab logs` to list them)");
        }
        println!("{:<10} {:<12} {:>9}  FILE", "NODE", "COMPONENT", "BYTES");
        for l in logs.iter().filter(|l| node.is_none_or(|n| n == l.node)) {
            let size = std::fs::metadata(&l.path).map(|m| m.len().to_string());
            println!(
                "{:<10} {:<12} {:>9}  {}",
                l.node,
                l.component,
                size.unwrap_or_else(|_| "-".into()),
                l.shown
            );
        }
        return Ok(0);
    };
    let node = node.unwrap_or_default();
    let Some(log) = logs.iter().find(|l| l.node == node && l.component == component) else {
        let have: Vec<&str> = logs
            .iter()
            .filter(|l| l.node == node)
            .map(|l| l.component.as_str())
            .collect();
        bail!(
            "{node} of lab {lab} has no {component:?} log (it has: {})",
            have.join(", ")
        );
    };
    print_log(log, follow)?;
    Ok(0)
}

/// Copy the log to stdout; following, keep copying what is appended until
/// its machine ends (or we are interrupted).
fn print_log(log: &LogFile, follow: bool) -> Result<()> {
    let mut file = std::fs::File::open(&log.path)
        .with_context(|| format!("opening the {} log of {}", log.component, log.node))?;
    let mut stdout = std::io::stdout().lock();
    let mut pos = 0u64;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = file.read(&mut buf).context("reading the log")?;
        if n > 0 {
            pos += n as u64;
            if stdout.write_all(&buf[..n]).is_err() {
                return Ok(()); // the reader went away (a pipe closed)
            }
            continue;
        }
        if !follow {
            return Ok(());
        }
        let _ = stdout.flush();
        if !log.holder.is_some_and(|h| h.alive()) {
            return Ok(());
        }
        // Truncated under us (rotated by hand): start again from the top.
        if file.metadata().map(|m| m.len() < pos).unwrap_or(false) {
            pos = file.seek(SeekFrom::Start(0))?;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}
