//! Issue 17 point 5 and issue 16's service-account line, in one lab: the
//! token volume kube-apiserver's ServiceAccount admission adds and the node
//! agent fills (a bound token, the cluster CA from `kube-root-ca.crt`, the
//! namespace), used by a pod with curl the way in-cluster clients use it:
//! https://kubernetes.default.svc with that CA and token lists what its
//! Role allows (200) and gets 403 for the rest. The token is a JWT naming
//! the pod, written through `..data` as kubelet writes it, and dies with
//! the pod; `automountServiceAccountToken: false` leaves no mount.

mod common;
use common::journey::*;
use common::*;

const DIR: &str = "/var/run/secrets/kubernetes.io/serviceaccount";

const MANIFEST: &str = r#"
apiVersion: v1
kind: Namespace
metadata: {name: ident}
---
apiVersion: v1
kind: Namespace
metadata: {name: elsewhere}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: reader, namespace: ident}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: pod-reader, namespace: ident}
rules: [{apiGroups: [""], resources: [pods], verbs: [get, list]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: reader-reads-pods, namespace: ident}
subjects: [{kind: ServiceAccount, name: reader, namespace: ident}]
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: pod-reader}
---
apiVersion: v1
kind: Pod
metadata: {name: client, namespace: ident}
spec:
  serviceAccountName: reader
  nodeName: node-1
  containers: [{name: c, image: curlimages/curl, command: [sleep, "3600"]}]
---
apiVersion: v1
kind: Pod
metadata: {name: tokenless, namespace: ident}
spec:
  automountServiceAccountToken: false
  nodeName: node-2
  containers: [{name: c, image: busybox, command: [sleep, "3600"]}]
"#;

/// The HTTP status of a GET of `path` from the client pod, with its
/// mounted token and CA, through the `kubernetes` Service by name.
fn status_of(lab: &Lab, path: &str) -> String {
    let cmd = format!(
        "curl -sS -o /dev/null -w '%{{http_code}}' --cacert {DIR}/ca.crt \
         -H \"Authorization: Bearer $(cat {DIR}/token)\" https://kubernetes.default.svc{path}"
    );
    exec_ok(lab, "ident", "client", &cmd)
}

/// The claims of a JWT, decoded by python3 (an independent decoder).
fn claims(token: &str) -> serde_json::Value {
    let text = labyrinth_testkit::jwt::claims_json(token);
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

#[test]
fn service_account_token_volume() {
    if !need_root("service_account_token_volume") {
        return;
    }
    let lab = Lab::cluster("ident", &[]);
    let args = ["kubectl", "--name", &lab.name, "apply", "-f", "-"];
    ok(&labyrinth_with_stdin(&args, MANIFEST.as_bytes()));
    wait_ready(&lab, "ident", "client");
    wait_ready(&lab, "ident", "tokenless");

    // What the volume holds, as kubelet lays it out.
    let files = exec_ok(
        &lab,
        "ident",
        "client",
        &format!("cd {DIR} && ls; cat namespace; echo; readlink token"),
    );
    assert_eq!(files, "ca.crt\nnamespace\ntoken\nident\n..data/token\n");
    let o = exec(&lab, "ident", "client", &format!("touch {DIR}/x"));
    assert!(
        !o.status.success() && String::from_utf8_lossy(&o.stderr).contains("Read-only file system"),
        "{o:?}"
    );
    // The CA is the cluster's, as the root CA publisher put it in the namespace.
    let ca = exec_ok(&lab, "ident", "client", &format!("cat {DIR}/ca.crt"));
    let published = kubectl_ok(
        &lab,
        &[
            "-n",
            "ident",
            "get",
            "cm",
            "kube-root-ca.crt",
            "-o",
            "jsonpath={.data.ca\\.crt}",
        ],
    );
    assert!(ca.starts_with("-----BEGIN CERTIFICATE-----"), "{ca}");
    assert_eq!(ca.trim(), published.trim());

    // The Role's rights and no more, checked by curl against the CA.
    assert_eq!(status_of(&lab, "/api/v1/namespaces/ident/pods"), "200");
    assert_eq!(status_of(&lab, "/api/v1/namespaces/ident/pods/client"), "200");
    assert_eq!(status_of(&lab, "/api/v1/namespaces/ident/secrets"), "403");
    assert_eq!(status_of(&lab, "/api/v1/namespaces/elsewhere/pods"), "403");

    // The token is a JWT bound to this pod.
    let token = exec_ok(&lab, "ident", "client", &format!("cat {DIR}/token"));
    let uid = kubectl_ok(
        &lab,
        &[
            "-n",
            "ident",
            "get",
            "pod",
            "client",
            "-o",
            "jsonpath={.metadata.uid}",
        ],
    );
    let c = claims(&token);
    assert_eq!(c["kubernetes.io"]["pod"]["name"], "client", "{c}");
    assert_eq!(c["kubernetes.io"]["pod"]["uid"], uid.as_str(), "{c}");
    assert_eq!(c["sub"], "system:serviceaccount:ident:reader", "{c}");
    assert_eq!(
        c["exp"].as_i64().unwrap() - c["iat"].as_i64().unwrap(),
        3607,
        "{c}"
    );

    // Opted out: no volume, nothing at the path.
    let vols = kubectl_ok(
        &lab,
        &[
            "-n",
            "ident",
            "get",
            "pod",
            "tokenless",
            "-o",
            "jsonpath={.spec.volumes}",
        ],
    );
    assert_eq!(vols, "");
    let o = exec(&lab, "ident", "tokenless", &format!("test -e {DIR}"));
    assert!(!o.status.success(), "{DIR} exists in an opted-out pod");

    // Deleted, the pod takes its token's rights with it.
    let who = kubectl_ok(
        &lab,
        &[
            "--token",
            &token,
            "auth",
            "whoami",
            "-o",
            "jsonpath={.status.userInfo.username}",
        ],
    );
    assert_eq!(who, "system:serviceaccount:ident:reader");
    kubectl_ok(
        &lab,
        &[
            "-n",
            "ident",
            "delete",
            "pod",
            "client",
            "--wait=true",
            "--timeout=60s",
        ],
    );
    let o = kubectl(&lab, &["--token", &token, "auth", "whoami"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && err.contains("Unauthorized"), "{err}");
}
