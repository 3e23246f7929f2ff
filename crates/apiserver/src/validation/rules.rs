//! Per-kind semantic rules, reported as 422 field errors.

use super::names;
use super::ports::port_range;
use crate::rest::status::FieldError;
use serde_json::{json, Value};
use std::collections::HashSet;

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
            _ => names::subdomain(name),
        };
        for p in problems {
            errs.push(FieldError::invalid("metadata.name", &json!(name), &p));
        }
    }
    match kind {
        "Service" => service(obj, &mut errs),
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
        "DaemonSet" => super::workloads::daemonset(obj, &mut errs),
        "Job" => super::job::validate(obj, &mut errs),
        "Role" | "ClusterRole" => super::rbac::role(obj, kind == "Role", &mut errs),
        "RoleBinding" | "ClusterRoleBinding" => super::rbac::binding(obj, kind == "RoleBinding", &mut errs),
        _ => {}
    }
    errs
}

fn service(obj: &Value, errs: &mut Vec<FieldError>) {
    let ports = obj
        .pointer("/spec/ports")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut seen = HashSet::new();
    let mut pairs = HashSet::new();
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
        if let Some(tp) = p.get("targetPort") {
            if tp.is_i64() {
                port_range(tp, format!("{base}.targetPort"), errs);
            }
        }
        let name = p["name"].as_str().unwrap_or("");
        if ports.len() > 1 && name.is_empty() {
            errs.push(FieldError::required(format!("{base}.name"), ""));
        }
        if !name.is_empty() {
            for m in names::label(name) {
                errs.push(FieldError::invalid(format!("{base}.name"), &json!(name), &m));
            }
            if !seen.insert(name.to_string()) {
                errs.push(FieldError::duplicate(format!("{base}.name"), &json!(name)));
            }
        }
    }
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

pub(super) fn pod_spec(spec: &Value, base: &str, errs: &mut Vec<FieldError>) {
    if spec
        .get("containers")
        .and_then(Value::as_array)
        .is_none_or(Vec::is_empty)
    {
        errs.push(FieldError::required(format!("{base}.containers"), ""));
    }
    for list in ["containers", "initContainers"] {
        let Some(cs) = spec.get(list).and_then(Value::as_array) else {
            continue;
        };
        let mut names_seen = HashSet::new();
        for (i, c) in cs.iter().enumerate() {
            let cb = format!("{base}.{list}[{i}]");
            if let Some(n) = c["name"].as_str() {
                if !names_seen.insert(n.to_string()) {
                    errs.push(FieldError::duplicate(format!("{cb}.name"), &json!(n)));
                }
            }
            let ports = c
                .get("ports")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            let mut pnames = HashSet::new();
            for (j, p) in ports.iter().enumerate() {
                let pb = format!("{cb}.ports[{j}]");
                port_range(&p["containerPort"], format!("{pb}.containerPort"), errs);
                if let Some(hp) = p.get("hostPort") {
                    if hp.as_i64() != Some(0) {
                        port_range(hp, format!("{pb}.hostPort"), errs);
                    }
                }
                if let Some(n) = p["name"].as_str() {
                    if !pnames.insert(n.to_string()) {
                        errs.push(FieldError::duplicate(format!("{pb}.name"), &json!(n)));
                    }
                }
            }
        }
    }
}

/// `what` names the kind in lower case, as the real message does.
pub(super) fn selector_matches_template(obj: &Value, what: &str, errs: &mut Vec<FieldError>) {
    let labels = obj
        .pointer("/spec/template/metadata/labels")
        .cloned()
        .unwrap_or(json!({}));
    let Some(sel) = obj.pointer("/spec/selector") else {
        errs.push(FieldError::required("spec.selector", ""));
        return;
    };
    let ml = sel.get("matchLabels").and_then(Value::as_object);
    let me = sel.get("matchExpressions").and_then(Value::as_array);
    if ml.is_none_or(|m| m.is_empty()) && me.is_none_or(|m| m.is_empty()) {
        errs.push(FieldError::invalid(
            "spec.selector",
            sel,
            &format!("empty selector is invalid for {what}"),
        ));
        return;
    }
    let mut ok = ml.is_none_or(|m| m.iter().all(|(k, v)| labels.get(k) == Some(v)));
    for e in me.into_iter().flatten() {
        let key = e["key"].as_str().unwrap_or("");
        let vals: Vec<&str> = e["values"]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let have = labels.get(key).and_then(Value::as_str);
        ok &= match e["operator"].as_str().unwrap_or("") {
            "In" => have.is_some_and(|h| vals.contains(&h)),
            "NotIn" => have.is_none_or(|h| !vals.contains(&h)),
            "Exists" => have.is_some(),
            "DoesNotExist" => have.is_none(),
            _ => false,
        };
    }
    if !ok {
        let shown = go_map(&labels);
        errs.push(FieldError {
            reason: "FieldValueInvalid",
            field: "spec.template.metadata.labels".into(),
            message: format!("Invalid value: {shown}: `selector` does not match template `labels`"),
        });
    }
}

/// Go's %#v of a map[string]string, as the real message prints it.
fn go_map(v: &Value) -> String {
    let mut parts: Vec<String> = v
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| format!("{:?}:{:?}", k, v.as_str().unwrap_or("")))
                .collect()
        })
        .unwrap_or_default();
    parts.sort();
    format!("map[string]string{{{}}}", parts.join(", "))
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
