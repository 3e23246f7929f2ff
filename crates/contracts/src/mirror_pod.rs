//! Mirror pods: the API's picture of a node's static pod (the agent makes
//! them, kubelet/mirror_pods.rs; the API server lets a node create only
//! such pods, bound to itself, as NodeRestriction does).

use serde_json::Value;

/// The annotation that marks a mirror pod; its value is the static pod's
/// hash (here its uid).
pub const ANNOTATION: &str = "kubernetes.io/config.mirror";

/// Whether `pod` (a Pod's JSON) is a mirror pod bound to `node`.
pub fn is_mirror_of(pod: &Value, node: &str) -> bool {
    let marked = pod
        .pointer("/metadata/annotations")
        .and_then(|a| a.get(ANNOTATION))
        .is_some();
    marked && pod.pointer("/spec/nodeName").and_then(Value::as_str) == Some(node)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_mirror_pod_is_marked_and_bound_to_its_node() {
        let pod = json!({"metadata": {"annotations": {ANNOTATION: "h"}}, "spec": {"nodeName": "node-0"}});
        assert!(is_mirror_of(&pod, "node-0"));
        assert!(!is_mirror_of(&pod, "node-1"));
        assert!(!is_mirror_of(&json!({"spec": {"nodeName": "node-0"}}), "node-0"));
    }
}
