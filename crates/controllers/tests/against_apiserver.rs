//! The controllers against Labyrinth's real API server, started in-process
//! on 127.0.0.1 with a temp data dir, reached over TLS with the admin
//! kubeconfig. The test plays the node agents' part (node heartbeats, pod
//! status) and checks what the controllers did through the API.
//!
//! Waits are bounded polls (up to 90 s each) that end as soon as the state
//! is reached; nothing asserts on timing.

use std::time::Duration;

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::{Namespace, Node, Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::{Api, Client, ResourceExt};
use labyrinth_controllers::deployment::pod_template_hash;
use labyrinth_controllers::names::SAFE_ALPHABET;
use labyrinth_controllers::{run_all, ControllersConfig};
use serde_json::json;

mod common;
use common::{server, wait_for};

fn now_rfc3339() -> String {
    k8s_openapi::jiff::Timestamp::now().to_string()
}

async fn make_node(
    client: &Client,
    name: &str,
    labels: serde_json::Value,
    taints: serde_json::Value,
    heartbeat: &str,
) {
    let nodes: Api<Node> = Api::all(client.clone());
    let node: Node = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": name, "labels": labels},
        "spec": {"taints": taints}
    }))
    .unwrap();
    nodes
        .create(&PostParams::default(), &node)
        .await
        .expect("create node");
    heartbeat_node(client, name, heartbeat).await;
}

/// What a node agent posts: Ready=True with a heartbeat time.
async fn heartbeat_node(client: &Client, name: &str, at: &str) {
    let nodes: Api<Node> = Api::all(client.clone());
    let status = json!({"status": {"conditions": [{
        "type": "Ready", "status": "True", "reason": "KubeletReady",
        "message": "agent is posting ready status",
        "lastHeartbeatTime": at, "lastTransitionTime": at
    }]}});
    nodes
        .patch_status(name, &PatchParams::default(), &Patch::Merge(&status))
        .await
        .expect("node status");
}

