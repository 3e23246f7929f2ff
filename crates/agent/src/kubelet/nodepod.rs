//! The pods bound to this node as the agent caches them: only what it reads
//! (identity, deletion, phase, each container's name, image, command and
//! env, the restart policy), taken straight from the watch's JSON. A full
//! `Pod` costs kilobytes each in memory (every spec field, managedFields,
//! the status the agent itself wrote); this costs a few hundred bytes.

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use serde::{Deserialize, Deserializer};

use crate::runtime::{ContainerSpec, PodRef};

#[derive(Clone, Debug, Deserialize)]
pub struct NodePod {
    #[serde(deserialize_with = "slim_meta")]
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub spec: Spec,
    #[serde(default)]
    pub status: Status,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Spec {
    #[serde(default)]
    pub containers: Vec<Container>,
    pub restart_policy: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize)]
pub struct Container {
    pub name: String,
    pub image: Option<String>,
    pub command: Option<Vec<String>>,
    pub args: Option<Vec<String>>,
    #[serde(default)]
    pub env: Vec<EnvVar>,
}

/// Only literal values: `valueFrom` (secrets, field refs) is not resolved.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct EnvVar {
    pub name: String,
    pub value: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize)]
pub struct Status {
    pub phase: Option<String>,
}

/// The metadata fields the agent and the watch (resourceVersion) use.
fn slim_meta<'de, D: Deserializer<'de>>(d: D) -> Result<ObjectMeta, D::Error> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Slim {
        name: Option<String>,
        namespace: Option<String>,
        uid: Option<String>,
        resource_version: Option<String>,
        deletion_timestamp: Option<Time>,
    }
    let s = Slim::deserialize(d)?;
    Ok(ObjectMeta {
        name: s.name,
        namespace: s.namespace,
        uid: s.uid,
        resource_version: s.resource_version,
        deletion_timestamp: s.deletion_timestamp,
        ..Default::default()
    })
}

impl k8s_openapi::Resource for NodePod {
    const API_VERSION: &'static str = <Pod as k8s_openapi::Resource>::API_VERSION;
    const GROUP: &'static str = <Pod as k8s_openapi::Resource>::GROUP;
    const KIND: &'static str = <Pod as k8s_openapi::Resource>::KIND;
    const VERSION: &'static str = <Pod as k8s_openapi::Resource>::VERSION;
    const URL_PATH_SEGMENT: &'static str = <Pod as k8s_openapi::Resource>::URL_PATH_SEGMENT;
    type Scope = <Pod as k8s_openapi::Resource>::Scope;
}

impl k8s_openapi::Metadata for NodePod {
    type Ty = ObjectMeta;
    fn metadata(&self) -> &ObjectMeta {
        &self.metadata
    }
    fn metadata_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
}

impl NodePod {
    pub fn uid(&self) -> Option<&str> {
        self.metadata.uid.as_deref()
    }

    pub fn name(&self) -> &str {
        self.metadata.name.as_deref().unwrap_or_default()
    }

    pub fn namespace(&self) -> &str {
        self.metadata.namespace.as_deref().unwrap_or("default")
    }

    pub fn deleting(&self) -> bool {
        self.metadata.deletion_timestamp.is_some()
    }

    pub fn terminal(&self) -> bool {
        matches!(self.status.phase.as_deref(), Some("Succeeded" | "Failed"))
    }

    pub fn pod_ref(&self) -> Option<PodRef> {
        Some(PodRef {
            uid: self.metadata.uid.clone()?,
            namespace: self.namespace().to_string(),
            name: self.metadata.name.clone()?,
        })
    }

    pub fn container_specs(&self) -> Vec<ContainerSpec> {
        self.spec
            .containers
            .iter()
            .map(|c| {
                let mut argv = c.command.clone().unwrap_or_default();
                argv.extend(c.args.clone().unwrap_or_default());
                ContainerSpec {
                    name: c.name.clone(),
                    image: c.image.clone().unwrap_or_default(),
                    argv,
                    env: c
                        .env
                        .iter()
                        .filter_map(|e| Some((e.name.clone(), e.value.clone()?)))
                        .collect(),
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keeps_what_the_agent_reads_and_drops_the_rest() {
        let p: NodePod = serde_json::from_value(json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "a", "namespace": "n", "uid": "u", "resourceVersion": "7",
                "deletionTimestamp": "2026-01-01T00:00:00Z",
                "labels": {"app": "x"}, "managedFields": [{"manager": "m", "fieldsV1": {"f:spec": {}}}]},
            "spec": {"nodeName": "node-1", "restartPolicy": "Never", "tolerations": [{"key": "k"}],
                "containers": [{"name": "c", "image": "i", "command": ["sh"], "args": ["-c", "x"],
                    "env": [{"name": "A", "value": "1"}, {"name": "B", "valueFrom": {"fieldRef": {"fieldPath": "x"}}}]}]},
            "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}
        }))
        .unwrap();
        assert_eq!((p.name(), p.namespace(), p.uid()), ("a", "n", Some("u")));
        assert_eq!(p.metadata.resource_version.as_deref(), Some("7"));
        assert!(p.deleting() && !p.terminal());
        assert!(p.metadata.labels.is_none() && p.metadata.managed_fields.is_none());
        let specs = p.container_specs();
        assert_eq!(specs[0].argv, ["sh", "-c", "x"]);
        assert_eq!(specs[0].env, [("A".to_string(), "1".to_string())]);
        assert_eq!(p.spec.restart_policy.as_deref(), Some("Never"));
    }

    #[test]
    fn a_pod_with_no_spec_or_status_still_reads() {
        let p: NodePod = serde_json::from_value(json!({"metadata": {"name": "a"}})).unwrap();
        assert!(p.container_specs().is_empty() && p.pod_ref().is_none() && p.namespace() == "default");
    }
}
