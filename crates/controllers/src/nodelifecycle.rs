//! Node lifecycle: a node whose agent has not sent a heartbeat (its Node's
//! Ready condition lastHeartbeatTime, or its Lease in kube-node-lease) within
//! the grace period gets its conditions set to Unknown, and every node gets
//! the NoSchedule taint matching its Ready state (not-ready when False,
//! unreachable when Unknown, none when True), as kube-controller-manager
//! does. Eviction (NoExecute) is not modelled.

use std::time::Duration;

use k8s_openapi::api::core::v1::{Node, NodeCondition, Taint};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;

use crate::scheduler::{TAINT_NOT_READY, TAINT_UNREACHABLE};

/// The conditions a node agent owns and that go Unknown with it.
const AGENT_CONDITIONS: [&str; 4] = ["Ready", "MemoryPressure", "DiskPressure", "PIDPressure"];

/// Changes to write for one node; None means leave that part as it is.
#[derive(Debug, Default, PartialEq)]
pub struct NodeUpdate {
    pub conditions: Option<Vec<NodeCondition>>,
    pub taints: Option<Vec<Taint>>,
}

impl NodeUpdate {
    pub fn is_empty(&self) -> bool {
        self.conditions.is_none() && self.taints.is_none()
    }
}

fn ready_condition(node: &Node) -> Option<&NodeCondition> {
    node.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == "Ready")
}

/// The most recent sign of life: the Ready heartbeat or the lease renewal,
/// else the node's creation (a node gets a full grace period to report).
pub fn last_heartbeat(node: &Node, lease_renew: Option<Timestamp>) -> Option<Timestamp> {
    let from_status = ready_condition(node).and_then(|c| c.last_heartbeat_time.as_ref().map(|t| t.0));
    match (from_status, lease_renew) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
    .or_else(|| node.metadata.creation_timestamp.as_ref().map(|t| t.0))
}

