//! Issue 16: a container's environment as Kubernetes builds it, read with
//! `kubectl exec POD -- env` through the machine's kubectl in one lab:
//! `valueFrom.fieldRef` (the pod's name, namespace, uid, node, service
//! account, its IPs and its node's), `$(VAR)` expansion in env values,
//! command and args (`$$` escapes, undefined references kept), a
//! ConfigMap's and a Secret's keys (`configMapKeyRef`, `secretKeyRef`,
//! `envFrom` with a prefix, optional ones skipped), and a required key that is missing: the container does
//! not start, the pod waits with CreateContainerConfigError and a Warning
//! event naming it; the Service variables of the pod's namespace, none
//! with `enableServiceLinks: false`.

mod common;
use common::journey::*;
use common::*;

const PODS: &str = r#"
apiVersion: v1
kind: Service
metadata: {name: early-svc}
spec:
  selector: {app: nothing}
  ports: [{name: http, port: 8080}]
---
apiVersion: v1
kind: Pod
metadata: {name: unlinked}
spec:
  nodeName: node-1
  enableServiceLinks: false
  containers:
  - {name: main, image: busybox, command: [sleep, "3600"]}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: settings}
data: {COLOR: blue, size: "3"}
---
apiVersion: v1
kind: Secret
metadata: {name: creds}
stringData: {password: hunter2}
---
apiVersion: v1
kind: Pod
metadata: {name: envy}
spec:
  nodeName: node-2
  containers:
  - name: main
    image: busybox
    command: [sh, -c]
    args: ["echo said-$(GREETING) '$$(GREETING)' '$(NOPE)' > /tmp/said; exec sleep 3600"]
    env:
    - {name: GREETING, value: hello}
    - {name: MY_NAME, valueFrom: {fieldRef: {fieldPath: metadata.name}}}
    - {name: MY_NS, valueFrom: {fieldRef: {fieldPath: metadata.namespace}}}
    - {name: MY_UID, valueFrom: {fieldRef: {fieldPath: metadata.uid}}}
    - {name: MY_NODE, valueFrom: {fieldRef: {fieldPath: spec.nodeName}}}
    - {name: MY_SA, valueFrom: {fieldRef: {fieldPath: spec.serviceAccountName}}}
    - {name: MY_IP, valueFrom: {fieldRef: {fieldPath: status.podIP}}}
    - {name: MY_IPS, valueFrom: {fieldRef: {fieldPath: status.podIPs}}}
    - {name: MY_HOST, valueFrom: {fieldRef: {fieldPath: status.hostIP}}}
    - {name: URL, value: "http://$(MY_IP):80/$(KUBERNETES_SERVICE_HOST)/$(LATER)"}
    - {name: LATER, value: "$(UNDEFINED)-$$(GREETING)-$(GREETING)"}
    - {name: FAVOURITE, valueFrom: {configMapKeyRef: {name: settings, key: COLOR}}}
    - {name: MAYBE, valueFrom: {configMapKeyRef: {name: settings, key: none, optional: true}}}
    - {name: MAYBE_MAP, valueFrom: {configMapKeyRef: {name: absent, key: k, optional: true}}}
    - {name: CFG_size, value: overridden}
    - {name: PASSWORD, valueFrom: {secretKeyRef: {name: creds, key: password}}}
    envFrom:
    - {prefix: CFG_, configMapRef: {name: settings}}
    - {prefix: SEC_, secretRef: {name: creds}}
    - {configMapRef: {name: absent, optional: true}}
---
apiVersion: v1
kind: Pod
metadata: {name: unresolved}
spec:
  nodeName: node-1
  containers:
  - name: main
    image: busybox
    command: [sleep, "3600"]
    env:
    - {name: FROM_MAP, valueFrom: {configMapKeyRef: {name: settings, key: missing}}}
"#;

