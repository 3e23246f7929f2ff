//! ReplicaSet → Pods: keep `spec.replicas` active pods, report status.

use std::cmp::Reverse;

use k8s_openapi::api::apps::v1::{ReplicaSet, ReplicaSetStatus};
use k8s_openapi::api::core::v1::Pod;
use kube::api::ObjectMeta;
use kube::ResourceExt;

use crate::names::generated_name;
use crate::podutil::{self, controller_ref};

/// What it takes to bring a ReplicaSet's pods to its desired count.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct PodPlan {
    /// How many new pods to create.
    pub create: usize,
    /// Names of pods to delete, the least useful first.
    pub delete: Vec<String>,
}

pub fn desired_replicas(rs: &ReplicaSet) -> usize {
    rs.spec.replicas.unwrap_or(1).max(0) as usize
}

/// `owned` are the pods whose controller is this ReplicaSet.
pub fn plan_pods(rs: &ReplicaSet, owned: &[&Pod]) -> PodPlan {
    let want = desired_replicas(rs);
    let mut active: Vec<&Pod> = owned.iter().copied().filter(|p| podutil::is_active(p)).collect();
    if active.len() < want {
        return PodPlan {
            create: want - active.len(),
            delete: vec![],
        };
    }
    // Delete the pods that give least: unscheduled before scheduled, pending
    // before running, not ready before ready, then the youngest.
    active.sort_by_key(|p| {
        (
            podutil::node_name(p).is_some(),
            phase_rank(podutil::phase(p)),
            podutil::is_ready(p),
            Reverse(p.metadata.creation_timestamp.clone().map(|t| t.0)),
            p.name_any(),
        )
    });
    PodPlan {
        create: 0,
        delete: active
            .iter()
            .take(active.len() - want)
            .map(|p| p.name_any())
            .collect(),
    }
}

fn phase_rank(phase: &str) -> u8 {
    match phase {
        "Pending" => 0,
        "Unknown" => 1,
        _ => 2,
    }
}

/// A new pod for the ReplicaSet, named `<rs>-<5 safe chars>` like the API
/// server's generateName would.
pub fn new_pod(rs: &ReplicaSet) -> Pod {
    let rs_name = rs.name_any();
    let template = rs.spec.template.clone();
    let tmeta = template
        .as_ref()
        .and_then(|t| t.metadata.clone())
        .unwrap_or_default();
    Pod {
        metadata: ObjectMeta {
            name: Some(generated_name(&rs_name)),
            generate_name: Some(format!("{rs_name}-")),
            namespace: rs.namespace(),
            labels: tmeta.labels,
            annotations: tmeta.annotations,
            owner_references: Some(vec![controller_ref(rs)]),
            ..Default::default()
        },
        spec: template.and_then(|t| t.spec),
        status: None,
    }
}

