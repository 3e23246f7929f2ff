//! Issue 16: probes as the kubelet runs them, in one lab through the
//! machine's kubectl. A readiness probe on a file toggled by `kubectl exec`
//! moves a pod into and out of its Service's ready endpoints (the
//! EndpointSlice's `conditions.ready`, and curl through the ClusterIP
//! reaching only the ready pods); a failing liveness probe restarts its
//! container with the kubelet's Unhealthy and Killing events; httpGet (by
//! the container port's name, with a header) and tcpSocket probes against
//! agnhost netexec; a startup probe holds the others until it passes.

mod common;
use common::journey::*;
use common::*;

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

const PROBED: &str = r#"
apiVersion: v1
kind: Pod
metadata: {name: alive}
spec:
  nodeName: node-2
  terminationGracePeriodSeconds: 2
  containers:
  - name: main
    image: busybox
    command: [sh, -c, "touch /tmp/healthy; exec sleep 3600"]
    livenessProbe:
      exec: {command: [test, -e, /tmp/healthy]}
      periodSeconds: 1
      failureThreshold: 2
---
apiVersion: v1
kind: Pod
metadata: {name: netexec}
spec:
  nodeName: node-1
  containers:
  - name: main
    image: registry.k8s.io/e2e-test-images/agnhost:2.52
    command: [/agnhost, netexec, --http-port=8080]
    ports: [{name: http, containerPort: 8080}]
    startupProbe:
      tcpSocket: {port: 8080}
      periodSeconds: 1
      failureThreshold: 30
    readinessProbe:
      httpGet: {path: /hostname, port: http, httpHeaders: [{name: X-Probe, value: labyrinth}]}
      periodSeconds: 1
    livenessProbe:
      tcpSocket: {port: http}
      periodSeconds: 1
---
apiVersion: v1
kind: Pod
metadata: {name: closed}
spec:
  nodeName: node-2
  containers:
  - name: main
    image: registry.k8s.io/e2e-test-images/agnhost:2.52
    command: [/agnhost, netexec, --http-port=8080]
    readinessProbe:
      tcpSocket: {port: 9999}
      periodSeconds: 1
---
apiVersion: v1
kind: Pod
metadata: {name: slow-start}
spec:
  nodeName: node-1
  containers:
  - name: main
    image: busybox
    command: [sleep, "3600"]
    startupProbe:
      exec: {command: [test, -e, /tmp/started]}
      periodSeconds: 1
      failureThreshold: 600
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

fn pod_json(lab: &Lab, name: &str) -> serde_json::Value {
    serde_json::from_str(&kubectl_ok(lab, &["get", "pod", name, "-o", "json"])).unwrap()
}

fn condition(lab: &Lab, pod: &str, kind: &str) -> String {
    let p = pod_json(lab, pod);
    let conds = p["status"]["conditions"].as_array().cloned().unwrap_or_default();
    conds
        .iter()
        .find(|c| c["type"] == kind)
        .and_then(|c| c["status"].as_str())
        .unwrap_or("")
        .to_string()
}

