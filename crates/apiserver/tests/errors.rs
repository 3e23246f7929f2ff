//! Refused requests: 422 Invalid with field causes (as kubectl shows them),
//! 400 unknown kind, 401 without credentials, 410 for a too-old watch, and
//! nothing stored for any of them.

mod common;
use common::TestServer;
use labyrinth_apiserver::auth::client::{request, Trust};
use serde_json::{json, Value};

fn ca(s: &TestServer) -> Trust {
    let pem = std::fs::read_to_string(s.kubeconfig().parent().unwrap().join("pki/ca.crt")).unwrap();
    Trust::Ca(labyrinth_apiserver::tls::pem_to_der(&pem).unwrap())
}

fn admin_token(s: &TestServer) -> String {
    s.running().state.admin_token.clone()
}

fn call(s: &TestServer, method: &str, path: &str, token: Option<&str>, body: Option<&Value>) -> (u16, Value) {
    let addr = s.running().addr.to_string();
    s.rt.block_on(request(&addr, &ca(s), method, path, token, body))
        .unwrap()
}

#[test]
fn invalid_objects_get_422_with_field_paths_and_nothing_is_created() {
    let dir = tempfile::tempdir().unwrap();
    let s = TestServer::start(dir.path());
    let cases = [
        (
            "apiVersion: v1\nkind: Service\nmetadata: {name: Bad_Name}\nspec:\n  ports: [{port: 80}]\n",
            "The Service \"Bad_Name\" is invalid: metadata.name: Invalid value: \"Bad_Name\": a DNS-1035 label must consist of lower case alphanumeric characters or '-'",
        ),
        (
            "apiVersion: v1\nkind: Service\nmetadata: {name: ports}\nspec:\n  ports: [{name: a, port: 70000}, {name: a, port: 80}]\n",
            "The Service \"ports\" is invalid: \n* spec.ports[0].port: Invalid value: 70000: must be between 1 and 65535, inclusive\n* spec.ports[1].name: Duplicate value: \"a\"",
        ),
        (
            "apiVersion: v1\nkind: Service\nmetadata: {name: proto}\nspec:\n  ports: [{port: 80, protocol: SCTPX}]\n",
            "The Service \"proto\" is invalid: spec.ports[0].protocol: Unsupported value: \"SCTPX\": supported values: \"SCTP\", \"TCP\", \"UDP\"",
        ),
        (
            "apiVersion: v1\nkind: Pod\nmetadata: {name: proto}\nspec:\n  containers: [{name: c, image: i, ports: [{containerPort: 80, protocol: HTTP}]}]\n",
            "The Pod \"proto\" is invalid: spec.containers[0].ports[0].protocol: Unsupported value: \"HTTP\": supported values: \"SCTP\", \"TCP\", \"UDP\"",
        ),
        (
            "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: by-hand}\naddressType: IPv4\nports: [{port: 80, protocol: TCP}]\nendpoints: [{addresses: [\"10.0.1\"]}]\n",
            "The EndpointSlice \"by-hand\" is invalid: endpoints[0].addresses[0]: Invalid value: \"10.0.1\": must be a valid IPv4 address",
        ),
        (
            "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: sel}\nspec:\n  selector: {matchLabels: {app: x}}\n  template:\n    metadata: {labels: {app: other}}\n    spec: {containers: [{name: c, image: i}]}\n",
            "The Deployment \"sel\" is invalid: spec.template.metadata.labels: Invalid value: map[string]string{\"app\":\"other\"}: `selector` does not match template `labels`",
        ),
    ];
    for (yaml, want) in cases {
        let f = s.home.path().join("bad.yaml");
        std::fs::write(&f, yaml).unwrap();
        let (ok, _, err) = s.kubectl(&["apply", "-f", f.to_str().unwrap()]);
        assert!(!ok);
        assert!(err.contains(want), "want {want:?} in {err:?}");
    }
    let (_, out, _) = s.kubectl(&["get", "svc,deploy,pod,endpointslices", "-o", "name"]);
    assert_eq!(
        out.trim(),
        "service/kubernetes\nendpointslice.discovery.k8s.io/kubernetes",
        "nothing else was created"
    );

    // The Status itself, as a client library sees it.
    let tok = admin_token(&s);
    let svc =
        json!({"apiVersion":"v1","kind":"Service","metadata":{"name":"p"},"spec":{"ports":[{"port":0}]}});
    let (code, st) = call(
        &s,
        "POST",
        "/api/v1/namespaces/default/services",
        Some(&tok),
        Some(&svc),
    );
    assert_eq!(code, 422);
    assert_eq!(st["reason"], "Invalid");
    assert_eq!(st["details"]["causes"][0]["field"], "spec.ports[0].port");
    assert_eq!(st["details"]["causes"][0]["reason"], "FieldValueInvalid");

    let unknown = json!({"apiVersion":"v1","kind":"Frobnicator","metadata":{"name":"x"}});
    let (code, st) = call(
        &s,
        "POST",
        "/api/v1/namespaces/default/pods",
        Some(&tok),
        Some(&unknown),
    );
    assert_eq!((code, st["reason"].as_str()), (400, Some("BadRequest")));
    assert!(st["message"]
        .as_str()
        .unwrap()
        .contains("no kind \"Frobnicator\" is registered"));

    let (code, st) = call(
        &s,
        "GET",
        "/api/v1/namespaces/default/pods/nope",
        Some(&tok),
        None,
    );
    assert_eq!(code, 404);
    assert_eq!(st["message"], "pods \"nope\" not found");
    assert_eq!(st["details"], json!({"name": "nope", "kind": "pods"}));

    // Stale resourceVersion → 409 Conflict.
    let (_, k) = call(
        &s,
        "GET",
        "/api/v1/namespaces/default/services/kubernetes",
        Some(&tok),
        None,
    );
    let mut stale = k.clone();
    stale["metadata"]["resourceVersion"] = json!("1");
    stale["metadata"]["labels"]["x"] = json!("y");
    let (code, st) = call(
        &s,
        "PUT",
        "/api/v1/namespaces/default/services/kubernetes",
        Some(&tok),
        Some(&stale),
    );
    assert_eq!((code, st["reason"].as_str()), (409, Some("Conflict")));
    let (code, st) = call(
        &s,
        "POST",
        "/api/v1/namespaces/default/services",
        Some(&tok),
        Some(&k),
    );
    assert_eq!((code, st["reason"].as_str()), (409, Some("AlreadyExists")));
}