fn env_of(lab: &Lab, pod: &str) -> std::collections::BTreeMap<String, String> {
    kubectl_ok(lab, &["exec", pod, "--", "env"])
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn env_from_fields_and_expansion() {
    if !need_root("env_from_fields_and_expansion") {
        return;
    }
    let lab = Lab::cluster("penv", &[]);
    kubectl_apply(&lab, "default", PODS);
    wait_ready(&lab, "default", "envy");
    let p: serde_json::Value =
        serde_json::from_str(&kubectl_ok(&lab, &["get", "pod", "envy", "-o", "json"])).unwrap();
    let s = |v: &serde_json::Value| v.as_str().unwrap().to_string();
    let (uid, ip, host) = (
        s(&p["metadata"]["uid"]),
        s(&p["status"]["podIP"]),
        s(&p["status"]["hostIP"]),
    );
    let env = env_of(&lab, "envy");
    let want = [
        ("GREETING", "hello".to_string()),
        ("MY_NAME", "envy".into()),
        ("MY_NS", "default".into()),
        ("MY_UID", uid),
        ("MY_NODE", "node-2".into()),
        ("MY_SA", "default".into()),
        ("MY_IP", ip.clone()),
        ("MY_IPS", ip.clone()),
        ("MY_HOST", host),
        // Only what comes before is expanded: LATER is after URL.
        ("URL", format!("http://{ip}:80/10.96.0.1/$(LATER)")),
        ("LATER", "$(UNDEFINED)-$(GREETING)-hello".into()),
        ("FAVOURITE", "blue".into()),
        // envFrom with its prefix; env after it wins.
        ("CFG_COLOR", "blue".into()),
        ("CFG_size", "overridden".into()),
        // Secrets: the node may read those of its pods (decoded).
        ("PASSWORD", "hunter2".into()),
        ("SEC_password", "hunter2".into()),
    ];
    for (k, v) in want {
        assert_eq!(env.get(k), Some(&v), "{k} in {env:?}");
    }
    for k in ["MAYBE", "MAYBE_MAP", "COLOR"] {
        assert!(!env.contains_key(k), "{k} in {env:?}");
    }
    // The Services of its namespace, as variables; none where the pod
    // opts out (the API server's own variables stay).
    let svc_ip = kubectl_ok(
        &lab,
        &["get", "svc", "early-svc", "-o", "jsonpath={.spec.clusterIP}"],
    );
    let services = [
        ("EARLY_SVC_SERVICE_HOST", svc_ip.clone()),
        ("EARLY_SVC_SERVICE_PORT", "8080".into()),
        ("EARLY_SVC_SERVICE_PORT_HTTP", "8080".into()),
        ("EARLY_SVC_PORT", format!("tcp://{svc_ip}:8080")),
        ("EARLY_SVC_PORT_8080_TCP_ADDR", svc_ip.clone()),
        ("KUBERNETES_SERVICE_HOST", "10.96.0.1".into()),
    ];
    for (k, v) in &services {
        assert_eq!(env.get(*k), Some(v), "{k} in {env:?}");
    }
    wait_ready(&lab, "default", "unlinked");
    let unlinked = env_of(&lab, "unlinked");
    assert!(
        !unlinked.keys().any(|k| k.starts_with("EARLY_SVC")),
        "{unlinked:?}"
    );
    assert_eq!(
        unlinked.get("KUBERNETES_SERVICE_HOST").map(String::as_str),
        Some("10.96.0.1")
    );
    let said = kubectl_ok(&lab, &["exec", "envy", "--", "cat", "/tmp/said"]);
    assert_eq!(said.trim(), "said-hello $(GREETING) $(NOPE)");

    // Not started: waits with the kubelet's reason, naming the variable.
    wait_until("unresolved's waiting reason", || {
        let p: serde_json::Value =
            serde_json::from_str(&kubectl_ok(&lab, &["get", "pod", "unresolved", "-o", "json"])).unwrap();
        let w = &p["status"]["containerStatuses"][0]["state"]["waiting"];
        w["reason"] == "CreateContainerConfigError"
            && w["message"].as_str().unwrap_or("").contains("FROM_MAP")
    });
    // The kubelet's events follow its work by up to a second
    // (`labyrinth_contracts::recorder`), so the warning is waited for.
    wait_until("a Warning event naming FROM_MAP", || {
        let all: serde_json::Value =
            serde_json::from_str(&kubectl_ok(&lab, &["get", "events", "-o", "json"])).unwrap();
        all["items"].as_array().unwrap().iter().any(|e| {
            let m = e["message"].as_str().unwrap_or("");
            e["involvedObject"]["name"] == "unresolved"
                && e["type"] == "Warning"
                && m.contains("FROM_MAP")
                && m.contains("couldn't find key missing in ConfigMap default/settings")
        })
    });
    lab.down();
}
