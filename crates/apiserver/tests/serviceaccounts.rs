//! ServiceAccounts, their tokens and who the server thinks the caller is,
//! through the machine's kubectl: `create token` issues a token the server
//! accepts as system:serviceaccount:<ns>:<name> (`auth whoami`) with that
//! account's rights (none here: no Role is bound to it), and refuses once the
//! account is gone or when the token is for another audience.

mod common;
use common::TestServer;

/// kubectl auth whoami's table: the value of one attribute row.
fn attr<'a>(out: &'a str, name: &str) -> &'a str {
    out.lines()
        .find_map(|l| l.strip_prefix(name))
        .map(str::trim)
        .unwrap_or_else(|| panic!("no {name} in\n{out}"))
}

#[test]
fn tokens_whoami_and_the_default_account() {
    let dir = tempfile::tempdir().unwrap();
    let s = TestServer::start(dir.path());

    let me = s.ok(&["auth", "whoami"]);
    assert_eq!(attr(&me, "Username"), "kubernetes-admin", "{me}");
    assert_eq!(
        attr(&me, "Groups"),
        "[system:masters system:authenticated]",
        "{me}"
    );

    assert!(s
        .ok(&["create", "serviceaccount", "builder"])
        .contains("serviceaccount/builder created"));
    let out = s.ok(&["get", "sa", "builder"]);
    let head: Vec<&str> = out.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(head, ["NAME", "SECRETS", "AGE"], "{out}");
    assert_eq!(
        out.lines().nth(1).unwrap().split_whitespace().nth(1),
        Some("0"),
        "{out}"
    );

    let token = s.ok(&["create", "token", "builder"]).trim().to_string();
    assert_eq!(token.matches('.').count(), 2, "not a JWT: {token}");
    let who = s.ok(&["--token", &token, "auth", "whoami"]);
    assert_eq!(
        attr(&who, "Username"),
        "system:serviceaccount:default:builder",
        "{who}"
    );
    assert_eq!(
        attr(&who, "Groups"),
        "[system:serviceaccounts system:serviceaccounts:default system:authenticated]",
        "{who}"
    );
    // Authenticated, but with no rights beyond asking who it is.
    let (ok, _, err) = s.kubectl(&["--token", &token, "get", "pods"]);
    assert!(!ok && err.contains("Forbidden"), "{err}");
    assert!(
        err.contains("User \"system:serviceaccount:default:builder\" cannot list resource \"pods\""),
        "{err}"
    );

    // A token for another audience is not for this server.
    let vault = s
        .ok(&["create", "token", "builder", "--audience", "vault"])
        .trim()
        .to_string();
    let (ok, _, err) = s.kubectl(&["--token", &vault, "auth", "whoami"]);
    assert!(!ok && err.contains("Unauthorized"), "{err}");
    // Ten minutes at least; the field is named.
    let (ok, _, err) = s.kubectl(&["create", "token", "builder", "--duration", "1m"]);
    assert!(!ok && err.contains("spec.expirationSeconds"), "{err}");
    let (ok, _, err) = s.kubectl(&["create", "token", "nobody"]);
    assert!(
        !ok && err.contains("serviceaccounts \"nobody\" not found"),
        "{err}"
    );

    // Bound to the account: deleted (even if made again), the token is dead.
    s.ok(&["delete", "sa", "builder"]);
    s.ok(&["create", "serviceaccount", "builder"]);
    let (ok, _, err) = s.kubectl(&["--token", &token, "auth", "whoami"]);
    assert!(!ok && err.contains("Unauthorized"), "{err}");

    // Pods that name no account run as `default`; one that does keeps it.
    s.apply(
        "apiVersion: v1\nkind: Pod\nmetadata: {name: plain}\nspec: {containers: [{name: c, image: i}]}\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: built}\nspec: {serviceAccountName: builder, containers: [{name: c, image: i}]}\n",
        &[],
    );
    let sa = |p: &str| {
        s.ok(&[
            "get",
            "pod",
            p,
            "-o",
            "jsonpath={.spec.serviceAccountName}/{.spec.serviceAccount}",
        ])
    };
    assert_eq!(sa("plain"), "default/default");
    assert_eq!(sa("built"), "builder/builder");
}

