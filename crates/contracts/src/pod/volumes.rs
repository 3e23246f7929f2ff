//! A pod's volumes and its containers' mounts, as the node agent reads
//! them (the slim Pod's part, `super::Spec::volumes`): the sources the
//! agent knows how to provide, each kept only as far as it reads it.

use serde::Deserialize;

/// One entry of `spec.volumes`: a name and one source.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Volume {
    pub name: String,
    /// `emptyDir: {}`; its medium and size limit are not read (the node
    /// keeps it in its own filesystem).
    pub empty_dir: Option<EmptyDir>,
    pub host_path: Option<HostPath>,
    pub config_map: Option<ConfigMapVolume>,
    /// Other sources (`nfs`, `csi`, …) are not decoded: such a volume
    /// has no source here, and the agent says which one it cannot provide.
    pub secret: Option<SecretVolume>,
    /// Several sources in one folder: how the service-account token
    /// volume (`kube-api-access-…`) is made.
    pub projected: Option<ProjectedVolume>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
pub struct EmptyDir {}

#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
pub struct HostPath {
    #[serde(default)]
    pub path: String,
    /// "", DirectoryOrCreate, Directory, FileOrCreate, File, Socket,
    /// CharDevice, BlockDevice.
    #[serde(rename = "type")]
    pub kind: Option<String>,
}

/// A key of a ConfigMap or Secret as a file of the volume (`items`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
pub struct KeyToPath {
    #[serde(default)]
    pub key: String,
    #[serde(default)]
    pub path: String,
    pub mode: Option<i32>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConfigMapVolume {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub items: Vec<KeyToPath>,
    pub default_mode: Option<i32>,
    pub optional: Option<bool>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SecretVolume {
    #[serde(default)]
    pub secret_name: String,
    #[serde(default)]
    pub items: Vec<KeyToPath>,
    pub default_mode: Option<i32>,
    pub optional: Option<bool>,
}

/// `projected`: the files of every source in one folder.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProjectedVolume {
    #[serde(default)]
    pub sources: Vec<Projection>,
    pub default_mode: Option<i32>,
}

/// One source of a projected volume (exactly one of these is set).
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Projection {
    pub service_account_token: Option<TokenProjection>,
    pub config_map: Option<ProjectedKeys>,
    pub secret: Option<ProjectedKeys>,
    #[serde(rename = "downwardAPI")]
    pub downward_api: Option<DownwardApiProjection>,
}

/// A bound token of the pod's service account, written to `path`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenProjection {
    pub audience: Option<String>,
    pub expiration_seconds: Option<i64>,
    #[serde(default)]
    pub path: String,
}

/// A ConfigMap's or Secret's keys in a projected volume (both name the
/// object `name`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
pub struct ProjectedKeys {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub items: Vec<KeyToPath>,
    pub optional: Option<bool>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
pub struct DownwardApiProjection {
    #[serde(default)]
    pub items: Vec<DownwardApiFile>,
}

/// A field of the pod as a file (`fieldRef` only: container resources are
/// not tracked by this runtime).
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DownwardApiFile {
    #[serde(default)]
    pub path: String,
    pub field_ref: Option<FileFieldRef>,
    pub mode: Option<i32>,
}

/// The field a downward API file holds (its own type: the env's
/// `FieldRef` lives in the parent module, which imports this one).
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FileFieldRef {
    pub field_path: String,
}

/// One entry of a container's `volumeMounts`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VolumeMount {
    pub name: String,
    #[serde(default)]
    pub mount_path: String,
    #[serde(default)]
    pub read_only: bool,
    pub sub_path: Option<String>,
}
