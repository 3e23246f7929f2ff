//! Deployment → ReplicaSets: find or make the ReplicaSet for the current
//! template, scale it to `spec.replicas`, and scale the old ones down as the
//! new one's pods become ready (a simple rolling update: surge up to 100%,
//! never fewer ready pods than wanted while the old ones still run). The
//! Recreate strategy empties the old ReplicaSets before the new one grows.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet, ReplicaSetSpec};
use k8s_openapi::api::core::v1::PodTemplateSpec;
use kube::api::ObjectMeta;
use kube::ResourceExt;

use super::hash::{pod_template_hash, printed_template, POD_TEMPLATE_HASH_LABEL};
use crate::podutil::controller_ref;

pub const REVISION_ANNOTATION: &str = "deployment.kubernetes.io/revision";

#[derive(Debug, Default)]
pub struct RolloutPlan {
    /// A ReplicaSet to create for the current template.
    pub create: Option<ReplicaSet>,
    /// `(ReplicaSet name, new spec.replicas)` for those whose count changes.
    pub scale: Vec<(String, i32)>,
    /// Set when the computed name is taken by a ReplicaSet with another
    /// template: record this in status.collisionCount and try again.
    pub bump_collision_count: Option<i32>,
    /// Name of the ReplicaSet that runs the current template.
    pub new_rs_name: String,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RolloutError {
    #[error("deployment {0}: spec.selector is missing")]
    NoSelector(String),
}

pub fn desired_replicas(d: &Deployment) -> i32 {
    d.spec.replicas.unwrap_or(1).max(0)
}

fn rs_replicas(rs: &ReplicaSet) -> i32 {
    rs.spec.replicas.unwrap_or(1)
}

fn rs_ready(rs: &ReplicaSet) -> i32 {
    rs.status.as_ref().and_then(|s| s.ready_replicas).unwrap_or(0)
}

fn rs_pods(rs: &ReplicaSet) -> i32 {
    rs.status.as_ref().map(|s| s.replicas).unwrap_or(0)
}

fn revision(rs: &ReplicaSet) -> u64 {
    rs.annotations()
        .get(REVISION_ANNOTATION)
        .and_then(|r| r.parse().ok())
        .unwrap_or(0)
}

fn template_of(rs: &ReplicaSet) -> Option<&PodTemplateSpec> {
    rs.spec.template.as_ref()
}

/// The owned ReplicaSet whose template equals `template` (ignoring the hash
/// label), if there is one.
pub fn find_current<'a>(template: &PodTemplateSpec, owned: &[&'a ReplicaSet]) -> Option<&'a ReplicaSet> {
    let want = printed_template(template);
    owned
        .iter()
        .copied()
        .filter(|rs| rs.metadata.deletion_timestamp.is_none())
        .find(|rs| template_of(rs).map(printed_template).as_deref() == Some(want.as_str()))
}

/// `owned` are the ReplicaSets whose controller is this Deployment; `taken`
/// tells whether a ReplicaSet name already exists in the namespace.
pub fn plan(
    d: &Deployment,
    owned: &[&ReplicaSet],
    taken: impl Fn(&str) -> bool,
) -> Result<RolloutPlan, RolloutError> {
    let name = d.name_any();
    let spec = &d.spec;
    let template = &spec.template;
    let want = desired_replicas(d);
    let recreate = spec.strategy.as_ref().and_then(|s| s.type_.as_deref()) == Some("Recreate");

    let mut plan = RolloutPlan::default();
    let current = find_current(template, owned);
    let old: Vec<&ReplicaSet> = {
        let mut v: Vec<&ReplicaSet> = owned
            .iter()
            .copied()
            .filter(|rs| current.is_none_or(|c| c.metadata.uid != rs.metadata.uid))
            .collect();
        // Newest revision keeps its pods longest.
        v.sort_by_key(|rs| std::cmp::Reverse(revision(rs)));
        v
    };
    let old_pods: i32 = old.iter().map(|rs| rs_pods(rs).max(rs_replicas(rs))).sum();

    let new_ready = match current {
        Some(rs) => {
            plan.new_rs_name = rs.name_any();
            let target = if recreate && old_pods > 0 { 0 } else { want };
            if rs_replicas(rs) != target {
                plan.scale.push((rs.name_any(), target));
            }
            rs_ready(rs)
        }
        None => {
            let collision = d.status.as_ref().and_then(|s| s.collision_count);
            let hash = pod_template_hash(template, collision);
            let rs_name = format!("{name}-{hash}");
            if taken(&rs_name) {
                plan.bump_collision_count = Some(collision.unwrap_or(0) + 1);
                return Ok(plan);
            }
            let selector = spec.selector.clone();
            if selector.match_labels.is_none() && selector.match_expressions.is_none() {
                return Err(RolloutError::NoSelector(name));
            }
            let next_rev = owned.iter().map(|rs| revision(rs)).max().unwrap_or(0) + 1;
            let target = if recreate && old_pods > 0 { 0 } else { want };
            plan.new_rs_name = rs_name.clone();
            plan.create = Some(new_replica_set(d, &rs_name, &hash, target, next_rev));
            0
        }
    };

    // Old ReplicaSets together keep only what the new one cannot yet serve.
    let mut old_budget = if recreate { 0 } else { (want - new_ready).max(0) };
    for rs in old {
        let keep = rs_replicas(rs).min(old_budget).max(0);
        old_budget -= keep;
        if rs_replicas(rs) != keep {
            plan.scale.push((rs.name_any(), keep));
        }
    }
    Ok(plan)
}

