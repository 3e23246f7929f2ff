//! What a DaemonSet sync does: per node, create the missing daemon pod,
//! delete pods that must not be there (or the surplus past one), then for a
//! RollingUpdate delete old pods within maxUnavailable. A node whose pod is
//! missing or not Ready counts as unavailable, so with the default
//! maxUnavailable of 1 the next old pod goes only once the last node's new
//! pod is Ready: the update walks the nodes one at a time.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::core::v1::{Node, Pod};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::ResourceExt;

use super::eligible::fit;
use super::{is_updated, target_node};
use crate::podutil;

#[derive(Debug, Default, PartialEq, Eq)]
pub struct Plan {
    /// Nodes to create a daemon pod on.
    pub create: Vec<String>,
    /// Pods to delete.
    pub delete: Vec<String>,
}

/// `owned` are the pods whose controller is this DaemonSet.
pub fn plan(ds: &DaemonSet, nodes: &[&Node], owned: &[&Pod], hash: &str) -> Plan {
    let mut by_node: BTreeMap<String, Vec<&Pod>> = BTreeMap::new();
    let mut out = Plan::default();
    for p in owned.iter().copied().filter(|p| !podutil::is_terminating(p)) {
        match (target_node(p), podutil::phase(p)) {
            // A daemon pod that ended is replaced, as the real controller does.
            (_, "Failed" | "Succeeded") | (None, _) => out.delete.push(p.name_any()),
            (Some(n), _) => by_node.entry(n).or_default().push(p),
        }
    }
    let fits: BTreeMap<String, super::eligible::Fit> =
        nodes.iter().map(|n| (n.name_any(), fit(ds, n))).collect();
    // The one pod each running node keeps, for the rolling update.
    let mut kept: BTreeMap<&str, Option<&Pod>> = BTreeMap::new();
    for (node, f) in &fits {
        let mut pods = by_node.remove(node).unwrap_or_default();
        if f.should_run && pods.is_empty() {
            out.create.push(node.clone());
            kept.insert(node, None);
        } else if !f.may_continue || (!f.should_run && pods.is_empty()) {
            out.delete.extend(pods.iter().map(|p| p.name_any()));
        } else {
            // The oldest stays; a surplus appears only after a lost race.
            pods.sort_by_key(|p| (p.metadata.creation_timestamp.clone().map(|t| t.0), p.name_any()));
            out.delete.extend(pods.iter().skip(1).map(|p| p.name_any()));
            if f.should_run {
                kept.insert(node, pods.first().copied());
            }
        }
    }
    // Pods on nodes that no longer exist.
    for pods in by_node.values() {
        out.delete.extend(pods.iter().map(|p| p.name_any()));
    }
    if rolling(ds) {
        out.delete
            .extend(rolling_deletes(&kept, max_unavailable(ds, kept.len()), hash));
    }
    out
}

fn rolling(ds: &DaemonSet) -> bool {
    let strategy = ds.spec.update_strategy.as_ref();
    strategy
        .and_then(|s| s.type_.as_deref())
        .unwrap_or("RollingUpdate")
        == "RollingUpdate"
}

/// maxUnavailable scaled against the desired count, rounding up as the
/// real controller does; never 0, or an update could not start.
pub fn max_unavailable(ds: &DaemonSet, desired: usize) -> usize {
    let v = ds
        .spec
        .update_strategy
        .as_ref()
        .and_then(|s| s.rolling_update.as_ref())
        .and_then(|r| r.max_unavailable.clone());
    let n = match v {
        None => 1,
        Some(IntOrString::Int(i)) => i.max(0) as usize,
        Some(IntOrString::String(s)) => {
            let pct: usize = s.trim_end_matches('%').parse().unwrap_or(0);
            (pct * desired).div_ceil(100)
        }
    };
    n.max(1)
}