/// Status from the pods the ReplicaSet controls (minReadySeconds is not
/// modelled: a Ready pod counts as available).
pub fn status(rs: &ReplicaSet, owned: &[&Pod]) -> ReplicaSetStatus {
    let active: Vec<&&Pod> = owned.iter().filter(|p| podutil::is_active(p)).collect();
    let tlabels = rs
        .spec
        .template
        .as_ref()
        .and_then(|t| t.metadata.as_ref())
        .and_then(|m| m.labels.clone())
        .unwrap_or_default();
    let fully = active
        .iter()
        .filter(|p| podutil::map_selector_matches(&tlabels, p.metadata.labels.as_ref()))
        .count();
    let ready = active.iter().filter(|p| podutil::is_ready(p)).count() as i32;
    ReplicaSetStatus {
        replicas: active.len() as i32,
        fully_labeled_replicas: Some(fully as i32),
        ready_replicas: Some(ready),
        available_replicas: Some(ready),
        observed_generation: rs.metadata.generation,
        conditions: rs.status.as_ref().and_then(|s| s.conditions.clone()),
        terminating_replicas: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::names::SAFE_ALPHABET;
    use serde_json::json;

    fn rs(replicas: i32) -> ReplicaSet {
        serde_json::from_value(json!({
            "metadata": {"name": "web-5d59d67564", "namespace": "ns", "uid": "rs-uid", "generation": 3},
            "spec": {
                "replicas": replicas,
                "selector": {"matchLabels": {"app": "web", "pod-template-hash": "5d59d67564"}},
                "template": {
                    "metadata": {"labels": {"app": "web", "pod-template-hash": "5d59d67564"}},
                    "spec": {"nodeSelector": {"zone": "a"}, "containers": [{"name": "c", "image": "i"}]}
                }
            }
        }))
        .unwrap()
    }

    fn pod(name: &str, node: Option<&str>, phase: &str, ready: bool, created: &str) -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": name, "creationTimestamp": created, "labels": {"app": "web", "pod-template-hash": "5d59d67564"}},
            "spec": {"nodeName": node, "containers": []},
            "status": {"phase": phase, "conditions": [{"type": "Ready", "status": if ready {"True"} else {"False"}}]}
        }))
        .unwrap()
    }

    #[test]
    fn creates_missing_pods() {
        let r = rs(3);
        let p = pod("a", Some("n1"), "Running", true, "2024-01-01T00:00:00Z");
        assert_eq!(
            plan_pods(&r, &[&p]),
            PodPlan {
                create: 2,
                delete: vec![]
            }
        );
        assert_eq!(plan_pods(&r, &[]).create, 3);
    }

    #[test]
    fn terminating_and_finished_pods_do_not_count() {
        let r = rs(1);
        let mut gone = pod("a", Some("n1"), "Running", true, "2024-01-01T00:00:00Z");
        gone.metadata.deletion_timestamp = gone.metadata.creation_timestamp.clone();
        let done = pod("b", Some("n1"), "Succeeded", false, "2024-01-01T00:00:00Z");
        assert_eq!(plan_pods(&r, &[&gone, &done]).create, 1);
    }

    #[test]
    fn deletes_least_useful_surplus_first() {
        let r = rs(1);
        let running_old = pod("old", Some("n1"), "Running", true, "2024-01-01T00:00:00Z");
        let running_new = pod("new", Some("n1"), "Running", true, "2024-01-02T00:00:00Z");
        let unscheduled = pod("uns", None, "Pending", false, "2023-01-01T00:00:00Z");
        let notready = pod("nr", Some("n2"), "Running", false, "2023-01-01T00:00:00Z");
        let plan = plan_pods(&r, &[&running_old, &running_new, &unscheduled, &notready]);
        assert_eq!(plan.create, 0);
        assert_eq!(plan.delete, vec!["uns", "nr", "new"]);
    }

    #[test]
    fn new_pod_is_named_and_owned() {
        let r = rs(1);
        let p = new_pod(&r);
        let name = p.metadata.name.clone().unwrap();
        let suffix = name.strip_prefix("web-5d59d67564-").expect(&name);
        assert_eq!(suffix.len(), 5);
        assert!(suffix.bytes().all(|b| SAFE_ALPHABET.contains(&b)));
        assert_eq!(p.metadata.namespace.as_deref(), Some("ns"));
        assert_eq!(
            p.labels().get("pod-template-hash").map(String::as_str),
            Some("5d59d67564")
        );
        let owner = &p.metadata.owner_references.as_ref().unwrap()[0];
        assert_eq!(
            (owner.kind.as_str(), owner.uid.as_str()),
            ("ReplicaSet", "rs-uid")
        );
        assert_eq!(owner.controller, Some(true));
        assert_eq!(
            p.spec
                .unwrap()
                .node_selector
                .unwrap()
                .get("zone")
                .map(String::as_str),
            Some("a")
        );
        assert_ne!(new_pod(&r).metadata.name, Some(name));
    }

    #[test]
    fn status_counts_active_ready_pods() {
        let r = rs(3);
        let a = pod("a", Some("n1"), "Running", true, "2024-01-01T00:00:00Z");
        let b = pod("b", Some("n1"), "Pending", false, "2024-01-01T00:00:00Z");
        let mut c = pod("c", Some("n1"), "Running", true, "2024-01-01T00:00:00Z");
        c.metadata.deletion_timestamp = c.metadata.creation_timestamp.clone();
        let s = status(&r, &[&a, &b, &c]);
        assert_eq!(s.replicas, 2);
        assert_eq!(s.ready_replicas, Some(1));
        assert_eq!(s.available_replicas, Some(1));
        assert_eq!(s.fully_labeled_replicas, Some(2));
        assert_eq!(s.observed_generation, Some(3));
    }
}
