//! DaemonSet status from the nodes and the pods it controls, in the fields
//! `kubectl get ds` and `kubectl rollout status ds/X` read. A Ready pod
//! counts as available (minReadySeconds is not modelled).

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{DaemonSet, DaemonSetStatus};
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::ResourceExt;

use super::eligible::fit;
use super::{is_updated, target_node};
use crate::podutil;

pub fn status(ds: &DaemonSet, nodes: &[&Node], owned: &[&Pod], hash: &str) -> DaemonSetStatus {
    let mut by_node: BTreeMap<String, Vec<&Pod>> = BTreeMap::new();
    for p in owned.iter().copied().filter(|p| podutil::is_active(p)) {
        if let Some(n) = target_node(p) {
            by_node.entry(n).or_default().push(p);
        }
    }
    let mut s = DaemonSetStatus {
        observed_generation: ds.metadata.generation,
        collision_count: ds.status.as_ref().and_then(|s| s.collision_count),
        conditions: ds.status.as_ref().and_then(|s| s.conditions.clone()),
        ..Default::default()
    };
    let (mut ready, mut updated) = (0, 0);
    for n in nodes {
        let pods = by_node.get(&n.name_any()).map(Vec::as_slice).unwrap_or(&[]);
        if !fit(ds, n).should_run {
            if !pods.is_empty() {
                s.number_misscheduled += 1;
            }
            continue;
        }
        s.desired_number_scheduled += 1;
        if pods.is_empty() {
            continue;
        }
        s.current_number_scheduled += 1;
        if pods.iter().any(|p| podutil::is_ready(p)) {
            ready += 1;
        }
        if pods.iter().any(|p| is_updated(p, hash)) {
            updated += 1;
        }
    }
    s.number_ready = ready;
    s.number_available = Some(ready);
    s.number_unavailable = Some(s.desired_number_scheduled - ready);
    s.updated_number_scheduled = Some(updated);
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn counts_nodes_not_pods() {
        let d: DaemonSet = serde_json::from_value(json!({"metadata": {"name": "d", "generation": 2},
            "spec": {"selector": {}, "template": {"spec": {"containers": [], "nodeSelector": {"run": "yes"}}}}}))
        .unwrap();
        let node = |name: &str, run: bool| -> Node {
            let labels = if run { json!({"run": "yes"}) } else { json!({}) };
            serde_json::from_value(json!({"metadata": {"name": name, "labels": labels},
                "status": {"conditions": [{"type": "Ready", "status": "True"}]}}))
            .unwrap()
        };
        let pod = |name: &str, node: &str, hash: &str, ready: bool| -> Pod {
            serde_json::from_value(json!({"metadata": {"name": name, "labels": {"controller-revision-hash": hash}},
                "spec": {"nodeName": node, "containers": []},
                "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": if ready {"True"} else {"False"}}]}}))
            .unwrap()
        };
        let nodes = [
            node("n1", true),
            node("n2", true),
            node("n3", true),
            node("n4", false),
        ];
        let nodes: Vec<&Node> = nodes.iter().collect();
        let pods = [
            pod("a", "n1", "h", true),
            pod("b", "n2", "old", false),
            pod("x", "n4", "h", true),
        ];
        let pods: Vec<&Pod> = pods.iter().collect();
        let s = status(&d, &nodes, &pods, "h");
        assert_eq!(s.desired_number_scheduled, 3);
        assert_eq!(s.current_number_scheduled, 2);
        assert_eq!(s.number_misscheduled, 1);
        assert_eq!(s.number_ready, 1);
        assert_eq!(s.number_available, Some(1));
        assert_eq!(s.number_unavailable, Some(2));
        assert_eq!(s.updated_number_scheduled, Some(1));
        assert_eq!(s.observed_generation, Some(2));
    }
}
