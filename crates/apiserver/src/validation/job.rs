//! Rules of batch/v1 Jobs. On create the selector may be absent: the server
//! generates it from the Job's uid (see rest::workload_defaults).

use super::pod::{not_supported, pod_spec, selector_matches_template};
use crate::rest::status::FieldError;
use serde_json::{json, Value};

pub(super) fn validate(obj: &Value, errs: &mut Vec<FieldError>) {
    let manual = obj.pointer("/spec/manualSelector") == Some(&json!(true));
    if manual || obj.pointer("/spec/selector").is_some_and(|s| !s.is_null()) {
        selector_matches_template(obj, "job", errs);
    }
    for field in [
        "parallelism",
        "completions",
        "backoffLimit",
        "activeDeadlineSeconds",
    ] {
        if let Some(v) = obj
            .pointer(&format!("/spec/{field}"))
            .filter(|v| v.as_i64().is_some_and(|n| n < 0))
        {
            errs.push(FieldError::invalid(
                format!("spec.{field}"),
                v,
                "must be greater than or equal to 0",
            ));
        }
    }
    if let Some(spec) = obj.pointer("/spec/template/spec") {
        pod_spec(spec, "spec.template.spec", errs);
        // Validation runs before the pod defaults: absent means Always.
        let rp = spec
            .get("restartPolicy")
            .filter(|r| !r.is_null())
            .cloned()
            .unwrap_or(json!("Always"));
        if rp != "OnFailure" && rp != "Never" {
            errs.push(not_supported(
                "spec.template.spec.restartPolicy",
                &rp,
                &["OnFailure", "Never"],
            ));
        }
    } else {
        errs.push(FieldError::required("spec.template.spec.containers", ""));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(obj: &Value) -> Vec<String> {
        let mut e = Vec::new();
        validate(obj, &mut e);
        e.into_iter().map(|e| e.field).collect()
    }

    #[test]
    fn job_rules_with_field_paths() {
        let ok = json!({"metadata": {"name": "j"}, "spec": {"template": {"spec": {
            "restartPolicy": "Never", "containers": [{"name": "c", "image": "i"}]}}}});
        assert!(fields(&ok).is_empty());
        let bad = json!({"metadata": {"name": "j"}, "spec": {"completions": -1, "backoffLimit": -2,
            "template": {"spec": {"containers": [{"name": "c", "image": "i"}]}}}});
        assert_eq!(
            fields(&bad),
            vec![
                "spec.completions",
                "spec.backoffLimit",
                "spec.template.spec.restartPolicy"
            ]
        );
        let mut e = Vec::new();
        validate(&bad, &mut e);
        assert_eq!(
            e[2].message,
            r#"Unsupported value: "Always": supported values: "OnFailure", "Never""#
        );
    }
}
