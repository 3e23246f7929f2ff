//! `pods/exec` refusals the API server makes itself, as kubectl shows them:
//! a pod without a node, a node without an address, an agent that does not
//! answer. (Exec through a real agent is tested in a lab: labyrinth's
//! tests/kubectl_exec.rs.)

mod common;
use common::*;

const POD: &str = r#"
apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  containers: [{name: main, image: busybox}]
"#;

fn exec(s: &TestServer) -> String {
    let (ok, _, err) = s.kubectl(&["exec", "p", "--", "true"]);
    assert!(!ok);
    err
}

#[test]
fn exec_refusals_name_the_cause() {
    let dir = tempfile::tempdir().unwrap();
    let s = TestServer::start(dir.path());
    s.apply(POD, &[]);
    let err = exec(&s);
    assert!(
        err.contains("Error from server (BadRequest): pod p does not have a host assigned"),
        "{err}"
    );

    // Bound to a node that has no address yet.
    s.apply(NODES, &[]);
    let binding = r#"{"spec":{"nodeName":"node-1"}}"#;
    s.ok(&["patch", "pod", "p", "--type=merge", "-p", binding]);
    let err = exec(&s);
    assert!(err.contains("node \"node-1\" has no InternalIP address"), "{err}");

    // An address where no agent listens (a port just released).
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut status: serde_json::Value = serde_json::from_str(&ready_status("127.0.0.1")).unwrap();
    status["status"]["daemonEndpoints"] = serde_json::json!({"kubeletEndpoint": {"Port": port}});
    s.ok(&status_patch("node", "node-1", &status.to_string()));
    let err = exec(&s);
    assert!(
        err.contains(&format!("error dialing backend: 127.0.0.1:{port}")),
        "{err}"
    );

    // Discovery tells clients the subresource exists.
    let res = s.ok(&["get", "--raw", "/api/v1"]);
    assert!(res.contains("\"name\":\"pods/exec\""), "{res}");
}