fn new_replica_set(d: &Deployment, name: &str, hash: &str, replicas: i32, rev: u64) -> ReplicaSet {
    let spec = d.spec.clone();
    let mut template = spec.template.clone();
    let tmeta = template.metadata.get_or_insert_with(Default::default);
    tmeta
        .labels
        .get_or_insert_with(BTreeMap::new)
        .insert(POD_TEMPLATE_HASH_LABEL.into(), hash.into());
    let mut selector = spec.selector.clone();
    selector
        .match_labels
        .get_or_insert_with(BTreeMap::new)
        .insert(POD_TEMPLATE_HASH_LABEL.into(), hash.into());
    let mut annotations = BTreeMap::new();
    annotations.insert(REVISION_ANNOTATION.to_string(), rev.to_string());
    annotations.insert(
        "deployment.kubernetes.io/desired-replicas".to_string(),
        desired_replicas(d).to_string(),
    );
    ReplicaSet {
        metadata: ObjectMeta {
            name: Some(name.into()),
            namespace: d.namespace(),
            labels: tmeta.labels.clone(),
            annotations: Some(annotations),
            owner_references: Some(vec![controller_ref(d)]),
            ..Default::default()
        },
        spec: ReplicaSetSpec {
            replicas: Some(replicas),
            min_ready_seconds: spec.min_ready_seconds,
            selector,
            template: Some(template),
        },
        status: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn deploy(image: &str, replicas: i32, strategy: &str) -> Deployment {
        serde_json::from_value(json!({
            "metadata": {"name": "web", "namespace": "ns", "uid": "d-uid"},
            "spec": {
                "replicas": replicas,
                "strategy": {"type": strategy},
                "selector": {"matchLabels": {"app": "web"}},
                "template": {
                    "metadata": {"labels": {"app": "web"}},
                    "spec": {"containers": [{"name": "c", "image": image}]}
                }
            }
        }))
        .unwrap()
    }

    /// What the API server would store after creating the planned RS, with
    /// the given status.
    fn stored(mut rs: ReplicaSet, uid: &str, pods: i32, ready: i32) -> ReplicaSet {
        rs.metadata.uid = Some(uid.into());
        rs.status = Some(k8s_openapi::api::apps::v1::ReplicaSetStatus {
            replicas: pods,
            ready_replicas: Some(ready),
            ..Default::default()
        });
        rs
    }

    #[test]
    fn first_rollout_creates_hashed_replica_set() {
        let d = deploy("nginx", 2, "RollingUpdate");
        let p = plan(&d, &[], |_| false).unwrap();
        let rs = p.create.expect("create");
        let hash = pod_template_hash(&d.spec.template, None);
        assert_eq!(rs.metadata.name.as_deref(), Some(format!("web-{hash}").as_str()));
        assert_eq!(p.new_rs_name, format!("web-{hash}"));
        let spec = &rs.spec;
        assert_eq!(spec.replicas, Some(2));
        assert_eq!(
            spec.selector
                .match_labels
                .as_ref()
                .unwrap()
                .get(POD_TEMPLATE_HASH_LABEL),
            Some(&hash)
        );
        let tl = spec
            .template
            .as_ref()
            .unwrap()
            .metadata
            .as_ref()
            .unwrap()
            .labels
            .as_ref()
            .unwrap();
        assert_eq!(tl.get(POD_TEMPLATE_HASH_LABEL), Some(&hash));
        assert_eq!(tl.get("app").map(String::as_str), Some("web"));
        assert_eq!(
            rs.annotations().get(REVISION_ANNOTATION).map(String::as_str),
            Some("1")
        );
        assert_eq!(
            rs.metadata.owner_references.as_ref().unwrap()[0].kind,
            "Deployment"
        );
        assert!(p.scale.is_empty());
    }

    #[test]
    fn steady_state_changes_nothing_and_scales_on_replica_change() {
        let d = deploy("nginx", 2, "RollingUpdate");
        let rs = stored(plan(&d, &[], |_| false).unwrap().create.unwrap(), "u1", 2, 2);
        let p = plan(&d, &[&rs], |_| true).unwrap();
        assert!(p.create.is_none() && p.scale.is_empty() && p.bump_collision_count.is_none());
        let d3 = deploy("nginx", 3, "RollingUpdate");
        let p = plan(&d3, &[&rs], |_| true).unwrap();
        assert_eq!(p.scale, vec![(rs.name_any(), 3)]);
    }

    #[test]
    fn name_collision_bumps_collision_count() {
        let d = deploy("nginx", 1, "RollingUpdate");
        let p = plan(&d, &[], |_| true).unwrap();
        assert!(p.create.is_none());
        assert_eq!(p.bump_collision_count, Some(1));
        let mut d2 = d.clone();
        d2.status = Some(k8s_openapi::api::apps::v1::DeploymentStatus {
            collision_count: Some(1),
            ..Default::default()
        });
        let first = format!("web-{}", pod_template_hash(&d.spec.template, None));
        let p2 = plan(&d2, &[], |n| n == first).unwrap();
        let created = p2.create.unwrap().name_any();
        assert_ne!(created, first);
        assert_eq!(
            created,
            format!("web-{}", pod_template_hash(&d.spec.template, Some(1)))
        );
    }

    #[test]
    fn rolling_update_keeps_old_pods_until_new_ready() {
        let v1 = deploy("nginx:1", 2, "RollingUpdate");
        let old = stored(plan(&v1, &[], |_| false).unwrap().create.unwrap(), "u1", 2, 2);
        let v2 = deploy("nginx:2", 2, "RollingUpdate");
        let p = plan(&v2, &[&old], |n| n == old.name_any()).unwrap();
        let new = p.create.expect("new RS for the new template");
        assert_ne!(new.name_any(), old.name_any());
        assert_eq!(
            new.annotations().get(REVISION_ANNOTATION).map(String::as_str),
            Some("2")
        );
        assert!(p.scale.is_empty(), "old RS keeps its 2 pods while none are ready");

        let new_half = stored(new.clone(), "u2", 2, 1);
        let p = plan(&v2, &[&old, &new_half], |_| true).unwrap();
        assert_eq!(p.scale, vec![(old.name_any(), 1)]);
        let new_ready = stored(new, "u2", 2, 2);
        let p = plan(&v2, &[&old, &new_ready], |_| true).unwrap();
        assert_eq!(p.scale, vec![(old.name_any(), 0)]);
        assert_eq!(p.new_rs_name, new_ready.name_any());
    }

    #[test]
    fn recreate_empties_old_before_growing_new() {
        let v1 = deploy("nginx:1", 2, "Recreate");
        let old = stored(plan(&v1, &[], |_| false).unwrap().create.unwrap(), "u1", 2, 2);
        let v2 = deploy("nginx:2", 2, "Recreate");
        let p = plan(&v2, &[&old], |_| false).unwrap();
        assert_eq!(p.create.as_ref().unwrap().spec.replicas, Some(0));
        assert_eq!(p.scale, vec![(old.name_any(), 0)]);
        let mut old_empty = stored(old.clone(), "u1", 0, 0);
        old_empty.spec.replicas = Some(0);
        let new = stored(p.create.unwrap(), "u2", 0, 0);
        let p = plan(&v2, &[&old_empty, &new], |_| true).unwrap();
        assert_eq!(p.scale, vec![(new.name_any(), 2)]);
    }

    #[test]
    fn rolling_back_reuses_the_old_replica_set() {
        let v1 = deploy("nginx:1", 1, "RollingUpdate");
        let rs1 = stored(plan(&v1, &[], |_| false).unwrap().create.unwrap(), "u1", 0, 0);
        let v2 = deploy("nginx:2", 1, "RollingUpdate");
        let rs2 = stored(plan(&v2, &[&rs1], |_| false).unwrap().create.unwrap(), "u2", 1, 1);
        let p = plan(&v1, &[&rs1, &rs2], |_| true).unwrap();
        assert!(p.create.is_none());
        assert_eq!(p.new_rs_name, rs1.name_any());
    }
}
