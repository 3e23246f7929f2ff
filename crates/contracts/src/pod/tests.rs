use super::*;
use serde_json::json;

/// A whole Pod as the API server sends it (metadata with labels and
/// managedFields, a spec with more than the watchers read, a status with
/// conditions and container statuses).
fn full_pod() -> serde_json::Value {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "web-1", "namespace": "shop", "uid": "0b7c5e0e-1", "resourceVersion": "42",
            "creationTimestamp": "2026-01-01T00:00:00Z", "deletionTimestamp": "2026-01-01T00:05:00Z",
            "deletionGracePeriodSeconds": 30, "labels": {"app": "web"},
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-6d4", "uid": "rs-1"}],
            "managedFields": [{"manager": "agent", "operation": "Update", "fieldsType": "FieldsV1",
                "fieldsV1": {"f:status": {"f:podIP": {}}}}]},
        "spec": {"nodeName": "node-1", "hostNetwork": false, "restartPolicy": "OnFailure",
            "tolerations": [{"key": "k", "operator": "Exists"}],
            "containers": [
                {"name": "web", "image": "nginx", "command": ["nginx"], "args": ["-g", "daemon off;"],
                 "ports": [{"containerPort": 80}],
                 "env": [{"name": "A", "value": "1"},
                         {"name": "B", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}}]},
                {"name": "sidecar", "image": "busybox"}]},
        "status": {"phase": "Running", "podIP": "10.0.1.7", "podIPs": [{"ip": "10.0.1.7"}],
            "hostIP": "10.168.0.3",
            "conditions": [{"type": "Ready", "status": "True"}],
            "containerStatuses": [{"name": "web", "ready": true, "restartCount": 0, "image": "nginx",
                "imageID": "", "state": {"running": {"startedAt": "2026-01-01T00:00:01Z"}}}]}
    })
}

#[test]
fn decodes_the_fields_the_full_pod_has() {
    let full: Pod = serde_json::from_value(full_pod()).unwrap();
    let slim: SlimPod = serde_json::from_value(full_pod()).unwrap();

    let (m, fm) = (&slim.metadata, &full.metadata);
    assert_eq!(
        (&m.name, &m.namespace, &m.uid, &m.resource_version),
        (&fm.name, &fm.namespace, &fm.uid, &fm.resource_version)
    );
    assert_eq!(m.deletion_timestamp, fm.deletion_timestamp);
    assert!(m.deletion_timestamp.is_some());
    // What nobody reads is not kept.
    assert!(m.labels.is_none() && m.managed_fields.is_none() && m.owner_references.is_none());
    assert!(m.creation_timestamp.is_none());

    let fs = full.spec.as_ref().unwrap();
    assert_eq!(slim.spec.host_network, fs.host_network);
    assert_eq!(slim.spec.restart_policy, fs.restart_policy);
    assert_eq!(slim.spec.containers.len(), fs.containers.len());
    for (c, fc) in slim.spec.containers.iter().zip(&fs.containers) {
        assert_eq!((&c.name, &c.image), (&fc.name, &fc.image));
        assert_eq!((&c.command, &c.args), (&fc.command, &fc.args));
        let env: Vec<(String, Option<String>)> = fc
            .env
            .iter()
            .flatten()
            .map(|e| (e.name.clone(), e.value.clone()))
            .collect();
        let slim_env: Vec<(String, Option<String>)> =
            c.env.iter().map(|e| (e.name.clone(), e.value.clone())).collect();
        assert_eq!(slim_env, env);
    }
    assert_eq!(
        slim.spec.containers[0].env[1].value, None,
        "valueFrom is not resolved"
    );

    let fst = full.status.as_ref().unwrap();
    assert_eq!(slim.status.phase, fst.phase);
    assert_eq!(slim.status.pod_ip, fst.pod_ip);
    let ips: Vec<&str> = slim
        .status
        .pod_ips
        .iter()
        .flatten()
        .map(|i| i.ip.as_str())
        .collect();
    let full_ips: Vec<&str> = fst.pod_ips.iter().flatten().map(|i| i.ip.as_str()).collect();
    assert_eq!((ips.clone(), ips), (full_ips, vec!["10.0.1.7"]));
    assert!(!slim.terminal());
}

#[test]
fn a_pod_with_only_metadata_still_decodes() {
    let slim: SlimPod = serde_json::from_value(json!({"metadata": {"name": "a", "uid": "u"},
        "status": {"phase": "Succeeded"}}))
    .unwrap();
    assert_eq!(slim.spec, Spec::default());
    assert_eq!(slim.metadata.namespace, None);
    assert!(slim.terminal());
    let e = serde_json::from_value::<SlimPod>(json!({"metadata": {"name": 7}})).unwrap_err();
    assert!(e.to_string().contains("invalid type: integer `7`"), "{e}");
}

#[test]
fn it_is_a_pod_to_kube() {
    use k8s_openapi::Resource;
    assert_eq!((SlimPod::KIND, SlimPod::API_VERSION), ("Pod", "v1"));
    assert_eq!(SlimPod::URL_PATH_SEGMENT, "pods");
}
