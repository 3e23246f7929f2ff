//! The DaemonSet controller's logic, free of API calls: which nodes should
//! run a daemon pod, the pod for a node, the plan that brings each node to
//! one up-to-date pod (rolling one node at a time within maxUnavailable), and
//! the status kubectl reads.

pub mod eligible;
pub mod plan;
pub mod pod;
pub mod status;

use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::core::v1::Pod;

/// The label telling which template revision made a daemon pod.
pub const REVISION_HASH_LABEL: &str = "controller-revision-hash";
/// The label carrying the DaemonSet generation a pod was made from.
pub const TEMPLATE_GENERATION_LABEL: &str = "pod-template-generation";

/// The current template's revision hash (the Deployment's template hash
/// function; a DaemonSet has no ControllerRevision objects here).
pub fn revision_hash(ds: &DaemonSet) -> String {
    let template = ds.spec.template.clone();
    let collisions = ds.status.as_ref().and_then(|s| s.collision_count);
    crate::deployment::pod_template_hash(&template, collisions)
}

/// Whether the pod was made from the DaemonSet's current template.
pub fn is_updated(pod: &Pod, hash: &str) -> bool {
    pod.metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(REVISION_HASH_LABEL))
        .is_some_and(|h| h == hash)
}

/// The node a daemon pod belongs to: its binding, or before that the node
/// its name affinity pins it to.
pub fn target_node(pod: &Pod) -> Option<String> {
    if let Some(n) = crate::podutil::node_name(pod) {
        return Some(n.to_string());
    }
    match crate::scheduler::allowed_node_names(pod) {
        Some(names) if names.len() == 1 => names.into_iter().next(),
        _ => None,
    }
}
