//! v1 Endpoints, derived from a Service's EndpointSlices so the two never
//! disagree: each slice's ready endpoints become `addresses`, the not-ready
//! (and not terminating) ones `notReadyAddresses`, under the slice's ports
//! (by name). Subsets with the same ports are merged, ports and addresses
//! sorted, so the result is the same whatever order the slices come in.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{EndpointAddress, EndpointPort, EndpointSubset, Endpoints, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::ResourceExt;

use crate::endpointslice::{managed_selector, LABEL_SERVICE_NAME};

/// The label the real endpoints controller puts on what it writes (so the
/// EndpointSlice mirroring controller skips them); here it also marks which
/// Endpoints this controller owns and may delete once their Service is gone.
pub const LABEL_SKIP_MIRROR: &str = "endpointslice.kubernetes.io/skip-mirror";

/// Whether this controller keeps `svc`'s Endpoints: the Services whose slices
/// the EndpointSlice controller makes (a selector, not ExternalName).
pub fn managed(svc: &Service) -> bool {
    managed_selector(svc).is_some()
}

type PortKey = Vec<(String, i32, String)>;
/// A subset in the making: its ports, ready and not-ready addresses.
type Group = (Vec<EndpointPort>, Vec<EndpointAddress>, Vec<EndpointAddress>);

fn port_key(ports: &[EndpointPort]) -> PortKey {
    let mut k: PortKey = ports
        .iter()
        .map(|p| {
            (
                p.name.clone().unwrap_or_default(),
                p.port,
                p.protocol.clone().unwrap_or_else(|| "TCP".into()),
            )
        })
        .collect();
    k.sort();
    k
}

/// The Endpoints `svc` should have, from the slices labelled with its name in
/// its namespace (other slices in `slices` are ignored).
pub fn desired(svc: &Service, slices: &[&EndpointSlice]) -> Endpoints {
    let ns = svc.namespace().unwrap_or_default();
    let name = svc.name_any();
    // Keyed by the sorted port list: one subset per distinct port set.
    let mut subsets: BTreeMap<PortKey, Group> = BTreeMap::new();
    for sl in slices {
        if sl.namespace().as_deref() != Some(ns.as_str())
            || sl.labels().get(LABEL_SERVICE_NAME) != Some(&name)
            || sl.address_type != "IPv4"
        {
            continue;
        }
        let mut ports: Vec<EndpointPort> = sl
            .ports
            .iter()
            .flatten()
            .filter_map(|p| {
                Some(EndpointPort {
                    name: p.name.clone().filter(|n| !n.is_empty()),
                    port: p.port?,
                    protocol: Some(p.protocol.clone().unwrap_or_else(|| "TCP".into())),
                    app_protocol: p.app_protocol.clone(),
                })
            })
            .collect();
        // By name, so the order never depends on which slice came first (the
        // real controller orders them by a hash; any fixed order will do).
        ports.sort_by(|a, b| (&a.name, a.port).cmp(&(&b.name, b.port)));
        let entry = subsets
            .entry(port_key(&ports))
            .or_insert_with(|| (ports, Vec::new(), Vec::new()));
        for ep in sl.endpoints.iter().flatten() {
            let c = ep.conditions.clone().unwrap_or_default();
            // An unknown readiness counts as ready, as the API documents.
            let ready = c.ready.unwrap_or(true);
            if !ready && c.terminating == Some(true) {
                continue;
            }
            for ip in &ep.addresses {
                let a = EndpointAddress {
                    ip: ip.clone(),
                    hostname: ep.hostname.clone(),
                    node_name: ep.node_name.clone(),
                    target_ref: ep.target_ref.clone(),
                };
                if ready {
                    entry.1.push(a);
                } else {
                    entry.2.push(a);
                }
            }
        }
    }
    let by_ip = |a: &EndpointAddress, b: &EndpointAddress| a.ip.cmp(&b.ip);
    let subsets: Vec<EndpointSubset> = subsets
        .into_values()
        .filter(|(_, ready, not_ready)| !ready.is_empty() || !not_ready.is_empty())
        .map(|(ports, mut ready, mut not_ready)| {
            ready.sort_by(by_ip);
            not_ready.sort_by(by_ip);
            EndpointSubset {
                addresses: Some(ready).filter(|v| !v.is_empty()),
                not_ready_addresses: Some(not_ready).filter(|v| !v.is_empty()),
                ports: Some(ports).filter(|v| !v.is_empty()),
            }
        })
        .collect();
    let mut labels = svc.labels().clone();
    labels.insert(LABEL_SKIP_MIRROR.into(), "true".into());
    Endpoints {
        metadata: k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
            name: Some(name),
            namespace: Some(ns),
            labels: Some(labels),
            ..Default::default()
        },
        subsets: Some(subsets).filter(|v| !v.is_empty()),
    }
}

