//! Issue 16, acceptance 5, shared by the datapaths' root tests: a pod
//! failing its readiness probe leaves its Service's ready endpoints (the
//! EndpointSlice's `conditions.ready`) and gets no new connection through
//! the ClusterIP, while a ready one does. The probe is on a file toggled
//! by `kubectl exec`; the pods live in a namespace of their own, so the
//! scenario runs beside whatever else a lab holds.

use super::journey::*;
use super::Lab;

/// Where the scenario's objects live.
pub const NS: &str = "readiness";

const WEB: &str = r#"
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports: [{port: 80, targetPort: 8080}]
---
apiVersion: v1
kind: Pod
metadata: {name: client}
spec:
  nodeName: node-1
  containers:
  - {name: main, image: curlimages/curl, command: [sleep, 365d]}
"#;

/// A netexec pod behind `web`, ready once its /tmp/ready exists.
fn web_pod(name: &str, node: &str) -> String {
    format!(
        r#"
apiVersion: v1
kind: Pod
metadata: {{name: {name}, labels: {{app: web}}}}
spec:
  nodeName: {node}
  containers:
  - name: main
    image: registry.k8s.io/e2e-test-images/agnhost:2.52
    command: [/agnhost, netexec, --http-port=8080]
    readinessProbe:
      exec: {{command: [test, -e, /tmp/ready]}}
      periodSeconds: 1
"#
    )
}

pub fn pod_json(lab: &Lab, ns: &str, name: &str) -> serde_json::Value {
    serde_json::from_str(&kubectl_ok(lab, &["-n", ns, "get", "pod", name, "-o", "json"])).unwrap()
}

/// The status ("True", "False") of the pod's condition `kind`.
pub fn condition(lab: &Lab, ns: &str, pod: &str, kind: &str) -> String {
    let p = pod_json(lab, ns, pod);
    let conds = p["status"]["conditions"].as_array().cloned().unwrap_or_default();
    conds
        .iter()
        .find(|c| c["type"] == kind)
        .and_then(|c| c["status"].as_str())
        .unwrap_or("")
        .to_string()
}

/// Events of `pod` as (reason, message).
pub fn events_of(lab: &Lab, ns: &str, pod: &str) -> Vec<(String, String)> {
    let all: serde_json::Value =
        serde_json::from_str(&kubectl_ok(lab, &["-n", ns, "get", "events", "-o", "json"])).unwrap();
    all["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["involvedObject"]["name"] == pod)
        .map(|e| {
            let s = |k: &str| e[k].as_str().unwrap_or("").to_string();
            (s("reason"), s("message"))
        })
        .collect()
}

/// The Service's endpoints as (pod name, ready), from its EndpointSlices.
fn endpoints(lab: &Lab, svc: &str) -> Vec<(String, bool)> {
    let sel = format!("kubernetes.io/service-name={svc}");
    let all: serde_json::Value = serde_json::from_str(&kubectl_ok(
        lab,
        &["-n", NS, "get", "endpointslices", "-l", &sel, "-o", "json"],
    ))
    .unwrap();
    let mut out: Vec<(String, bool)> = all["items"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["endpoints"].as_array().cloned().unwrap_or_default())
        .map(|e| {
            let name = e["targetRef"]["name"].as_str().unwrap_or("").to_string();
            (name, e["conditions"]["ready"] == true)
        })
        .collect();
    out.sort();
    out
}

/// Which pods answer 20 requests through the Service's ClusterIP.
fn answering(lab: &Lab, ip: &str) -> std::collections::BTreeSet<String> {
    let cmd = format!("for i in $(seq 20); do curl -s -m 2 http://{ip}/hostname; echo; done");
    let out = exec_ok(lab, NS, "client", &cmd);
    out.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect()
}

fn set(names: &[&str]) -> std::collections::BTreeSet<String> {
    names.iter().map(|s| s.to_string()).collect()
}

/// The scenario, in `lab` (whatever its datapath); its namespace is
/// deleted at the end.
pub fn readiness_moves_pods_in_and_out_of_the_service(lab: &Lab) {
    kubectl_ok(lab, &["create", "namespace", NS]);
    kubectl_apply(lab, NS, WEB);
    for (name, node) in [("web-a", "node-1"), ("web-b", "node-2")] {
        kubectl_apply(lab, NS, &web_pod(name, node));
    }
    wait_ready(lab, NS, "client");
    // Running, probed, not ready: listed in the slice, not ready.
    wait_until("both web pods listed not ready", || {
        endpoints(lab, "web") == [("web-a".to_string(), false), ("web-b".to_string(), false)]
    });
    assert_eq!(condition(lab, NS, "web-a", "Ready"), "False");
    assert_eq!(condition(lab, NS, "web-a", "ContainersReady"), "False");
    let ip = kubectl_ok(
        lab,
        &["-n", NS, "get", "svc", "web", "-o", "jsonpath={.spec.clusterIP}"],
    );

    kubectl_ok(lab, &["-n", NS, "exec", "web-a", "--", "touch", "/tmp/ready"]);
    wait_ready(lab, NS, "web-a");
    wait_until("web-a ready in the slice", || {
        endpoints(lab, "web") == [("web-a".to_string(), true), ("web-b".to_string(), false)]
    });
    wait_until("only web-a answers", || answering(lab, &ip) == set(&["web-a"]));
    assert_eq!(
        answering(lab, &ip),
        set(&["web-a"]),
        "a not-ready pod got traffic"
    );

    kubectl_ok(lab, &["-n", NS, "exec", "web-b", "--", "touch", "/tmp/ready"]);
    wait_ready(lab, NS, "web-b");
    wait_until("both answer", || answering(lab, &ip) == set(&["web-a", "web-b"]));

    // web-a fails its probe: three failures (the default threshold) later
    // it leaves the Service's ready endpoints and gets no new connection.
    kubectl_ok(lab, &["-n", NS, "exec", "web-a", "--", "rm", "/tmp/ready"]);
    wait_until("web-a not ready", || {
        condition(lab, NS, "web-a", "Ready") == "False"
    });
    let p = pod_json(lab, NS, "web-a");
    assert_eq!(p["status"]["containerStatuses"][0]["ready"], false, "{p}");
    assert_eq!(p["status"]["phase"], "Running", "{p}");
    wait_until("web-a not ready in the slice", || {
        endpoints(lab, "web") == [("web-a".to_string(), false), ("web-b".to_string(), true)]
    });
    wait_until("only web-b answers", || answering(lab, &ip) == set(&["web-b"]));
    for _ in 0..3 {
        assert_eq!(
            answering(lab, &ip),
            set(&["web-b"]),
            "a not-ready pod got traffic"
        );
    }
    // Events follow the kubelet's work by up to a second
    // (`labyrinth_contracts::recorder`).
    wait_until("web-a's readiness failure event", || {
        events_of(lab, NS, "web-a")
            .iter()
            .any(|(r, m)| r == "Unhealthy" && m.starts_with("Readiness probe failed:"))
    });
    kubectl_ok(lab, &["delete", "namespace", NS, "--wait=false"]);
}