/// The Service's endpoints as (pod name, ready), from its EndpointSlices.
fn endpoints(lab: &Lab, svc: &str) -> Vec<(String, bool)> {
    let sel = format!("kubernetes.io/service-name={svc}");
    let all: serde_json::Value = serde_json::from_str(&kubectl_ok(
        lab,
        &["get", "endpointslices", "-l", &sel, "-o", "json"],
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
    let out = exec_ok(lab, "default", "client", &cmd);
    out.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect()
}

fn set(names: &[&str]) -> std::collections::BTreeSet<String> {
    names.iter().map(|s| s.to_string()).collect()
}

/// Events of `pod` as (reason, message).
fn events_of(lab: &Lab, pod: &str) -> Vec<(String, String)> {
    let all: serde_json::Value =
        serde_json::from_str(&kubectl_ok(lab, &["get", "events", "-o", "json"])).unwrap();
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

fn readiness_moves_pods_in_and_out_of_the_service(lab: &Lab) {
    kubectl_apply(lab, "default", WEB);
    for (name, node) in [("web-a", "node-1"), ("web-b", "node-2")] {
        kubectl_apply(lab, "default", &web_pod(name, node));
    }
    wait_ready(lab, "default", "client");
    // Running, probed, not ready: listed in the slice, not ready.
    wait_until("both web pods listed not ready", || {
        endpoints(lab, "web") == [("web-a".to_string(), false), ("web-b".to_string(), false)]
    });
    assert_eq!(condition(lab, "web-a", "Ready"), "False");
    assert_eq!(condition(lab, "web-a", "ContainersReady"), "False");
    let ip = kubectl_ok(lab, &["get", "svc", "web", "-o", "jsonpath={.spec.clusterIP}"]);

    kubectl_ok(lab, &["exec", "web-a", "--", "touch", "/tmp/ready"]);
    wait_ready(lab, "default", "web-a");
    wait_until("web-a ready in the slice", || {
        endpoints(lab, "web") == [("web-a".to_string(), true), ("web-b".to_string(), false)]
    });
    wait_until("only web-a answers", || answering(lab, &ip) == set(&["web-a"]));
    assert_eq!(
        answering(lab, &ip),
        set(&["web-a"]),
        "a not-ready pod got traffic"
    );

    kubectl_ok(lab, &["exec", "web-b", "--", "touch", "/tmp/ready"]);
    wait_ready(lab, "default", "web-b");
    wait_until("both answer", || answering(lab, &ip) == set(&["web-a", "web-b"]));

    // web-a fails its probe: three failures (the default threshold) later
    // it leaves the Service's ready endpoints and gets no new connection.
    kubectl_ok(lab, &["exec", "web-a", "--", "rm", "/tmp/ready"]);
    wait_until("web-a not ready", || condition(lab, "web-a", "Ready") == "False");
    let p = pod_json(lab, "web-a");
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
    let ev = events_of(lab, "web-a");
    assert!(
        ev.iter()
            .any(|(r, m)| r == "Unhealthy" && m.starts_with("Readiness probe failed:")),
        "{ev:?}"
    );
}

fn liveness_restarts_and_http_tcp_startup_probes(lab: &Lab) {
    kubectl_apply(lab, "default", PROBED);
    wait_ready(lab, "default", "alive");
    wait_ready(lab, "default", "netexec");
    let p = pod_json(lab, "netexec");
    assert_eq!(p["status"]["containerStatuses"][0]["started"], true, "{p}");
    assert_eq!(p["status"]["containerStatuses"][0]["restartCount"], 0, "{p}");

    // The startup probe holds the pod: running, not started, not ready.
    wait_until("slow-start running", || {
        pod_json(lab, "slow-start")["status"]["containerStatuses"][0]["state"]["running"].is_object()
    });
    for _ in 0..5 {
        let p = pod_json(lab, "slow-start");
        assert_eq!(p["status"]["containerStatuses"][0]["started"], false, "{p}");
        assert_eq!(condition(lab, "slow-start", "Ready"), "False");
        std::thread::sleep(std::time::Duration::from_millis(400));
    }
    kubectl_ok(lab, &["exec", "slow-start", "--", "touch", "/tmp/started"]);
    wait_ready(lab, "default", "slow-start");

    // A tcpSocket probe on a closed port: never ready, and says why.
    wait_until("closed's probe failure", || {
        events_of(lab, "closed").iter().any(|(r, m)| {
            r == "Unhealthy" && m.starts_with("Readiness probe failed: dial tcp") && m.contains(":9999")
        })
    });
    assert_eq!(condition(lab, "closed", "Ready"), "False");

    // Liveness: the file goes, two failures later the container is killed
    // and started again.
    kubectl_ok(lab, &["exec", "alive", "--", "rm", "/tmp/healthy"]);
    wait_until("alive restarted", || {
        pod_json(lab, "alive")["status"]["containerStatuses"][0]["restartCount"]
            .as_i64()
            .unwrap_or(0)
            >= 1
    });
    let ev = events_of(lab, "alive");
    assert!(
        ev.iter()
            .any(|(r, m)| r == "Unhealthy" && m.starts_with("Liveness probe failed:")),
        "{ev:?}"
    );
    assert!(
        ev.iter()
            .any(|(r, m)| r == "Killing" && m == "Container main failed liveness probe, will be restarted"),
        "{ev:?}"
    );
    // Restarted (the back-off's first 10 s), it is healthy again.
    kubectl_ok(
        lab,
        &["wait", "--for=condition=Ready", "pod/alive", "--timeout=60s"],
    );
}

#[test]
fn probes_drive_readiness_endpoints_and_restarts() {
    if !need_root("probes_drive_readiness_endpoints_and_restarts") {
        return;
    }
    let lab = Lab::cluster("probe", &[]);
    readiness_moves_pods_in_and_out_of_the_service(&lab);
    liveness_restarts_and_http_tcp_startup_probes(&lab);
    lab.down();
}
