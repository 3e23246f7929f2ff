//! v1 Endpoints as a kind: stored, validated with field paths, printed by
//! `kubectl get endpoints` with the real columns. (The controller that keeps
//! them in step with EndpointSlices is tested in crates/controllers.)

mod common;
use common::TestServer;

const HAND_MADE: &str = r#"
apiVersion: v1
kind: Endpoints
metadata: {name: external-db}
subsets:
- addresses: [{ip: 10.1.0.1}, {ip: 10.1.0.2}]
  notReadyAddresses: [{ip: 10.1.0.9}]
  ports: [{name: pg, port: 5432, protocol: TCP}, {name: metrics, port: 9187, protocol: TCP}]
"#;

#[test]
fn kubectl_get_endpoints_and_validation() {
    let dir = tempfile::tempdir().unwrap();
    let s = TestServer::start(dir.path());
    let out = s.apply(HAND_MADE, &[]);
    assert!(out.contains("endpoints/external-db created"), "{out}");

    let out = s.ok(&["get", "ep"]);
    let mut lines = out.lines();
    let head: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(head, ["NAME", "ENDPOINTS", "AGE"], "{out}");
    let row = out.lines().find(|l| l.starts_with("external-db")).expect(&out);
    // Ready addresses only, ip:port per port, three then a count.
    assert!(
        row.contains(" 10.1.0.1:5432,10.1.0.1:9187,10.1.0.2:5432 + 1 more... "),
        "{out}"
    );
    // The API server keeps the `kubernetes` Service's Endpoints.
    assert!(out.lines().any(|l| l.starts_with("kubernetes ")), "{out}");

    let bad = HAND_MADE
        .replace("external-db", "bad")
        .replace("10.1.0.2", "not-an-ip")
        .replace("protocol: TCP}]", "protocol: ICMP}]");
    let f = s.home.path().join("bad.yaml");
    std::fs::write(&f, bad).unwrap();
    let (ok, _, err) = s.kubectl(&["apply", "-f", f.to_str().unwrap()]);
    assert!(!ok);
    assert!(
        err.contains("subsets[0].addresses[1].ip: Invalid value: \"not-an-ip\""),
        "{err}"
    );
    assert!(
        err.contains("subsets[0].ports[1].protocol: Unsupported value: \"ICMP\""),
        "{err}"
    );
    let (ok, _, _) = s.kubectl(&["get", "ep", "bad"]);
    assert!(!ok, "an invalid Endpoints was stored");
}
