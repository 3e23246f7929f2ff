//! A Pod as the node agents' policy watch decodes it: only what policy
//! reads (name, namespace, labels, node, hostNetwork, the containers'
//! named ports, phase and address) and the resourceVersion the watch
//! resumes from.
//!
//! Every network agent watches every pod of the cluster, and each pod
//! changes several times as it starts (created, bound, its status). Into
//! k8s-openapi's `Pod` each of those events was decoded whole
//! (managedFields, conditions, container statuses, every spec field) on
//! every node; the decoder skips the fields this type does not name
//! without building them. The type is a Pod to kube's `Api` and watcher
//! (`as_pod_resource!`, as the kubelet's `SlimPod` is).

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::Deserialize;

#[derive(Clone, Debug, Deserialize)]
pub struct WatchedPod {
    #[serde(deserialize_with = "labyrinth_contracts::pod::labelled_meta")]
    pub metadata: ObjectMeta,
    /// None as in k8s-openapi's Pod: such an object is no pod to model.
    pub spec: Option<Spec>,
    #[serde(default)]
    pub status: Status,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Spec {
    pub node_name: Option<String>,
    pub host_network: Option<bool>,
    #[serde(default)]
    pub containers: Vec<Container>,
}

#[derive(Clone, Debug, Default, Deserialize)]
pub struct Container {
    #[serde(default)]
    pub ports: Vec<Port>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Port {
    pub name: Option<String>,
    #[serde(default)]
    pub container_port: i32,
    pub protocol: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize)]
pub struct Status {
    pub phase: Option<String>,
    #[serde(rename = "podIP")]
    pub pod_ip: Option<String>,
}

labyrinth_contracts::as_pod_resource!(WatchedPod);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::from_k8s;
    use k8s_openapi::api::core::v1::Pod as K8sPod;
    use serde_json::json;

    /// The same object through both decoders gives the same model.
    fn both(v: serde_json::Value) -> (Option<crate::Pod>, Option<crate::Pod>) {
        let full: K8sPod = serde_json::from_value(v.clone()).unwrap();
        let watched: WatchedPod = serde_json::from_value(v).unwrap();
        (from_k8s::pod(&full), from_k8s::watched_pod(watched))
    }

    #[test]
    fn a_watched_pod_models_as_the_full_object_does() {
        let running = json!({
            "metadata": {"name": "web-1", "namespace": "shop", "uid": "u1", "resourceVersion": "42",
                "labels": {"app": "web", "tier": "fe"},
                "managedFields": [{"manager": "kubectl", "operation": "Apply", "fieldsType": "FieldsV1",
                    "fieldsV1": {"f:spec": {}}}]},
            "spec": {"nodeName": "node-2", "containers": [
                {"name": "a", "image": "nginx", "ports": [
                    {"name": "http", "containerPort": 80},
                    {"name": "dns", "containerPort": 53, "protocol": "UDP"},
                    {"containerPort": 8080},
                    {"name": "bad", "containerPort": 70000}]},
                {"name": "b", "image": "busybox", "env": [{"name": "X", "value": "1"}]}]},
            "status": {"phase": "Running", "podIP": "10.0.2.7",
                "conditions": [{"type": "Ready", "status": "True"}]}
        });
        let (full, watched) = both(running);
        let model = watched.expect("a running pod is modelled");
        assert_eq!(Some(&model), full.as_ref());
        assert_eq!(model.labels.get("tier").map(String::as_str), Some("fe"));
        assert_eq!(model.node, "node-2");
        assert_eq!(model.ip, Some("10.0.2.7".parse().unwrap()));
        assert_eq!(model.named_port("dns", crate::Protocol::Udp), Some(53));
        assert_eq!(model.ports.len(), 2, "{:?}", model.ports);

        // Without an address yet, without a namespace: still as the full one.
        let (full, watched) = both(json!({"metadata": {"name": "p"}, "spec": {"containers": []}}));
        assert_eq!(watched, full);
        assert_eq!(watched.unwrap().namespace, "default");
    }

    #[test]
    fn host_network_and_finished_pods_are_not_modelled() {
        for v in [
            json!({"metadata": {"name": "h"}, "spec": {"hostNetwork": true, "containers": []},
                "status": {"podIP": "192.168.0.2"}}),
            json!({"metadata": {"name": "s"}, "spec": {"containers": []}, "status": {"phase": "Succeeded"}}),
            json!({"metadata": {"name": "f"}, "spec": {"containers": []}, "status": {"phase": "Failed"}}),
        ] {
            assert_eq!(both(v), (None, None));
        }
    }

    #[test]
    fn the_watch_keeps_what_it_resumes_from() {
        let w: WatchedPod = serde_json::from_value(json!({
            "metadata": {"name": "p", "namespace": "n", "uid": "u", "resourceVersion": "7"}
        }))
        .unwrap();
        assert_eq!(w.metadata.resource_version.as_deref(), Some("7"));
        assert_eq!(w.metadata.uid.as_deref(), Some("u"));
        assert!(w.spec.is_none());
    }
}
