//! Rules of the RBAC kinds: each policy rule names verbs and what they
//! apply to; bindings refer to a role of an allowed kind and name subjects
//! of a known kind.

use super::pod::not_supported;
use crate::rest::status::FieldError;
use serde_json::{json, Value};

fn empty(v: &Value, key: &str) -> bool {
    v.get(key).and_then(Value::as_array).is_none_or(Vec::is_empty)
}

pub(super) fn role(obj: &Value, namespaced: bool, errs: &mut Vec<FieldError>) {
    for (i, r) in obj["rules"].as_array().into_iter().flatten().enumerate() {
        let base = format!("rules[{i}]");
        if empty(r, "verbs") {
            errs.push(FieldError::required(
                format!("{base}.verbs"),
                "verbs must contain at least one value",
            ));
        }
        let urls = !empty(r, "nonResourceURLs");
        if urls && namespaced {
            errs.push(FieldError::invalid(
                format!("{base}.nonResourceURLs"),
                &r["nonResourceURLs"],
                "namespaced rules cannot apply to non-resource URLs",
            ));
        }
        if !urls && empty(r, "apiGroups") {
            errs.push(FieldError::required(
                format!("{base}.apiGroups"),
                "resource rules must supply at least one api group",
            ));
        }
        if !urls && empty(r, "resources") {
            errs.push(FieldError::required(
                format!("{base}.resources"),
                "resource rules must supply at least one resource",
            ));
        }
    }
}

pub(super) fn binding(obj: &Value, namespaced: bool, errs: &mut Vec<FieldError>) {
    let kinds: &[&str] = if namespaced {
        &["Role", "ClusterRole"]
    } else {
        &["ClusterRole"]
    };
    let kind = obj.pointer("/roleRef/kind").cloned().unwrap_or(json!(""));
    if !kinds.iter().any(|k| kind == *k) {
        errs.push(not_supported("roleRef.kind", &kind, kinds));
    }
    if obj
        .pointer("/roleRef/name")
        .and_then(Value::as_str)
        .is_none_or(str::is_empty)
    {
        errs.push(FieldError::required("roleRef.name", ""));
    }
    for (i, s) in obj["subjects"].as_array().into_iter().flatten().enumerate() {
        let base = format!("subjects[{i}]");
        if s["name"].as_str().is_none_or(str::is_empty) {
            errs.push(FieldError::required(format!("{base}.name"), ""));
        }
        match s["kind"].as_str().unwrap_or("") {
            "ServiceAccount" => {
                if !namespaced && s["namespace"].as_str().is_none_or(str::is_empty) {
                    errs.push(FieldError::required(format!("{base}.namespace"), ""));
                }
            }
            "User" | "Group" => {}
            _ => errs.push(not_supported(
                &format!("{base}.kind"),
                &s["kind"],
                &["ServiceAccount", "User", "Group"],
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rbac_field_paths() {
        let mut e = Vec::new();
        role(
            &json!({"rules": [{"verbs": ["get"], "apiGroups": [""], "resources": ["pods"]},
                {"verbs": [], "nonResourceURLs": ["/x"]}, {"verbs": ["get"]}]}),
            true,
            &mut e,
        );
        let f: Vec<&str> = e.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            f,
            [
                "rules[1].verbs",
                "rules[1].nonResourceURLs",
                "rules[2].apiGroups",
                "rules[2].resources"
            ]
        );
        let mut e = Vec::new();
        binding(
            &json!({"roleRef": {"kind": "Role", "name": ""}, "subjects": [{"kind": "ServiceAccount", "name": "a"}, {"kind": "Robot", "name": "r"}]}),
            false,
            &mut e,
        );
        let f: Vec<&str> = e.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            f,
            [
                "roleRef.kind",
                "roleRef.name",
                "subjects[0].namespace",
                "subjects[1].kind"
            ]
        );
    }
}
