//! The taints the node lifecycle controller keeps on a node that is not
//! Ready (as Kubernetes' does), which the scheduler reads and `lab up`
//! waits to see gone before it calls the cluster ready.

/// The node reports Ready=False.
pub const NOT_READY: &str = "node.kubernetes.io/not-ready";
/// The node stopped reporting (Ready=Unknown).
pub const UNREACHABLE: &str = "node.kubernetes.io/unreachable";

/// Whether a node with this Ready status and these taint keys takes new
/// pods as far as its readiness goes: Ready, and neither taint left.
pub fn ready_and_untainted(ready: &str, taint_keys: &[&str]) -> bool {
    ready == "True" && !taint_keys.iter().any(|k| *k == NOT_READY || *k == UNREACHABLE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_node_is_ready_once_its_readiness_taints_are_gone() {
        assert!(ready_and_untainted("True", &[]));
        assert!(ready_and_untainted(
            "True",
            &["node-role.kubernetes.io/control-plane"]
        ));
        // Ready, but the controller has not seen it yet.
        assert!(!ready_and_untainted("True", &[NOT_READY]));
        assert!(!ready_and_untainted("True", &["x", UNREACHABLE]));
        assert!(!ready_and_untainted("False", &[]));
        assert!(!ready_and_untainted("Unknown", &[]));
    }
}
