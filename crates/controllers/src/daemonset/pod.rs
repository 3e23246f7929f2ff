//! A new daemon pod for one node, made the way the real controller makes it:
//! the template with the revision labels, the standard tolerations, and a
//! required node affinity on the node's name, so the scheduler binds it there.

use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::core::v1::{
    Affinity, NodeAffinity, NodeSelector, NodeSelectorRequirement, NodeSelectorTerm, Pod,
};
use kube::api::ObjectMeta;
use kube::ResourceExt;

use super::eligible::daemon_tolerations;
use super::{REVISION_HASH_LABEL, TEMPLATE_GENERATION_LABEL};
use crate::names::generated_name;
use crate::podutil::controller_ref;
use crate::scheduler::NODE_NAME_FIELD;

pub fn new_pod(ds: &DaemonSet, node: &str, hash: &str) -> Pod {
    let name = ds.name_any();
    let template = ds.spec.template.clone();
    let tmeta = template.metadata.unwrap_or_default();
    let mut labels = tmeta.labels.unwrap_or_default();
    labels.insert(REVISION_HASH_LABEL.into(), hash.into());
    let generation = ds.metadata.generation.unwrap_or(1);
    labels.insert(TEMPLATE_GENERATION_LABEL.into(), generation.to_string());
    let mut spec = template.spec.unwrap_or_default();
    spec.tolerations = Some(daemon_tolerations(ds));
    pin_to_node(&mut spec.affinity, node);
    Pod {
        metadata: ObjectMeta {
            name: Some(generated_name(&name)),
            generate_name: Some(format!("{name}-")),
            namespace: ds.namespace(),
            labels: Some(labels),
            annotations: tmeta.annotations,
            owner_references: Some(vec![controller_ref(ds)]),
            ..Default::default()
        },
        spec: Some(spec),
        status: None,
    }
}

/// Every required node-selector term gets the name field (terms are ORed,
/// so each must name the node); with none, one term holds only the name.
fn pin_to_node(affinity: &mut Option<Affinity>, node: &str) {
    let field = NodeSelectorRequirement {
        key: NODE_NAME_FIELD.into(),
        operator: "In".into(),
        values: Some(vec![node.into()]),
    };
    let na = affinity
        .get_or_insert_with(Default::default)
        .node_affinity
        .get_or_insert_with(NodeAffinity::default);
    let required = na
        .required_during_scheduling_ignored_during_execution
        .get_or_insert_with(NodeSelector::default);
    if required.node_selector_terms.is_empty() {
        required.node_selector_terms.push(NodeSelectorTerm::default());
    }
    for term in &mut required.node_selector_terms {
        term.match_fields = Some(vec![field.clone()]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn pod_is_pinned_labelled_and_owned() {
        let ds: DaemonSet = serde_json::from_value(json!({
            "metadata": {"name": "agent", "namespace": "kube-system", "uid": "ds-uid", "generation": 4},
            "spec": {"selector": {"matchLabels": {"app": "agent"}},
                "template": {"metadata": {"labels": {"app": "agent"}},
                    "spec": {"containers": [{"name": "c", "image": "i"}]}}}
        }))
        .unwrap();
        let p = new_pod(&ds, "node-1", "abc");
        assert!(p.name_any().starts_with("agent-"));
        assert_eq!(p.labels()["app"], "agent");
        assert_eq!(p.labels()[REVISION_HASH_LABEL], "abc");
        assert_eq!(p.labels()[TEMPLATE_GENERATION_LABEL], "4");
        assert_eq!(super::super::target_node(&p).as_deref(), Some("node-1"));
        assert_eq!(
            crate::scheduler::allowed_node_names(&p),
            Some(vec!["node-1".to_string()])
        );
        let owner = &p.metadata.owner_references.as_ref().unwrap()[0];
        assert_eq!((owner.kind.as_str(), owner.uid.as_str()), ("DaemonSet", "ds-uid"));
        assert_eq!(p.spec.unwrap().tolerations.unwrap().len(), 6);
    }
}
