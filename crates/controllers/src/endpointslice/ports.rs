//! Service port → pod port, as Kubernetes' FindPort does it: a numeric
//! targetPort is used as is; a named one is looked up among the pod's
//! container ports with the same name and protocol.

use k8s_openapi::api::core::v1::{Pod, ServicePort};
use k8s_openapi::api::discovery::v1::EndpointPort;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

fn protocol(p: &Option<String>) -> &str {
    p.as_deref().unwrap_or("TCP")
}

/// The pod's port for `sp`, or None when a named targetPort is not declared
/// by any of the pod's containers (that port is then left out for the pod).
pub fn resolve(sp: &ServicePort, pod: &Pod) -> Option<i32> {
    match &sp.target_port {
        None => Some(sp.port),
        Some(IntOrString::Int(n)) => Some(*n),
        Some(IntOrString::String(name)) => pod
            .spec
            .as_ref()?
            .containers
            .iter()
            .flat_map(|c| c.ports.iter().flatten())
            .find(|cp| {
                cp.name.as_deref() == Some(name.as_str()) && protocol(&cp.protocol) == protocol(&sp.protocol)
            })
            .map(|cp| cp.container_port),
    }
}

/// The EndpointSlice ports for one pod, in the Service's port order.
pub fn endpoint_ports(ports: &[ServicePort], pod: &Pod) -> Vec<EndpointPort> {
    ports
        .iter()
        .filter_map(|sp| {
            resolve(sp, pod).map(|port| EndpointPort {
                name: Some(sp.name.clone().unwrap_or_default()),
                port: Some(port),
                protocol: Some(protocol(&sp.protocol).to_string()),
                app_protocol: sp.app_protocol.clone(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod() -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": "p"},
            "spec": {"containers": [
                {"name": "a", "ports": [{"name": "http", "containerPort": 8080}]},
                {"name": "b", "ports": [{"name": "dns", "containerPort": 5353, "protocol": "UDP"},
                                        {"name": "metrics", "containerPort": 9100, "protocol": "TCP"}]}
            ]}
        }))
        .unwrap()
    }

    fn sp(v: serde_json::Value) -> ServicePort {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn numeric_named_and_default_target_ports() {
        let p = pod();
        assert_eq!(
            resolve(&sp(json!({"port": 80, "targetPort": 9999})), &p),
            Some(9999)
        );
        assert_eq!(resolve(&sp(json!({"port": 80})), &p), Some(80));
        assert_eq!(
            resolve(&sp(json!({"port": 80, "targetPort": "http"})), &p),
            Some(8080)
        );
        assert_eq!(
            resolve(&sp(json!({"port": 9, "targetPort": "metrics"})), &p),
            Some(9100)
        );
        assert_eq!(
            resolve(
                &sp(json!({"port": 53, "protocol": "UDP", "targetPort": "dns"})),
                &p
            ),
            Some(5353)
        );
    }

    #[test]
    fn named_port_must_match_protocol_and_exist() {
        let p = pod();
        assert_eq!(resolve(&sp(json!({"port": 53, "targetPort": "dns"})), &p), None);
        assert_eq!(resolve(&sp(json!({"port": 1, "targetPort": "nope"})), &p), None);
    }

    #[test]
    fn endpoint_ports_skip_unresolved_and_keep_order() {
        let ports = vec![
            sp(json!({"name": "web", "port": 80, "targetPort": "http"})),
            sp(json!({"name": "gone", "port": 81, "targetPort": "nope"})),
            sp(json!({"port": 53, "protocol": "UDP", "targetPort": 5353, "appProtocol": "dns"})),
        ];
        let eps = endpoint_ports(&ports, &pod());
        assert_eq!(eps.len(), 2);
        assert_eq!(
            (eps[0].name.as_deref(), eps[0].port, eps[0].protocol.as_deref()),
            (Some("web"), Some(8080), Some("TCP"))
        );
        assert_eq!(
            (eps[1].name.as_deref(), eps[1].port, eps[1].protocol.as_deref()),
            (Some(""), Some(5353), Some("UDP"))
        );
        assert_eq!(eps[1].app_protocol.as_deref(), Some("dns"));
    }
}
