//! Validation and limits as the real server applies them: each refused
//! object gets 422 (or 413) with its field path and nothing is stored; a
//! hostile, deeply nested body is refused without holding up other clients.

mod common;
use common::TestServer;
use labyrinth_apiserver::auth::client::{request, Trust};
use serde_json::{json, Value};

fn ca(s: &TestServer) -> Trust {
    let pem = std::fs::read_to_string(s.kubeconfig().parent().unwrap().join("pki/ca.crt")).unwrap();
    Trust::Ca(labyrinth_apiserver::tls::pem_to_der(&pem).unwrap())
}

fn post(s: &TestServer, path: &str, body: &Value) -> (u16, Value) {
    let tok = s.running().state.admin_token.clone();
    let addr = s.running().addr.to_string();
    s.rt.block_on(request(&addr, &ca(s), "POST", path, Some(&tok), Some(body)))
        .unwrap()
}

/// POST raw bytes with a content type (the hostile body is no JSON value we
/// could build: serde_json itself refuses to nest it).
fn post_raw(addr: &str, token: &str, path: &str, body: Vec<u8>) -> (u16, String) {
    let out = std::process::Command::new("curl")
        .args([
            "-sSk",
            "--http1.1",
            "--expect100-timeout",
            "60",
            "-o",
            "-",
            "-w",
            "\n%{http_code}",
            "-X",
            "POST",
        ])
        .args(["-H", &format!("Authorization: Bearer {token}")])
        .args([
            "-H",
            "Content-Type: application/json",
            "-H",
            "Expect: 100-continue",
        ])
        .args(["--data-binary", "@-"])
        .arg(format!("https://{addr}{path}"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin.take().unwrap().write_all(&body)?;
            c.wait_with_output()
        })
        .expect("curl runs");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    eprintln!("curl: {}", String::from_utf8_lossy(&out.stderr));
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
    (code.trim().parse().unwrap_or(0), body.to_string())
}

fn causes(st: &Value) -> Vec<(String, String)> {
    st["details"]["causes"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| {
            (
                c["field"].as_str().unwrap_or("").to_string(),
                c["message"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

#[test]
fn invalid_and_oversized_objects_are_refused_with_field_paths() {
    let dir = tempfile::tempdir().unwrap();
    let s = TestServer::start(dir.path());
    let ns = "/api/v1/namespaces/default";
    let pod_tmpl =
        json!({"metadata": {"labels": {"app": "a"}}, "spec": {"containers": [{"name": "c", "image": "i"}]}});
    let cases = [
        (
            "/apis/apps/v1/namespaces/default/deployments".to_string(),
            json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "neg"},
                "spec": {"replicas": -1, "selector": {"matchLabels": {"app": "a"}}, "template": pod_tmpl}}),
            "spec.replicas",
            "Invalid value: -1: must be greater than or equal to 0",
        ),
        (
            format!("{ns}/pods"),
            json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "empty"}, "spec": {"containers": []}}),
            "spec.containers",
            "Required value",
        ),
        (
            format!("{ns}/pods"),
            json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "nospec"}}),
            "spec.containers",
            "Required value",
        ),
        (
            format!("{ns}/services"),
            json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "dup"},
                "spec": {"ports": [{"name": "a", "port": 80}, {"name": "b", "port": 80, "protocol": "TCP"}]}}),
            "spec.ports[1]",
            "Duplicate value: core.ServicePort{Name:\"\", Protocol:\"TCP\"",
        ),
        (
            format!("{ns}/configmaps"),
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "two-mb"},
                "data": {"blob": "x".repeat(2 << 20)}}),
            "data",
            "Too long: must have at most 1048576 bytes",
        ),
    ];
    for (path, obj, field, msg) in &cases {
        let (code, st) = post(&s, path, obj);
        assert_eq!((code, st["reason"].as_str()), (422, Some("Invalid")), "{st}");
        let c = causes(&st);
        assert!(
            c.iter().any(|(f, m)| f == field && m.starts_with(msg)),
            "want {field}: {msg} in {c:?}"
        );
    }
    // Same (port, protocol) under another protocol is fine.
    let (code, st) = post(
        &s,
        &format!("{ns}/services"),
        &json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "dns"},
            "spec": {"ports": [{"name": "a", "port": 53}, {"name": "b", "port": 53, "protocol": "UDP"}]}}),
    );
    assert_eq!(code, 201, "{st}");

    // An object over the store's 1.5 MiB (in annotations, which no rule
    // bounds here) is refused; so is a 10 MB body, before it is read whole.
    let big = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "big-meta",
        "annotations": {"a": "x".repeat(800 << 10), "b": "y".repeat(800 << 10)}}});
    let (code, st) = post(&s, &format!("{ns}/configmaps"), &big);
    assert_eq!(
        (code, st["reason"].as_str()),
        (413, Some("RequestEntityTooLarge")),
        "{st}"
    );
    // The 10 MB body goes with `Expect: 100-continue`: the answer comes from
    // its Content-Length alone, before any of it is sent, so the client
    // reads the 413 instead of a reset from a server that stopped reading.
    let huge = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "ten-mb"},
        "data": {"blob": "x".repeat(10 << 20)}});
    let addr = s.running().addr.to_string();
    let tok = s.running().state.admin_token.clone();
    let (code, body) = post_raw(
        &addr,
        &tok,
        &format!("{ns}/configmaps"),
        huge.to_string().into_bytes(),
    );
    assert_eq!(code, 413, "{body}");
    let st: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(st["reason"], "RequestEntityTooLarge");
    assert_eq!(st["message"], "Request entity too large: limit is 3145728");

    // Nothing of the above was stored.
    let out = s.ok(&["get", "deploy,pods,svc,cm", "-o", "name"]);
    let names: Vec<&str> = out.lines().collect();
    assert!(names.contains(&"service/dns"), "{out}");
    for bad in ["neg", "empty", "nospec", "dup", "two-mb", "big-meta", "ten-mb"] {
        assert!(
            !names.iter().any(|n| n.ends_with(&format!("/{bad}"))),
            "{bad} was stored:\n{out}"
        );
    }
}

/// A 100,000-deep `[[[…]]]` is refused (400, before decoding) while kubectl
/// keeps being answered: both run at the same time, kubectl repeatedly
/// until the hostile sender is done.
#[test]
fn a_deeply_nested_body_is_refused_without_delaying_others() {
    let dir = tempfile::tempdir().unwrap();
    let s = TestServer::start(dir.path());
    let addr = s.running().addr.to_string();
    let tok = s.running().state.admin_token.clone();
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000)).into_bytes();
    let hostile = std::thread::spawn(move || {
        (0..10)
            .map(|_| post_raw(&addr, &tok, "/api/v1/namespaces/default/configmaps", deep.clone()))
            .collect::<Vec<_>>()
    });
    let mut answered = 0;
    while !hostile.is_finished() || answered == 0 {
        let out = s.ok(&["get", "ns", "--request-timeout=20s"]);
        assert!(out.contains("kube-system"), "{out}");
        answered += 1;
    }
    for (code, body) in hostile.join().unwrap() {
        assert_eq!(code, 400, "{body}");
        assert!(body.contains("nesting depth exceeds 128"), "{body}");
    }
    eprintln!("kubectl get ns answered {answered} times meanwhile");
}