#[test]
fn no_credentials_401_and_bad_token_401() {
    let dir = tempfile::tempdir().unwrap();
    let s = TestServer::start(dir.path());
    let (code, st) = call(&s, "GET", "/api/v1/pods", None, None);
    assert_eq!(
        (code, st["reason"].as_str(), st["kind"].as_str()),
        (401, Some("Unauthorized"), Some("Status"))
    );
    let (code, _) = call(&s, "GET", "/api/v1/pods", Some("not-a-token"), None);
    assert_eq!(code, 401);
    // Public endpoints stay readable.
    assert_eq!(call(&s, "GET", "/version", None, None).0, 200);
    let (code, ci) = call(
        &s,
        "GET",
        "/api/v1/namespaces/kube-public/configmaps/cluster-info",
        None,
        None,
    );
    assert_eq!(code, 200);
    assert!(ci["data"]["kubeconfig"]
        .as_str()
        .unwrap()
        .contains("certificate-authority-data"));
    // kubectl with a wrong token reports the 401.
    let bad = s.home.path().join("bad.kubeconfig");
    let good = std::fs::read_to_string(s.kubeconfig()).unwrap();
    let tok = admin_token(&s);
    std::fs::write(&bad, good.replace(&tok, "wrong")).unwrap();
    let (ok, _, err) = s.kubectl_with(&bad, &["get", "pods"]);
    assert!(!ok);
    assert!(
        err.contains("Unauthorized") || err.contains("must be logged in"),
        "{err}"
    );
}

#[test]
fn watch_from_too_old_revision_gets_410() {
    let dir = tempfile::tempdir().unwrap();
    let s = TestServer::start(dir.path());
    let tok = admin_token(&s);
    let window = labyrinth_apiserver::store::log::HISTORY_PER_RESOURCE;
    let store = s.running().state.store.clone();
    for i in 0..window + 10 {
        let cm = json!({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":format!("c{i}"),"namespace":"default"}});
        store
            .create("configmaps", "default", &format!("c{i}"), cm)
            .unwrap();
    }
    let (code, ev) = call(
        &s,
        "GET",
        "/api/v1/namespaces/default/configmaps?watch=true&resourceVersion=2",
        Some(&tok),
        None,
    );
    assert_eq!(code, 200);
    assert_eq!(ev["type"], "ERROR");
    assert_eq!(ev["object"]["code"], 410);
    assert_eq!(ev["object"]["reason"], "Expired");
    assert!(ev["object"]["message"]
        .as_str()
        .unwrap()
        .starts_with("too old resource version: 2 ("));
}
