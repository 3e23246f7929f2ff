//! Rules of the workload kinds that run pods for a controller other than a
//! ReplicaSet: DaemonSet (apps/v1).

use super::pod::{not_supported, pod_spec, selector_matches_template};
use crate::rest::status::FieldError;
use serde_json::{json, Value};

pub(super) fn daemonset(obj: &Value, errs: &mut Vec<FieldError>) {
    selector_matches_template(obj, "daemonset", errs);
    if let Some(spec) = obj.pointer("/spec/template/spec") {
        pod_spec(spec, "spec.template.spec", errs);
        // A daemon pod is replaced in place on its node: only Always fits.
        if let Some(rp) = spec.get("restartPolicy").filter(|r| *r != "Always") {
            errs.push(not_supported("spec.template.spec.restartPolicy", rp, &["Always"]));
        }
    }
    let strategy = obj.pointer("/spec/updateStrategy");
    let kind = strategy
        .and_then(|s| s.get("type"))
        .cloned()
        .unwrap_or(json!("RollingUpdate"));
    if kind != "RollingUpdate" && kind != "OnDelete" {
        errs.push(not_supported(
            "spec.updateStrategy.type",
            &kind,
            &["OnDelete", "RollingUpdate"],
        ));
    }
    let ru = strategy.and_then(|s| s.get("rollingUpdate"));
    let base = "spec.updateStrategy.rollingUpdate";
    let unavailable = ru.and_then(|r| r.get("maxUnavailable"));
    let surge = ru.and_then(|r| r.get("maxSurge"));
    for (name, v) in [("maxUnavailable", unavailable), ("maxSurge", surge)] {
        if let Some(v) = v {
            int_or_percent(&format!("{base}.{name}"), v, errs);
        }
    }
    let zero = |v: Option<&Value>| v.is_some_and(|v| v == 0 || v == "0%");
    if zero(unavailable) && surge.is_none_or(|s| zero(Some(s))) {
        errs.push(FieldError::invalid(
            format!("{base}.maxUnavailable"),
            unavailable.unwrap_or(&json!(0)),
            "may not be 0 when `maxSurge` is 0",
        ));
    }
}

/// An IntOrString that is a non-negative integer or a percentage up to 100%.
fn int_or_percent(field: &str, v: &Value, errs: &mut Vec<FieldError>) {
    match v {
        Value::Number(n) if n.as_i64().is_some_and(|n| n < 0) => {
            errs.push(FieldError::invalid(field, v, "must be greater than or equal to 0"))
        }
        Value::String(s) => match s.strip_suffix('%').map(str::parse::<i64>) {
            Some(Ok(p)) if (0..=100).contains(&p) => {}
            Some(Ok(_)) => errs.push(FieldError::invalid(field, v, "must not be greater than 100%")),
            _ => errs.push(FieldError::invalid(
                field,
                v,
                "a valid percent string must be a numeric string followed by an ending '%' (e.g. '1%',  or '93%', regex used for validation is '[0-9]+%')",
            )),
        },
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ds(extra: Value) -> Value {
        let mut d = json!({"metadata":{"name":"d"},"spec":{"selector":{"matchLabels":{"app":"x"}},
            "template":{"metadata":{"labels":{"app":"x"}},"spec":{"containers":[{"name":"c","image":"i"}]}}}});
        json_patch(&mut d, extra);
        d
    }

    fn json_patch(base: &mut Value, extra: Value) {
        if let (Value::Object(b), Value::Object(e)) = (base, extra) {
            for (k, v) in e {
                match b.get_mut(&k) {
                    Some(slot) if slot.is_object() && v.is_object() => json_patch(slot, v),
                    _ => {
                        b.insert(k, v);
                    }
                }
            }
        }
    }

    fn fields(obj: &Value) -> Vec<String> {
        let mut e = Vec::new();
        daemonset(obj, &mut e);
        e.into_iter().map(|e| e.field).collect()
    }

    #[test]
    fn a_plain_daemonset_is_valid() {
        assert!(fields(&ds(json!({}))).is_empty());
    }

    #[test]
    fn field_paths_of_each_rule() {
        let bad = ds(json!({"spec": {
            "selector": {"matchLabels": {"app": "other"}},
            "template": {"spec": {"restartPolicy": "Never"}},
            "updateStrategy": {"type": "Sideways", "rollingUpdate": {"maxUnavailable": "120%", "maxSurge": -1}}
        }}));
        assert_eq!(
            fields(&bad),
            vec![
                "spec.template.metadata.labels",
                "spec.template.spec.restartPolicy",
                "spec.updateStrategy.type",
                "spec.updateStrategy.rollingUpdate.maxUnavailable",
                "spec.updateStrategy.rollingUpdate.maxSurge",
            ]
        );
        let zero = ds(json!({"spec": {"updateStrategy": {"rollingUpdate": {"maxUnavailable": 0}}}}));
        assert_eq!(
            fields(&zero),
            vec!["spec.updateStrategy.rollingUpdate.maxUnavailable"]
        );
    }
}
