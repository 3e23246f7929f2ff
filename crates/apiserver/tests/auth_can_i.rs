//! Issue 17, `kubectl auth can-i` through the machine's kubectl: access
//! reviews (self, subject, rules) answered by the decision the server
//! enforces, and impersonation (`--as`) checked by the impersonate verb.

mod common;
use common::{call, TestServer};
use serde_json::json;

const BOT: &str = r#"
apiVersion: v1
kind: Namespace
metadata: {name: team}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: bot, namespace: team}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: pod-reader, namespace: team}
rules:
- {apiGroups: [""], resources: [pods], verbs: [get, list]}
- {apiGroups: [""], resources: [configmaps], verbs: [get], resourceNames: [settings]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: bot-reads-pods, namespace: team}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: pod-reader}
subjects:
- {kind: ServiceAccount, name: bot, namespace: team}
"#;

const AS_BOT: &str = "--as=system:serviceaccount:team:bot";

/// kubectl auth can-i's answer: (exit status 0, first line of stdout).
fn can_i(s: &TestServer, args: &[&str]) -> (bool, String) {
    let (ok, out, _) = s.kubectl(&[&["auth", "can-i"][..], args].concat());
    (ok, out.lines().next().unwrap_or("").to_string())
}

#[test]
fn can_i_answers_as_the_server_enforces() {
    let dir = tempfile::tempdir().unwrap();
    let s = TestServer::start(dir.path());
    s.apply(BOT, &[]);

    // The admin (system:masters) may do anything.
    assert_eq!(can_i(&s, &["create", "deployments"]), (true, "yes".into()));
    assert_eq!(can_i(&s, &["delete", "nodes"]), (true, "yes".into()));

    // The account, by impersonation: what its Role grants, in its namespace.
    assert_eq!(
        can_i(&s, &["list", "pods", "-n", "team", AS_BOT]),
        (true, "yes".into())
    );
    assert_eq!(
        can_i(&s, &["list", "secrets", "-n", "team", AS_BOT]),
        (false, "no".into())
    );
    assert_eq!(
        can_i(&s, &["list", "pods", "-n", "default", AS_BOT]),
        (false, "no".into())
    );
    assert_eq!(
        can_i(&s, &["delete", "pods", "-n", "team", AS_BOT]),
        (false, "no".into())
    );
    // resourceNames: that one ConfigMap only.
    assert_eq!(
        can_i(&s, &["get", "configmaps/settings", "-n", "team", AS_BOT]),
        (true, "yes".into())
    );
    assert_eq!(
        can_i(&s, &["get", "configmaps/other", "-n", "team", AS_BOT]),
        (false, "no".into())
    );
    // Non-resource URLs: system:discovery is bound to every authenticated user.
    assert_eq!(can_i(&s, &["get", "/healthz", AS_BOT]), (true, "yes".into()));
    assert_eq!(can_i(&s, &["get", "/metrics", AS_BOT]), (false, "no".into()));

    // Impersonation acts as the account on real requests too.
    let (ok, _, err) = s.kubectl(&["get", "secrets", "-n", "team", AS_BOT]);
    assert!(
        !ok && err.contains("User \"system:serviceaccount:team:bot\" cannot list resource \"secrets\""),
        "{err}"
    );
    assert!(s.kubectl(&["get", "pods", "-n", "team", AS_BOT]).0);

    // With the account's own token: the same answers, and it may not
    // impersonate anyone.
    let token = s.ok(&["create", "token", "bot", "-n", "team"]).trim().to_string();
    let tok = format!("--token={token}");
    assert_eq!(
        can_i(&s, &[&tok, "list", "pods", "-n", "team"]),
        (true, "yes".into())
    );
    assert_eq!(
        can_i(&s, &[&tok, "list", "secrets", "-n", "team"]),
        (false, "no".into())
    );
    let (ok, _, err) = s.kubectl(&[&tok, "get", "pods", "-n", "team", "--as=jane"]);
    assert!(
        !ok && err.contains(
            "users \"jane\" is forbidden: User \"system:serviceaccount:team:bot\" cannot impersonate resource \"users\" in API group \"\" at the cluster scope"
        ),
        "{err}"
    );

    // --list: the account's rules as kubectl prints them.
    let (ok, out, err) = s.kubectl(&["auth", "can-i", "--list", "-n", "team", AS_BOT]);
    assert!(ok, "{err}");
    let head: Vec<&str> = out
        .lines()
        .next()
        .unwrap_or("")
        .split("  ")
        .filter(|c| !c.is_empty())
        .map(str::trim)
        .collect();
    assert_eq!(
        head,
        ["Resources", "Non-Resource URLs", "Resource Names", "Verbs"],
        "{out}"
    );
    let row = |first: &str| {
        out.lines()
            .find(|l| l.split_whitespace().next() == Some(first))
            .map(|l| l.split_whitespace().collect::<Vec<_>>())
    };
    assert_eq!(
        row("pods"),
        Some(vec!["pods", "[]", "[]", "[get", "list]"]),
        "{out}"
    );
    assert_eq!(
        row("configmaps"),
        Some(vec!["configmaps", "[]", "[settings]", "[get]"]),
        "{out}"
    );
    assert!(
        row("selfsubjectaccessreviews.authorization.k8s.io").is_some(),
        "{out}"
    );
    assert!(row("secrets").is_none(), "{out}");
    assert!(out.contains("[/healthz]"), "{out}");
    // The admin's list starts from cluster-admin: everything.
    let (_, admin, _) = s.kubectl(&["auth", "can-i", "--list"]);
    assert!(
        admin
            .lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>() == ["*.*", "[]", "[]", "[*]"]),
        "{admin}"
    );

    // SubjectAccessReview: the admin asks about the account.
    let review = |resource: &str| {
        json!({"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
            "spec": {"user": "system:serviceaccount:team:bot",
                "resourceAttributes": {"namespace": "team", "verb": "list", "resource": resource}}})
    };
    let (code, body) = call(
        &s,
        "POST",
        "/apis/authorization.k8s.io/v1/subjectaccessreviews",
        Some(&review("pods")),
    );
    assert_eq!((code, &body["status"]["allowed"]), (201, &json!(true)), "{body}");
    let (_, body) = call(
        &s,
        "POST",
        "/apis/authorization.k8s.io/v1/subjectaccessreviews",
        Some(&review("secrets")),
    );
    assert_eq!(body["status"]["allowed"], json!(false), "{body}");
    // The account itself may not ask about others.
    let f = dir.path().join("sar.json");
    std::fs::write(&f, review("pods").to_string()).unwrap();
    let (ok, _, err) = s.kubectl(&[&tok, "create", "-f", f.to_str().unwrap()]);
    assert!(
        !ok && err.contains(
            "cannot create resource \"subjectaccessreviews\" in API group \"authorization.k8s.io\""
        ),
        "{err}"
    );
    let (code, body) = call(
        &s,
        "POST",
        "/apis/authorization.k8s.io/v1/subjectaccessreviews",
        Some(&json!({"spec": {}})),
    );
    assert_eq!(code, 422, "a review naming nobody is invalid: {body}");
    assert!(
        body["message"].as_str().unwrap_or("").contains("spec.user"),
        "{body}"
    );
}
