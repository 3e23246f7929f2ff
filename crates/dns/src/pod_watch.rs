//! Pods as the DNS catalog keeps them: only what pod records are made of
//! (namespace and name, hostNetwork, phase, podIP and podIPs). The watch
//! decodes the slim Pod (`labyrinth_contracts::pod`): every Pod event of
//! the cluster reaches every DNS replica, and decoding the whole object
//! into k8s-openapi's types is most of what an event costs.

use k8s_openapi::api::core::v1::{Pod, PodIP, PodSpec, PodStatus};
use labyrinth_contracts::pod::SlimPod;

/// The Pod the catalog builds records from, with only these fields (the
/// containers the slim Pod also carries are dropped: the catalog keeps its
/// pods for their whole life).
pub fn into_pod(p: SlimPod) -> Pod {
    Pod {
        metadata: p.metadata,
        spec: Some(PodSpec {
            host_network: p.spec.host_network,
            ..Default::default()
        }),
        status: Some(PodStatus {
            phase: p.status.phase,
            pod_ip: p.status.pod_ip,
            pod_ips: p
                .status
                .pod_ips
                .map(|v| v.into_iter().map(|i| PodIP { ip: i.ip }).collect()),
            ..Default::default()
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::build::pod_records;

    /// A whole Pod as the API server sends it: the slim decoding gives
    /// the same records as decoding all of it.
    #[test]
    fn the_slim_pod_makes_the_records_the_full_pod_makes() {
        let json = serde_json::json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "web-1", "namespace": "shop", "uid": "u1", "resourceVersion": "42",
                "labels": {"app": "web"},
                "managedFields": [{"manager": "agent", "operation": "Update", "fieldsType": "FieldsV1",
                    "fieldsV1": {"f:status": {"f:podIP": {}}}}]},
            "spec": {"nodeName": "node-1", "hostNetwork": false,
                "containers": [{"name": "web", "image": "nginx", "ports": [{"containerPort": 80}]}]},
            "status": {"phase": "Running", "podIP": "10.0.1.7", "podIPs": [{"ip": "10.0.1.7"}],
                "conditions": [{"type": "Ready", "status": "True"}]}
        });
        let full: Pod = serde_json::from_value(json.clone()).unwrap();
        let slim: SlimPod = serde_json::from_value(json).unwrap();
        assert_eq!(slim.metadata.resource_version.as_deref(), Some("42"));
        let want = pod_records(&full, "cluster.local");
        assert_eq!(want.len(), 2, "an A and a PTR: {want:?}");
        assert_eq!(pod_records(&into_pod(slim), "cluster.local"), want);
    }
}
