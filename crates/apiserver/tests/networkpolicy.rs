//! networking.k8s.io/v1 NetworkPolicy through the machine's real kubectl:
//! applied, listed with kubectl's columns, and refused with field paths
//! when invalid.

mod common;
use common::TestServer;

fn example() -> String {
    concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/netpol/deny-all.yaml").to_string()
}

const INVALID: &str = r#"
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: bad, namespace: default}
spec:
  podSelector: {}
  ingress:
  - from:
    - ipBlock: {cidr: 10.0.0.0/33}
    - ipBlock: {cidr: 10.0.0.0/16, except: [10.1.0.0/24]}
    ports:
    - port: 0
    - {port: 90, endPort: 80}
    - {protocol: ICMP}
"#;

#[test]
fn deny_all_applies_lists_and_invalid_policies_get_422() {
    let dir = tempfile::tempdir().unwrap();
    let s = TestServer::start(dir.path());
    let out = s.ok(&["-n", "default", "apply", "-f", &example()]);
    assert!(
        out.contains("networkpolicy.networking.k8s.io/deny-all created"),
        "{out}"
    );
    let out = s.ok(&["-n", "default", "apply", "-f", &example()]);
    assert!(out.contains("deny-all unchanged"), "{out}");
    let out = s.ok(&["-n", "default", "get", "netpol"]);
    let head: Vec<&str> = out.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(head, ["NAME", "POD-SELECTOR", "AGE"]);
    let row: Vec<&str> = out.lines().nth(1).unwrap().split_whitespace().collect();
    assert_eq!(row[..2], ["deny-all", "<none>"]);

    let f = dir.path().join("bad.yaml");
    std::fs::write(&f, INVALID).unwrap();
    let (ok, _, err) = s.kubectl(&["apply", "-f", f.to_str().unwrap()]);
    assert!(!ok);
    assert!(err.contains("is invalid"), "{err}");
    for field in [
        "spec.ingress[0].ports[0].port",
        "spec.ingress[0].ports[1].endPort",
        "spec.ingress[0].ports[2].protocol",
        "spec.ingress[0].from[0].ipBlock.cidr",
        "spec.ingress[0].from[1].ipBlock.except[0]",
    ] {
        assert!(err.contains(field), "{field} not named in {err}");
    }
    let (_, _, err) = s.kubectl(&["-n", "default", "get", "netpol", "bad"]);
    assert!(err.contains("not found"), "{err}");
    s.ok(&["-n", "default", "delete", "netpol", "deny-all"]);
}
