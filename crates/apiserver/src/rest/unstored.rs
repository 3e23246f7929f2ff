//! Kinds this server does not run, listed in discovery so that kubectl's
//! default prune allow-list (`kubectl apply --prune -l …` without
//! `--prune-allowlist`) maps: kubectl refuses to prune at all when one of
//! its default kinds is unknown. They answer get, list and watch (always
//! empty: nothing can create one) and refuse every write with 405 naming
//! the kind, so a manifest holding one fails loudly rather than being
//! stored for a controller that does not exist.

use super::status::ApiError;
use crate::resources::ResourceDef;

const fn def(
    group: &'static str,
    kind: &'static str,
    plural: &'static str,
    singular: &'static str,
    namespaced: bool,
) -> ResourceDef {
    ResourceDef {
        group,
        version: "v1",
        kind,
        plural,
        singular,
        namespaced,
        short_names: &[],
        status: false,
        categories: &[],
    }
}

/// kubectl's default prune kinds that are not among `resources::RESOURCES`.
pub static UNSTORED: &[ResourceDef] = &[
    def(
        "",
        "PersistentVolumeClaim",
        "persistentvolumeclaims",
        "persistentvolumeclaim",
        true,
    ),
    def(
        "",
        "PersistentVolume",
        "persistentvolumes",
        "persistentvolume",
        false,
    ),
    def(
        "",
        "ReplicationController",
        "replicationcontrollers",
        "replicationcontroller",
        true,
    ),
    def("apps", "StatefulSet", "statefulsets", "statefulset", true),
    def("batch", "CronJob", "cronjobs", "cronjob", true),
    def("networking.k8s.io", "Ingress", "ingresses", "ingress", true),
];

pub const VERBS: [&str; 3] = ["get", "list", "watch"];

pub fn find(group: &str, version: &str, plural: &str) -> Option<&'static ResourceDef> {
    UNSTORED
        .iter()
        .find(|r| r.group == group && r.version == version && r.plural == plural)
}

pub fn is_unstored(res: &ResourceDef) -> bool {
    UNSTORED.iter().any(|r| std::ptr::eq(r, res))
}

/// The refusal of a write to one of them.
pub fn refuse(res: &ResourceDef, verb: &str) -> ApiError {
    ApiError::new(
        405,
        "MethodNotAllowed",
        format!(
            "this server does not run {} objects ({}): {verb} is not supported; it lists them only for kubectl apply --prune",
            res.kind,
            res.qualified()
        ),
    )
}
