//! Scheduler logic: which node a pod goes to, or why none fits.
//!
//! Filters, in the real scheduler's plugin order (so each node is counted
//! under the same reason a real cluster would give): node unschedulable,
//! taints the pod does not tolerate (a node that is not Ready counts as
//! tainted `node.kubernetes.io/not-ready` or `unreachable`, as the node
//! lifecycle controller would taint it), then nodeSelector. Among the nodes
//! left, the one with the fewest pods wins, ties broken by name. There is no
//! resource model yet.

mod affinity;
pub mod bench;
mod cluster;
mod filter;
pub mod naive;
mod pod_to_place;

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Node, Pod, Taint, Toleration};
use kube::ResourceExt;

pub use affinity::{allowed_node_names, NODE_NAME_FIELD};
pub use cluster::{Cluster, Unschedulable};
pub use filter::{tolerates, Reject};
pub use pod_to_place::PodToPlace;

/// The scheduler name pods get by default; pods naming another are left alone.
pub const DEFAULT_SCHEDULER: &str = "default-scheduler";
pub use labyrinth_contracts::node_taints::{NOT_READY as TAINT_NOT_READY, UNREACHABLE as TAINT_UNREACHABLE};

/// What the scheduler needs to know about a node.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct NodeInfo {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub unschedulable: bool,
    /// NoSchedule and NoExecute taints, including the implicit one for a
    /// node that is not Ready.
    pub taints: Vec<Taint>,
}

impl NodeInfo {
    pub fn from_node(node: &Node) -> Self {
        let spec = node.spec.clone().unwrap_or_default();
        let mut taints: Vec<Taint> = spec
            .taints
            .unwrap_or_default()
            .into_iter()
            .filter(|t| t.effect == "NoSchedule" || t.effect == "NoExecute")
            .collect();
        let ready = node
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .and_then(|cs| cs.iter().find(|c| c.type_ == "Ready"))
            .map(|c| c.status.as_str());
        let implicit = match ready {
            Some("True") => None,
            Some("Unknown") => Some(TAINT_UNREACHABLE),
            _ => Some(TAINT_NOT_READY),
        };
        if let Some(key) = implicit {
            if !taints.iter().any(|t| t.key == key) {
                taints.push(Taint {
                    key: key.into(),
                    effect: "NoSchedule".into(),
                    ..Default::default()
                });
            }
        }
        NodeInfo {
            name: node.name_any(),
            labels: node.labels().clone(),
            unschedulable: spec.unschedulable.unwrap_or(false),
            taints,
        }
    }
}

/// What the scheduler needs to know about a pod to place it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct PodRequirements {
    pub node_selector: BTreeMap<String, String>,
    pub tolerations: Vec<TolerationKey>,
    /// The nodes a required `matchFields` affinity on the name allows.
    pub node_names: Option<Vec<String>>,
}

/// A toleration in a hashable form (pods with equal requirements share the
/// scheduler's per-group node index).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct TolerationKey {
    pub key: String,
    pub operator: String,
    pub value: String,
    pub effect: String,
}

impl From<&Toleration> for TolerationKey {
    fn from(t: &Toleration) -> Self {
        TolerationKey {
            key: t.key.clone().unwrap_or_default(),
            operator: t.operator.clone().unwrap_or_default(),
            value: t.value.clone().unwrap_or_default(),
            effect: t.effect.clone().unwrap_or_default(),
        }
    }
}

impl PodRequirements {
    pub fn from_pod(pod: &Pod) -> Self {
        let spec = pod.spec.clone().unwrap_or_default();
        PodRequirements {
            node_selector: spec.node_selector.unwrap_or_default(),
            tolerations: spec
                .tolerations
                .unwrap_or_default()
                .iter()
                .map(TolerationKey::from)
                .collect(),
            node_names: allowed_node_names(pod),
        }
    }
}

/// Whether this scheduler should place the pod: unassigned, not being
/// deleted, not finished, and asking for the default scheduler.
pub fn wants_scheduling(pod: &Pod) -> bool {
    let Some(spec) = pod.spec.as_ref() else {
        return false;
    };
    crate::podutil::node_name(pod).is_none()
        && crate::podutil::is_active(pod)
        && spec
            .scheduler_name
            .as_deref()
            .is_none_or(|s| s.is_empty() || s == DEFAULT_SCHEDULER)
}

#[cfg(test)]
mod tests;
