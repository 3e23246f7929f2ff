//! The ServiceAccounts controller against Labyrinth's API server: a
//! `default` account in every namespace, including one made later, and made
//! again when deleted; `kubectl get sa` lists it.

use k8s_openapi::api::core::v1::{Namespace, ServiceAccount};
use kube::api::{DeleteParams, PostParams};
use kube::Api;
use labyrinth_controllers::{run_all, ControllersConfig, Which};
use serde_json::json;

mod common;
use common::{kubectl, server, wait_for};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_namespace_gets_a_default_account() {
    let dir = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    let (running, client) = server(dir.path()).await;
    let cfg = ControllersConfig {
        enabled: vec![Which::Serviceaccount],
        ..Default::default()
    };
    let controllers = tokio::spawn(run_all(client.clone(), cfg));

    let has_default = |ns: &'static str| {
        let api: Api<ServiceAccount> = Api::namespaced(client.clone(), ns);
        async move { api.get("default").await.ok() }
    };
    for ns in ["default", "kube-system", "kube-public", "kube-node-lease"] {
        wait_for(&format!("{ns}/default ServiceAccount"), || has_default(ns)).await;
    }
    let nss: Api<Namespace> = Api::all(client.clone());
    let later: Namespace = serde_json::from_value(json!({"metadata": {"name": "later"}})).unwrap();
    nss.create(&PostParams::default(), &later).await.unwrap();
    let first = wait_for("later/default ServiceAccount", || has_default("later")).await;

    let api: Api<ServiceAccount> = Api::namespaced(client.clone(), "later");
    api.delete("default", &DeleteParams::default()).await.unwrap();
    wait_for("later/default made again", || async {
        let sa = has_default("later").await?;
        (sa.metadata.uid != first.metadata.uid).then_some(())
    })
    .await;

    let out = kubectl(
        &running.admin_kubeconfig,
        home.path(),
        &["get", "sa", "-n", "later"],
    );
    let rows: Vec<Vec<&str>> = out.lines().map(|l| l.split_whitespace().collect()).collect();
    assert_eq!(rows[0], ["NAME", "SECRETS", "AGE"], "{out}");
    assert_eq!(rows[1][..2], ["default", "0"], "{out}");
    controllers.abort();
}
