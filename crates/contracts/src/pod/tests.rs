use super::*;
use k8s_openapi::api::core::v1::Pod;
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
    // The scheduler places pods in creation order (its `PodToPlace`).
    assert_eq!(m.creation_timestamp, fm.creation_timestamp);
    // What nobody reads is not kept.
    assert!(m.labels.is_none() && m.managed_fields.is_none() && m.owner_references.is_none());

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

#[test]
fn host_namespaces_volumes_and_mounts_decode_as_the_full_pod_does() {
    let pod = json!({
        "metadata": {"name": "v", "uid": "u"},
        "spec": {"hostPID": true, "hostIPC": true, "hostNetwork": true,
            "volumes": [{"name": "d", "emptyDir": {"medium": "Memory", "sizeLimit": "1Mi"}},
                {"name": "h", "hostPath": {"path": "/etc", "type": "Directory"}},
                {"name": "c", "configMap": {"name": "m", "defaultMode": 420, "items": [{"key": "k", "path": "p", "mode": 256}]}},
                {"name": "s", "secret": {"secretName": "x", "optional": true}}],
            "containers": [{"name": "c", "volumeMounts": [
                {"name": "d", "mountPath": "/d", "readOnly": true, "subPath": "a"}]}]}
    });
    let full: Pod = serde_json::from_value(pod.clone()).unwrap();
    let slim: SlimPod = serde_json::from_value(pod).unwrap();
    let fs = full.spec.unwrap();
    assert_eq!(
        (slim.spec.host_pid, slim.spec.host_ipc),
        (fs.host_pid, fs.host_ipc)
    );
    let names: Vec<&str> = slim.spec.volumes.iter().map(|v| v.name.as_str()).collect();
    assert_eq!(names, ["d", "h", "c", "s"]);
    let (v, fv) = (&slim.spec.volumes, fs.volumes.as_ref().unwrap());
    assert!(v[0].is_empty_dir() && fv[0].empty_dir.is_some());
    let h = v[1].host_path().unwrap();
    let fh = fv[1].host_path.as_ref().unwrap();
    assert_eq!((&h.path, &h.kind), (&fh.path, &fh.type_));
    let c = v[2].config_map().unwrap();
    assert_eq!(
        (c.name.as_str(), c.default_mode, c.items[0].mode),
        ("m", Some(420), Some(256))
    );
    assert_eq!(v[3].secret().unwrap().secret_name, "x");
    let m = &slim.spec.containers[0].volume_mounts[0];
    let fm = &fs.containers[0].volume_mounts.as_ref().unwrap()[0];
    assert_eq!(
        (&m.name, &m.mount_path, Some(m.read_only), &m.sub_path),
        (&fm.name, &fm.mount_path, fm.read_only, &fm.sub_path)
    );
}

#[test]
fn a_source_the_agent_does_not_provide_is_kept_as_other() {
    let v: Vec<Volume> = serde_json::from_value(serde_json::json!([
        {"name": "n", "nfs": {"server": "s", "path": "/"}},
        {"name": "p", "projected": {"sources": [
            {"clusterTrustBundle": {"name": "b", "path": "b.pem"}},
            {"secret": {"name": "s", "items": [{"key": "k", "path": "k"}]}}
        ]}}
    ]))
    .unwrap();
    assert_eq!(v[0].source, VolumeSource::Other);
    let p = v[1].projected().unwrap();
    assert_eq!(p.sources[0], Projection::Other);
    assert_eq!(p.sources[1].secret().unwrap().items[0].key, "k");
    // A volume without a name is refused, as before.
    let e = serde_json::from_value::<Volume>(serde_json::json!({"emptyDir": {}})).unwrap_err();
    assert!(e.to_string().contains("name"), "{e}");
}
