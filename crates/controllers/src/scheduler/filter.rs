//! Per-node filters with the real scheduler's reasons.

use k8s_openapi::api::core::v1::Taint;

use super::{NodeInfo, PodRequirements, TolerationKey};

/// Why a node was filtered out; the text is what the real scheduler prints
/// after the node count in "0/N nodes are available: ...".
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Reject {
    Unschedulable,
    Taint { key: String, value: String },
    Selector,
}

impl std::fmt::Display for Reject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Reject::Unschedulable => write!(f, "node(s) were unschedulable"),
            Reject::Taint { key, value } => {
                write!(f, "node(s) had untolerated taint {{{key}: {value}}}")
            }
            Reject::Selector => write!(f, "node(s) didn't match Pod's node affinity/selector"),
        }
    }
}

/// Kubernetes' toleration rule: effect and key must match when given;
/// `Exists` matches any value, `Equal` (the default) needs the same value.
pub fn tolerates(t: &TolerationKey, taint: &Taint) -> bool {
    if !t.effect.is_empty() && t.effect != taint.effect {
        return false;
    }
    if !t.key.is_empty() && t.key != taint.key {
        return false;
    }
    match t.operator.as_str() {
        "Exists" => true,
        "" | "Equal" => !t.key.is_empty() && t.value == taint.value.clone().unwrap_or_default(),
        _ => false,
    }
}

pub fn check(pod: &PodRequirements, node: &NodeInfo) -> Result<(), Reject> {
    if node.unschedulable {
        // A pod that tolerates the unschedulable taint may still go there.
        let tolerated = pod.tolerations.iter().any(|t| {
            tolerates(
                t,
                &Taint {
                    key: "node.kubernetes.io/unschedulable".into(),
                    effect: "NoSchedule".into(),
                    ..Default::default()
                },
            )
        });
        if !tolerated {
            return Err(Reject::Unschedulable);
        }
    }
    for taint in &node.taints {
        if !pod.tolerations.iter().any(|t| tolerates(t, taint)) {
            return Err(Reject::Taint {
                key: taint.key.clone(),
                value: taint.value.clone().unwrap_or_default(),
            });
        }
    }
    if !pod
        .node_selector
        .iter()
        .all(|(k, v)| node.labels.get(k) == Some(v))
    {
        return Err(Reject::Selector);
    }
    if pod.node_names.as_ref().is_some_and(|n| !n.contains(&node.name)) {
        return Err(Reject::Selector);
    }
    Ok(())
}
