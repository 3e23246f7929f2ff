//! Rules of a pod spec's `initContainers` as the real server has them: a
//! name no container of the pod has, and no lifecycle hooks or probes (an
//! init container runs to completion, so nothing waits for it to be
//! ready). Native sidecars (`restartPolicy: Always` on an init container)
//! are refused: the node agents here do not run them, and a pod accepted
//! only to wait forever would hide that.

use crate::rest::status::FieldError;
use serde_json::{json, Value};

pub(super) fn check(spec: &Value, base: &str, errs: &mut Vec<FieldError>) {
    let Some(inits) = spec.get("initContainers").and_then(Value::as_array) else {
        return;
    };
    let apps: Vec<&str> = spec
        .get("containers")
        .and_then(Value::as_array)
        .map(|cs| cs.iter().filter_map(|c| c["name"].as_str()).collect())
        .unwrap_or_default();
    for (i, c) in inits.iter().enumerate() {
        let cb = format!("{base}.initContainers[{i}]");
        if let Some(n) = c["name"].as_str().filter(|n| apps.contains(n)) {
            errs.push(FieldError::duplicate(format!("{cb}.name"), &json!(n)));
        }
        if c.get("restartPolicy").is_some_and(|p| !p.is_null()) {
            errs.push(FieldError::forbidden(
                format!("{cb}.restartPolicy"),
                "native sidecar containers (an init container with a restartPolicy) are not run by this cluster's node agents; use a container of the pod",
            ));
        }
        for field in ["lifecycle", "livenessProbe", "readinessProbe", "startupProbe"] {
            if c.get(field).is_some_and(|v| !v.is_null()) {
                errs.push(FieldError::forbidden(
                    format!("{cb}.{field}"),
                    "may not be set for init containers without restartPolicy=Always",
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_apart_from_the_containers_no_sidecars_no_probes() {
        let spec = json!({
            "containers": [{"name": "app"}],
            "initContainers": [
                {"name": "app"},
                {"name": "side", "restartPolicy": "Always"},
                {"name": "probed", "readinessProbe": {"exec": {"command": ["true"]}}},
                {"name": "fine"}
            ]
        });
        let mut errs = Vec::new();
        check(&spec, "spec", &mut errs);
        let got: Vec<(&str, &str)> = errs.iter().map(|e| (e.field.as_str(), e.reason)).collect();
        assert_eq!(
            got,
            [
                ("spec.initContainers[0].name", "FieldValueDuplicate"),
                ("spec.initContainers[1].restartPolicy", "FieldValueForbidden"),
                ("spec.initContainers[2].readinessProbe", "FieldValueForbidden"),
            ]
        );
        assert!(errs[1].message.contains("native sidecar"), "{}", errs[1].message);
    }
}
