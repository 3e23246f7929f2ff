//! A Service's rules as the real server's ValidateService has them: ports,
//! type, ExternalName, traffic policies, session affinity, source ranges and
//! external addresses. Whether a nodePort is in the node port range and free
//! is the allocator's question, asked after these (rest::service_alloc).

use super::names;
use super::ports::{port_name, port_range, protocol};
use crate::rest::status::FieldError;
use crate::service_type::{self as ty, EXTERNAL_NAME, LOAD_BALANCER, POLICIES, TYPES};
use serde_json::{json, Value};
use std::collections::HashSet;
use std::net::IpAddr;

/// The real server's bound on sessionAffinityConfig.clientIP.timeoutSeconds.
const MAX_AFFINITY_SECONDS: i64 = 86400;

pub(super) fn validate(obj: &Value, errs: &mut Vec<FieldError>) {
    let spec = obj.get("spec").cloned().unwrap_or(json!({}));
    let t = ty::of(&spec).to_string();
    if !TYPES.contains(&t.as_str()) {
        errs.push(FieldError::not_supported("spec.type", &json!(t), &TYPES));
        return;
    }
    ports(&spec, &t, errs);
    if t == EXTERNAL_NAME {
        external_name(&spec, errs);
    }
    traffic_policies(&spec, errs);
    session_affinity(&spec, errs);
    addresses(&spec, &t, errs);
}

fn ports(spec: &Value, t: &str, errs: &mut Vec<FieldError>) {
    let ports = spec
        .get("ports")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut seen = HashSet::new();
    let mut pairs = HashSet::new();
    let mut node_ports = HashSet::new();
    for (i, p) in ports.iter().enumerate() {
        let base = format!("spec.ports[{i}]");
        // (port, protocol) must be unique; the real message prints the key
        // as Go's %#v of a ServicePort holding only those two.
        let proto = p["protocol"].as_str().unwrap_or("TCP");
        if let Some(port) = p["port"].as_i64() {
            if !pairs.insert((port, proto.to_string())) {
                errs.push(FieldError {
                    reason: "FieldValueDuplicate",
                    field: base.clone(),
                    message: format!(
                        "Duplicate value: core.ServicePort{{Name:\"\", Protocol:{proto:?}, AppProtocol:(*string)(nil), Port:{port}, TargetPort:intstr.IntOrString{{Type:0, IntVal:0, StrVal:\"\"}}, NodePort:0}}"
                    ),
                });
            }
        }
        port_range(&p["port"], format!("{base}.port"), errs);
        protocol(p.get("protocol"), format!("{base}.protocol"), errs);
        if let Some(tp) = p.get("targetPort") {
            if tp.is_i64() {
                port_range(tp, format!("{base}.targetPort"), errs);
            }
        }
        let np = p["nodePort"].as_i64().unwrap_or(0);
        if np != 0 {
            let field = format!("{base}.nodePort");
            if t == ty::CLUSTER_IP {
                errs.push(FieldError::forbidden(
                    field,
                    "may not be used when `type` is 'ClusterIP'",
                ));
            } else {
                port_range(&p["nodePort"], field.clone(), errs);
                if !node_ports.insert((np, proto.to_string())) {
                    errs.push(FieldError::duplicate(field, &json!(np)));
                }
            }
        }
        let name = p["name"].as_str().unwrap_or("");
        if ports.len() > 1 && name.is_empty() {
            errs.push(FieldError::required(format!("{base}.name"), ""));
        }
        port_name(name, format!("{base}.name"), &mut seen, errs);
    }
}

/// An ExternalName Service is a DNS alias: a name to point at (a trailing
/// dot allowed, as in a zone file) and no cluster address.
fn external_name(spec: &Value, errs: &mut Vec<FieldError>) {
    let ip_set = |k: &str| {
        spec.get(k).is_some_and(|v| {
            v.as_str().is_some_and(|s| !s.is_empty()) || v.as_array().is_some_and(|a| !a.is_empty())
        })
    };
    if ip_set("clusterIP") || ip_set("clusterIPs") {
        errs.push(FieldError::forbidden(
            "spec.clusterIPs",
            "may not be set for ExternalName services",
        ));
    }
    let raw = spec.get("externalName").and_then(Value::as_str).unwrap_or("");
    let cname = raw.strip_suffix('.').unwrap_or(raw);
    if cname.is_empty() {
        errs.push(FieldError::required("spec.externalName", ""));
        return;
    }
    for m in names::subdomain(cname) {
        errs.push(FieldError::invalid("spec.externalName", &json!(cname), &m));
    }
}

