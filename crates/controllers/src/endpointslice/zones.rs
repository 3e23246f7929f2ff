//! Endpoint zones and trafficDistribution hints, as the EndpointSlice
//! controller of Kubernetes 1.31+ sets them: every endpoint carries its
//! node's `topology.kubernetes.io/zone`; for a Service with
//! `trafficDistribution: PreferClose` (or its newer name PreferSameZone)
//! each ready endpoint with a zone is hinted for that zone alone. A zone
//! with no endpoints gets no hints: its nodes' proxies find none for their
//! zone and fall back to all endpoints.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Node, Service};
use k8s_openapi::api::discovery::v1::{EndpointHints, ForZone};
use labyrinth_contracts::topology::{PREFER_CLOSE, PREFER_SAME_ZONE, ZONE_LABEL};

use super::DesiredSlice;

/// Node name → zone, for the nodes that have one.
pub fn node_zones<'a>(nodes: impl IntoIterator<Item = &'a Node>) -> BTreeMap<String, String> {
    nodes
        .into_iter()
        .filter_map(|n| {
            let zone = n.metadata.labels.as_ref()?.get(ZONE_LABEL)?;
            Some((n.metadata.name.clone()?, zone.clone()))
        })
        .filter(|(_, z)| !z.is_empty())
        .collect()
}

fn prefers_zone(svc: &Service) -> bool {
    let td = svc.spec.as_ref().and_then(|s| s.traffic_distribution.as_deref());
    matches!(td, Some(PREFER_CLOSE | PREFER_SAME_ZONE))
}

/// Fill `zone` and, for PreferClose Services, `hints.forZones` in place.
pub fn apply(svc: &Service, slices: &mut [DesiredSlice], zones: &BTreeMap<String, String>) {
    let hinted = prefers_zone(svc);
    for ep in slices.iter_mut().flat_map(|s| s.endpoints.iter_mut()) {
        ep.zone = ep.node_name.as_ref().and_then(|n| zones.get(n)).cloned();
        let ready = ep.conditions.as_ref().and_then(|c| c.ready).unwrap_or(false);
        ep.hints = match (&ep.zone, hinted && ready) {
            (Some(zone), true) => Some(EndpointHints {
                for_zones: Some(vec![ForZone { name: zone.clone() }]),
                ..Default::default()
            }),
            _ => None,
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::discovery::v1::{Endpoint, EndpointConditions};
    use serde_json::json;

    fn node(name: &str, zone: Option<&str>) -> Node {
        let labels = zone.map(|z| json!({ ZONE_LABEL: z })).unwrap_or(json!({}));
        serde_json::from_value(json!({"metadata": {"name": name, "labels": labels}})).unwrap()
    }

    fn ep(node: &str, ready: bool) -> Endpoint {
        Endpoint {
            addresses: vec!["10.0.1.5".into()],
            node_name: Some(node.into()),
            conditions: Some(EndpointConditions {
                ready: Some(ready),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn svc(td: Option<&str>) -> Service {
        serde_json::from_value(json!({"metadata": {"name": "s"}, "spec": {"trafficDistribution": td}}))
            .unwrap()
    }

    fn run(td: Option<&str>) -> Vec<Endpoint> {
        let nodes = [
            node("n0", Some("zone-a")),
            node("n1", Some("zone-b")),
            node("n2", None),
        ];
        let zones = node_zones(&nodes);
        let mut slices = vec![DesiredSlice {
            ports: vec![],
            endpoints: vec![ep("n0", true), ep("n1", true), ep("n1", false), ep("n2", true)],
        }];
        apply(&svc(td), &mut slices, &zones);
        slices.remove(0).endpoints
    }

    fn hint(e: &Endpoint) -> Option<Vec<String>> {
        let z = e.hints.as_ref()?.for_zones.as_ref()?;
        Some(z.iter().map(|f| f.name.clone()).collect())
    }

    #[test]
    fn every_endpoint_gets_its_nodes_zone() {
        let eps = run(None);
        let zones: Vec<Option<&str>> = eps.iter().map(|e| e.zone.as_deref()).collect();
        assert_eq!(zones, [Some("zone-a"), Some("zone-b"), Some("zone-b"), None]);
        assert!(
            eps.iter().all(|e| e.hints.is_none()),
            "no hints without trafficDistribution"
        );
    }

    #[test]
    fn prefer_close_hints_ready_endpoints_for_their_own_zone() {
        for td in [PREFER_CLOSE, PREFER_SAME_ZONE] {
            let eps = run(Some(td));
            let hints: Vec<Option<Vec<String>>> = eps.iter().map(hint).collect();
            assert_eq!(
                hints,
                [
                    Some(vec!["zone-a".to_string()]),
                    Some(vec!["zone-b".to_string()]),
                    None,
                    None
                ],
                "{td}"
            );
        }
        // PreferSameNode's node hints are not built: only zones.
        assert!(run(Some("PreferSameNode")).iter().all(|e| e.hints.is_none()));
    }
}
