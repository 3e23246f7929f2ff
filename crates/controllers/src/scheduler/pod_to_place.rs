//! Pods as the scheduler's watch decodes them: only what placing a pod
//! reads (identity, creation and deletion, nodeName, schedulerName,
//! nodeSelector, tolerations, affinity, phase and conditions), kept as
//! k8s-openapi's `Pod` with the other fields empty.
//!
//! The scheduler watches every pod of the cluster and gets three events for
//! each pod a burst starts (created, bound, running). Decoding the whole
//! object (managedFields, containers, volumes, statuses) and dropping it
//! again was about two fifths of the scheduler's CPU in a 100-pod burst,
//! for fields it never reads. Unknown fields are skipped by the decoder
//! without being built.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Affinity, Pod, PodCondition, PodSpec, PodStatus, Toleration};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::Deserialize;

#[derive(Clone, Debug, Deserialize)]
pub struct PodToPlace {
    #[serde(deserialize_with = "labyrinth_contracts::pod::slim_meta")]
    pub metadata: ObjectMeta,
    #[serde(default)]
    spec: Spec,
    #[serde(default)]
    status: Status,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Spec {
    node_name: Option<String>,
    scheduler_name: Option<String>,
    node_selector: Option<BTreeMap<String, String>>,
    tolerations: Option<Vec<Toleration>>,
    affinity: Option<Affinity>,
}

#[derive(Clone, Debug, Default, Deserialize)]
struct Status {
    phase: Option<String>,
    conditions: Option<Vec<PodCondition>>,
}

labyrinth_contracts::as_pod_resource!(PodToPlace);

impl From<PodToPlace> for Pod {
    fn from(p: PodToPlace) -> Pod {
        Pod {
            metadata: p.metadata,
            spec: Some(PodSpec {
                node_name: p.spec.node_name,
                scheduler_name: p.spec.scheduler_name,
                node_selector: p.spec.node_selector,
                tolerations: p.spec.tolerations,
                affinity: p.spec.affinity,
                ..Default::default()
            }),
            status: Some(PodStatus {
                phase: p.status.phase,
                conditions: p.status.conditions,
                ..Default::default()
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::podutil;
    use crate::scheduler::{wants_scheduling, PodRequirements};
    use kube::Resource;
    use serde_json::json;

    /// Pods as the API server sends them, each decoded whole and slim: the
    /// scheduler reads the same of both (what places it, whether it waits
    /// for placing, its order, the reference its events name).
    #[test]
    fn the_slim_pod_places_as_the_whole_pod_does() {
        let pods = [
            json!({"apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": "web-1", "namespace": "shop", "uid": "u1", "resourceVersion": "42",
                    "creationTimestamp": "2026-12-06T17:00:00Z", "labels": {"app": "web"},
                    "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web",
                        "uid": "u0", "controller": true}],
                    "managedFields": [{"manager": "kubectl", "operation": "Update", "fieldsType": "FieldsV1",
                        "fieldsV1": {"f:spec": {}}}]},
                "spec": {"schedulerName": "default-scheduler", "nodeSelector": {"zone": "a"},
                    "tolerations": [{"key": "k", "operator": "Equal", "value": "v", "effect": "NoSchedule"}],
                    "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution":
                        {"nodeSelectorTerms": [{"matchFields": [{"key": "metadata.name", "operator": "In",
                            "values": ["node-2"]}]}]}}},
                    "containers": [{"name": "web", "image": "nginx", "ports": [{"containerPort": 80}]}],
                    "volumes": [{"name": "v", "emptyDir": {}}]},
                "status": {"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "False",
                    "reason": "Unschedulable", "message": "0/3 nodes are available"}]}}),
            json!({"metadata": {"name": "bound", "namespace": "n", "uid": "u2",
                    "deletionTimestamp": "2026-12-06T17:00:05Z"},
                "spec": {"nodeName": "node-1", "containers": [{"name": "c", "image": "pause"}]},
                "status": {"phase": "Running", "podIP": "10.0.1.5"}}),
            json!({"metadata": {"name": "other", "namespace": "n"},
                "spec": {"schedulerName": "my-scheduler", "containers": []}}),
            json!({"metadata": {"name": "done", "namespace": "n"},
                "spec": {"containers": []}, "status": {"phase": "Succeeded"}}),
        ];
        for json in pods {
            let whole: Pod = serde_json::from_value(json.clone()).unwrap();
            let slim: Pod = serde_json::from_value::<PodToPlace>(json).unwrap().into();
            let name = whole.metadata.name.clone();
            assert_eq!(
                PodRequirements::from_pod(&slim),
                PodRequirements::from_pod(&whole),
                "{name:?}"
            );
            assert_eq!(wants_scheduling(&slim), wants_scheduling(&whole), "{name:?}");
            assert_eq!(podutil::node_name(&slim), podutil::node_name(&whole), "{name:?}");
            assert_eq!(podutil::is_active(&slim), podutil::is_active(&whole), "{name:?}");
            assert_eq!(
                slim.metadata.creation_timestamp, whole.metadata.creation_timestamp,
                "{name:?}"
            );
            assert_eq!(slim.object_ref(&()), whole.object_ref(&()), "{name:?}");
            assert_eq!(
                slim.status.as_ref().and_then(|s| s.conditions.clone()),
                whole.status.as_ref().and_then(|s| s.conditions.clone()),
                "{name:?}"
            );
            // What it leaves out is left out.
            assert_eq!(slim.metadata.managed_fields, None);
            assert!(slim.spec.as_ref().unwrap().containers.is_empty());
        }
    }
}
