//! A container's `securityContext`: the combinations the real server
//! refuses, because no runtime can honour them (a privileged process, or
//! one given SYS_ADMIN, can always gain privileges, so
//! `allowPrivilegeEscalation: false` would be a promise not kept).

use crate::rest::status::FieldError;
use serde_json::Value;

/// Check container `c`'s securityContext; `cb` is the container's path.
pub(super) fn check(c: &Value, cb: &str, errs: &mut Vec<FieldError>) {
    let Some(sc) = c.get("securityContext").filter(|v| !v.is_null()) else {
        return;
    };
    if sc["allowPrivilegeEscalation"] != Value::Bool(false) {
        return;
    }
    let field = format!("{cb}.securityContext");
    if sc["privileged"] == Value::Bool(true) {
        errs.push(FieldError::invalid(
            field.clone(),
            sc,
            "cannot set `allowPrivilegeEscalation` to false and `privileged` to true",
        ));
    }
    let added = sc["capabilities"]["add"].as_array().into_iter().flatten();
    if added
        .filter_map(Value::as_str)
        .any(|c| c == "CAP_SYS_ADMIN" || c == "SYS_ADMIN")
    {
        errs.push(FieldError::invalid(
            field,
            sc,
            "cannot set `allowPrivilegeEscalation` to false and `capabilities.Add` CAP_SYS_ADMIN",
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn errors(sc: Value) -> Vec<String> {
        let mut errs = Vec::new();
        check(
            &json!({"name": "c", "securityContext": sc}),
            "spec.containers[0]",
            &mut errs,
        );
        errs.iter()
            .map(|e| format!("{}: {}", e.field, e.message))
            .collect()
    }

    #[test]
    fn no_escalation_cannot_go_with_privileged_or_sys_admin() {
        let e = errors(json!({"allowPrivilegeEscalation": false, "privileged": true}));
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(
            e[0].starts_with("spec.containers[0].securityContext: Invalid value: "),
            "{e:?}"
        );
        assert!(
            e[0].ends_with("cannot set `allowPrivilegeEscalation` to false and `privileged` to true"),
            "{e:?}"
        );
        let e = errors(
            json!({"allowPrivilegeEscalation": false, "capabilities": {"add": ["NET_ADMIN", "SYS_ADMIN"]}}),
        );
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(e[0].ends_with("`capabilities.Add` CAP_SYS_ADMIN"), "{e:?}");
    }

    #[test]
    fn every_other_combination_passes() {
        for sc in [
            json!({"privileged": true}),
            json!({"allowPrivilegeEscalation": true, "privileged": true}),
            json!({"capabilities": {"add": ["SYS_ADMIN"]}}),
            json!({"allowPrivilegeEscalation": false, "capabilities": {"add": ["NET_BIND_SERVICE"], "drop": ["ALL"]}}),
            Value::Null,
        ] {
            assert_eq!(errors(sc.clone()), Vec::<String>::new(), "{sc}");
        }
    }
}
