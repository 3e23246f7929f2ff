//! Capture points: every device a packet of the flow may cross, named by
//! node, network namespace and device, in path order.

use std::path::PathBuf;

use labyrinth_contracts::node::{GATEWAY_DEVS, UPLINK_DEV, VXLAN_DEV};
use serde::Serialize;

use crate::topology::{Lab, Pod};

/// What a device is on the path (also the order along it, source side).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    /// eth0 inside a pod.
    PodEth,
    /// The pod's veth peer on the node (`lxc…`).
    HostVeth,
    /// The node's gateway pair (lby_host / lby_net).
    Gateway,
    /// The node's VXLAN device.
    Tunnel,
    /// The node's underlay uplink.
    Uplink,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct CapturePoint {
    pub node: String,
    /// `host` for the node's own namespace, else the pod's `cni-<uid>`.
    pub netns: String,
    /// `namespace/name` when the namespace is a pod's.
    pub pod: Option<String>,
    /// For a host veth: the pod at its other end.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub peer_pod: Option<String>,
    pub device: String,
    pub role: Role,
    #[serde(skip)]
    pub ns_path: PathBuf,
}

impl CapturePoint {
    /// `node-1/cni-<uid>/eth0`: the pcapng interface name.
    pub fn name(&self) -> String {
        format!("{}/{}/{}", self.node, self.netns, self.device)
    }

    /// A sentence naming node, namespace and device.
    pub fn description(&self) -> String {
        let what = match self.role {
            Role::PodEth => "the pod's end of its veth",
            Role::HostVeth => "the node's end of the pod's veth",
            Role::Gateway => "the node's gateway pair",
            Role::Tunnel => "the node's VXLAN tunnel device",
            Role::Uplink => "the node's underlay uplink",
        };
        let ns = match &self.pod {
            Some(p) => format!("network namespace {} (pod {p})", self.netns),
            None => "the node's own network namespace".to_string(),
        };
        format!("node {}, {ns}, device {} ({what})", self.node, self.device)
    }

    /// Short form for headings: `node-1 / wrk-1/pod-x / eth0`.
    pub fn heading(&self) -> String {
        let ns = self.pod.as_deref().unwrap_or("host");
        format!("{} / {ns} / {}", self.node, self.device)
    }
}

fn pod_points(pod: &Pod) -> Vec<CapturePoint> {
    let mut v = vec![CapturePoint {
        node: pod.node.clone(),
        netns: pod.netns.clone(),
        pod: Some(pod.label()),
        peer_pod: None,
        device: "eth0".into(),
        role: Role::PodEth,
        ns_path: pod.netns_path.clone(),
    }];
    if let Some(veth) = &pod.host_veth {
        v.push(CapturePoint {
            node: pod.node.clone(),
            netns: "host".into(),
            pod: None,
            peer_pod: Some(pod.label()),
            device: veth.clone(),
            role: Role::HostVeth,
            ns_path: PathBuf::new(), // filled by plan() from the node
        });
    }
    v
}

/// Every capture point of a flow from `src` to `dst` (a pod, or unknown: a
/// Service or a name whose endpoints are not known here, so every pod of
/// the lab and every node is watched). Devices that a node does not have
/// (no tunnel in native routing) are dropped later, when opening fails
/// with "no such device".
pub fn plan(lab: &Lab, src: &Pod, dst: Option<&Pod>) -> Vec<CapturePoint> {
    let mut points = pod_points(src);
    let far_pods: Vec<&Pod> = match dst {
        Some(d) if d.uid != src.uid => vec![d],
        Some(_) => vec![],
        None => lab.pods.iter().filter(|p| p.uid != src.uid).collect(),
    };
    let mut nodes: Vec<&str> = vec![src.node.as_str()];
    match dst {
        Some(d) => nodes.push(d.node.as_str()),
        None => nodes.extend(lab.nodes.iter().map(|n| n.name.as_str())),
    }
    let mut seen = std::collections::HashSet::new();
    nodes.retain(|n| seen.insert(*n));
    for node in &nodes {
        let mut devs: Vec<(&str, Role)> = GATEWAY_DEVS.iter().map(|d| (*d, Role::Gateway)).collect();
        devs.push((VXLAN_DEV, Role::Tunnel));
        devs.push((UPLINK_DEV, Role::Uplink));
        for (dev, role) in devs {
            points.push(CapturePoint {
                node: node.to_string(),
                netns: "host".into(),
                pod: None,
                peer_pod: None,
                device: dev.into(),
                role,
                ns_path: PathBuf::new(),
            });
        }
    }
    for p in far_pods {
        points.extend(pod_points(p));
    }
    for p in &mut points {
        if p.ns_path.as_os_str().is_empty() {
            if let Ok(node) = lab.node(&p.node) {
                p.ns_path = node.netns_path();
            }
        }
    }
    points
}
