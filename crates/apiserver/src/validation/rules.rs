//! Per-kind semantic rules, reported as 422 field errors.

use super::names;
use super::pod::{pod_spec, selector_matches_template};
use crate::rest::status::FieldError;
use serde_json::{json, Value};

/// All field errors of `obj` (a typed-decoded object of `kind`).
pub fn validate(kind: &str, obj: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let name = obj
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("");
    if name.is_empty() {
        errs.push(FieldError::required(
            "metadata.name",
            "name or generateName is required",
        ));
    } else {
        let problems = match kind {
            "Namespace" => names::label(name),
            "Service" => names::dns1035(name),
            "Role" | "ClusterRole" | "RoleBinding" | "ClusterRoleBinding" => names::path_segment(name),
            _ => names::subdomain(name),
        };
        for p in problems {
            errs.push(FieldError::invalid("metadata.name", &json!(name), &p));
        }
    }
    match kind {
        "Service" => super::service::validate(obj, &mut errs),
        "Deployment" | "ReplicaSet" => {
            if let Some(r) = obj
                .pointer("/spec/replicas")
                .filter(|r| r.as_i64().is_some_and(|n| n < 0))
            {
                errs.push(FieldError::invalid(
                    "spec.replicas",
                    r,
                    "must be greater than or equal to 0",
                ));
            }
            selector_matches_template(obj, "deployment", &mut errs);
            if let Some(spec) = obj.pointer("/spec/template/spec") {
                pod_spec(spec, "spec.template.spec", &mut errs);
            }
        }
        "Pod" => pod_spec(obj.get("spec").unwrap_or(&json!({})), "spec", &mut errs),
        "ConfigMap" | "Secret" => data_size(obj, &mut errs),
        "NetworkPolicy" => super::networkpolicy::validate(obj, &mut errs),
        "Endpoints" => super::endpoints::validate(obj, &mut errs),
        "EndpointSlice" => super::endpointslice::validate(obj, &mut errs),
        "DaemonSet" => super::workloads::daemonset(obj, &mut errs),
        "Job" => super::job::validate(obj, &mut errs),
        "Role" | "ClusterRole" => super::rbac::role(obj, kind == "Role", &mut errs),
        "RoleBinding" | "ClusterRoleBinding" => super::rbac::binding(obj, kind == "RoleBinding", &mut errs),
        _ => {}
    }
    errs
}

/// The real server's bound on a ConfigMap's or Secret's payload (keys and
/// values together), below the store's limit on a whole object.
const MAX_DATA_BYTES: usize = 1024 * 1024;

fn data_size(obj: &Value, errs: &mut Vec<FieldError>) {
    let mut total = 0;
    for field in ["data", "binaryData", "stringData"] {
        for (k, v) in obj.get(field).and_then(Value::as_object).into_iter().flatten() {
            total += k.len() + v.as_str().map_or(0, str::len);
        }
    }
    if total > MAX_DATA_BYTES {
        errs.push(FieldError::too_long("data", MAX_DATA_BYTES));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn service_ports() {
        let s = json!({"metadata":{"name":"s"},"spec":{"ports":[
            {"name":"a","port":70000},{"name":"a","port":80}]}});
        let e = validate("Service", &s);
        let fields: Vec<&str> = e.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, vec!["spec.ports[0].port", "spec.ports[1].name"]);
        assert_eq!(
            e[0].message,
            "Invalid value: 70000: must be between 1 and 65535, inclusive"
        );
    }
    #[test]
    fn deployment_selector() {
        let d = json!({"metadata":{"name":"d"},"spec":{"selector":{"matchLabels":{"app":"x"}},
            "template":{"metadata":{"labels":{"app":"y"}},"spec":{"containers":[{"name":"c","image":"i"}]}}}});
        let e = validate("Deployment", &d);
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].field, "spec.template.metadata.labels");
        assert!(e[0].message.contains("map[string]string{\"app\":\"y\"}"));
    }
}
