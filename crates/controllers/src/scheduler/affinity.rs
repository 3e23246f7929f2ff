//! Required node affinity by node name (`matchFields` on `metadata.name`),
//! the way the DaemonSet controller pins each of its pods to one node and
//! leaves the binding to the scheduler. Other node-affinity terms are not
//! modelled.

use k8s_openapi::api::core::v1::Pod;

/// The only field a node-selector `matchFields` term may name.
pub const NODE_NAME_FIELD: &str = "metadata.name";

/// Node names the pod's required node affinity allows, if it constrains the
/// name at all. Terms are ORed, so the pod is only constrained when every
/// term names nodes; a term without name fields allows any node.
pub fn allowed_node_names(pod: &Pod) -> Option<Vec<String>> {
    let terms = &pod
        .spec
        .as_ref()?
        .affinity
        .as_ref()?
        .node_affinity
        .as_ref()?
        .required_during_scheduling_ignored_during_execution
        .as_ref()?
        .node_selector_terms;
    let mut names = Vec::new();
    for t in terms {
        let fields: Vec<_> = t
            .match_fields
            .iter()
            .flatten()
            .filter(|f| f.key == NODE_NAME_FIELD && f.operator == "In")
            .collect();
        if fields.is_empty() {
            return None;
        }
        for f in fields {
            names.extend(f.values.iter().flatten().cloned());
        }
    }
    names.sort();
    names.dedup();
    (!terms.is_empty()).then_some(names)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(terms: serde_json::Value) -> Pod {
        serde_json::from_value(json!({"metadata": {"name": "p"}, "spec": {"containers": [],
            "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": terms}}}}}))
        .unwrap()
    }

    #[test]
    fn name_fields_pin_and_other_terms_do_not() {
        let pinned =
            pod(json!([{"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["node-2"]}]}]));
        assert_eq!(allowed_node_names(&pinned), Some(vec!["node-2".to_string()]));
        let open = pod(json!([
            {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["node-2"]}]},
            {"matchExpressions": [{"key": "zone", "operator": "Exists"}]}
        ]));
        assert_eq!(allowed_node_names(&open), None);
        let bare: Pod = serde_json::from_value(json!({"metadata": {"name": "q"}})).unwrap();
        assert_eq!(allowed_node_names(&bare), None);
    }
}
