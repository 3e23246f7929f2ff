//! A container's `securityContext`: the combinations the real server
//! refuses, because no runtime can honour them (a privileged process, or
//! one given SYS_ADMIN, can always gain privileges, so
//! `allowPrivilegeEscalation: false` would be a promise not kept), and a
//! `seccompProfile` (a container's or the pod's) that names no profile.

use crate::rest::status::FieldError;
use serde_json::Value;

/// Check container `c`'s securityContext; `cb` is the container's path.
pub(super) fn check(c: &Value, cb: &str, errs: &mut Vec<FieldError>) {
    let Some(sc) = c.get("securityContext").filter(|v| !v.is_null()) else {
        return;
    };
    seccomp(sc, &format!("{cb}.securityContext"), errs);
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

/// Check the pod's own securityContext (`base`: the pod spec's path).
pub(super) fn check_pod(spec: &Value, base: &str, errs: &mut Vec<FieldError>) {
    if let Some(sc) = spec.get("securityContext").filter(|v| !v.is_null()) {
        seccomp(sc, &format!("{base}.securityContext"), errs);
    }
}

/// A seccompProfile: a type of the three, and a localhostProfile with
/// Localhost and only with it, as the real server checks them.
fn seccomp(sc: &Value, at: &str, errs: &mut Vec<FieldError>) {
    let Some(p) = sc.get("seccompProfile").filter(|v| !v.is_null()) else {
        return;
    };
    let field = format!("{at}.seccompProfile");
    let localhost = p.get("localhostProfile").filter(|v| !v.is_null());
    match p.get("type").and_then(Value::as_str) {
        None | Some("") => errs.push(FieldError::required(format!("{field}.type"), "")),
        Some("Localhost") => {
            if localhost.and_then(Value::as_str).is_none_or(str::is_empty) {
                errs.push(FieldError::required(
                    format!("{field}.localhostProfile"),
                    "must be set when seccomp type is Localhost",
                ));
            }
        }
        Some("RuntimeDefault" | "Unconfined") => {
            if let Some(l) = localhost {
                errs.push(FieldError::invalid(
                    format!("{field}.localhostProfile"),
                    l,
                    "can only be set when seccomp type is Localhost",
                ));
            }
        }
        Some(_) => errs.push(FieldError::not_supported(
            format!("{field}.type"),
            &p["type"],
            &["Localhost", "RuntimeDefault", "Unconfined"],
        )),
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

    #[test]
    fn a_seccomp_profile_names_one_of_three_types() {
        for ok in [
            json!({"seccompProfile": {"type": "RuntimeDefault"}}),
            json!({"seccompProfile": {"type": "Unconfined"}}),
            json!({"seccompProfile": {"type": "Localhost", "localhostProfile": "audit.json"}}),
        ] {
            assert_eq!(errors(ok.clone()), Vec::<String>::new(), "{ok}");
        }
        let e = errors(json!({"seccompProfile": {"type": "Strict"}}));
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(
            e[0].starts_with(
                "spec.containers[0].securityContext.seccompProfile.type: Unsupported value: \"Strict\""
            ),
            "{e:?}"
        );
        let e = errors(json!({"seccompProfile": {"type": "Localhost"}}));
        assert!(
            e[0].ends_with("localhostProfile: Required value: must be set when seccomp type is Localhost"),
            "{e:?}"
        );
        let e = errors(json!({"seccompProfile": {"type": "RuntimeDefault", "localhostProfile": "x"}}));
        assert!(
            e[0].ends_with("can only be set when seccomp type is Localhost"),
            "{e:?}"
        );
        let mut errs = Vec::new();
        check_pod(
            &json!({"securityContext": {"seccompProfile": {}}}),
            "spec",
            &mut errs,
        );
        assert_eq!(errs[0].field, "spec.securityContext.seccompProfile.type");
    }
}
