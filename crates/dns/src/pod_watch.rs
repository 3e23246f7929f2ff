//! Pods as the DNS watch decodes them: only what pod records are made of
//! (namespace and name, hostNetwork, phase, podIP and podIPs). Every Pod
//! event of the cluster reaches every DNS replica; decoding the whole
//! object (spec, managedFields, conditions, container statuses) into
//! k8s-openapi's types is most of what an event costs, for fields the
//! catalog never reads.

use k8s_openapi::api::core::v1::{Pod, PodIP, PodSpec, PodStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::{Deserialize, Deserializer};

#[derive(Clone, Debug, Deserialize)]
pub struct DnsPod {
    #[serde(deserialize_with = "slim_meta")]
    pub metadata: ObjectMeta,
    #[serde(default)]
    spec: Spec,
    #[serde(default)]
    status: Status,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Spec {
    host_network: Option<bool>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Status {
    phase: Option<String>,
    #[serde(rename = "podIP")]
    pod_ip: Option<String>,
    #[serde(rename = "podIPs")]
    pod_ips: Option<Vec<Ip>>,
}

#[derive(Clone, Debug, Deserialize)]
struct Ip {
    ip: String,
}

/// Identity, and the resourceVersion the watch resumes from.
fn slim_meta<'de, D: Deserializer<'de>>(d: D) -> Result<ObjectMeta, D::Error> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Slim {
        name: Option<String>,
        namespace: Option<String>,
        uid: Option<String>,
        resource_version: Option<String>,
    }
    let s = Slim::deserialize(d)?;
    Ok(ObjectMeta {
        name: s.name,
        namespace: s.namespace,
        uid: s.uid,
        resource_version: s.resource_version,
        ..Default::default()
    })
}

impl DnsPod {
    /// The Pod the catalog builds records from, with only these fields.
    pub fn into_pod(self) -> Pod {
        Pod {
            metadata: self.metadata,
            spec: Some(PodSpec {
                host_network: self.spec.host_network,
                ..Default::default()
            }),
            status: Some(PodStatus {
                phase: self.status.phase,
                pod_ip: self.status.pod_ip,
                pod_ips: self
                    .status
                    .pod_ips
                    .map(|v| v.into_iter().map(|i| PodIP { ip: i.ip }).collect()),
                ..Default::default()
            }),
        }
    }
}

impl k8s_openapi::Resource for DnsPod {
    const API_VERSION: &'static str = <Pod as k8s_openapi::Resource>::API_VERSION;
    const GROUP: &'static str = <Pod as k8s_openapi::Resource>::GROUP;
    const KIND: &'static str = <Pod as k8s_openapi::Resource>::KIND;
    const VERSION: &'static str = <Pod as k8s_openapi::Resource>::VERSION;
    const URL_PATH_SEGMENT: &'static str = <Pod as k8s_openapi::Resource>::URL_PATH_SEGMENT;
    type Scope = <Pod as k8s_openapi::Resource>::Scope;
}

impl k8s_openapi::Metadata for DnsPod {
    type Ty = ObjectMeta;
    fn metadata(&self) -> &ObjectMeta {
        &self.metadata
    }
    fn metadata_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
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
        let slim: DnsPod = serde_json::from_value(json).unwrap();
        assert_eq!(slim.metadata.resource_version.as_deref(), Some("42"));
        let want = pod_records(&full, "cluster.local");
        assert_eq!(want.len(), 2, "an A and a PTR: {want:?}");
        assert_eq!(pod_records(&slim.into_pod(), "cluster.local"), want);
    }
}
