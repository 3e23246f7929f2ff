//! Small facts about Pods and owner references that several controllers need.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, OwnerReference};
use kube::{Resource, ResourceExt};

/// Whether the pod's Ready condition is True.
pub fn is_ready(pod: &Pod) -> bool {
    pod.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .map(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
        .unwrap_or(false)
}

/// The pod's phase, "Pending" when it has none yet.
pub fn phase(pod: &Pod) -> &str {
    pod.status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .unwrap_or("Pending")
}

pub fn is_terminating(pod: &Pod) -> bool {
    pod.metadata.deletion_timestamp.is_some()
}

/// Counts toward a ReplicaSet's replicas: not finished, not being deleted.
pub fn is_active(pod: &Pod) -> bool {
    !is_terminating(pod) && !matches!(phase(pod), "Succeeded" | "Failed")
}

pub fn node_name(pod: &Pod) -> Option<&str> {
    pod.spec
        .as_ref()
        .and_then(|s| s.node_name.as_deref())
        .filter(|n| !n.is_empty())
}

/// The owner reference a controller puts on what it creates.
pub fn controller_ref<K: Resource<DynamicType = ()>>(owner: &K) -> OwnerReference {
    OwnerReference {
        api_version: K::api_version(&()).into_owned(),
        kind: K::kind(&()).into_owned(),
        name: owner.name_any(),
        uid: owner.meta().uid.clone().unwrap_or_default(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    }
}

/// The uid of the object's controlling owner of the given kind, if any.
pub fn controller_uid<'a>(meta: &'a kube::api::ObjectMeta, kind: &str) -> Option<&'a str> {
    meta.owner_references
        .as_ref()?
        .iter()
        .find(|o| o.controller == Some(true) && o.kind == kind)
        .map(|o| o.uid.as_str())
}

/// Whether `labels` carry every key=value of an equality selector (a Service's
/// `spec.selector`, a pod's `nodeSelector`). An empty selector matches all.
pub fn map_selector_matches(
    selector: &BTreeMap<String, String>,
    labels: Option<&BTreeMap<String, String>>,
) -> bool {
    selector
        .iter()
        .all(|(k, v)| labels.and_then(|l| l.get(k)) == Some(v))
}

/// Full `LabelSelector` semantics (matchLabels and matchExpressions with
/// In, NotIn, Exists, DoesNotExist). An empty selector matches everything.
pub fn label_selector_matches(selector: &LabelSelector, labels: Option<&BTreeMap<String, String>>) -> bool {
    if let Some(ml) = &selector.match_labels {
        if !map_selector_matches(ml, labels) {
            return false;
        }
    }
    for e in selector.match_expressions.iter().flatten() {
        let value = labels.and_then(|l| l.get(&e.key));
        let values = e.values.as_deref().unwrap_or(&[]);
        let ok = match e.operator.as_str() {
            "In" => value.is_some_and(|v| values.contains(v)),
            "NotIn" => value.is_none_or(|v| !values.contains(v)),
            "Exists" => value.is_some(),
            "DoesNotExist" => value.is_none(),
            _ => false,
        };
        if !ok {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn equality_selectors() {
        let l = labels(&[("app", "web"), ("tier", "fe")]);
        assert!(map_selector_matches(&labels(&[("app", "web")]), Some(&l)));
        assert!(!map_selector_matches(&labels(&[("app", "db")]), Some(&l)));
        assert!(!map_selector_matches(&labels(&[("app", "web")]), None));
        assert!(map_selector_matches(&BTreeMap::new(), None));
    }

    #[test]
    fn label_selector_expressions() {
        let sel: LabelSelector = serde_json::from_value(json!({
            "matchLabels": {"app": "web"},
            "matchExpressions": [
                {"key": "tier", "operator": "In", "values": ["fe", "be"]},
                {"key": "canary", "operator": "DoesNotExist"},
                {"key": "zone", "operator": "NotIn", "values": ["z9"]}
            ]
        }))
        .unwrap();
        assert!(label_selector_matches(
            &sel,
            Some(&labels(&[("app", "web"), ("tier", "fe")]))
        ));
        assert!(!label_selector_matches(
            &sel,
            Some(&labels(&[("app", "web"), ("tier", "x")]))
        ));
        assert!(!label_selector_matches(
            &sel,
            Some(&labels(&[("app", "web"), ("tier", "fe"), ("canary", "1")]))
        ));
        assert!(!label_selector_matches(
            &sel,
            Some(&labels(&[("app", "web"), ("tier", "fe"), ("zone", "z9")]))
        ));
        assert!(label_selector_matches(&LabelSelector::default(), None));
    }

    #[test]
    fn pod_state_helpers() {
        let p: Pod = serde_json::from_value(json!({
            "metadata": {"name": "p"},
            "spec": {"nodeName": "node-1", "containers": []},
            "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}
        }))
        .unwrap();
        assert!(is_ready(&p) && is_active(&p));
        assert_eq!(node_name(&p), Some("node-1"));
        let mut done = p.clone();
        done.status.as_mut().unwrap().phase = Some("Succeeded".into());
        assert!(!is_active(&done));
        let bare: Pod = serde_json::from_value(json!({"metadata": {"name": "q"}})).unwrap();
        assert!(!is_ready(&bare) && is_active(&bare) && phase(&bare) == "Pending");
        assert_eq!(node_name(&bare), None);
    }
}
