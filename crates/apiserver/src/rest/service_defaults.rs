//! What the real server fills in or clears on a Service before validating
//! it: the defaults (SetDefaults_Service), and on update the allocated
//! values a client left out (patchAllocatedValues) and the ones its new
//! type no longer needs (dropTypeDependentFields).

use super::status::{ApiError, ApiResult, FieldError};
use crate::resources::ResourceDef;
use crate::service_type::{self as ty, EXTERNAL_NAME, LOAD_BALANCER};
use serde_json::{json, Value};
use std::collections::{HashMap, HashSet};

/// The real server's default ClientIP affinity timeout (three hours).
pub const DEFAULT_AFFINITY_SECONDS: i64 = 10800;

fn unset(spec: &Value, k: &str) -> bool {
    spec.get(k).is_none_or(|v| v.is_null() || v == "")
}

pub fn defaults(spec: &mut Value) {
    if unset(spec, "type") {
        spec["type"] = json!(ty::CLUSTER_IP);
    }
    if unset(spec, "sessionAffinity") {
        spec["sessionAffinity"] = json!("None");
    }
    // As the real server's defaulting: turning affinity off drops its
    // config (the e2e test switches affinity off by setting None alone).
    if spec["sessionAffinity"] == "None" {
        if let Some(m) = spec.as_object_mut() {
            m.remove("sessionAffinityConfig");
        }
    }
    if spec["sessionAffinity"] == "ClientIP"
        && spec
            .pointer("/sessionAffinityConfig/clientIP/timeoutSeconds")
            .is_none_or(Value::is_null)
    {
        spec["sessionAffinityConfig"] = json!({"clientIP": {"timeoutSeconds": DEFAULT_AFFINITY_SECONDS}});
    }
    if let Some(Value::Array(ports)) = spec.get_mut("ports") {
        for p in ports {
            if p.get("protocol").is_none_or(Value::is_null) {
                p["protocol"] = json!("TCP");
            }
            if p.get("targetPort").is_none_or(Value::is_null) {
                p["targetPort"] = p["port"].clone();
            }
        }
    }
    if ty::externally_accessible(spec) && unset(spec, "externalTrafficPolicy") {
        spec["externalTrafficPolicy"] = json!("Cluster");
    }
    if ty::of(spec) != EXTERNAL_NAME && unset(spec, "internalTrafficPolicy") {
        spec["internalTrafficPolicy"] = json!("Cluster");
    }
    if ty::of(spec) == LOAD_BALANCER && unset(spec, "allocateLoadBalancerNodePorts") {
        spec["allocateLoadBalancerNodePorts"] = json!(true);
    }
}

const CLUSTER_IP_FIELDS: [&str; 4] = ["clusterIP", "clusterIPs", "ipFamilies", "ipFamilyPolicy"];

fn remove(spec: &mut Value, k: &str) {
    if let Some(m) = spec.as_object_mut() {
        m.remove(k);
    }
}

/// Before defaults and validation of an update: carry what the server
/// allocated and the client did not restate, drop what the new type does
/// not use when the client left it as it was, and refuse a changed
/// ClusterIP.
pub fn prepare_update(res: &ResourceDef, name: &str, cur: &Value, new: &mut Value) -> ApiResult<()> {
    let old = cur.get("spec").cloned().unwrap_or(json!({}));
    if !new["spec"].is_object() {
        new["spec"] = json!({});
    }
    let spec = &mut new["spec"];
    if !ty::needs_cluster_ip(spec) {
        // Going to ExternalName: the address goes (released on commit)
        // unless the client set a different one, which validation refuses.
        if ty::needs_cluster_ip(&old) && (unset(spec, "clusterIP") || spec["clusterIP"] == old["clusterIP"]) {
            for k in CLUSTER_IP_FIELDS.iter().chain(&["internalTrafficPolicy"]) {
                remove(spec, k);
            }
        }
    } else if ty::needs_cluster_ip(&old) {
        for k in CLUSTER_IP_FIELDS {
            if unset(spec, k) {
                if let Some(v) = old.get(k) {
                    spec[k] = v.clone();
                }
            } else if k == "clusterIP" && spec[k] != old[k] {
                return Err(ApiError::invalid(
                    res,
                    name,
                    &[FieldError::invalid(
                        "spec.clusterIPs[0]",
                        &spec[k],
                        "field is immutable",
                    )],
                ));
            }
        }
    }
    node_ports(&old, spec);
    if ty::needs_health_check(&old) {
        let same = ty::health_check_node_port(spec) == 0
            || ty::health_check_node_port(spec) == ty::health_check_node_port(&old);
        if ty::needs_health_check(spec) && ty::health_check_node_port(spec) == 0 {
            spec["healthCheckNodePort"] = old["healthCheckNodePort"].clone();
        } else if !ty::needs_health_check(spec) && same {
            remove(spec, "healthCheckNodePort");
        }
    }
    if ty::externally_accessible(&old)
        && !ty::externally_accessible(spec)
        && (unset(spec, "externalTrafficPolicy")
            || spec["externalTrafficPolicy"] == old["externalTrafficPolicy"])
    {
        remove(spec, "externalTrafficPolicy");
    }
    if ty::of(&old) == LOAD_BALANCER
        && ty::of(spec) != LOAD_BALANCER
        && spec.get("allocateLoadBalancerNodePorts") == old.get("allocateLoadBalancerNodePorts")
    {
        remove(spec, "allocateLoadBalancerNodePorts");
    }
    Ok(())
}

/// nodePorts across an update: a port the client sent without one keeps
/// the one its namesake had (unless another port now uses it); when the
/// type stops needing them and the client left them as they were, they go.
fn node_ports(old: &Value, spec: &mut Value) {
    if !ty::needs_node_ports(old) {
        return;
    }
    let old_ports: HashSet<i64> = ty::node_ports(old).into_iter().filter(|p| *p != 0).collect();
    let new_ports: HashSet<i64> = ty::node_ports(spec).into_iter().filter(|p| *p != 0).collect();
    let keep = ty::needs_node_ports(spec);
    let Some(ports) = spec.get_mut("ports").and_then(Value::as_array_mut) else {
        return;
    };
    if keep {
        // Ports present in both cannot be handed to another port.
        let taken: HashSet<i64> = old_ports.intersection(&new_ports).copied().collect();
        let by_name: HashMap<&str, i64> = old
            .get("ports")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|p| {
                (
                    p["name"].as_str().unwrap_or(""),
                    p["nodePort"].as_i64().unwrap_or(0),
                )
            })
            .collect();
        for p in ports.iter_mut() {
            if p["nodePort"].as_i64().unwrap_or(0) == 0 {
                let name = p["name"].as_str().unwrap_or("").to_string();
                match by_name.get(name.as_str()) {
                    Some(&v) if v != 0 && !taken.contains(&v) => p["nodePort"] = json!(v),
                    _ => {}
                }
            }
        }
    } else if old_ports == new_ports {
        for p in ports.iter_mut() {
            if let Some(m) = p.as_object_mut() {
                m.remove("nodePort");
            }
        }
    }
}