/// Old pods to delete: the unavailable ones at once (they serve nothing),
/// ready ones while the budget of unavailable nodes allows, by node name.
fn rolling_deletes(kept: &BTreeMap<&str, Option<&Pod>>, max: usize, hash: &str) -> Vec<String> {
    let mut unavailable = 0;
    let mut free = Vec::new();
    let mut candidates = Vec::new();
    for pod in kept.values() {
        match pod {
            None => unavailable += 1,
            Some(p) if is_updated(p, hash) => {
                if !podutil::is_ready(p) {
                    unavailable += 1;
                }
            }
            Some(p) if !podutil::is_ready(p) => {
                unavailable += 1;
                free.push(p.name_any());
            }
            Some(p) => candidates.push(p.name_any()),
        }
    }
    let budget = max.saturating_sub(unavailable);
    free.extend(candidates.into_iter().take(budget));
    free
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ds(strategy: serde_json::Value) -> DaemonSet {
        serde_json::from_value(
            json!({"metadata": {"name": "d", "uid": "u"}, "spec": {"selector": {},
            "updateStrategy": strategy, "template": {"spec": {"containers": []}}}}),
        )
        .unwrap()
    }

    fn node(name: &str, taint: bool) -> Node {
        let taints = if taint {
            json!([{"key": "k", "effect": "NoSchedule"}])
        } else {
            json!([])
        };
        serde_json::from_value(json!({"metadata": {"name": name}, "spec": {"taints": taints},
            "status": {"conditions": [{"type": "Ready", "status": "True"}]}}))
        .unwrap()
    }

    fn pod(name: &str, node: &str, hash: &str, ready: bool) -> Pod {
        serde_json::from_value(json!({"metadata": {"name": name, "labels": {"controller-revision-hash": hash},
                "creationTimestamp": "2024-01-01T00:00:00Z"},
            "spec": {"nodeName": node, "containers": []},
            "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": if ready {"True"} else {"False"}}]}}))
        .unwrap()
    }

    #[test]
    fn one_pod_per_eligible_node() {
        let d = ds(json!({"type": "RollingUpdate"}));
        let (n1, n2, n3) = (node("n1", false), node("n2", false), node("n3", true));
        let a = pod("a", "n1", "h", true);
        let a2 = pod("a2", "n1", "h", true);
        let stray = pod("s", "gone", "h", true);
        let p = plan(&d, &[&n1, &n2, &n3], &[&a, &a2, &stray], "h");
        assert_eq!(p.create, vec!["n2"]);
        assert_eq!(p.delete, vec!["a2", "s"]);
    }

    #[test]
    fn rolling_update_replaces_one_node_at_a_time() {
        let d = ds(json!({"type": "RollingUpdate"}));
        let nodes = [node("n1", false), node("n2", false), node("n3", false)];
        let nodes: Vec<&Node> = nodes.iter().collect();
        let (a, b, c) = (
            pod("a", "n1", "old", true),
            pod("b", "n2", "old", true),
            pod("c", "n3", "old", true),
        );
        // Start: one old pod goes.
        assert_eq!(plan(&d, &nodes, &[&a, &b, &c], "new").delete, vec!["a"]);
        // n1's pod is gone: recreate it, delete nothing else.
        let p = plan(&d, &nodes, &[&b, &c], "new");
        assert_eq!((p.create, p.delete), (vec!["n1".to_string()], vec![]));
        // The new pod is not Ready yet: still wait.
        let a_new = pod("a1", "n1", "new", false);
        assert_eq!(plan(&d, &nodes, &[&a_new, &b, &c], "new"), Plan::default());
        // Ready: the next node's old pod goes.
        let a_new = pod("a1", "n1", "new", true);
        assert_eq!(plan(&d, &nodes, &[&a_new, &b, &c], "new").delete, vec!["b"]);
        // An old pod that is not Ready goes without waiting.
        let c_bad = pod("c", "n3", "old", false);
        assert_eq!(plan(&d, &nodes, &[&a_new, &b, &c_bad], "new").delete, vec!["c"]);
        // OnDelete leaves old pods alone.
        let manual = ds(json!({"type": "OnDelete"}));
        assert_eq!(plan(&manual, &nodes, &[&a, &b, &c], "new"), Plan::default());
        // maxUnavailable 2 takes two at once.
        let wide = ds(json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 2}}));
        assert_eq!(plan(&wide, &nodes, &[&a, &b, &c], "new").delete, vec!["a", "b"]);
        assert_eq!(
            max_unavailable(&ds(json!({"rollingUpdate": {"maxUnavailable": "50%"}})), 3),
            2
        );
    }
}
