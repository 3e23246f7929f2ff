//! The lab as the tracer sees it: nodes (reached through their holder's
//! /proc entry), the pods the runtime recorded inside each node, and the
//! devices a packet may cross. Everything is read from the host, without
//! entering any namespace: a node's files are under /proc/<holder>/root.

use std::net::Ipv4Addr;
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use labyrinth_contracts::sandbox::{self, NETNS_DIR, PODS_DIR};
use labyrinth_lab::state::LabDir;
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct Node {
    pub name: String,
    pub address: Ipv4Addr,
    /// Host pid of the process holding the node's namespaces.
    #[serde(skip)]
    pub pid: u32,
}

impl Node {
    /// A path inside the node's own filesystem, seen from the host.
    pub fn path(&self, inside: &str) -> PathBuf {
        PathBuf::from(format!(
            "/proc/{}/root/{}",
            self.pid,
            inside.trim_start_matches('/')
        ))
    }

    pub fn netns_path(&self) -> PathBuf {
        PathBuf::from(format!("/proc/{}/ns/net", self.pid))
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Pod {
    pub namespace: String,
    pub name: String,
    pub uid: String,
    pub node: String,
    pub ip: Option<Ipv4Addr>,
    /// Name under the node's /run/netns (`cni-<uid>`).
    pub netns: String,
    /// Host side of the pod's veth (`lxc…`), from the CNI result.
    pub host_veth: Option<String>,
    /// The netns file, reachable from the host through the node's root.
    #[serde(skip)]
    pub netns_path: PathBuf,
}

impl Pod {
    pub fn label(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Lab {
    pub name: String,
    pub nodes: Vec<Node>,
    pub pods: Vec<Pod>,
    /// Host pid holding the VPC's namespaces (the gateway, which plays the
    /// client host outside the cluster).
    #[serde(skip)]
    pub vpc_pid: Option<u32>,
}

impl Lab {
    /// Read a running lab's nodes and every node's pod sandboxes.
    pub fn load(name: &str) -> Result<Lab> {
        let state = LabDir::new(name).load()?;
        if !state.running() {
            bail!("lab {name} is not running (see `labyrinth lab status --name {name}`)");
        }
        let mut nodes = Vec::new();
        for n in &state.nodes {
            let holder = n
                .holder
                .with_context(|| format!("{} of lab {name} was never started", n.plan.name))?;
            nodes.push(Node {
                name: n.plan.name.clone(),
                address: n.plan.address,
                pid: holder.pid,
            });
        }
        let mut pods = Vec::new();
        for node in &nodes {
            pods.extend(pods_of(node)?);
        }
        Ok(Lab {
            name: name.to_string(),
            nodes,
            pods,
            vpc_pid: state.vpc.as_ref().map(|h| h.pid),
        })
    }

    pub fn node(&self, name: &str) -> Result<&Node> {
        self.nodes
            .iter()
            .find(|n| n.name == name)
            .with_context(|| format!("lab {}: no node {name:?}", self.name))
    }

    /// A pod by `namespace/name` (as given on the command line).
    pub fn pod(&self, spec: &str) -> Result<&Pod> {
        let (ns, name) = spec
            .split_once('/')
            .with_context(|| format!("pod {spec:?}: expected NAMESPACE/POD"))?;
        self.pods
            .iter()
            .find(|p| p.namespace == ns && p.name == name)
            .with_context(|| {
                let known: Vec<String> = self.pods.iter().map(Pod::label).collect();
                format!(
                    "pod {spec:?}: no sandbox with that name in lab {} (pods: {})",
                    self.name,
                    known.join(", ")
                )
            })
    }

    pub fn pod_by_ip(&self, ip: Ipv4Addr) -> Option<&Pod> {
        self.pods.iter().find(|p| p.ip == Some(ip))
    }

    pub fn node_by_address(&self, ip: Ipv4Addr) -> Option<&Node> {
        self.nodes.iter().find(|n| n.address == ip)
    }
}

fn pods_of(node: &Node) -> Result<Vec<Pod>> {
    let dir = node.path(PODS_DIR);
    let mut pods = Vec::new();
    let pod_dirs = sandbox::pod_dirs(&dir).with_context(|| format!("listing {}", dir.display()))?;
    for pod_dir in pod_dirs {
        let Some(rec) = sandbox::read(&pod_dir)? else {
            continue; // a sandbox being made or removed
        };
        if rec.host_network {
            continue; // on the node's own network: the node, to a trace
        }
        pods.push(Pod {
            host_veth: rec.host_veth(),
            netns_path: node.path(&format!("{NETNS_DIR}/{}", rec.netns)),
            namespace: rec.pod.namespace,
            name: rec.pod.name,
            uid: rec.pod.uid,
            node: node.name.clone(),
            ip: rec.ip,
            netns: rec.netns,
        });
    }
    pods.sort_by_key(Pod::label);
    Ok(pods)
}
