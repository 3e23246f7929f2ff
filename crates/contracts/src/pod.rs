//! The slim Pod every watcher of Pods decodes: identity, deletion, the
//! containers to run (name, image, command, args, env and where its values
//! come from, ports, probes) and restart policy for the node agent;
//! hostNetwork, phase and the pod's addresses for cluster DNS.
//!
//! Every Pod event reaches every watcher; decoding the whole object
//! (managedFields, conditions, container statuses, every spec field) into
//! k8s-openapi's `Pod` is most of what an event costs and kilobytes per pod
//! kept, for fields nobody here reads. Unknown fields are skipped by the
//! decoder without being built. The type implements k8s-openapi's
//! `Resource` and `Metadata` as a Pod, so kube's `Api` and watcher take it
//! (its metadata keeps what the watch needs: name, namespace, uid and the
//! resourceVersion it resumes from).

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use std::collections::BTreeMap;

use serde::de::IgnoredAny;
use serde::{Deserialize, Deserializer};

/// A Pod as the watches (and the agent's PATCH and DELETE answers) decode it.
#[derive(Clone, Debug, Deserialize)]
pub struct SlimPod {
    #[serde(deserialize_with = "slim_meta")]
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub spec: Spec,
    #[serde(default)]
    pub status: Status,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Spec {
    #[serde(default)]
    pub containers: Vec<Container>,
    /// Run one at a time, in order, each to completion, before `containers`.
    #[serde(default)]
    pub init_containers: Vec<Container>,
    pub restart_policy: Option<String>,
    pub host_network: Option<bool>,
    pub termination_grace_period_seconds: Option<i64>,
    pub service_account_name: Option<String>,
    pub enable_service_links: Option<bool>,
    #[serde(rename = "hostPID")]
    pub host_pid: Option<bool>,
    #[serde(rename = "hostIPC")]
    pub host_ipc: Option<bool>,
    /// `false`: the pod asks for a user namespace of its own.
    pub host_users: Option<bool>,
    #[serde(default)]
    pub volumes: Vec<Volume>,
    /// Added by `kubectl debug` (the `ephemeralcontainers` subresource).
    #[serde(default)]
    pub ephemeral_containers: Vec<EphemeralContainer>,
    /// Boxed: most pods have none.
    pub security_context: Option<Box<PodSecurityContext>>,
}

/// A debugging container added to a running pod: a container's fields
/// (the API server refuses ports, probes and lifecycle for it) and the
/// container whose processes it is to see.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EphemeralContainer {
    #[serde(flatten)]
    pub container: Container,
    pub target_container_name: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Container {
    pub name: String,
    pub image: Option<String>,
    pub command: Option<Vec<String>>,
    pub args: Option<Vec<String>>,
    #[serde(default)]
    pub env: Vec<EnvVar>,
    #[serde(default)]
    pub env_from: Vec<EnvFromSource>,
    pub lifecycle: Option<Lifecycle>,
    #[serde(default)]
    pub ports: Vec<crate::probe::ContainerPort>,
    /// Boxed: most containers have none, and every pod's spec is kept.
    pub liveness_probe: Option<Box<crate::probe::Probe>>,
    pub readiness_probe: Option<Box<crate::probe::Probe>>,
    pub startup_probe: Option<Box<crate::probe::Probe>>,
    /// A kept stdin (`kubectl attach -i`).
    #[serde(default)]
    pub stdin: bool,
    #[serde(default)]
    pub volume_mounts: Vec<VolumeMount>,
    /// Boxed: most containers have none (the agent's
    /// `runtime::privileges` reads it).
    pub security_context: Option<Box<SecurityContext>>,
}

/// What a container's process may do, of a container's `securityContext`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SecurityContext {
    /// Every capability, as on the node.
    pub privileged: Option<bool>,
    /// `false`: the process and its children can never gain privileges
    /// (no setuid programs, no file capabilities: `no_new_privs`).
    pub allow_privilege_escalation: Option<bool>,
    pub capabilities: Option<Capabilities>,
    /// The process's user and group (the pod's when unset).
    pub run_as_user: Option<i64>,
    pub run_as_group: Option<i64>,
    /// The container must not start as root.
    pub run_as_non_root: Option<bool>,
    /// The container's root (its image's filesystem) cannot be written;
    /// its volumes can, as their own `readOnly` says.
    pub read_only_root_filesystem: Option<bool>,
    /// The system calls it may make (the pod's when unset).
    pub seccomp_profile: Option<Box<SeccompProfile>>,
}

/// A `seccompProfile`: `type` RuntimeDefault, Unconfined or Localhost
/// (with `localhostProfile`, a file on the node).
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SeccompProfile {
    #[serde(rename = "type", default)]
    pub kind: String,
    pub localhost_profile: Option<String>,
}

/// What every container of the pod runs as, of the pod's
/// `securityContext` (a container's own values win).
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodSecurityContext {
    pub run_as_user: Option<i64>,
    pub run_as_group: Option<i64>,
    pub run_as_non_root: Option<bool>,
    #[serde(default)]
    pub supplemental_groups: Vec<i64>,
    /// A supplementary group of every container, which owns the pod's
    /// emptyDir volumes.
    pub fs_group: Option<i64>,
    pub seccomp_profile: Option<Box<SeccompProfile>>,
    /// Kernel settings of the pod's own namespaces (`crate::sysctl`).
    #[serde(default)]
    pub sysctls: Vec<Sysctl>,
}

/// One of a pod's `sysctls`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
pub struct Sysctl {
    pub name: String,
    #[serde(default)]
    pub value: String,
}

/// Capabilities added to and dropped from the runtime's default set,
/// by name (`NET_ADMIN`, `ALL`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
pub struct Capabilities {
    #[serde(default)]
    pub add: Vec<String>,
    #[serde(default)]
    pub drop: Vec<String>,
}

