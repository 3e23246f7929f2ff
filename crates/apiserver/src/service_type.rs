//! What a Service's type and traffic policy call for, read from its JSON
//! spec: the predicates the real server's validation, defaulting and
//! allocation share (its `needsClusterIP`, `needsNodePort`,
//! `ExternallyAccessible`, `NeedsHealthCheck`).

use serde_json::Value;

pub const CLUSTER_IP: &str = "ClusterIP";
pub const NODE_PORT: &str = "NodePort";
pub const LOAD_BALANCER: &str = "LoadBalancer";
pub const EXTERNAL_NAME: &str = "ExternalName";
pub const TYPES: [&str; 4] = [CLUSTER_IP, EXTERNAL_NAME, LOAD_BALANCER, NODE_PORT];

/// The traffic policies' two values (external and internal alike).
pub const POLICIES: [&str; 2] = ["Cluster", "Local"];

/// `spec.type`, ClusterIP when unset.
pub fn of(spec: &Value) -> &str {
    spec.get("type").and_then(Value::as_str).unwrap_or(CLUSTER_IP)
}

pub fn needs_cluster_ip(spec: &Value) -> bool {
    of(spec) != EXTERNAL_NAME
}

/// NodePort always; LoadBalancer unless allocateLoadBalancerNodePorts is false.
pub fn needs_node_ports(spec: &Value) -> bool {
    match of(spec) {
        NODE_PORT => true,
        LOAD_BALANCER => spec.get("allocateLoadBalancerNodePorts") != Some(&Value::Bool(false)),
        _ => false,
    }
}

/// Reachable from outside the cluster, so an externalTrafficPolicy applies.
pub fn externally_accessible(spec: &Value) -> bool {
    match of(spec) {
        NODE_PORT | LOAD_BALANCER => true,
        CLUSTER_IP => spec
            .get("externalIPs")
            .and_then(Value::as_array)
            .is_some_and(|a| !a.is_empty()),
        _ => false,
    }
}

/// A LoadBalancer with externalTrafficPolicy Local gets a health-check
/// node port the cloud's balancer probes.
pub fn needs_health_check(spec: &Value) -> bool {
    of(spec) == LOAD_BALANCER && spec.get("externalTrafficPolicy").and_then(Value::as_str) == Some("Local")
}

/// The nodePort of each port (0 when unset).
pub fn node_ports(spec: &Value) -> Vec<i64> {
    spec.get("ports")
        .and_then(Value::as_array)
        .map(|ps| ps.iter().map(|p| p["nodePort"].as_i64().unwrap_or(0)).collect())
        .unwrap_or_default()
}

pub fn health_check_node_port(spec: &Value) -> i64 {
    spec.get("healthCheckNodePort")
        .and_then(Value::as_i64)
        .unwrap_or(0)
}