/// Whether `have` already says what `want` says (subsets and labels).
pub fn up_to_date(have: &Endpoints, want: &Endpoints) -> bool {
    let subsets = |e: &Endpoints| e.subsets.clone().unwrap_or_default();
    subsets(have) == subsets(want) && have.metadata.labels == want.metadata.labels
}

/// Endpoints this controller wrote whose Service is gone (or no longer has a
/// selector): (namespace, name, uid).
pub fn leftovers(endpoints: &[&Endpoints], services: &[&Service]) -> Vec<(String, String, String)> {
    endpoints
        .iter()
        .filter(|e| e.labels().get(LABEL_SKIP_MIRROR).map(String::as_str) == Some("true"))
        .filter(|e| {
            !services
                .iter()
                .any(|s| s.namespace() == e.namespace() && s.name_any() == e.name_any() && managed(s))
        })
        .map(|e| {
            (
                e.namespace().unwrap_or_default(),
                e.name_any(),
                e.uid().unwrap_or_default(),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn svc() -> Service {
        serde_json::from_value(
            json!({"metadata": {"name": "web", "namespace": "n", "labels": {"app": "web"}},
            "spec": {"selector": {"app": "web"}, "ports": [{"name": "http", "port": 80}]}}),
        )
        .unwrap()
    }

    fn slice(name: &str, svc: &str, eps: serde_json::Value) -> EndpointSlice {
        serde_json::from_value(json!({"metadata": {"name": name, "namespace": "n",
            "labels": {"kubernetes.io/service-name": svc}},
            "addressType": "IPv4", "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
            "endpoints": eps}))
        .unwrap()
    }

    #[test]
    fn ready_not_ready_and_terminating() {
        let a = slice(
            "web-a",
            "web",
            json!([
            {"addresses": ["10.0.1.9"], "conditions": {"ready": true}, "nodeName": "node-1"},
            {"addresses": ["10.0.1.3"], "conditions": {"ready": false}},
            {"addresses": ["10.0.1.4"], "conditions": {"ready": false, "terminating": true}}]),
        );
        let b = slice(
            "web-b",
            "web",
            json!([{"addresses": ["10.0.2.2"], "conditions": {}}]),
        );
        let other = slice("db-a", "db", json!([{"addresses": ["10.0.3.3"]}]));
        let e = desired(&svc(), &[&a, &b, &other]);
        let v = serde_json::to_value(&e).unwrap();
        assert_eq!(
            v["subsets"],
            json!([{"addresses": [{"ip": "10.0.1.9", "nodeName": "node-1"}, {"ip": "10.0.2.2"}],
                "notReadyAddresses": [{"ip": "10.0.1.3"}],
                "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}]}])
        );
        assert_eq!(
            v["metadata"]["labels"],
            json!({"app": "web", "endpointslice.kubernetes.io/skip-mirror": "true"})
        );
        // The same slices in another order give the same Endpoints.
        assert!(up_to_date(&desired(&svc(), &[&b, &other, &a]), &e));
        assert!(desired(&svc(), &[&other]).subsets.is_none());
    }

    #[test]
    fn only_our_endpoints_without_a_service_are_leftovers() {
        let ours: Endpoints =
            serde_json::from_value(json!({"metadata": {"name": "gone", "namespace": "n", "uid": "u1",
            "labels": {"endpointslice.kubernetes.io/skip-mirror": "true"}}}))
            .unwrap();
        let kept: Endpoints =
            serde_json::from_value(json!({"metadata": {"name": "web", "namespace": "n", "uid": "u2",
            "labels": {"endpointslice.kubernetes.io/skip-mirror": "true"}}}))
            .unwrap();
        let hand: Endpoints =
            serde_json::from_value(json!({"metadata": {"name": "manual", "namespace": "n"}})).unwrap();
        let s = svc();
        assert_eq!(
            leftovers(&[&ours, &kept, &hand], &[&s]),
            vec![("n".to_string(), "gone".to_string(), "u1".to_string())]
        );
    }
}