/// A container's hooks; only `exec` handlers are read.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Lifecycle {
    pub pre_stop: Option<Handler>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
pub struct Handler {
    pub exec: Option<ExecAction>,
}

/// Hooks and exec probes share it.
pub use crate::probe::ExecAction;

/// A literal value, or where the node agent finds it (`valueFrom`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EnvVar {
    pub name: String,
    pub value: Option<String>,
    /// Boxed: most variables are literals.
    pub value_from: Option<Box<EnvVarSource>>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EnvVarSource {
    pub field_ref: Option<FieldRef>,
    pub config_map_key_ref: Option<KeyRef>,
    pub secret_key_ref: Option<KeyRef>,
}

/// Every key of a ConfigMap or Secret, as variables (`envFrom`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EnvFromSource {
    pub prefix: Option<String>,
    pub config_map_ref: Option<SourceRef>,
    pub secret_ref: Option<SourceRef>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
pub struct SourceRef {
    #[serde(default)]
    pub name: String,
    pub optional: Option<bool>,
}

/// A field of the pod (`metadata.name`, `status.podIP`…).
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FieldRef {
    pub field_path: String,
}

/// A key of a ConfigMap or Secret.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
pub struct KeyRef {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub key: String,
    pub optional: Option<bool>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Status {
    pub phase: Option<String>,
    #[serde(rename = "podIP")]
    pub pod_ip: Option<String>,
    #[serde(rename = "podIPs")]
    pub pod_ips: Option<Vec<PodIp>>,
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct PodIp {
    pub ip: String,
}

/// Identity, creation, deletion, and the resourceVersion the watch resumes
/// from (the scheduler's `PodToPlace` decodes its metadata with it too).
pub fn slim_meta<'de, D: Deserializer<'de>>(d: D) -> Result<ObjectMeta, D::Error> {
    meta::<D, IgnoredAny>(d)
}

/// The same and the labels, for a watcher that selects pods by them
/// (network policy's `WatchedPod`).
pub fn labelled_meta<'de, D: Deserializer<'de>>(d: D) -> Result<ObjectMeta, D::Error> {
    meta::<D, BTreeMap<String, String>>(d)
}

/// Labels kept (a map) or skipped by the decoder without being built.
trait LabelsKept {
    fn kept(self) -> Option<BTreeMap<String, String>>;
}

impl LabelsKept for IgnoredAny {
    fn kept(self) -> Option<BTreeMap<String, String>> {
        None
    }
}

impl LabelsKept for BTreeMap<String, String> {
    fn kept(self) -> Option<BTreeMap<String, String>> {
        Some(self)
    }
}

fn meta<'de, D: Deserializer<'de>, L: Deserialize<'de> + LabelsKept>(d: D) -> Result<ObjectMeta, D::Error> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Slim<L> {
        name: Option<String>,
        namespace: Option<String>,
        uid: Option<String>,
        resource_version: Option<String>,
        creation_timestamp: Option<Time>,
        deletion_timestamp: Option<Time>,
        deletion_grace_period_seconds: Option<i64>,
        labels: Option<L>,
    }
    let s = Slim::<L>::deserialize(d)?;
    Ok(ObjectMeta {
        name: s.name,
        namespace: s.namespace,
        uid: s.uid,
        resource_version: s.resource_version,
        creation_timestamp: s.creation_timestamp,
        deletion_timestamp: s.deletion_timestamp,
        deletion_grace_period_seconds: s.deletion_grace_period_seconds,
        labels: s.labels.and_then(LabelsKept::kept),
        ..Default::default()
    })
}

impl SlimPod {
    /// Succeeded or Failed: its containers are not run again.
    pub fn terminal(&self) -> bool {
        matches!(self.status.phase.as_deref(), Some("Succeeded" | "Failed"))
    }
}

/// Makes a slim decoding of a Pod (its metadata an `ObjectMeta` field named
/// `metadata`) a Pod to k8s-openapi, so kube's `Api` and watcher take it:
/// `Resource` and `Metadata` as the Pod's own.
#[macro_export]
macro_rules! as_pod_resource {
    ($t:ty) => {
        impl ::k8s_openapi::Resource for $t {
            const API_VERSION: &'static str =
                <::k8s_openapi::api::core::v1::Pod as ::k8s_openapi::Resource>::API_VERSION;
            const GROUP: &'static str = <::k8s_openapi::api::core::v1::Pod as ::k8s_openapi::Resource>::GROUP;
            const KIND: &'static str = <::k8s_openapi::api::core::v1::Pod as ::k8s_openapi::Resource>::KIND;
            const VERSION: &'static str =
                <::k8s_openapi::api::core::v1::Pod as ::k8s_openapi::Resource>::VERSION;
            const URL_PATH_SEGMENT: &'static str =
                <::k8s_openapi::api::core::v1::Pod as ::k8s_openapi::Resource>::URL_PATH_SEGMENT;
            type Scope = <::k8s_openapi::api::core::v1::Pod as ::k8s_openapi::Resource>::Scope;
        }

        impl ::k8s_openapi::Metadata for $t {
            type Ty = ::k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
            fn metadata(&self) -> &Self::Ty {
                &self.metadata
            }
            fn metadata_mut(&mut self) -> &mut Self::Ty {
                &mut self.metadata
            }
        }
    };
}

as_pod_resource!(SlimPod);

#[cfg(test)]
mod tests;
mod volumes;

pub use volumes::{
    ConfigMapVolume, DownwardApiFile, DownwardApiProjection, EmptyDir, HostPath, KeyToPath, ProjectedKeys,
    ProjectedVolume, Projection, SecretVolume, TokenProjection, Volume, VolumeMount, VolumeSource,
};
