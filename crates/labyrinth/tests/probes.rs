//! Issue 16: probes as the kubelet runs them, in one lab through the
//! machine's kubectl. A readiness probe on a file toggled by `kubectl exec`
//! (`common::readiness`, also run in the nftables and eBPF labs of
//! `services`)
//! moves a pod into and out of its Service's ready endpoints (the
//! EndpointSlice's `conditions.ready`, and curl through the ClusterIP
//! reaching only the ready pods); a failing liveness probe restarts its
//! container with the kubelet's Unhealthy and Killing events; httpGet (by
//! the container port's name, with a header) and tcpSocket probes against
//! agnhost netexec; a startup probe holds the others until it passes.

mod common;
use common::journey::*;
use common::readiness;
use common::*;

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

fn pod_json(lab: &Lab, name: &str) -> serde_json::Value {
    readiness::pod_json(lab, "default", name)
}

fn condition(lab: &Lab, pod: &str, kind: &str) -> String {
    readiness::condition(lab, "default", pod, kind)
}

fn events_of(lab: &Lab, pod: &str) -> Vec<(String, String)> {
    readiness::events_of(lab, "default", pod)
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
    // Events follow the kubelet's work by up to a second
    // (`labyrinth_contracts::recorder`).
    wait_until("alive's liveness failure and kill events", || {
        let ev = events_of(lab, "alive");
        ev.iter()
            .any(|(r, m)| r == "Unhealthy" && m.starts_with("Liveness probe failed:"))
            && ev.iter().any(|(r, m)| {
                r == "Killing" && m == "Container main failed liveness probe, will be restarted"
            })
    });
    // Restarted (at once: a first exit has no back-off), it is healthy again.
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
    readiness::readiness_moves_pods_in_and_out_of_the_service(&lab);
    liveness_restarts_and_http_tcp_startup_probes(&lab);
    lab.down();
}
