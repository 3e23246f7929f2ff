//! EndpointSlice logic: for each Service with a selector, the slices that
//! list its pods (IPv4, up to 100 endpoints per slice, pods grouped by their
//! resolved port set as Kubernetes does), and the changes that turn the
//! existing slices into those.

pub mod ports;
mod reconcile;
pub mod zones;

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use k8s_openapi::api::core::v1::{ObjectReference, Pod, Service};
use k8s_openapi::api::discovery::v1::{Endpoint, EndpointConditions, EndpointPort};
use kube::ResourceExt;

pub use reconcile::{reconcile, SlicePlan};

use crate::podutil;

pub const LABEL_SERVICE_NAME: &str = "kubernetes.io/service-name";
pub const LABEL_MANAGED_BY: &str = "endpointslice.kubernetes.io/managed-by";
pub const MANAGED_BY: &str = "endpointslice-controller.k8s.io";
pub const MAX_ENDPOINTS_PER_SLICE: usize = 100;

/// One slice's worth of content.
#[derive(Clone, Debug, PartialEq)]
pub struct DesiredSlice {
    pub ports: Vec<EndpointPort>,
    pub endpoints: Vec<Endpoint>,
}

/// The Service's selector when this controller manages its slices: services
/// without a selector (hand-made endpoints) and ExternalName ones are left
/// alone.
pub fn managed_selector(svc: &Service) -> Option<&BTreeMap<String, String>> {
    let spec = svc.spec.as_ref()?;
    if spec.type_.as_deref() == Some("ExternalName") {
        return None;
    }
    spec.selector.as_ref()
}

fn pod_ipv4(pod: &Pod) -> Option<String> {
    let st = pod.status.as_ref()?;
    let mut ips: Vec<&str> = st.pod_ip.as_deref().into_iter().collect();
    ips.extend(st.pod_ips.iter().flatten().map(|p| p.ip.as_str()));
    ips.into_iter()
        .find(|ip| ip.parse::<Ipv4Addr>().is_ok())
        .map(str::to_string)
}

fn endpoint(svc: &Service, pod: &Pod, ip: String) -> Endpoint {
    let publish = svc
        .spec
        .as_ref()
        .and_then(|s| s.publish_not_ready_addresses)
        .unwrap_or(false);
    let terminating = podutil::is_terminating(pod);
    let serving = publish || podutil::is_ready(pod);
    Endpoint {
        addresses: vec![ip],
        conditions: Some(EndpointConditions {
            ready: Some(serving && !terminating),
            serving: Some(serving),
            terminating: Some(terminating),
        }),
        node_name: podutil::node_name(pod).map(str::to_string),
        target_ref: Some(ObjectReference {
            kind: Some("Pod".into()),
            namespace: pod.namespace(),
            name: Some(pod.name_any()),
            uid: pod.metadata.uid.clone(),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// The slices the Service should have, given the pods of its namespace.
/// With no endpoints at all there is still one empty slice, as Kubernetes
/// keeps a placeholder.
pub fn desired(svc: &Service, pods: &[&Pod]) -> Vec<DesiredSlice> {
    let Some(selector) = managed_selector(svc) else {
        return vec![];
    };
    let svc_ports = svc
        .spec
        .as_ref()
        .and_then(|s| s.ports.clone())
        .unwrap_or_default();
    let mut matched: Vec<&&Pod> = pods
        .iter()
        .filter(|p| p.namespace() == svc.namespace())
        .filter(|p| podutil::map_selector_matches(selector, p.metadata.labels.as_ref()))
        .filter(|p| !matches!(podutil::phase(p), "Succeeded" | "Failed"))
        .collect();
    matched.sort_by_key(|p| p.name_any());

    // Group by resolved ports, keeping first-seen order of the port sets.
    let mut groups: Vec<(Vec<EndpointPort>, Vec<Endpoint>)> = Vec::new();
    for pod in matched {
        let Some(ip) = pod_ipv4(pod) else { continue };
        let ports = ports::endpoint_ports(&svc_ports, pod);
        let ep = endpoint(svc, pod, ip);
        match groups.iter_mut().find(|(p, _)| *p == ports) {
            Some((_, eps)) => eps.push(ep),
            None => groups.push((ports, vec![ep])),
        }
    }
    if groups.is_empty() {
        return vec![DesiredSlice {
            ports: vec![],
            endpoints: vec![],
        }];
    }
    groups
        .into_iter()
        .flat_map(|(ports, eps)| {
            eps.chunks(MAX_ENDPOINTS_PER_SLICE)
                .map(|c| DesiredSlice {
                    ports: ports.clone(),
                    endpoints: c.to_vec(),
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

#[cfg(test)]
mod tests;
