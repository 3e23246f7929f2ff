//! kubectl's `create` generators send protobuf bodies (with no JSON
//! fallback): each one, run by the machine's kubectl, makes the object a
//! JSON manifest would, read back as JSON.

mod common;
use common::TestServer;
use serde_json::{json, Value};

fn get(s: &TestServer, what: &[&str]) -> Value {
    let out = s.ok(&[what, &["-o", "json"]].concat());
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
}

#[test]
fn create_generators_make_the_objects_they_describe() {
    let dir = tempfile::tempdir().unwrap();
    let s = TestServer::start(dir.path());
    s.ok(&["create", "namespace", "gen"]);
    let n = |args: &[&str]| s.ok(&[&["-n", "gen"][..], args].concat());

    let out = n(&[
        "create",
        "deployment",
        "web",
        "--image=nginx",
        "--replicas=0",
        "--port=80",
        "--",
        "nginx",
        "-g",
        "daemon off;",
    ]);
    assert!(out.contains("deployment.apps/web created"), "{out}");
    let d = get(&s, &["-n", "gen", "get", "deployment", "web"]);
    // An explicit 0 stays 0 (a pointer field), not the default 1.
    assert_eq!(d["spec"]["replicas"], 0, "{d}");
    assert_eq!(d["spec"]["selector"], json!({"matchLabels": {"app": "web"}}));
    let c = &d["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(c["image"], "nginx");
    assert_eq!(c["command"], json!(["nginx", "-g", "daemon off;"]));
    assert_eq!(c["ports"], json!([{"containerPort": 80, "protocol": "TCP"}]));
    assert_eq!(d["spec"]["template"]["metadata"]["labels"], json!({"app": "web"}));

    let out = n(&[
        "create",
        "service",
        "clusterip",
        "web",
        "--tcp=80:8080",
        "--tcp=443:https",
    ]);
    assert!(out.contains("service/web created"), "{out}");
    let svc = get(&s, &["-n", "gen", "get", "service", "web"]);
    assert_eq!(svc["spec"]["type"], "ClusterIP");
    assert_eq!(svc["spec"]["selector"], json!({"app": "web"}));
    let ports: Vec<(Value, Value, Value)> = svc["spec"]["ports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["name"].clone(), p["port"].clone(), p["targetPort"].clone()))
        .collect();
    assert_eq!(
        ports,
        [
            (json!("80-8080"), json!(80), json!(8080)),
            (json!("443-https"), json!(443), json!("https"))
        ]
    );
    assert!(
        svc["spec"]["clusterIP"].as_str().unwrap().starts_with("10.96."),
        "{svc}"
    );

    let out = n(&[
        "create",
        "secret",
        "generic",
        "creds",
        "--from-literal=user=admin",
        "--from-literal=pass=s3cr=t",
    ]);
    assert!(out.contains("secret/creds created"), "{out}");
    let sec = get(&s, &["-n", "gen", "get", "secret", "creds"]);
    assert_eq!(sec["type"], "Opaque");
    assert_eq!(sec["data"], json!({"user": "YWRtaW4=", "pass": "czNjcj10"}));

    n(&["create", "serviceaccount", "robot"]);
    n(&["create", "configmap", "conf", "--from-literal=mode=fast"]);
    let cm = get(&s, &["-n", "gen", "get", "configmap", "conf"]);
    assert_eq!(cm["data"], json!({"mode": "fast"}));

    // Invalid objects sent as protobuf meet the same validation as JSON,
    // and nothing is created.
    let (ok, _, err) = s.kubectl(&["-n", "gen", "create", "deployment", "Bad_Name", "--image=nginx"]);
    assert!(!ok);
    assert!(err.contains("Invalid") && err.contains("metadata.name"), "{err}");
    let (ok, _, err) = s.kubectl(&[
        "-n",
        "gen",
        "create",
        "service",
        "clusterip",
        "p",
        "--tcp=70000:80",
    ]);
    assert!(!ok, "{err}");
    let names = s.ok(&["-n", "gen", "get", "deploy,svc", "-o", "name"]);
    assert_eq!(
        names.lines().collect::<Vec<_>>(),
        ["deployment.apps/web", "service/web"]
    );
}
