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
