//! pods/NAME/binding over HTTPS, as a scheduler binds: the pod gets its
//! node once, with PodScheduled=True; a second binding, a wrong method and
//! a missing pod are refused with the real server's codes.

mod common;
use common::{call, TestServer};
use serde_json::json;

#[test]
fn a_scheduler_binds_a_pod_once_through_the_binding_subresource() {
    let dir = tempfile::tempdir().unwrap();
    let s = TestServer::start(dir.path());
    s.apply(
        "apiVersion: v1\nkind: Pod\nmetadata: {name: web}\nspec: {containers: [{name: c, image: registry.k8s.io/pause}]}\n",
        &[],
    );
    let uid = s.ok(&["get", "pod", "web", "-o", "jsonpath={.metadata.uid}"]);
    let path = "/api/v1/namespaces/default/pods/web/binding";
    let body = |node: &str| {
        json!({"apiVersion": "v1", "kind": "Binding", "metadata": {"name": "web", "uid": uid},
            "target": {"apiVersion": "v1", "kind": "Node", "name": node}})
    };
    let (code, st) = call(&s, "POST", path, Some(&body("node-1")));
    assert_eq!((code, st["status"].as_str()), (201, Some("Success")), "{st}");
    let got = s.ok(&[
        "get",
        "pod",
        "web",
        "-o",
        "jsonpath={.spec.nodeName} {.status.conditions[?(@.type==\"PodScheduled\")].status}",
    ]);
    assert_eq!(got, "node-1 True");

    let (code, st) = call(&s, "POST", path, Some(&body("node-2")));
    assert_eq!(code, 409, "{st}");
    assert!(
        st["message"]
            .as_str()
            .unwrap()
            .contains("already assigned to node \"node-1\""),
        "{st}"
    );
    assert_eq!(
        s.ok(&["get", "pod", "web", "-o", "jsonpath={.spec.nodeName}"]),
        "node-1"
    );

    let (code, _) = call(&s, "PUT", path, Some(&body("node-2")));
    assert_eq!(code, 405);
    let (code, st) = call(
        &s,
        "POST",
        "/api/v1/namespaces/default/pods/nope/binding",
        Some(&json!({
        "kind": "Binding", "metadata": {"name": "nope"}, "target": {"kind": "Node", "name": "node-1"}})),
    );
    assert_eq!(code, 404, "{st}");
    let (code, st) = call(
        &s,
        "POST",
        path,
        Some(&json!({"kind": "Binding", "metadata": {"name": "web"}, "target": {}})),
    );
    assert_eq!(code, 422, "{st}");
}