pub fn evaluate(node: &Node, lease_renew: Option<Timestamp>, now: Timestamp, grace: Duration) -> NodeUpdate {
    let mut update = NodeUpdate::default();
    let ready = ready_condition(node);
    let mut ready_status = ready.map(|c| c.status.clone());

    let stale = last_heartbeat(node, lease_renew)
        .is_none_or(|hb| now.duration_since(hb).as_secs_f64() > grace.as_secs_f64());
    if stale && ready_status.as_deref() != Some("Unknown") {
        let never = ready.is_none();
        let (reason, message) = if never {
            ("NodeStatusNeverUpdated", "Kubelet never posted node status.")
        } else {
            ("NodeStatusUnknown", "Kubelet stopped posting node status.")
        };
        let mut conds = node
            .status
            .as_ref()
            .and_then(|s| s.conditions.clone())
            .unwrap_or_default();
        if never {
            conds.push(NodeCondition {
                type_: "Ready".into(),
                ..Default::default()
            });
        }
        for c in conds.iter_mut() {
            if AGENT_CONDITIONS.contains(&c.type_.as_str()) && c.status != "Unknown" {
                c.status = "Unknown".into();
                c.reason = Some(reason.into());
                c.message = Some(message.into());
                c.last_transition_time = Some(Time(now));
            }
        }
        update.conditions = Some(conds);
        ready_status = Some("Unknown".into());
    }

    let want_key = match ready_status.as_deref() {
        Some("True") => None,
        Some("Unknown") => Some(TAINT_UNREACHABLE),
        _ => Some(TAINT_NOT_READY),
    };
    let current: Vec<Taint> = node
        .spec
        .as_ref()
        .and_then(|s| s.taints.clone())
        .unwrap_or_default();
    let is_ours =
        |t: &Taint| t.effect == "NoSchedule" && (t.key == TAINT_NOT_READY || t.key == TAINT_UNREACHABLE);
    let have: Vec<&str> = current
        .iter()
        .filter(|t| is_ours(t))
        .map(|t| t.key.as_str())
        .collect();
    let want: Vec<&str> = want_key.into_iter().collect();
    if have != want {
        let mut taints: Vec<Taint> = current.iter().filter(|t| !is_ours(t)).cloned().collect();
        if let Some(key) = want_key {
            taints.push(Taint {
                key: key.into(),
                effect: "NoSchedule".into(),
                time_added: Some(Time(now)),
                value: None,
            });
        }
        update.taints = Some(taints);
    }
    update
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn node(ready: Option<(&str, &str)>, taints: serde_json::Value) -> Node {
        let conds = match ready {
            Some((status, hb)) => json!([
                {"type": "Ready", "status": status, "lastHeartbeatTime": hb, "reason": "KubeletReady"},
                {"type": "MemoryPressure", "status": "False", "lastHeartbeatTime": hb},
                {"type": "NetworkUnavailable", "status": "False"}
            ]),
            None => json!([]),
        };
        serde_json::from_value(json!({
            "metadata": {"name": "node-1", "creationTimestamp": "2024-01-01T00:00:00Z"},
            "spec": {"taints": taints},
            "status": {"conditions": conds}
        }))
        .unwrap()
    }

    const GRACE: Duration = Duration::from_secs(40);

    #[test]
    fn fresh_heartbeat_changes_nothing() {
        let n = node(Some(("True", "2024-01-01T00:10:00Z")), json!([]));
        assert!(evaluate(&n, None, ts("2024-01-01T00:10:30Z"), GRACE).is_empty());
    }

    #[test]
    fn stale_heartbeat_marks_unknown_and_taints_unreachable() {
        let n = node(
            Some(("True", "2024-01-01T00:10:00Z")),
            json!([{"key": "other", "effect": "NoSchedule"}]),
        );
        let u = evaluate(&n, None, ts("2024-01-01T00:10:41Z"), GRACE);
        let conds = u.conditions.expect("conditions change");
        let ready = conds.iter().find(|c| c.type_ == "Ready").unwrap();
        assert_eq!(ready.status, "Unknown");
        assert_eq!(ready.reason.as_deref(), Some("NodeStatusUnknown"));
        assert_eq!(
            ready.message.as_deref(),
            Some("Kubelet stopped posting node status.")
        );
        assert_eq!(
            ready.last_transition_time.as_ref().unwrap().0,
            ts("2024-01-01T00:10:41Z")
        );
        // The heartbeat time is the agent's, not ours.
        assert_eq!(
            ready.last_heartbeat_time.as_ref().unwrap().0,
            ts("2024-01-01T00:10:00Z")
        );
        assert_eq!(
            conds.iter().find(|c| c.type_ == "MemoryPressure").unwrap().status,
            "Unknown"
        );
        assert_eq!(
            conds
                .iter()
                .find(|c| c.type_ == "NetworkUnavailable")
                .unwrap()
                .status,
            "False"
        );
        let taints = u.taints.expect("taints change");
        let keys: Vec<&str> = taints.iter().map(|t| t.key.as_str()).collect();
        assert_eq!(keys, vec!["other", TAINT_UNREACHABLE]);
    }

    #[test]
    fn lease_renewal_counts_as_heartbeat() {
        let n = node(Some(("True", "2024-01-01T00:00:00Z")), json!([]));
        let now = ts("2024-01-01T01:00:00Z");
        assert!(evaluate(&n, Some(ts("2024-01-01T00:59:50Z")), now, GRACE).is_empty());
        assert!(evaluate(&n, Some(ts("2024-01-01T00:50:00Z")), now, GRACE)
            .conditions
            .is_some());
    }

    #[test]
    fn already_unknown_is_not_rewritten() {
        let n = node(
            Some(("Unknown", "2024-01-01T00:00:00Z")),
            json!([{"key": TAINT_UNREACHABLE, "effect": "NoSchedule"}]),
        );
        assert!(evaluate(&n, None, ts("2024-01-02T00:00:00Z"), GRACE).is_empty());
    }

    #[test]
    fn recovered_node_loses_its_taint_and_not_ready_gets_one() {
        let n = node(
            Some(("True", "2024-01-01T00:10:00Z")),
            json!([{"key": TAINT_UNREACHABLE, "effect": "NoSchedule"}, {"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}]),
        );
        let u = evaluate(&n, None, ts("2024-01-01T00:10:05Z"), GRACE);
        assert!(u.conditions.is_none());
        assert_eq!(
            u.taints
                .unwrap()
                .iter()
                .map(|t| t.key.as_str())
                .collect::<Vec<_>>(),
            vec!["node-role.kubernetes.io/control-plane"]
        );
        let nr = node(Some(("False", "2024-01-01T00:10:00Z")), json!([]));
        let u = evaluate(&nr, None, ts("2024-01-01T00:10:05Z"), GRACE);
        assert_eq!(u.taints.unwrap()[0].key, TAINT_NOT_READY);
    }

    #[test]
    fn node_that_never_reported_gets_grace_from_creation() {
        let n = node(None, json!([]));
        let young = evaluate(&n, None, ts("2024-01-01T00:00:30Z"), GRACE);
        assert!(young.conditions.is_none());
        assert_eq!(young.taints.unwrap()[0].key, TAINT_NOT_READY);
        let old = evaluate(&n, None, ts("2024-01-01T00:01:00Z"), GRACE);
        let conds = old.conditions.unwrap();
        assert_eq!(conds[0].type_, "Ready");
        assert_eq!(conds[0].status, "Unknown");
        assert_eq!(conds[0].reason.as_deref(), Some("NodeStatusNeverUpdated"));
        assert_eq!(old.taints.unwrap()[0].key, TAINT_UNREACHABLE);
    }
}