fn traffic_policies(spec: &Value, errs: &mut Vec<FieldError>) {
    if let Some(etp) = spec
        .get("externalTrafficPolicy")
        .filter(|v| !v.is_null() && *v != "")
    {
        if !ty::externally_accessible(spec) {
            errs.push(FieldError::invalid(
                "spec.externalTrafficPolicy",
                etp,
                "may only be set for externally-accessible services",
            ));
        } else if !etp.as_str().is_some_and(|s| POLICIES.contains(&s)) {
            errs.push(FieldError::not_supported(
                "spec.externalTrafficPolicy",
                etp,
                &POLICIES,
            ));
        }
    }
    let hc = ty::health_check_node_port(spec);
    if hc != 0 && !ty::needs_health_check(spec) {
        errs.push(FieldError::invalid(
            "spec.healthCheckNodePort",
            &json!(hc),
            "may only be set when `type` is 'LoadBalancer' and `externalTrafficPolicy` is 'Local'",
        ));
    } else if hc != 0 {
        port_range(&json!(hc), "spec.healthCheckNodePort".into(), errs);
    }
    if let Some(itp) = spec.get("internalTrafficPolicy").filter(|v| !v.is_null()) {
        if !itp.as_str().is_some_and(|s| POLICIES.contains(&s)) {
            errs.push(FieldError::not_supported(
                "spec.internalTrafficPolicy",
                itp,
                &POLICIES,
            ));
        }
    }
}

fn session_affinity(spec: &Value, errs: &mut Vec<FieldError>) {
    let affinity = spec
        .get("sessionAffinity")
        .and_then(Value::as_str)
        .unwrap_or("None");
    let config = spec.get("sessionAffinityConfig").filter(|v| !v.is_null());
    match affinity {
        "None" => {
            if let Some(c) = config {
                errs.push(FieldError::invalid(
                    "spec.sessionAffinityConfig",
                    c,
                    "must not be set when session affinity is None",
                ));
            }
        }
        "ClientIP" => {
            // Defaulting fills the timeout; a config without it is a
            // client's explicit null, as the real server reports it.
            let t = config.and_then(|c| c.pointer("/clientIP/timeoutSeconds"));
            if let Some(t) = t.filter(|t| !t.is_null()) {
                if !t
                    .as_i64()
                    .is_some_and(|s| (1..=MAX_AFFINITY_SECONDS).contains(&s))
                {
                    errs.push(FieldError::invalid(
                        "spec.sessionAffinityConfig.clientIP.timeoutSeconds",
                        t,
                        &format!("must be greater than 0 and less than {MAX_AFFINITY_SECONDS}"),
                    ));
                }
            }
        }
        other => errs.push(FieldError::not_supported(
            "spec.sessionAffinity",
            &json!(other),
            &["ClientIP", "None"],
        )),
    }
}

