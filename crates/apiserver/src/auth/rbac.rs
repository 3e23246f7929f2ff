//! RBAC (rbac.authorization.k8s.io/v1) for the callers that are neither
//! the admin nor a node: the rules of every ClusterRoleBinding and, in the
//! request's namespace, every RoleBinding whose subjects name the caller
//! (as a ServiceAccount, a User or one of its Groups), evaluated as the real
//! authorizer does: verbs, apiGroups, resources (`pods/log` for a
//! subresource), resourceNames, and `*` for any.

use super::Identity;
use crate::store::Store;
use serde_json::Value;

/// What a request asks to do.
#[derive(Debug, Clone, Default)]
pub struct Attrs<'a> {
    pub verb: &'a str,
    pub group: &'a str,
    pub resource: &'a str,
    pub subresource: Option<&'a str>,
    pub name: Option<&'a str>,
    /// None for a cluster-scoped request (or a list across namespaces).
    pub ns: Option<&'a str>,
}

fn strs(v: &Value, key: &str) -> Vec<String> {
    v.get(key)
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).map(String::from).collect())
        .unwrap_or_default()
}

fn names_user(subject: &Value, user: &Identity, groups: &[String], binding_ns: &str) -> bool {
    let name = subject["name"].as_str().unwrap_or("");
    match subject["kind"].as_str().unwrap_or("") {
        "ServiceAccount" => {
            // A RoleBinding's subject may leave its namespace out.
            let ns = subject["namespace"]
                .as_str()
                .filter(|s| !s.is_empty())
                .unwrap_or(binding_ns);
            // By user name, as the real authorizer matches it: an
            // impersonated account's name matches too.
            user.username() == format!("system:serviceaccount:{ns}:{name}")
        }
        "User" => user.username() == name,
        "Group" => groups.iter().any(|g| g == name),
        _ => false,
    }
}

/// The rules granted to `user` in namespace `ns` (cluster-wide bindings
/// only when `ns` is None).
pub fn rules_for(store: &dyn Store, user: &Identity, ns: Option<&str>) -> Vec<Value> {
    let groups = user.groups();
    let role_rules = |kind: &str, name: &str, role_ns: &str| -> Vec<Value> {
        let role = match kind {
            "ClusterRole" => store.get("rbac.authorization.k8s.io/clusterroles", "", name),
            "Role" => store.get("rbac.authorization.k8s.io/roles", role_ns, name),
            _ => None,
        };
        role.and_then(|r| r.get("rules").and_then(Value::as_array).cloned())
            .unwrap_or_default()
    };
    let mut out = Vec::new();
    let mut scan = |bindings: Vec<crate::store::Obj>| {
        for b in bindings.iter().map(|b| b.as_ref()) {
            let bns = b
                .pointer("/metadata/namespace")
                .and_then(Value::as_str)
                .unwrap_or("");
            let subjects = b
                .get("subjects")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            if subjects.iter().any(|s| names_user(s, user, &groups, bns)) {
                let kind = b.pointer("/roleRef/kind").and_then(Value::as_str).unwrap_or("");
                let name = b.pointer("/roleRef/name").and_then(Value::as_str).unwrap_or("");
                out.extend(role_rules(kind, name, bns));
            }
        }
    };
    scan(
        store
            .list("rbac.authorization.k8s.io/clusterrolebindings", None)
            .0,
    );
    if let Some(ns) = ns {
        scan(store.list("rbac.authorization.k8s.io/rolebindings", Some(ns)).0);
    }
    out
}

fn any_or(list: &[String], want: &str) -> bool {
    list.iter().any(|x| x == "*" || x == want)
}

/// Whether one PolicyRule allows the request.
pub fn rule_allows(rule: &Value, a: &Attrs) -> bool {
    let resource = match a.subresource {
        Some(s) => format!("{}/{s}", a.resource),
        None => a.resource.to_string(),
    };
    let names = strs(rule, "resourceNames");
    any_or(&strs(rule, "verbs"), a.verb)
        && any_or(&strs(rule, "apiGroups"), a.group)
        && any_or(&strs(rule, "resources"), &resource)
        && (names.is_empty() || a.name.is_some_and(|n| names.iter().any(|x| x == n)))
}

pub fn allows(store: &dyn Store, user: &Identity, a: &Attrs) -> bool {
    rules_for(store, user, a.ns).iter().any(|r| rule_allows(r, a))
}

/// Whether a rule for non-resource URLs allows `verb` on `path` (`/api/*`
/// matches by prefix).
pub fn url_rule_allows(rule: &Value, verb: &str, path: &str) -> bool {
    any_or(&strs(rule, "verbs"), verb)
        && strs(rule, "nonResourceURLs")
            .iter()
            .any(|u| u == "*" || u == path || u.strip_suffix('*').is_some_and(|p| path.starts_with(p)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn rules_match_verbs_groups_resources_and_names() {
        let rule = json!({"verbs": ["get", "list"], "apiGroups": [""], "resources": ["pods", "pods/log"]});
        let a = Attrs {
            verb: "list",
            resource: "pods",
            ..Default::default()
        };
        assert!(rule_allows(&rule, &a));
        assert!(!rule_allows(
            &rule,
            &Attrs {
                verb: "delete",
                ..a.clone()
            }
        ));
        assert!(!rule_allows(
            &rule,
            &Attrs {
                resource: "secrets",
                ..a.clone()
            }
        ));
        assert!(!rule_allows(
            &rule,
            &Attrs {
                group: "apps",
                ..a.clone()
            }
        ));
        assert!(rule_allows(
            &rule,
            &Attrs {
                verb: "get",
                subresource: Some("log"),
                ..a.clone()
            }
        ));
        assert!(!rule_allows(
            &rule,
            &Attrs {
                subresource: Some("exec"),
                ..a.clone()
            }
        ));
        let named = json!({"verbs": ["*"], "apiGroups": ["*"], "resources": ["configmaps"], "resourceNames": ["one"]});
        let cm = Attrs {
            verb: "get",
            resource: "configmaps",
            name: Some("one"),
            ..Default::default()
        };
        assert!(rule_allows(&named, &cm));
        assert!(!rule_allows(
            &named,
            &Attrs {
                name: Some("two"),
                ..cm.clone()
            }
        ));
        assert!(!rule_allows(
            &named,
            &Attrs {
                verb: "list",
                name: None,
                ..cm
            }
        ));
        let urls = json!({"verbs": ["get"], "nonResourceURLs": ["/api", "/api/*"]});
        assert!(url_rule_allows(&urls, "get", "/api/v1"));
        assert!(!url_rule_allows(&urls, "get", "/apis"));
    }

    #[test]
    fn subjects_name_accounts_users_and_groups() {
        let sa = Identity::ServiceAccount {
            ns: "ns".into(),
            name: "bot".into(),
            uid: "u".into(),
        };
        let g = sa.groups();
        assert!(names_user(
            &json!({"kind": "ServiceAccount", "name": "bot"}),
            &sa,
            &g,
            "ns"
        ));
        assert!(!names_user(
            &json!({"kind": "ServiceAccount", "name": "bot"}),
            &sa,
            &g,
            "other"
        ));
        assert!(names_user(
            &json!({"kind": "User", "name": "system:serviceaccount:ns:bot"}),
            &sa,
            &g,
            ""
        ));
        assert!(names_user(
            &json!({"kind": "Group", "name": "system:serviceaccounts:ns"}),
            &sa,
            &g,
            ""
        ));
        assert!(!names_user(
            &json!({"kind": "Group", "name": "system:masters"}),
            &sa,
            &g,
            ""
        ));
    }
}
