//! Topology-aware routing as kube-proxy does it (CategorizeEndpoints): a
//! node uses only the endpoints hinted for its zone when the hints can be
//! trusted: the node has a zone, every ready endpoint carries zone hints,
//! and at least one ready endpoint is hinted for this zone. Otherwise all
//! endpoints serve: a zone left without endpoints spills over to the others.

use crate::model::Endpoint;

/// An endpoint with the zones the EndpointSlice hints it for (None: no
/// hints at all).
#[derive(Clone, Debug)]
pub struct Hinted {
    pub endpoint: Endpoint,
    pub for_zones: Option<Vec<String>>,
}

/// The endpoints `zone`'s node balances over, and the zone when the hints
/// narrowed them (None: all endpoints, hints unused).
pub fn narrow(hinted: Vec<Hinted>, zone: Option<&str>) -> (Vec<Endpoint>, Option<String>) {
    let usable = zone.filter(|z| !z.is_empty()).filter(|zone| {
        let ready: Vec<&Hinted> = hinted.iter().filter(|h| h.endpoint.ready).collect();
        ready
            .iter()
            .all(|h| h.for_zones.as_ref().is_some_and(|z| !z.is_empty()))
            && ready.iter().any(|h| for_zone(h, zone))
    });
    match usable {
        Some(zone) => {
            let eps = hinted
                .into_iter()
                .filter(|h| for_zone(h, zone))
                .map(|h| h.endpoint)
                .collect();
            (eps, Some(zone.to_string()))
        }
        None => (hinted.into_iter().map(|h| h.endpoint).collect(), None),
    }
}

fn for_zone(h: &Hinted, zone: &str) -> bool {
    h.for_zones.iter().flatten().any(|z| z == zone)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn h(last: u8, ready: bool, zones: Option<&[&str]>) -> Hinted {
        let mut endpoint = Endpoint::new(Ipv4Addr::new(10, 0, 1, last), 80);
        endpoint.ready = ready;
        Hinted {
            endpoint,
            for_zones: zones.map(|z| z.iter().map(|s| s.to_string()).collect()),
        }
    }

    fn ips(eps: &[Endpoint]) -> Vec<u8> {
        eps.iter().map(|e| e.ip.octets()[3]).collect()
    }

    #[test]
    fn keeps_the_zones_endpoints_while_there_are_any() {
        let eps = vec![
            h(1, true, Some(&["a"])),
            h(2, true, Some(&["b"])),
            h(3, false, None),
        ];
        let (got, zone) = narrow(eps.clone(), Some("a"));
        assert_eq!((ips(&got), zone.as_deref()), (vec![1], Some("a")));
        let (got, zone) = narrow(eps, Some("b"));
        assert_eq!((ips(&got), zone.as_deref()), (vec![2], Some("b")));
    }

    #[test]
    fn falls_back_to_all_when_hints_cannot_be_trusted() {
        let both = || vec![h(1, true, Some(&["a"])), h(2, true, Some(&["b"]))];
        // A zone with no endpoint hinted for it spills over.
        assert_eq!(
            narrow(both(), Some("c")),
            (both().into_iter().map(|h| h.endpoint).collect(), None)
        );
        // A node without a zone, and a ready endpoint without hints.
        assert_eq!(narrow(both(), None).1, None);
        let mut mixed = both();
        mixed.push(h(3, true, None));
        let (got, zone) = narrow(mixed, Some("a"));
        assert_eq!((ips(&got), zone), (vec![1, 2, 3], None));
        // The zone's only endpoint is not ready: spill over too.
        let (got, zone) = narrow(
            vec![h(1, false, Some(&["a"])), h(2, true, Some(&["b"]))],
            Some("a"),
        );
        assert_eq!((ips(&got), zone), (vec![1, 2], None));
    }

    /// The hints are read from the EndpointSlice and the node's zone picks
    /// the endpoints, per node.
    #[test]
    fn the_model_follows_the_slices_hints_for_the_nodes_zone() {
        use crate::external::ThisNode;
        use crate::k8s::ServiceStore;
        use serde_json::json;
        let mut store = ServiceStore::default();
        store
            .apply_service(
                serde_json::from_value(json!({"metadata": {"name": "pc", "namespace": "d"},
                "spec": {"clusterIP": "10.96.0.20", "trafficDistribution": "PreferClose",
                         "ports": [{"port": 80}]}}))
                .unwrap(),
            )
            .unwrap();
        let ep = |ip: &str, zone: &str| {
            json!({"addresses": [ip], "zone": zone,
            "conditions": {"ready": true}, "hints": {"forZones": [{"name": zone}]}})
        };
        store
            .apply_slice(
                serde_json::from_value(json!({"addressType": "IPv4",
                "metadata": {"name": "pc-1", "namespace": "d", "labels": {"kubernetes.io/service-name": "pc"}},
                "ports": [{"name": "", "port": 8080, "protocol": "TCP"}],
                "endpoints": [ep("10.0.1.1", "zone-a"), ep("10.0.2.1", "zone-b")]}))
                .unwrap(),
            )
            .unwrap();
        let model = |zone: Option<&str>| {
            let node = ThisNode {
                name: "n".into(),
                ip: Ipv4Addr::new(10, 168, 0, 3),
                zone: zone.map(str::to_string),
            };
            let (m, _) = store.model_for(None, Some(node)).unwrap();
            let sp = m.services.values().next().unwrap().clone();
            (ips(&sp.endpoints), sp.topology_zone)
        };
        assert_eq!(model(Some("zone-b")), (vec![1], Some("zone-b".to_string())));
        assert_eq!(model(Some("zone-c")), (vec![1, 1], None));
        assert_eq!(model(None), (vec![1, 1], None));
    }
}
