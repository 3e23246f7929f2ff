//! Decode through the k8s-openapi type of the kind: wrong types and missing
//! required fields are refused, unknown fields are found by comparing the
//! input with its typed round trip.

use serde_json::Value;

macro_rules! roundtrip {
    ($t:ty, $v:expr) => {
        serde_json::from_value::<$t>($v.clone()).and_then(serde_json::to_value)
    };
}

/// `kind` is the kind's name, prefixed by its group where two groups serve
/// the same name ("events.k8s.io/Event").
/// The object as the typed model sees it (unknown fields dropped), or the
/// decoding error.
pub fn decode_typed(kind: &str, v: &Value) -> Result<Value, String> {
    use k8s_openapi::api::{
        apps::v1 as apps, coordination::v1 as coord, core::v1 as core, discovery::v1 as disc,
        events::v1 as events, networking::v1 as net,
    };
    let r = match kind {
        "Namespace" => roundtrip!(core::Namespace, v),
        "Node" => roundtrip!(core::Node, v),
        "Pod" => roundtrip!(core::Pod, v),
        "Service" => roundtrip!(core::Service, v),
        "ConfigMap" => roundtrip!(core::ConfigMap, v),
        "Secret" => roundtrip!(core::Secret, v),
        "Endpoints" => roundtrip!(core::Endpoints, v),
        "ServiceAccount" => roundtrip!(core::ServiceAccount, v),
        "Deployment" => roundtrip!(apps::Deployment, v),
        "ReplicaSet" => roundtrip!(apps::ReplicaSet, v),
        "DaemonSet" => roundtrip!(apps::DaemonSet, v),
        "Job" => roundtrip!(k8s_openapi::api::batch::v1::Job, v),
        "Role" => roundtrip!(k8s_openapi::api::rbac::v1::Role, v),
        "ClusterRole" => roundtrip!(k8s_openapi::api::rbac::v1::ClusterRole, v),
        "RoleBinding" => roundtrip!(k8s_openapi::api::rbac::v1::RoleBinding, v),
        "ClusterRoleBinding" => roundtrip!(k8s_openapi::api::rbac::v1::ClusterRoleBinding, v),
        "EndpointSlice" => roundtrip!(disc::EndpointSlice, v),
        "Lease" => roundtrip!(coord::Lease, v),
        "Event" => roundtrip!(core::Event, v),
        "events.k8s.io/Event" => roundtrip!(events::Event, v),
        "NetworkPolicy" => roundtrip!(net::NetworkPolicy, v),
        other => return Err(format!("no kind {other:?} is registered")),
    };
    r.map_err(|e| e.to_string())
}

/// Dotted paths present (non-null) in `input` but absent from `typed`.
pub fn unknown_fields(input: &Value, typed: &Value) -> Vec<String> {
    let mut out = Vec::new();
    walk(input, typed, "", &mut out);
    out
}

fn walk(input: &Value, typed: &Value, path: &str, out: &mut Vec<String>) {
    match (input, typed) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in a {
                if v.is_null() {
                    continue;
                }
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                match b.get(k) {
                    Some(tv) => walk(v, tv, &p, out),
                    None => out.push(p),
                }
            }
        }
        (Value::Array(a), Value::Array(b)) => {
            for (i, (x, y)) in a.iter().zip(b.iter()).enumerate() {
                walk(x, y, &format!("{path}[{i}]"), out);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    #[test]
    fn finds_unknown_fields() {
        let v = json!({"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},
            "spec":{"containers":[{"name":"c","image":"i","bogus":1}],"extra":true}});
        let t = decode_typed("Pod", &v).unwrap();
        let mut u = unknown_fields(&v, &t);
        u.sort();
        assert_eq!(u, vec!["spec.containers[0].bogus", "spec.extra"]);
        assert!(decode_typed("Pod", &json!({"spec": {"containers": 5}})).is_err());
    }
}
