//! `lab status` and `lab ls`: both print what [`status`] judges, so they
//! can never disagree on a lab's state.

use anyhow::{bail, Result};
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
    /// running | creating | stale (left by a killed `up` or a crash) |
    /// broken (its state record cannot be read; `lab down` still removes it)
    pub state: &'static str,
    /// Why a broken lab is broken.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
    /// The fields below are unknown (null) for a broken lab.
    pub datapath: Option<Datapath>,
    pub routing: Option<Routing>,
    #[serde(rename = "underlayCIDR")]
    pub underlay_cidr: Option<String>,
    pub mtu: Option<u32>,
    pub vpc_pid: Option<u32>,
    pub created: Option<u64>,
    /// The API endpoint on the host's loopback (`crate::api_endpoint`);
    /// null for a bare or broken lab.
    pub api_endpoint: Option<String>,
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

/// One lab's status: the single judgement `status` and `ls` print.
pub fn status(name: &str) -> Result<LabStatus> {
    let dir = LabDir::new(name);
    if !dir.exists() {
        bail!("no lab named {name:?} (see `labyrinth lab ls`)");
    }
    Ok(match dir.load() {
        Ok(s) => summarize(&s),
        Err(e) => broken(name, format!("{e:#}")),
    })
}

fn broken(name: &str, problem: String) -> LabStatus {
    LabStatus {
        name: name.to_string(),
        state: "broken",
        problem: Some(problem),
        datapath: None,
        routing: None,
        underlay_cidr: None,
        mtu: None,
        vpc_pid: None,
        created: None,
        api_endpoint: None,
        nodes: Vec::new(),
    }
}

fn summarize(s: &LabState) -> LabStatus {
    LabStatus {
        name: s.config.name.clone(),
        state: lab_state(s),
        problem: None,
        datapath: Some(s.config.datapath),
        routing: Some(s.config.routing),
        underlay_cidr: Some(s.config.underlay_cidr.to_string()),
        mtu: Some(s.config.mtu),
        vpc_pid: s.vpc.map(|h| h.pid),
        created: Some(s.created),
        api_endpoint: s.api_endpoint.map(|a| format!("https://{a}")),
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

/// Every lab on the machine, each judged by [`status`].
pub fn ls() -> Result<Vec<LabStatus>> {
    let mut out = Vec::new();
    for name in all_labs()? {
        // A lab removed between listing and reading is simply gone.
        if let Ok(s) = status(&name) {
            out.push(s);
        }
    }
    Ok(out)
}

fn or_dash<T: ToString>(v: &Option<T>) -> String {
    v.as_ref().map_or_else(|| "-".into(), T::to_string)
}

pub fn print_status(s: &LabStatus) {
    if let Some(problem) = &s.problem {
        println!(
            "lab {}: {} ({problem}); `labyrinth lab down --name {0}` removes it",
            s.name, s.state
        );
        return;
    }
    println!(
        "lab {}: {} (datapath {}, routing {}, underlay {}, mtu {})",
        s.name,
        s.state,
        or_dash(&s.datapath),
        or_dash(&s.routing),
        or_dash(&s.underlay_cidr),
        or_dash(&s.mtu)
    );
    if let Some(at) = &s.api_endpoint {
        println!(
            "API endpoint on the host: {at} (`labyrinth lab kubeconfig --name {}`)",
            s.name
        );
    }
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
            or_dash(&n.pid),
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
            or_dash(&s.datapath),
            or_dash(&s.routing),
            or_dash(&s.underlay_cidr)
        );
    }
}
