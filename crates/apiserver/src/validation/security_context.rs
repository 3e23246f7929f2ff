//! A container's `securityContext`: the combinations the real server
//! refuses, because no runtime can honour them (a privileged process, or
//! one given SYS_ADMIN, can always gain privileges, so
//! `allowPrivilegeEscalation: false` would be a promise not kept), a
//! `seccompProfile` (a container's or the pod's) that names no profile, a
//! `procMount` other than Default and Unmasked (and Unmasked without the
//! pod's own user namespace), and the pod's `sysctls`: names as the real
//! server reads them, each once, and only in a namespace the pod has of its
//! own (`labyrinth_contracts::sysctl`).

use crate::rest::status::FieldError;
use serde_json::Value;

/// Check container `c`'s securityContext; `cb` is the container's path,
/// `spec` the pod's.
pub(super) fn check(c: &Value, cb: &str, spec: &Value, errs: &mut Vec<FieldError>) {
    let Some(sc) = c.get("securityContext").filter(|v| !v.is_null()) else {
        return;
    };
    seccomp(sc, &format!("{cb}.securityContext"), errs);
    proc_mount(sc, &format!("{cb}.securityContext.procMount"), spec, errs);
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
        sysctls(sc, spec, &format!("{base}.securityContext.sysctls"), errs);
    }
}

/// Default, or Unmasked in a pod with a user namespace of its own (the
/// only place an unmasked /proc cannot reach the node's settings).
fn proc_mount(sc: &Value, field: &str, spec: &Value, errs: &mut Vec<FieldError>) {
    let Some(v) = sc.get("procMount").filter(|v| !v.is_null()) else {
        return;
    };
    match v.as_str() {
        Some("Default") => {}
        Some("Unmasked") if spec["hostUsers"] == Value::Bool(false) => {}
        Some("Unmasked") => errs.push(FieldError::invalid(
            field,
            v,
            "`hostUsers` must be false to use `Unmasked`",
        )),
        _ => errs.push(FieldError::not_supported(field, v, &["Default", "Unmasked"])),
    }
}

/// The pod's sysctls: valid names, none twice (in either spelling), and
/// none of a namespace the pod shares with the node.
fn sysctls(sc: &Value, spec: &Value, field: &str, errs: &mut Vec<FieldError>) {
    use labyrinth_contracts::sysctl::{self, Namespace};
    let Some(list) = sc.get("sysctls").and_then(Value::as_array) else {
        return;
    };
    let mut seen = std::collections::HashSet::new();
    for (i, s) in list.iter().enumerate() {
        let at = format!("{field}[{i}].name");
        let name = &s["name"];
        let n = name.as_str().unwrap_or_default();
        if n.is_empty() {
            errs.push(FieldError::required(at, ""));
            continue;
        }
        if !sysctl::valid_name(n) {
            errs.push(FieldError::invalid(at, name, sysctl::NAME_RULE));
            continue;
        }
        if !seen.insert(sysctl::dotted(n)) {
            errs.push(FieldError::duplicate(at, name));
            continue;
        }
        let shared = match sysctl::namespace(n) {
            Some(Namespace::Net) if spec["hostNetwork"] == Value::Bool(true) => Some("hostNetwork"),
            Some(Namespace::Ipc) if spec["hostIPC"] == Value::Bool(true) => Some("hostIPC"),
            _ => None,
        };
        if let Some(host) = shared {
            errs.push(FieldError::invalid(
                at,
                name,
                &format!("may not be specified when '{host}' is true"),
            ));
        }
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
            &json!({}),
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

    fn pod_errors(spec: Value) -> Vec<String> {
        let mut errs = Vec::new();
        check_pod(&spec, "spec", &mut errs);
        errs.iter()
            .map(|e| format!("{}: {}", e.field, e.message))
            .collect()
    }

    #[test]
    fn proc_mount_is_default_or_unmasked_with_a_user_namespace() {
        assert_eq!(errors(json!({"procMount": "Default"})), Vec::<String>::new());
        let e = errors(json!({"procMount": "Unmasked"}));
        assert_eq!(
            e,
            ["spec.containers[0].securityContext.procMount: Invalid value: \"Unmasked\": `hostUsers` must be false to use `Unmasked`"]
        );
        let mut errs = Vec::new();
        let c = json!({"name": "c", "securityContext": {"procMount": "Unmasked"}});
        check(&c, "spec.containers[0]", &json!({"hostUsers": false}), &mut errs);
        assert!(errs.is_empty(), "{errs:?}");
        let e = errors(json!({"procMount": "Hidden"}));
        assert!(
            e[0].starts_with("spec.containers[0].securityContext.procMount: Unsupported value: \"Hidden\""),
            "{e:?}"
        );
    }

    #[test]
    fn sysctls_are_named_once_and_only_in_the_pods_own_namespaces() {
        let sc = |list: Value| json!({"securityContext": {"sysctls": list}});
        let ok = sc(json!([
            {"name": "net.ipv4.ip_local_port_range", "value": "20000 30000"},
            {"name": "kernel.shm_rmid_forced", "value": "1"},
            {"name": "net/ipv4/conf/eth0.100/rp_filter", "value": "0"}
        ]));
        assert_eq!(pod_errors(ok), Vec::<String>::new());
        let e = pod_errors(sc(json!([{"name": "Net.ipv4.x", "value": "1"}])));
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(
            e[0].starts_with("spec.securityContext.sysctls[0].name: Invalid value: \"Net.ipv4.x\": must have at most 253 characters"),
            "{e:?}"
        );
        let e = pod_errors(sc(
            json!([{"name": "net.core.somaxconn"}, {"name": "net/core/somaxconn"}]),
        ));
        assert_eq!(
            e,
            ["spec.securityContext.sysctls[1].name: Duplicate value: \"net/core/somaxconn\""]
        );
        assert_eq!(
            pod_errors(sc(json!([{"value": "1"}]))),
            ["spec.securityContext.sysctls[0].name: Required value"]
        );
        let mut host = sc(
            json!([{"name": "net.ipv4.tcp_syncookies", "value": "1"}, {"name": "kernel.msgmax", "value": "9000"}]),
        );
        host["hostNetwork"] = json!(true);
        host["hostIPC"] = json!(true);
        assert_eq!(
            pod_errors(host),
            [
                "spec.securityContext.sysctls[0].name: Invalid value: \"net.ipv4.tcp_syncookies\": may not be specified when 'hostNetwork' is true",
                "spec.securityContext.sysctls[1].name: Invalid value: \"kernel.msgmax\": may not be specified when 'hostIPC' is true"
            ]
        );
    }
}
