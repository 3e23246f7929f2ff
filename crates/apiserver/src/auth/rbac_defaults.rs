//! The default ClusterRoles and ClusterRoleBindings a real server
//! reconciles at start, reduced to the resources this server serves:
//! cluster-admin (bound to system:masters), admin, edit, view, and
//! system:basic-user and system:discovery bound to every authenticated
//! caller.

use serde_json::{json, Value};

const GROUP_VERSION: &str = "rbac.authorization.k8s.io/v1";
const BOOTSTRAP: (&str, &str) = ("kubernetes.io/bootstrapping", "rbac-defaults");

fn role(name: &str, rules: Value) -> (&'static str, Value) {
    (
        "ClusterRole",
        json!({"apiVersion": GROUP_VERSION, "kind": "ClusterRole",
            "metadata": {"name": name, "labels": {BOOTSTRAP.0: BOOTSTRAP.1},
                "annotations": {"rbac.authorization.kubernetes.io/autoupdate": "true"}},
            "rules": rules}),
    )
}

fn to_group(name: &str, group: &str) -> (&'static str, Value) {
    (
        "ClusterRoleBinding",
        json!({"apiVersion": GROUP_VERSION, "kind": "ClusterRoleBinding",
            "metadata": {"name": name, "labels": {BOOTSTRAP.0: BOOTSTRAP.1},
                "annotations": {"rbac.authorization.kubernetes.io/autoupdate": "true"}},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": name},
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": group}]}),
    )
}

fn to_authenticated(name: &str) -> (&'static str, Value) {
    to_group(name, "system:authenticated")
}

const READ: [&str; 3] = ["get", "list", "watch"];
const WRITE: [&str; 5] = ["create", "delete", "deletecollection", "patch", "update"];

/// (kind, object) for each default, in creation order.
pub fn objects() -> Vec<(&'static str, Value)> {
    let core_read = json!([
        "pods",
        "pods/log",
        "pods/status",
        "services",
        "services/status",
        "endpoints",
        "configmaps",
        "serviceaccounts",
        "events",
        "namespaces",
        "namespaces/status"
    ]);
    let apps = json!([
        "deployments",
        "deployments/scale",
        "deployments/status",
        "replicasets",
        "replicasets/scale",
        "replicasets/status",
        "daemonsets",
        "daemonsets/status"
    ]);
    let view = json!([
        {"apiGroups": [""], "resources": core_read, "verbs": READ},
        {"apiGroups": ["apps"], "resources": apps, "verbs": READ},
        {"apiGroups": ["batch"], "resources": ["jobs", "jobs/status"], "verbs": READ},
        {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"], "verbs": READ},
        {"apiGroups": ["networking.k8s.io"], "resources": ["networkpolicies"], "verbs": READ},
        {"apiGroups": ["events.k8s.io"], "resources": ["events"], "verbs": READ},
    ]);
    let mut edit = view.as_array().cloned().unwrap_or_default();
    edit.extend([
        json!({"apiGroups": [""], "resources": ["pods", "pods/exec", "pods/attach", "pods/portforward", "services",
            "endpoints", "configmaps", "secrets", "serviceaccounts", "serviceaccounts/token"], "verbs": WRITE}),
        json!({"apiGroups": [""], "resources": ["secrets"], "verbs": READ}),
        json!({"apiGroups": ["apps"], "resources": apps, "verbs": WRITE}),
        json!({"apiGroups": ["batch"], "resources": ["jobs"], "verbs": WRITE}),
        json!({"apiGroups": ["networking.k8s.io"], "resources": ["networkpolicies"], "verbs": WRITE}),
    ]);
    let mut admin = edit.clone();
    admin.push(
        json!({"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["roles", "rolebindings"],
        "verbs": ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]}),
    );
    vec![
        role(
            "cluster-admin",
            json!([{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}, {"nonResourceURLs": ["*"], "verbs": ["*"]}]),
        ),
        role("admin", Value::Array(admin)),
        role("edit", Value::Array(edit)),
        role("view", view),
        role(
            "system:basic-user",
            json!([{"apiGroups": ["authorization.k8s.io"], "resources": ["selfsubjectaccessreviews", "selfsubjectrulesreviews"], "verbs": ["create"]},
                {"apiGroups": ["authentication.k8s.io"], "resources": ["selfsubjectreviews"], "verbs": ["create"]}]),
        ),
        role(
            "system:discovery",
            json!([{"nonResourceURLs": ["/api", "/api/*", "/apis", "/apis/*", "/healthz", "/livez", "/openapi", "/openapi/*", "/readyz", "/version", "/version/"], "verbs": ["get"]}]),
        ),
        // The admin's rights, listed by `kubectl auth can-i --list` (the
        // group is also allowed everything before RBAC is asked).
        to_group("cluster-admin", crate::auth::identity::MASTERS),
        to_authenticated("system:basic-user"),
        to_authenticated("system:discovery"),
    ]
}
