//! Existing slices → desired slices with as few writes as possible: a slice
//! whose content already matches is left untouched, others are reused before
//! new ones are made, and the leftovers are deleted.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::ObjectMeta;
use kube::ResourceExt;

use super::{DesiredSlice, LABEL_MANAGED_BY, LABEL_SERVICE_NAME, MANAGED_BY};
use crate::names::generated_name;
use crate::podutil::controller_ref;

#[derive(Debug, Default)]
pub struct SlicePlan {
    pub create: Vec<EndpointSlice>,
    /// Existing slices (resourceVersion kept) with new content.
    pub update: Vec<EndpointSlice>,
    pub delete: Vec<String>,
}

impl SlicePlan {
    pub fn is_empty(&self) -> bool {
        self.create.is_empty() && self.update.is_empty() && self.delete.is_empty()
    }
}

/// Labels every slice of the Service carries: the Service's own labels, the
/// service-name and managed-by labels, and the headless marker.
pub fn slice_labels(svc: &Service) -> BTreeMap<String, String> {
    let mut l = svc.labels().clone();
    l.insert(LABEL_SERVICE_NAME.into(), svc.name_any());
    l.insert(LABEL_MANAGED_BY.into(), MANAGED_BY.into());
    let headless = svc.spec.as_ref().and_then(|s| s.cluster_ip.as_deref()) == Some("None");
    if headless {
        l.insert("service.kubernetes.io/headless".into(), String::new());
    } else {
        l.remove("service.kubernetes.io/headless");
    }
    l
}

/// Whether the slice belongs to this Service and this controller.
pub fn is_managed_slice(svc: &Service, s: &EndpointSlice) -> bool {
    s.namespace() == svc.namespace()
        && s.labels().get(LABEL_SERVICE_NAME) == Some(&svc.name_any())
        && s.labels().get(LABEL_MANAGED_BY).map(String::as_str) == Some(MANAGED_BY)
}

fn same_content(svc: &Service, s: &EndpointSlice, d: &DesiredSlice) -> bool {
    s.address_type == "IPv4"
        && s.endpoints.as_deref().unwrap_or(&[]) == d.endpoints.as_slice()
        && s.ports.as_deref().unwrap_or(&[]) == d.ports.as_slice()
        && *s.labels() == slice_labels(svc)
        && s.metadata
            .owner_references
            .iter()
            .flatten()
            .any(|o| Some(&o.uid) == svc.metadata.uid.as_ref())
}

fn fill(svc: &Service, mut s: EndpointSlice, d: DesiredSlice) -> EndpointSlice {
    s.metadata.namespace = svc.namespace();
    s.metadata.labels = Some(slice_labels(svc));
    s.metadata.owner_references = Some(vec![controller_ref(svc)]);
    s.address_type = "IPv4".into();
    s.endpoints = Some(d.endpoints);
    s.ports = if d.ports.is_empty() { None } else { Some(d.ports) };
    s
}

pub fn reconcile(svc: &Service, desired: Vec<DesiredSlice>, existing: &[&EndpointSlice]) -> SlicePlan {
    let mut plan = SlicePlan::default();
    let mut free: Vec<&EndpointSlice> = existing
        .iter()
        .copied()
        .filter(|s| is_managed_slice(svc, s))
        .collect();
    free.sort_by_key(|s| s.name_any());

    // Slices already right stay as they are.
    let mut pending = Vec::new();
    for d in desired {
        match free.iter().position(|s| same_content(svc, s, &d)) {
            Some(i) => {
                free.remove(i);
            }
            None => pending.push(d),
        }
    }
    for d in pending {
        let reuse = free
            .iter()
            .position(|s| s.ports.as_deref().unwrap_or(&[]) == d.ports.as_slice())
            .or(if free.is_empty() { None } else { Some(0) });
        match reuse {
            Some(i) => {
                let s = free.remove(i).clone();
                plan.update.push(fill(svc, s, d));
            }
            None => {
                let s = EndpointSlice {
                    metadata: ObjectMeta {
                        name: Some(generated_name(&svc.name_any())),
                        generate_name: Some(format!("{}-", svc.name_any())),
                        ..Default::default()
                    },
                    ..Default::default()
                };
                plan.create.push(fill(svc, s, d));
            }
        }
    }
    plan.delete = free.iter().map(|s| s.name_any()).collect();
    plan
}
