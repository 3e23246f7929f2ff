//! Issue 16, acceptance 1–3: containers without a command run what their
//! image runs (crates/agent/images.yaml), checked with the real clients:
//! nginx behind a Service answers 300 curls from all three replicas, httpbin
//! sees the curl pod's address, agnhost's serve-hostname, connect and
//! netexec answer as upstream's do, and `ip` in a pod prints no error.
//! One lab for the three.

mod common;

use common::*;

/// kubectl exec POD -- sh -c CMD, stdout, failing on a non-zero status.
fn sh(lab: &Lab, pod: &str, cmd: &str) -> String {
    kubectl_ok(lab, &["exec", pod, "--", "sh", "-c", cmd])
}

fn wait_ready(lab: &Lab, what: &[&str]) {
    let mut args = vec!["wait", "--for=condition=Ready", "--timeout=180s"];
    args.extend_from_slice(what);
    kubectl_ok(lab, &args);
}

/// `sh -c` loop text: retry CMD until it succeeds (a server in a new
/// container may still be starting), at most ~20 s.
fn retrying(cmd: &str) -> String {
    format!("for i in $(seq 100); do {cmd} && exit 0; sleep 0.2; done; exit 1")
}

const MANIFESTS: &str = "\
apiVersion: apps/v1
kind: Deployment
metadata: {name: test}
spec:
  replicas: 3
  selector: {matchLabels: {app: test}}
  template:
    metadata: {labels: {app: test}}
    spec:
      containers: [{name: nginx, image: nginx}]
---
apiVersion: v1
kind: Service
metadata: {name: test}
spec:
  selector: {app: test}
  ports: [{port: 80}]
---
apiVersion: v1
kind: Pod
metadata: {name: curl}
spec:
  nodeName: node-1
  containers: [{name: curl, image: curlimages/curl, command: [sleep, 365d]}]
---
apiVersion: v1
kind: Pod
metadata: {name: httpbin}
spec:
  nodeName: node-2
  containers: [{name: httpbin, image: docker.io/kennethreitz/httpbin}]
