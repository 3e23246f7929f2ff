//! Issue 17, RBAC through the machine's kubectl: a ServiceAccount bound to
//! a Role that allows reading pods lists pods with its token and gets 403
//! for secrets and for pods of another namespace; the default ClusterRoles
//! exist; an invalid Role is refused with its field path.

mod common;
use common::TestServer;

const READER: &str = r#"
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: pod-reader, namespace: default}
rules:
- {apiGroups: [""], resources: [pods], verbs: [get, list]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: reader-reads-pods, namespace: default}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: pod-reader}
subjects:
- {kind: ServiceAccount, name: reader}
"#;

#[test]
fn service_account_rights_follow_its_role() {
    let dir = tempfile::tempdir().unwrap();
    let s = TestServer::start(dir.path());
    s.ok(&["create", "serviceaccount", "reader"]);
    s.ok(&["create", "namespace", "other"]);
    s.apply(READER, &[]);
    let token = s.ok(&["create", "token", "reader"]).trim().to_string();
    let t = ["--token", token.as_str()];
    let with = |args: &[&str]| s.kubectl(&[&t[..], args].concat());

    let (ok, _, err) = with(&["get", "pods"]);
    assert!(ok, "the Role allows listing pods: {err}");
    let (ok, _, err) = with(&["get", "secrets"]);
    assert!(!ok && err.contains("Forbidden"), "{err}");
    assert!(
        err.contains("User \"system:serviceaccount:default:reader\" cannot list resource \"secrets\""),
        "{err}"
    );
    let (ok, _, err) = with(&["-n", "other", "get", "pods"]);
    assert!(
        !ok && err.contains("Forbidden"),
        "a Role binds in its own namespace: {err}"
    );
    let (ok, _, err) = with(&["delete", "pod", "x"]);
    assert!(!ok && err.contains("cannot delete"), "{err}");

    let roles = s.ok(&["get", "clusterroles"]);
    for r in ["cluster-admin", "admin", "edit", "view", "system:basic-user"] {
        assert!(
            roles.lines().any(|l| l.split_whitespace().next() == Some(r)),
            "{r} in {roles}"
        );
    }
    let head = s.ok(&["get", "rolebindings"]);
    let cols: Vec<&str> = head.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(cols, ["NAME", "ROLE", "AGE"], "{head}");
    assert!(head.contains("Role/pod-reader"), "{head}");

    let f = dir.path().join("bad-role.yaml");
    std::fs::write(
        &f,
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata: {name: bad}\nrules:\n- {apiGroups: [\"\"], resources: [pods]}\n",
    )
    .unwrap();
    let (ok, _, err) = s.kubectl(&["apply", "-f", f.to_str().unwrap()]);
    assert!(!ok && err.contains("rules[0].verbs: Required value"), "{err}");
}
