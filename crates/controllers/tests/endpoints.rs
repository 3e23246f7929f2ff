//! The endpoints controller against Labyrinth's API server: a Service's v1
//! Endpoints follow its EndpointSlices (ready pods in `addresses`, a
//! not-ready one in `notReadyAddresses`, ports by name), `kubectl get
//! endpoints` prints them, and they go with the Service. The test plays the
//! node agent (pod IPs and readiness).

use k8s_openapi::api::core::v1::{Endpoints, Pod, Service};
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use kube::Api;
use labyrinth_controllers::{run_all, ControllersConfig, Which};
use serde_json::{json, Value};

mod common;
use common::{kubectl, server, wait_for};

fn pod_status(ip: &str, ready: bool) -> Value {
    let r = if ready { "True" } else { "False" };
    json!({"status": {"phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}],
        "conditions": [{"type": "Ready", "status": r}, {"type": "ContainersReady", "status": r}]}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn endpoints_follow_the_slices_and_go_with_the_service() {
    let dir = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    let (running, client) = server(dir.path()).await;
    let cfg = ControllersConfig {
        enabled: vec![Which::Endpointslice, Which::Endpoints],
        ..Default::default()
    };
    let controllers = tokio::spawn(run_all(client.clone(), cfg));

    let svcs: Api<Service> = Api::namespaced(client.clone(), "default");
    let svc: Service = serde_json::from_value(json!({"metadata": {"name": "web", "labels": {"tier": "front"}},
        "spec": {"selector": {"app": "web"}, "ports": [
            {"name": "http", "port": 80, "targetPort": "http"}, {"name": "dns", "port": 53, "protocol": "UDP"}]}}))
    .unwrap();
    svcs.create(&PostParams::default(), &svc).await.unwrap();
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    for (name, ip, ready) in [("web-a", "10.0.1.5", true), ("web-b", "10.0.2.7", false)] {
        let p: Pod = serde_json::from_value(json!({"metadata": {"name": name, "labels": {"app": "web"}},
            "spec": {"nodeName": "node-1", "containers": [{"name": "c", "image": "i",
                "ports": [{"name": "http", "containerPort": 8080}, {"containerPort": 53, "protocol": "UDP"}]}]}}))
        .unwrap();
        pods.create(&PostParams::default(), &p).await.unwrap();
        pods.patch_status(
            name,
            &PatchParams::default(),
            &Patch::Merge(&pod_status(ip, ready)),
        )
        .await
        .unwrap();
    }

    let eps: Api<Endpoints> = Api::namespaced(client.clone(), "default");
    let want = json!([{"addresses": [{"ip": "10.0.1.5", "nodeName": "node-1",
            "targetRef": {"kind": "Pod", "name": "web-a", "namespace": "default"}}],
        "notReadyAddresses": [{"ip": "10.0.2.7", "nodeName": "node-1",
            "targetRef": {"kind": "Pod", "name": "web-b", "namespace": "default"}}],
        "ports": [{"name": "dns", "port": 53, "protocol": "UDP"}, {"name": "http", "port": 8080, "protocol": "TCP"}]}]);
    let strip = |mut v: Value| {
        // uid and resourceVersion of the targetRef vary.
        for s in v.as_array_mut().into_iter().flatten() {
            for list in ["addresses", "notReadyAddresses"] {
                for a in s[list].as_array_mut().into_iter().flatten() {
                    for k in ["uid", "resourceVersion"] {
                        a["targetRef"].as_object_mut().map(|m| m.remove(k));
                    }
                }
            }
        }
        v
    };
    let got = wait_for("Endpoints with one ready and one not-ready address", || async {
        let e = eps.get("web").await.ok()?;
        let v = strip(serde_json::to_value(&e.subsets).ok()?);
        (v == want).then_some(e)
    })
    .await;
    assert_eq!(got.metadata.labels.as_ref().unwrap()["tier"], "front");

    // kubectl prints the ready ones, ip:port per port.
    let out = kubectl(
        &running.admin_kubeconfig,
        home.path(),
        &["get", "endpoints", "web"],
    );
    let mut lines = out.lines();
    let head: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(head, ["NAME", "ENDPOINTS", "AGE"], "{out}");
    let row: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(row[..2], ["web", "10.0.1.5:53,10.0.1.5:8080"], "{out}");

    // web-b turns ready: both addresses ready.
    pods.patch_status(
        "web-b",
        &PatchParams::default(),
        &Patch::Merge(&pod_status("10.0.2.7", true)),
    )
    .await
    .unwrap();
    wait_for("both addresses ready", || async {
        let e = eps.get("web").await.ok()?;
        let s = e.subsets?.into_iter().next()?;
        let ips: Vec<String> = s.addresses?.into_iter().map(|a| a.ip).collect();
        (ips == ["10.0.1.5", "10.0.2.7"] && s.not_ready_addresses.is_none()).then_some(())
    })
    .await;

    svcs.delete("web", &DeleteParams::default()).await.unwrap();
    wait_for("Endpoints removed with the Service", || async {
        matches!(eps.get("web").await, Err(kube::Error::Api(e)) if e.code == 404).then_some(())
    })
    .await;
    // The API server's own `kubernetes` Endpoints stays.
    let k = eps.get("kubernetes").await.expect("default/kubernetes endpoints");
    assert!(k.subsets.is_some());
    controllers.abort();
}