---
apiVersion: v1
kind: Pod
metadata: {name: hostnames}
spec:
  nodeName: node-2
  containers:
  - name: agnhost
    image: registry.k8s.io/e2e-test-images/agnhost:2.52
    args: [serve-hostname, --tcp, --udp, --http=false, --port, \"9376\"]
---
apiVersion: v1
kind: Pod
metadata: {name: netexec}
spec:
  nodeName: node-1
  containers:
  - name: agnhost
    image: registry.k8s.io/e2e-test-images/agnhost:2.52
    command: [/agnhost, netexec, --http-port=8080, --udp-port=8081]
    # Its own firewall rule below, as on a cluster: NET_ADMIN.
    securityContext: {capabilities: {add: [NET_ADMIN]}}
";

#[test]
fn containers_run_what_their_images_run() {
    if !need_root("containers_run_what_their_images_run") {
        return;
    }
    let lab = Lab::cluster("images", &[]);
    kubectl_apply(&lab, "default", MANIFESTS);
    kubectl_ok(&lab, &["rollout", "status", "deployment/test", "--timeout=180s"]);
    wait_ready(&lab, &["pod/curl", "pod/httpbin", "pod/hostnames", "pod/netexec"]);

    nginx_behind_a_service(&lab);
    httpbin_sees_the_client(&lab);
    agnhost_answers_like_upstream(&lab);
    lab.down();
}

/// Acceptance 1: 300 requests by the Service's name get nginx's welcome
/// page; every replica's access log (its container log on its node) has
/// some of them, and together all 300.
fn nginx_behind_a_service(lab: &Lab) {
    // Until the Service answers (a 404 for a page nginx does not have,
    // so the welcome page's count below stays exact).
    sh(
        lab,
        "curl",
        &retrying("curl -s -m 2 -o /dev/null -w '%{http_code}' http://test/warm-up | grep -qx 404"),
    );
    let pods: serde_json::Value =
        serde_json::from_str(&kubectl_ok(lab, &["get", "pods", "-l", "app=test", "-o", "json"])).unwrap();
    // The welcome page's lines in a replica's access log.
    let served = |pod: &serde_json::Value| -> usize {
        let name = pod["metadata"]["name"].as_str().unwrap();
        let node = pod["spec"]["nodeName"].as_str().unwrap();
        let log = lab.ssh_ok(
            node,
            &[
                "sh",
                "-c",
                &format!("cat /var/log/pods/default_{name}_*/nginx/*.log | grep -c '\"GET / HTTP/1.1\" 200' || true"),
            ],
        );
        log.trim().parse().unwrap()
    };
    let items = pods["items"].as_array().unwrap();
    assert_eq!(items.len(), 3);
    let welcomed = sh(
        lab,
        "curl",
        "n=0; for i in $(seq 300); do curl -s -m 5 http://test/ | grep -q '<h1>Welcome to nginx!</h1>' && n=$((n+1)); done; echo $n",
    );
    assert_eq!(
        welcomed.trim(),
        "300",
        "requests answered with nginx's welcome page"
    );
    let per_replica: Vec<usize> = items.iter().map(served).collect();
    assert!(
        per_replica.iter().all(|n| *n > 0),
        "every replica answers some of the requests: {per_replica:?}"
    );
    assert_eq!(per_replica.iter().sum::<usize>(), 300, "{per_replica:?}");
}

/// Acceptance 2: httpbin's JSON names the curl pod's address as `origin`;
/// `/status/418` is 418; `ip` in the pod prints no error.
fn httpbin_sees_the_client(lab: &Lab) {
    let httpbin = pod_ip(lab, "default", "httpbin");
    let curl = pod_ip(lab, "default", "curl");
    sh(
        lab,
        "curl",
        &retrying(&format!("curl -sf -m 2 http://{httpbin}/get >/dev/null")),
    );
    let get: serde_json::Value =
        serde_json::from_str(&sh(lab, "curl", &format!("curl -s -m 5 http://{httpbin}/get"))).unwrap();
    assert_eq!(get["origin"], curl.as_str(), "{get}");
    let code = sh(
        lab,
        "curl",
        &format!("curl -s -m 5 -o /dev/null -w '%{{http_code}}' http://{httpbin}/status/418"),
    );
    assert_eq!(code.trim(), "418");
    for cmd in [
        format!("ip route get {httpbin}"),
        "ip neigh".into(),
        "ip addr".into(),
        "ip link show eth0".into(),
    ] {
        let out = kubectl(lab, &["exec", "curl", "--", "sh", "-c", &cmd]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success() && err.is_empty(), "{cmd}: {err}");
    }
}

/// Acceptance 3: serve-hostname answers TCP and UDP with its pod's name;
/// connect succeeds silently and fails with REFUSED or TIMEOUT (status 1);
/// netexec's /clientip and /dial.
fn agnhost_answers_like_upstream(lab: &Lab) {
    let hostnames = pod_ip(lab, "default", "hostnames");
    let netexec = pod_ip(lab, "default", "netexec");
    let curl = pod_ip(lab, "default", "curl");
    let tcp = sh(
        lab,
        "curl",
        &retrying(&format!("nc -w 3 {hostnames} 9376 </dev/null | grep .")),
    );
    assert_eq!(tcp.trim(), "hostnames");
    let udp = sh(
        lab,
        "curl",
        &format!("echo hostname | nc -u -w 2 {hostnames} 9376"),
    );
    assert_eq!(udp.trim(), "hostnames");

    // connect runs in the netexec pod (the agnhost image): its own
    // firewall drops one port, so a timeout needs nothing outside the pod.
    let connect = |target: &str| {
        let out = kubectl(
            lab,
            &[
                "exec",
                "netexec",
                "--",
                "/agnhost",
                "connect",
                target,
                "--timeout",
                "1s",
            ],
        );
        // kubectl adds its own "command terminated with exit code 1".
        let err = String::from_utf8_lossy(&out.stderr);
        (out.status.code(), err.lines().next().unwrap_or("").to_string())
    };
    assert_eq!(connect(&format!("{hostnames}:9376")), (Some(0), String::new()));
    assert_eq!(connect(&format!("{hostnames}:9377")), (Some(1), "REFUSED".into()));
    sh(lab, "netexec", "iptables -I OUTPUT -p tcp --dport 9378 -j DROP");
    assert_eq!(connect(&format!("{hostnames}:9378")), (Some(1), "TIMEOUT".into()));

    let clientip = sh(
        lab,
        "curl",
        &retrying(&format!("curl -sf -m 2 http://{netexec}:8080/clientip")),
    );
    assert!(clientip.starts_with(&format!("{curl}:")), "{clientip}");
    let dial: serde_json::Value = serde_json::from_str(&sh(
        lab,
        "curl",
        &format!(
            "curl -s -m 20 'http://{netexec}:8080/dial?request=hostname&protocol=udp&host={hostnames}&port=9376&tries=2'"
        ),
    ))
    .unwrap();
    assert_eq!(
        dial["responses"],
        serde_json::json!(["hostnames", "hostnames"]),
        "{dial}"
    );
    let dial: serde_json::Value = serde_json::from_str(&sh(
        lab,
        "curl",
        &format!("curl -s -m 20 'http://{netexec}:8080/dial?request=hostname&protocol=http&host={netexec}&port=8080'"),
    ))
    .unwrap();
    assert_eq!(dial["responses"], serde_json::json!(["netexec"]), "{dial}");
}