fn journey_objects() -> (Service, Deployment) {
    let svc = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "node-wrk-1-ubuntu24", "labels": {"app": "node-wrk-1-ubuntu24"}},
        "spec": {"type": "ClusterIP", "selector": {"app": "node-wrk-1-ubuntu24"}, "ports": [
            {"name": "tcp-9999", "protocol": "TCP", "port": 9999, "targetPort": 9999},
            {"name": "udp-9999", "protocol": "UDP", "port": 9999, "targetPort": "listen-udp"}
        ]}
    }))
    .unwrap();
    let deploy = serde_json::from_value(json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "node-wrk-1-ubuntu24"},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "node-wrk-1-ubuntu24"}},
            "template": {"metadata": {"labels": {"app": "node-wrk-1-ubuntu24"}}, "spec": {
                "nodeSelector": {"nodelabel": "node-wrk-1"},
                "containers": [{"name": "node-wrk-1-ubuntu24", "image": "docker.io/seantywork/ubuntu24",
                    "ports": [{"containerPort": 9999, "protocol": "TCP"},
                              {"name": "listen-udp", "containerPort": 9999, "protocol": "UDP"}]}]}}}
    }))
    .unwrap();
    (svc, deploy)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn journey_against_labyrinth_apiserver() {
    let dir = tempfile::tempdir().unwrap();
    let (running, client) = server(dir.path()).await;

    let hb = now_rfc3339();
    make_node(
        &client,
        "node-0",
        json!({"node-role.kubernetes.io/control-plane": ""}),
        json!([{"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}]),
        &hb,
    )
    .await;
    make_node(
        &client,
        "node-1",
        json!({"nodelabel": "node-wrk-1"}),
        json!([]),
        &hb,
    )
    .await;
    make_node(
        &client,
        "node-2",
        json!({"nodelabel": "node-wrk-2"}),
        json!([]),
        &hb,
    )
    .await;
    // An agent that went silent an hour ago.
    make_node(&client, "node-3", json!({}), json!([]), "2020-01-01T00:00:00Z").await;

    // The live nodes' agents keep posting heartbeats, as they would.
    let agents = {
        let client = client.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(5)).await;
                let at = now_rfc3339();
                for n in ["node-0", "node-1", "node-2"] {
                    heartbeat_node(&client, n, &at).await;
                }
            }
        })
    };
    let cfg = ControllersConfig {
        node_monitor_period: Duration::from_secs(1),
        ..Default::default()
    };
    let controllers = tokio::spawn(run_all(client.clone(), cfg));

    // Node pod CIDRs: node n gets 10.0.n.0/24.
    let nodes: Api<Node> = Api::all(client.clone());
    for n in 0..4 {
        let name = format!("node-{n}");
        let cidr = wait_for(&format!("{name} podCIDR"), || async {
            nodes.get(&name).await.ok()?.spec?.pod_cidr
        })
        .await;
        assert_eq!(cidr, format!("10.0.{n}.0/24"));
        let node = nodes.get(&name).await.unwrap();
        assert_eq!(node.spec.unwrap().pod_cidrs, Some(vec![cidr]));
    }

    // Node lifecycle: the silent node goes Unknown and gets the unreachable
    // taint. They are two writes (the status, then the spec), as in
    // kube-controller-manager: a read between them sees Unknown and no
    // taint yet, so the test waits for both.
    let unreachable = |n: &Node| {
        let taints = n.spec.as_ref().and_then(|s| s.taints.clone()).unwrap_or_default();
        taints
            .iter()
            .any(|t| t.key == "node.kubernetes.io/unreachable" && t.effect == "NoSchedule")
    };
    wait_for("node-3 Unknown and tainted unreachable", || async {
        let n = nodes.get("node-3").await.ok()?;
        let ready = n
            .status
            .as_ref()?
            .conditions
            .as_ref()?
            .iter()
            .find(|c| c.type_ == "Ready")?
            .clone();
        (ready.status == "Unknown" && unreachable(&n)).then_some(())
    })
    .await;

    // The journey's wrk-1 objects.
    let nsapi: Api<Namespace> = Api::all(client.clone());
    nsapi
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": "wrk-1"}})).unwrap(),
        )
        .await
        .unwrap();
    let (svc, deploy) = journey_objects();
    let svcs: Api<Service> = Api::namespaced(client.clone(), "wrk-1");
    let deploys: Api<Deployment> = Api::namespaced(client.clone(), "wrk-1");
    svcs.create(&PostParams::default(), &svc).await.unwrap();
    deploys.create(&PostParams::default(), &deploy).await.unwrap();

    // ReplicaSet <deploy>-<hash of the stored template>.
    let stored = deploys.get("node-wrk-1-ubuntu24").await.unwrap();
    let hash = pod_template_hash(&stored.spec.template, None);
    let rs_name = format!("node-wrk-1-ubuntu24-{hash}");
    let rsapi: Api<ReplicaSet> = Api::namespaced(client.clone(), "wrk-1");
    let rs = wait_for("ReplicaSet", || async { rsapi.get(&rs_name).await.ok() }).await;
    assert_eq!(rs.labels().get("pod-template-hash"), Some(&hash));

    // One pod <rs>-<5 safe chars>, bound to node-1 by the nodeSelector.
    let pods: Api<Pod> = Api::namespaced(client.clone(), "wrk-1");
    let pod = wait_for("pod bound to a node", || async {
        let l = pods.list(&ListParams::default()).await.ok()?;
        let p = l
            .items
            .into_iter()
            .find(|p| p.spec.as_ref().and_then(|s| s.node_name.clone()).is_some())?;
        Some(p)
    })
    .await;
    let pod_name = pod.name_any();
    let suffix = pod_name
        .strip_prefix(&format!("{rs_name}-"))
        .unwrap_or_else(|| panic!("{pod_name}"));
    assert_eq!(suffix.len(), 5);
    assert!(suffix.bytes().all(|b| SAFE_ALPHABET.contains(&b)), "{pod_name}");
    assert_eq!(pod.spec.as_ref().unwrap().node_name.as_deref(), Some("node-1"));
    assert_eq!(
        pods.list(&ListParams::default()).await.unwrap().items.len(),
        1,
        "replicas kept at 1"
    );

    // Play the agent: the pod runs, gets an IP and becomes Ready.
    let st = json!({"status": {"phase": "Running", "podIP": "10.0.1.5", "podIPs": [{"ip": "10.0.1.5"}],
        "conditions": [{"type": "Ready", "status": "True"}]}});
    pods.patch_status(&pod_name, &PatchParams::default(), &Patch::Merge(&st))
        .await
        .unwrap();

    let slices: Api<EndpointSlice> = Api::namespaced(client.clone(), "wrk-1");
    let slice = wait_for("ready endpoint", || async {
        let l = slices
            .list(&ListParams::default().labels("kubernetes.io/service-name=node-wrk-1-ubuntu24"))
            .await
            .ok()?;
        l.items.into_iter().find(|s| {
            s.endpoints.iter().flatten().any(|e| {
                e.addresses == vec!["10.0.1.5".to_string()]
                    && e.conditions.as_ref().and_then(|c| c.ready) == Some(true)
            })
        })
    })
    .await;
    assert_eq!(slice.address_type, "IPv4");
    let ep = &slice.endpoints.as_ref().unwrap()[0];
    assert_eq!(ep.node_name.as_deref(), Some("node-1"));
    assert_eq!(
        ep.target_ref.as_ref().unwrap().name.as_deref(),
        Some(pod_name.as_str())
    );
    let mut ports: Vec<(String, i32, String)> = slice
        .ports
        .unwrap()
        .into_iter()
        .map(|p| (p.name.unwrap(), p.port.unwrap(), p.protocol.unwrap()))
        .collect();
    ports.sort();
    assert_eq!(
        ports,
        vec![
            ("tcp-9999".into(), 9999, "TCP".into()),
            ("udp-9999".into(), 9999, "UDP".into())
        ],
        "numeric targetPort and named targetPort both resolved"
    );

    // Deployment status reaches READY 1/1.
    wait_for("deployment 1/1 ready", || async {
        let s = deploys.get("node-wrk-1-ubuntu24").await.ok()?.status?;
        (s.ready_replicas == Some(1) && s.available_replicas == Some(1) && s.updated_replicas == Some(1))
            .then_some(())
    })
    .await;

    // A pod nothing can take gets the scheduler's reason.
    let stray: Pod = serde_json::from_value(json!({
        "metadata": {"name": "stray"},
        "spec": {"nodeSelector": {"nodelabel": "nowhere"}, "containers": [{"name": "c", "image": "x"}]}
    }))
    .unwrap();
    pods.create(&PostParams::default(), &stray).await.unwrap();
    let msg = wait_for("stray unschedulable", || async {
        let p = pods.get("stray").await.ok()?;
        let c = p
            .status?
            .conditions?
            .into_iter()
            .find(|c| c.type_ == "PodScheduled")?;
        (c.status == "False").then_some(c.message?)
    })
    .await;
    assert!(msg.starts_with("0/4 nodes are available: "), "{msg}");
    assert!(
        msg.contains("1 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }"),
        "{msg}"
    );
    assert!(
        msg.contains("1 node(s) had untolerated taint {node.kubernetes.io/unreachable: }"),
        "{msg}"
    );
    assert!(
        msg.contains("2 node(s) didn't match Pod's node affinity/selector"),
        "{msg}"
    );

    // Deleting the Deployment takes its ReplicaSet and pod with it.
    deploys
        .delete("node-wrk-1-ubuntu24", &DeleteParams::default())
        .await
        .unwrap();
    wait_for("ReplicaSet collected", || async {
        rsapi.get_opt(&rs_name).await.ok()?.is_none().then_some(())
    })
    .await;
    // The collector's delete only marks the pod (it is on a node: graceful
    // deletion); the node's agent, played here, ends it with grace 0.
    wait_for("pod marked for deletion", || async {
        let p = pods.get_opt(&pod_name).await.ok()??;
        p.metadata.deletion_timestamp.map(|_| ())
    })
    .await;
    pods.delete(&pod_name, &DeleteParams::default().grace_period(0))
        .await
        .unwrap();
    wait_for("pod collected", || async {
        pods.get_opt(&pod_name).await.ok()?.is_none().then_some(())
    })
    .await;

    assert!(!controllers.is_finished(), "controllers still running");
    controllers.abort();
    running.shutdown();
    agents.abort();
}