/// The claims of a JWT (its middle part, base64url), read with python3 as
/// an independent decoder.
fn claims(token: &str) -> serde_json::Value {
    let text = labyrinth_testkit::jwt::claims_json(token);
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

/// ServiceAccount admission's token volume, and tokens bound to a pod: a
/// pod gets `kube-api-access-…` unless it or its account opts out; a token
/// bound to a pod names it and dies with it; a node gets tokens only for
/// the accounts of its own pods, bound to them (NodeRestriction).
#[test]
fn the_token_volume_and_tokens_bound_to_pods() {
    let dir = tempfile::tempdir().unwrap();
    let s = TestServer::start(dir.path());
    s.apply(
        r#"
apiVersion: v1
kind: ServiceAccount
metadata: {name: reader}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: quiet}
automountServiceAccountToken: false
---
apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  serviceAccountName: reader
  nodeName: node-1
  initContainers: [{name: i, image: busybox}]
  containers: [{name: c, image: busybox}]
---
apiVersion: v1
kind: Pod
metadata: {name: optout}
spec: {automountServiceAccountToken: false, containers: [{name: c, image: busybox}]}
---
apiVersion: v1
kind: Pod
metadata: {name: byaccount}
spec: {serviceAccountName: quiet, containers: [{name: c, image: busybox}]}
---
apiVersion: v1
kind: Pod
metadata: {name: podoverrides}
spec: {serviceAccountName: quiet, automountServiceAccountToken: true, containers: [{name: c, image: busybox}]}
"#,
        &[],
    );
    let pod: serde_json::Value = serde_json::from_str(&s.ok(&["get", "pod", "p", "-o", "json"])).unwrap();
    let v = &pod["spec"]["volumes"][0];
    let name = v["name"].as_str().unwrap();
    assert!(name.starts_with("kube-api-access-") && name.len() == 21, "{v}");
    let sources = &v["projected"]["sources"];
    assert_eq!(
        sources[0]["serviceAccountToken"]["expirationSeconds"], 3607,
        "{v}"
    );
    assert_eq!(sources[1]["configMap"]["name"], "kube-root-ca.crt", "{v}");
    assert_eq!(sources[2]["downwardAPI"]["items"][0]["path"], "namespace", "{v}");
    for c in ["initContainers", "containers"] {
        let m = &pod["spec"][c][0]["volumeMounts"][0];
        assert_eq!(
            (&m["name"], &m["mountPath"], &m["readOnly"]),
            (
                &v["name"],
                &serde_json::json!("/var/run/secrets/kubernetes.io/serviceaccount"),
                &serde_json::json!(true)
            ),
            "{c}: {m}"
        );
    }
    let volumes = |p: &str| s.ok(&["get", "pod", p, "-o", "jsonpath={.spec.volumes[*].name}"]);
    assert_eq!(volumes("optout"), "");
    assert_eq!(volumes("byaccount"), "");
    assert!(volumes("podoverrides").starts_with("kube-api-access-"));

    // Bound to the pod: its claims name it, and it dies with it.
    let uid = s.ok(&["get", "pod", "p", "-o", "jsonpath={.metadata.uid}"]);
    let bound = [
        "create",
        "token",
        "reader",
        "--bound-object-kind",
        "Pod",
        "--bound-object-name",
        "p",
    ];
    let token = s.ok(&bound).trim().to_string();
    let c = claims(&token);
    assert_eq!(
        c["kubernetes.io"]["pod"],
        serde_json::json!({"name": "p", "uid": uid}),
        "{c}"
    );
    assert_eq!(c["sub"], "system:serviceaccount:default:reader", "{c}");
    let (ok, _, err) = s.kubectl(&[
        "create",
        "token",
        "quiet",
        "--bound-object-kind",
        "Pod",
        "--bound-object-name",
        "p",
    ]);
    assert!(!ok && err.contains("different serviceaccount name"), "{err}");
    let (ok, _, err) = s.kubectl(&[
        "create",
        "token",
        "reader",
        "--bound-object-kind",
        "Pod",
        "--bound-object-name",
        "gone",
    ]);
    assert!(!ok && err.contains("pods \"gone\" not found"), "{err}");

    // A node: tokens for its own pods' accounts, bound to them, only.
    let (join_token, _) =
        s.rt.block_on(labyrinth_apiserver::create_token(
            dir.path(),
            std::time::Duration::from_secs(600),
        ))
        .unwrap();
    let (addr, hash) = (s.running().addr.to_string(), s.running().ca_hash.clone());
    let mut kcs = Vec::new();
    for n in ["node-1", "node-2"] {
        let kc = s.home.path().join(format!("{n}.kubeconfig"));
        s.rt.block_on(labyrinth_apiserver::auth::join::join(
            &addr,
            &join_token,
            &hash,
            n,
            &kc,
        ))
        .unwrap();
        kcs.push(kc);
    }
    let (ok, out, err) = s.kubectl_with(&kcs[0], &bound);
    assert!(ok && out.trim().matches('.').count() == 2, "{err}");
    let (ok, _, err) = s.kubectl_with(&kcs[1], &bound);
    assert!(
        !ok && err.contains("is forbidden"),
        "node-2 got a token for node-1's pod: {err}"
    );
    let (ok, _, err) = s.kubectl_with(&kcs[0], &["create", "token", "reader"]);
    assert!(!ok && err.contains("bound to its own pods"), "unbound: {err}");
    let (ok, _, err) = s.kubectl_with(
        &kcs[0],
        &[
            "create",
            "token",
            "default",
            "--bound-object-kind",
            "Pod",
            "--bound-object-name",
            "optout",
        ],
    );
    assert!(
        !ok && err.contains("is forbidden"),
        "an account none of its pods runs as: {err}"
    );

    let who = s.ok(&["--token", &token, "auth", "whoami"]);
    assert!(who.contains("system:serviceaccount:default:reader"), "{who}");
    s.ok(&["delete", "pod", "p", "--grace-period=0", "--force"]);
    let (ok, _, err) = s.kubectl(&["--token", &token, "auth", "whoami"]);
    assert!(!ok && err.contains("Unauthorized"), "the pod is gone: {err}");
}
