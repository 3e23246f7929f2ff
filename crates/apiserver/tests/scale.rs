//! The scale subresource of Deployments and ReplicaSets, through the
//! machine's kubectl (`kubectl scale` patches it) and raw requests as
//! autoscalers send them.

mod common;
use common::{call, TestServer};
use serde_json::{json, Value};

const DEPLOY: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: c, image: registry.k8s.io/pause}]}
---
apiVersion: apps/v1
kind: ReplicaSet
metadata: {name: solo}
spec:
  replicas: 1
  selector: {matchLabels: {app: solo}}
  template:
    metadata: {labels: {app: solo}}
    spec: {containers: [{name: c, image: registry.k8s.io/pause}]}
"#;

fn replicas(s: &TestServer, what: &str) -> String {
    s.ok(&["get", what, "-o", "jsonpath={.spec.replicas}"])
}

#[test]
fn kubectl_scale_and_the_scale_subresource() {
    let dir = tempfile::tempdir().unwrap();
    let s = TestServer::start(dir.path());
    s.apply(DEPLOY, &[]);

    let out = s.ok(&["scale", "deploy/web", "--replicas=5"]);
    assert!(out.contains("deployment.apps/web scaled"), "{out}");
    assert_eq!(replicas(&s, "deploy/web"), "5");
    let out = s.ok(&["scale", "rs/solo", "--replicas=0"]);
    assert!(out.contains("replicaset.apps/solo scaled"), "{out}");
    assert_eq!(replicas(&s, "rs/solo"), "0");
    // --current-replicas makes kubectl send a precondition; a wrong one fails.
    let (ok, _, err) = s.kubectl(&["scale", "deploy/web", "--current-replicas=3", "--replicas=1"]);
    assert!(!ok && err.contains("Expected replicas to be 3"), "{err}");
    assert_eq!(replicas(&s, "deploy/web"), "5");

    let path = "/apis/apps/v1/namespaces/default/deployments/web/scale";
    let (code, sc) = call(&s, "GET", path, None);
    assert_eq!(code, 200, "{sc}");
    assert_eq!(
        (sc["kind"].as_str(), sc["apiVersion"].as_str()),
        (Some("Scale"), Some("autoscaling/v1"))
    );
    assert_eq!(sc["spec"]["replicas"], 5);
    assert_eq!(sc["status"]["selector"], "app=web");

    // PUT with a stale resourceVersion: 409; with none: applied.
    let mut put = sc.clone();
    put["spec"]["replicas"] = json!(3);
    put["metadata"]["resourceVersion"] = json!("1");
    assert_eq!(call(&s, "PUT", path, Some(&put)).0, 409);
    put["metadata"].as_object_mut().unwrap().remove("resourceVersion");
    let (code, back) = call(&s, "PUT", path, Some(&put));
    assert_eq!(
        (code, back["spec"]["replicas"].as_i64()),
        (200, Some(3)),
        "{back}"
    );

    // Negative replicas: 422 naming the field, nothing changed.
    put["spec"]["replicas"] = json!(-1);
    let (code, st) = call(&s, "PUT", path, Some(&put));
    assert_eq!(code, 422, "{st}");
    assert_eq!(st["reason"], "Invalid");
    assert_eq!(st["details"]["causes"][0]["field"], "spec.replicas");
    assert!(
        st["message"]
            .as_str()
            .unwrap()
            .contains("must be greater than or equal to 0"),
        "{st}"
    );
    assert_eq!(replicas(&s, "deploy/web"), "3");
    let (code, _) = call(
        &s,
        "GET",
        "/apis/apps/v1/namespaces/default/deployments/nope/scale",
        None,
    );
    assert_eq!(code, 404);

    // Discovery lists the subresources as the real server does.
    let disc: Value = serde_json::from_str(&s.ok(&["get", "--raw", "/apis/apps/v1"])).unwrap();
    for name in ["deployments/scale", "replicasets/scale"] {
        let e = disc["resources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == name)
            .unwrap_or_else(|| panic!("{name} not in {disc}"));
        assert_eq!(
            (e["group"].as_str(), e["version"].as_str(), e["kind"].as_str()),
            (Some("autoscaling"), Some("v1"), Some("Scale"))
        );
        assert_eq!(e["verbs"], json!(["get", "patch", "update"]));
    }
}
