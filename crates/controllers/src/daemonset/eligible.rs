//! Which nodes a DaemonSet's pods belong on, by the real controller's
//! predicates: the template's nodeSelector, and the node's NoSchedule and
//! NoExecute taints against the pod's tolerations (including those the
//! controller adds). A node that is not Ready counts as tainted not-ready,
//! as the scheduler sees it. Unschedulable nodes still run daemons.

use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::core::v1::{Node, Toleration};

use crate::scheduler::{tolerates, NodeInfo, TolerationKey};

/// The tolerations the real controller adds to every daemon pod: the node
/// problems a daemon must survive, and for host-network pods the missing pod
/// network (a CNI daemon is what brings it up).
pub fn daemon_tolerations(ds: &DaemonSet) -> Vec<Toleration> {
    let spec = ds.spec.template.spec.as_ref();
    let mut out: Vec<Toleration> = spec.and_then(|s| s.tolerations.clone()).unwrap_or_default();
    let mut add = vec![
        ("node.kubernetes.io/not-ready", "NoExecute"),
        ("node.kubernetes.io/unreachable", "NoExecute"),
        ("node.kubernetes.io/disk-pressure", "NoSchedule"),
        ("node.kubernetes.io/memory-pressure", "NoSchedule"),
        ("node.kubernetes.io/pid-pressure", "NoSchedule"),
        ("node.kubernetes.io/unschedulable", "NoSchedule"),
    ];
    if spec.and_then(|s| s.host_network).unwrap_or(false) {
        add.push(("node.kubernetes.io/network-unavailable", "NoSchedule"));
    }
    for (key, effect) in add {
        let present = out
            .iter()
            .any(|t| t.key.as_deref() == Some(key) && t.effect.as_deref() == Some(effect));
        if !present {
            out.push(Toleration {
                key: Some(key.into()),
                operator: Some("Exists".into()),
                effect: Some(effect.into()),
                ..Default::default()
            });
        }
    }
    out
}

/// Where a node stands for one DaemonSet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fit {
    /// A daemon pod should be created here.
    pub should_run: bool,
    /// A daemon pod already here may stay (only NoExecute taints evict).
    pub may_continue: bool,
}

pub fn fit(ds: &DaemonSet, node: &Node) -> Fit {
    let info = NodeInfo::from_node(node);
    let spec = ds.spec.template.spec.as_ref();
    let selector_ok = spec
        .and_then(|s| s.node_selector.as_ref())
        .is_none_or(|sel| crate::podutil::map_selector_matches(sel, Some(&info.labels)));
    if !selector_ok {
        return Fit {
            should_run: false,
            may_continue: false,
        };
    }
    let tols: Vec<TolerationKey> = daemon_tolerations(ds).iter().map(TolerationKey::from).collect();
    let untolerated = |effect: &str| {
        info.taints
            .iter()
            .filter(|t| t.effect == effect)
            .any(|t| !tols.iter().any(|k| tolerates(k, t)))
    };
    let evicting = untolerated("NoExecute");
    Fit {
        should_run: !evicting && !untolerated("NoSchedule"),
        may_continue: !evicting,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ds(template_spec: serde_json::Value) -> DaemonSet {
        serde_json::from_value(json!({"metadata": {"name": "d"}, "spec": {"selector": {},
            "template": {"spec": template_spec}}}))
        .unwrap()
    }

    fn node(labels: serde_json::Value, taints: serde_json::Value, ready: &str) -> Node {
        serde_json::from_value(json!({"metadata": {"name": "n", "labels": labels},
            "spec": {"taints": taints, "unschedulable": true},
            "status": {"conditions": [{"type": "Ready", "status": ready}]}}))
        .unwrap()
    }

    const RUN: Fit = Fit {
        should_run: true,
        may_continue: true,
    };

    #[test]
    fn selector_and_taints_decide() {
        let plain = ds(json!({"containers": []}));
        // Cordoned but otherwise fine: daemons still run there.
        assert_eq!(fit(&plain, &node(json!({}), json!([]), "True")), RUN);
        let tainted = node(
            json!({}),
            json!([{"key": "dedicated", "value": "db", "effect": "NoSchedule"}]),
            "True",
        );
        assert_eq!(
            fit(&plain, &tainted),
            Fit {
                should_run: false,
                may_continue: true
            }
        );
        let tolerant =
            ds(json!({"containers": [], "tolerations": [{"key": "dedicated", "operator": "Exists"}]}));
        assert_eq!(fit(&tolerant, &tainted), RUN);
        let evicting = node(json!({}), json!([{"key": "gone", "effect": "NoExecute"}]), "True");
        assert_eq!(
            fit(&plain, &evicting),
            Fit {
                should_run: false,
                may_continue: false
            }
        );
        let picky = ds(json!({"containers": [], "nodeSelector": {"disk": "ssd"}}));
        assert!(!fit(&picky, &node(json!({}), json!([]), "True")).should_run);
        assert_eq!(fit(&picky, &node(json!({"disk": "ssd"}), json!([]), "True")), RUN);
    }

    #[test]
    fn standard_tolerations_are_added_once() {
        let host = ds(json!({"containers": [], "hostNetwork": true,
            "tolerations": [{"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute"}]}));
        let t = daemon_tolerations(&host);
        assert_eq!(t.len(), 7);
        assert!(t
            .iter()
            .any(|t| t.key.as_deref() == Some("node.kubernetes.io/network-unavailable")));
        assert_eq!(daemon_tolerations(&ds(json!({"containers": []}))).len(), 6);
    }
}
