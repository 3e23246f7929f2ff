//! Rules several kinds share: a pod spec (alone or as a template), a
//! selector that must match its template's labels, and the wording of an
//! unsupported value.

use super::ports::{port_range, protocol};
use crate::rest::status::FieldError;
use serde_json::{json, Value};
use std::collections::HashSet;

/// `Unsupported value` with the allowed values listed, as the real server says it.
pub(super) fn not_supported(field: &str, value: &Value, supported: &[&str]) -> FieldError {
    let list: Vec<String> = supported.iter().map(|s| format!("{s:?}")).collect();
    FieldError {
        reason: "FieldValueNotSupported",
        field: field.into(),
        message: format!(
            "Unsupported value: {value}: supported values: {}",
            list.join(", ")
        ),
    }
}

pub(super) fn pod_spec(spec: &Value, base: &str, errs: &mut Vec<FieldError>) {
    super::pod_volumes::volumes(spec, base, errs);
    super::init_containers::check(spec, base, errs);
    super::security_context::check_pod(spec, base, errs);
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
            super::security_context::check(c, &cb, spec, errs);
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
                protocol(p.get("protocol"), format!("{pb}.protocol"), errs);
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
pub(super) fn go_map(v: &Value) -> String {
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