/// loadBalancerSourceRanges (the real field path keeps its historical
/// capital L), loadBalancerIP and externalIPs.
fn addresses(spec: &Value, t: &str, errs: &mut Vec<FieldError>) {
    let ranges = spec
        .get("loadBalancerSourceRanges")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if !ranges.is_empty() && t != LOAD_BALANCER {
        errs.push(FieldError::forbidden(
            "spec.LoadBalancerSourceRanges",
            "may only be used when `type` is 'LoadBalancer'",
        ));
    }
    for (i, r) in ranges.iter().enumerate() {
        // Space-padding is allowed, a leftover of the annotation days.
        let v = r.as_str().unwrap_or("").trim();
        if v.parse::<ipnet::IpNet>().is_err() {
            errs.push(FieldError::invalid(
                format!("spec.LoadBalancerSourceRanges[{i}]"),
                &json!(v),
                "must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)",
            ));
        }
    }
    if let Some(ip) = spec
        .get("loadBalancerIP")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
    {
        if t != LOAD_BALANCER {
            errs.push(FieldError::forbidden(
                "spec.loadBalancerIP",
                "may only be used when `type` is 'LoadBalancer'",
            ));
        } else if ip.parse::<IpAddr>().is_err() {
            errs.push(FieldError::invalid(
                "spec.loadBalancerIP",
                &json!(ip),
                "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)",
            ));
        }
    }
    for (i, ip) in spec
        .get("externalIPs")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        if ip.as_str().and_then(|s| s.parse::<IpAddr>().ok()).is_none() {
            errs.push(FieldError::invalid(
                format!("spec.externalIPs[{i}]"),
                ip,
                "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)",
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    fn fields(spec: Value) -> Vec<(String, String)> {
        let mut errs = Vec::new();
        validate(&json!({"metadata": {"name": "s"}, "spec": spec}), &mut errs);
        errs.into_iter().map(|e| (e.field, e.message)).collect()
    }
    #[test]
    fn a_port_protocol_is_one_the_api_knows() {
        let ports = |proto: &str| json!({"ports": [{"port": 80, "protocol": proto}]});
        assert_eq!(
            fields(ports("SCTPX")),
            [(
                "spec.ports[0].protocol".into(),
                "Unsupported value: \"SCTPX\": supported values: \"SCTP\", \"TCP\", \"UDP\"".into()
            )]
        );
        for ok in ["TCP", "UDP", "SCTP"] {
            assert!(fields(ports(ok)).is_empty(), "{ok}");
        }
        assert!(
            fields(json!({"ports": [{"port": 80}]})).is_empty(),
            "absent is TCP"
        );
    }

    #[test]
    fn the_real_servers_field_errors() {
        assert_eq!(
            fields(json!({"type": "ClusterIP", "ports": [{"port": 80, "nodePort": 30001}]})),
            [(
                "spec.ports[0].nodePort".into(),
                "Forbidden: may not be used when `type` is 'ClusterIP'".into()
            )]
        );
        assert_eq!(
            fields(json!({"type": "Foo"})),
            [("spec.type".into(), "Unsupported value: \"Foo\": supported values: \"ClusterIP\", \"ExternalName\", \"LoadBalancer\", \"NodePort\"".into())]
        );
        assert_eq!(
            fields(
                json!({"sessionAffinity": "ClientIP", "sessionAffinityConfig": {"clientIP": {"timeoutSeconds": 86401}}})
            ),
            [(
                "spec.sessionAffinityConfig.clientIP.timeoutSeconds".into(),
                "Invalid value: 86401: must be greater than 0 and less than 86400".into()
            )]
        );
        assert!(fields(json!({"sessionAffinity": "ClientIP", "sessionAffinityConfig": {"clientIP": {"timeoutSeconds": 86400}}})).is_empty());
        assert_eq!(
            fields(json!({"type": "LoadBalancer", "loadBalancerSourceRanges": ["10.0.0.0/8", "nope"]})),
            [(
                "spec.LoadBalancerSourceRanges[1]".into(),
                "Invalid value: \"nope\": must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)"
                    .into()
            )]
        );
        assert_eq!(
            fields(json!({"type": "ExternalName", "clusterIP": "10.96.0.5"})),
            [
                (
                    "spec.clusterIPs".into(),
                    "Forbidden: may not be set for ExternalName services".into()
                ),
                ("spec.externalName".into(), "Required value".into())
            ]
        );
        assert!(fields(json!({"type": "ExternalName", "externalName": "example.com."})).is_empty());
        assert_eq!(
            fields(json!({"type": "ClusterIP", "externalTrafficPolicy": "Local"})),
            [(
                "spec.externalTrafficPolicy".into(),
                "Invalid value: \"Local\": may only be set for externally-accessible services".into()
            )]
        );
        assert_eq!(
            fields(json!({"type": "NodePort", "externalTrafficPolicy": "Nearby"})),
            [(
                "spec.externalTrafficPolicy".into(),
                "Unsupported value: \"Nearby\": supported values: \"Cluster\", \"Local\"".into()
            )]
        );
        assert_eq!(
            fields(
                json!({"type": "NodePort", "ports": [{"name": "a", "port": 80, "nodePort": 30001}, {"name": "b", "port": 81, "nodePort": 30001}]})
            ),
            [("spec.ports[1].nodePort".into(), "Duplicate value: 30001".into())]
        );
    }
}
