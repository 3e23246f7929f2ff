//! A pod's volumes and its containers' mounts, as the node agent reads
//! them (the slim Pod's part, `super::Spec::volumes`): the sources the
//! agent knows how to provide, each kept only as far as it reads it.

use serde::Deserialize;

/// One entry of `spec.volumes`: a name and one source. Every pod has one
/// (the service-account token's) for its whole life, so only the source
/// it has is kept, not room for each kind.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(from = "VolumeFields")]
pub struct Volume {
    pub name: String,
    pub source: VolumeSource,
}

/// What a volume is made from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum VolumeSource {
    /// `emptyDir: {}`; its medium and size limit are not read (the node
    /// keeps it in its own filesystem).
    EmptyDir,
    HostPath(HostPath),
    ConfigMap(ConfigMapVolume),
    Secret(SecretVolume),
    /// Several sources in one folder: how the service-account token
    /// volume (`kube-api-access-…`) is made.
    Projected(ProjectedVolume),
    /// Other sources (`nfs`, `csi`, …) are not decoded: the agent says
    /// it cannot provide the volume.
    Other,
}

impl Volume {
    pub fn is_empty_dir(&self) -> bool {
        self.source == VolumeSource::EmptyDir
    }

    pub fn host_path(&self) -> Option<&HostPath> {
        match &self.source {
            VolumeSource::HostPath(h) => Some(h),
            _ => None,
        }
    }

    pub fn config_map(&self) -> Option<&ConfigMapVolume> {
        match &self.source {
            VolumeSource::ConfigMap(c) => Some(c),
            _ => None,
        }
    }

    pub fn secret(&self) -> Option<&SecretVolume> {
        match &self.source {
            VolumeSource::Secret(s) => Some(s),
            _ => None,
        }
    }

    pub fn projected(&self) -> Option<&ProjectedVolume> {
        match &self.source {
            VolumeSource::Projected(p) => Some(p),
            _ => None,
        }
    }

    /// Its lists at their exact size (decoded lists grow by doubling).
    pub fn shrink_to_fit(&mut self) {
        match &mut self.source {
            VolumeSource::ConfigMap(c) => c.items.shrink_to_fit(),
            VolumeSource::Secret(s) => s.items.shrink_to_fit(),
            VolumeSource::Projected(p) => {
                p.sources.shrink_to_fit();
                p.sources.iter_mut().for_each(Projection::shrink_to_fit);
            }
            VolumeSource::EmptyDir | VolumeSource::HostPath(_) | VolumeSource::Other => {}
        }
    }
}

/// A volume as the API writes it (a name and one source field), read only
/// to become a `Volume`. Were an entry to set several sources (the API
/// server refuses that), the first in this order is kept.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct VolumeFields {
    name: String,
    empty_dir: Option<EmptyDir>,
    host_path: Option<HostPath>,
    config_map: Option<ConfigMapVolume>,
    secret: Option<SecretVolume>,
    projected: Option<ProjectedVolume>,
}

impl From<VolumeFields> for Volume {
    fn from(f: VolumeFields) -> Self {
        let source = if f.empty_dir.is_some() {
            VolumeSource::EmptyDir
        } else if let Some(h) = f.host_path {
            VolumeSource::HostPath(h)
        } else if let Some(c) = f.config_map {
            VolumeSource::ConfigMap(c)
        } else if let Some(s) = f.secret {
            VolumeSource::Secret(s)
        } else if let Some(p) = f.projected {
            VolumeSource::Projected(p)
        } else {
            VolumeSource::Other
        };
        Volume { name: f.name, source }
    }
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

/// One source of a projected volume. The API sets exactly one source per
/// entry, so one is kept: every pod has a projected volume of three
/// sources (the service-account token's), and a struct with room for all
/// four was ~200 bytes a source, kept for each pod's life.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(from = "ProjectionFields")]
pub enum Projection {
    ServiceAccountToken(TokenProjection),
    ConfigMap(ProjectedKeys),
    Secret(ProjectedKeys),
    DownwardApi(DownwardApiProjection),
    /// A source the agent does not provide (`clusterTrustBundle`,
    /// `podCertificate`, …): it adds no file.
    Other,
}

impl Projection {
    pub fn service_account_token(&self) -> Option<&TokenProjection> {
        match self {
            Projection::ServiceAccountToken(t) => Some(t),
            _ => None,
        }
    }

    pub fn config_map(&self) -> Option<&ProjectedKeys> {
        match self {
            Projection::ConfigMap(k) => Some(k),
            _ => None,
        }
    }

    pub fn secret(&self) -> Option<&ProjectedKeys> {
        match self {
            Projection::Secret(k) => Some(k),
            _ => None,
        }
    }

    pub fn downward_api(&self) -> Option<&DownwardApiProjection> {
        match self {
            Projection::DownwardApi(d) => Some(d),
            _ => None,
        }
    }

    /// Its lists at their exact size (decoded lists grow by doubling).
    pub fn shrink_to_fit(&mut self) {
        match self {
            Projection::ConfigMap(k) | Projection::Secret(k) => k.items.shrink_to_fit(),
            Projection::DownwardApi(d) => d.items.shrink_to_fit(),
            Projection::ServiceAccountToken(_) | Projection::Other => {}
        }
    }
}

/// A projection as the API writes it (an object with one source field),
/// read only to become a `Projection`. Were an entry to set several (the
/// API server refuses that), the first in this order is kept.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ProjectionFields {
    service_account_token: Option<TokenProjection>,
    config_map: Option<ProjectedKeys>,
    secret: Option<ProjectedKeys>,
    #[serde(rename = "downwardAPI")]
    downward_api: Option<DownwardApiProjection>,
}

impl From<ProjectionFields> for Projection {
    fn from(f: ProjectionFields) -> Self {
        if let Some(t) = f.service_account_token {
            Projection::ServiceAccountToken(t)
        } else if let Some(k) = f.config_map {
            Projection::ConfigMap(k)
        } else if let Some(k) = f.secret {
            Projection::Secret(k)
        } else if let Some(d) = f.downward_api {
            Projection::DownwardApi(d)
        } else {
            Projection::Other
        }
    }
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
