//! The LoadBalancer address controller against Labyrinth's API server, with
//! a pool of two: the first two LoadBalancer Services get its addresses
//! (`kubectl get svc` shows them as EXTERNAL-IP), the third stays
//! `<pending>` with an AllocationFailed Warning and no ingress at all, and
//! gets the address a deleted one gave back; a Service turned ClusterIP
//! loses its address to the next in line.

use k8s_openapi::api::core::v1::{Event, Service};
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::Api;
use labyrinth_controllers::{run_all, ControllersConfig, Which};
use serde_json::json;

mod common;
use common::{kubectl, server, wait_for};

fn lb(name: &str) -> Service {
    serde_json::from_value(json!({"metadata": {"name": name},
        "spec": {"type": "LoadBalancer", "selector": {"app": name}, "ports": [{"port": 80}]}}))
    .unwrap()
}

async fn ingress_ip(api: &Api<Service>, name: &str) -> Option<String> {
    let s = api.get(name).await.ok()?;
    s.status?.load_balancer?.ingress?.first()?.ip.clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pool_addresses_assigned_pending_when_exhausted_and_released() {
    let dir = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    let (running, client) = server(dir.path()).await;
    let cfg = ControllersConfig {
        enabled: vec![Which::Loadbalancer],
        lb_pool: Some("10.168.0.240-10.168.0.241".parse().unwrap()),
        ..Default::default()
    };
    let controllers = tokio::spawn(run_all(client.clone(), cfg));
    let api: Api<Service> = Api::namespaced(client.clone(), "default");

    for n in ["one", "two"] {
        api.create(&PostParams::default(), &lb(n)).await.unwrap();
        wait_for(&format!("{n} gets an address"), || ingress_ip(&api, n)).await;
    }
    let mut got = vec![
        ingress_ip(&api, "one").await.unwrap(),
        ingress_ip(&api, "two").await.unwrap(),
    ];
    got.sort();
    assert_eq!(got, ["10.168.0.240", "10.168.0.241"]);

    api.create(&PostParams::default(), &lb("three")).await.unwrap();
    let events: Api<Event> = Api::namespaced(client.clone(), "default");
    let warning = wait_for("an AllocationFailed event for three", || async {
        let list = events.list(&ListParams::default()).await.ok()?;
        list.items.into_iter().find(|e| {
            e.reason.as_deref() == Some("AllocationFailed")
                && e.involved_object.name.as_deref() == Some("three")
        })
    })
    .await;
    assert_eq!(warning.type_.as_deref(), Some("Warning"));
    assert_eq!(
        warning.message.as_deref(),
        Some("Failed to allocate IP for \"default/three\": no available IPs")
    );
    // Nothing half-written: no ingress entry at all, so kubectl says pending.
    let three = api.get("three").await.unwrap();
    assert!(three
        .status
        .and_then(|s| s.load_balancer)
        .and_then(|l| l.ingress)
        .is_none());
    let out = kubectl(
        &running.admin_kubeconfig,
        home.path(),
        &["get", "svc", "three", "one"],
    );
    let rows: Vec<Vec<&str>> = out.lines().map(|l| l.split_whitespace().collect()).collect();
    assert_eq!(
        rows[0][..5],
        ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)"],
        "{out}"
    );
    let three_row = rows.iter().find(|r| r[0] == "three").unwrap();
    assert_eq!(three_row[3], "<pending>", "{out}");
    let one_row = rows.iter().find(|r| r[0] == "one").unwrap();
    let one_ip = ingress_ip(&api, "one").await.unwrap();
    assert_eq!(one_row[3], one_ip, "{out}");
    assert!(
        one_row[4].starts_with("80:3") && one_row[4].ends_with("/TCP"),
        "{out}"
    );

    // Deleting one frees its address for the pending Service.
    api.delete("one", &DeleteParams::default()).await.unwrap();
    let three_ip = wait_for("three gets the freed address", || ingress_ip(&api, "three")).await;
    assert_eq!(three_ip, one_ip);

    // Turned into a ClusterIP Service, two loses its address to four.
    api.create(&PostParams::default(), &lb("four")).await.unwrap();
    let two_ip = ingress_ip(&api, "two").await.unwrap();
    api.patch(
        "two",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"type": "ClusterIP"}})),
    )
    .await
    .unwrap();
    let four_ip = wait_for("four gets two's address", || ingress_ip(&api, "four")).await;
    assert_eq!(four_ip, two_ip);
    wait_for("two's ingress cleared", || async {
        ingress_ip(&api, "two").await.is_none().then_some(())
    })
    .await;
    controllers.abort();
}
