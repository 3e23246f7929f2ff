//! `lab status` and `lab ls`.

use anyhow::Result;
use serde::Serialize;

use crate::config::{Datapath, Routing};
use crate::state::{all_labs, LabDir, LabState, Phase};

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeStatus {
    pub name: String,
    pub role: &'static str,
    pub address: String,
    #[serde(rename = "podCIDR")]
    pub pod_cidr: String,
    pub pid: Option<u32>,
    pub running: bool,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LabStatus {
    pub name: String,
    /// running | creating | stale (left by a killed `up` or a crash)
    pub state: &'static str,
    pub datapath: Datapath,
    pub routing: Routing,
    #[serde(rename = "underlayCIDR")]
    pub underlay_cidr: String,
    pub mtu: u32,
    pub vpc_pid: Option<u32>,
    pub created: u64,
    pub nodes: Vec<NodeStatus>,
}

fn lab_state(s: &LabState) -> &'static str {
    let vpc_alive = s.vpc.is_some_and(|h| h.alive());
    match (s.phase, vpc_alive) {
        (Phase::Running, true) => "running",
        (Phase::Creating, true) => "creating",
        _ => "stale",
    }
}

pub fn status(name: &str) -> Result<LabStatus> {
    let s = LabDir::new(name).load()?;
    Ok(summarize(&s))
}

fn summarize(s: &LabState) -> LabStatus {
    LabStatus {
        name: s.config.name.clone(),
        state: lab_state(s),
        datapath: s.config.datapath,
        routing: s.config.routing,
        underlay_cidr: s.config.underlay_cidr.to_string(),
        mtu: s.config.mtu,
        vpc_pid: s.vpc.map(|h| h.pid),
        created: s.created,
        nodes: s
            .nodes
            .iter()
            .map(|n| NodeStatus {
                name: n.plan.name.clone(),
                role: if n.plan.control_plane {
                    "control-plane"
                } else {
                    "worker"
                },
                address: n.plan.address.to_string(),
                pod_cidr: n.plan.pod_cidr.to_string(),
                pid: n.holder.map(|h| h.pid),
                running: n.holder.is_some_and(|h| h.alive()),
            })
            .collect(),
    }
}

pub fn ls() -> Result<Vec<LabStatus>> {
    let mut out = Vec::new();
    for name in all_labs()? {
        if let Ok(s) = LabDir::new(&name).load() {
            out.push(summarize(&s));
        }
    }
    Ok(out)
}

pub fn print_status(s: &LabStatus) {
    println!(
        "lab {}: {} (datapath {}, routing {}, underlay {}, mtu {})",
        s.name, s.state, s.datapath, s.routing, s.underlay_cidr, s.mtu
    );
    println!(
        "{:<10} {:<14} {:<16} {:<14} {:>8}  STATE",
        "NODE", "ROLE", "ADDRESS", "POD CIDR", "PID"
    );
    for n in &s.nodes {
        println!(
            "{:<10} {:<14} {:<16} {:<14} {:>8}  {}",
            n.name,
            n.role,
            n.address,
            n.pod_cidr,
            n.pid.map(|p| p.to_string()).unwrap_or_else(|| "-".into()),
            if n.running { "running" } else { "down" }
        );
    }
}

pub fn print_ls(labs: &[LabStatus]) {
    println!(
        "{:<20} {:<9} {:>5}  {:<9} {:<7} UNDERLAY",
        "NAME", "STATE", "NODES", "DATAPATH", "ROUTING"
    );
    for s in labs {
        println!(
            "{:<20} {:<9} {:>5}  {:<9} {:<7} {}",
            s.name,
            s.state,
            s.nodes.len(),
            s.datapath.to_string(),
            s.routing.to_string(),
            s.underlay_cidr
        );
    }
}
