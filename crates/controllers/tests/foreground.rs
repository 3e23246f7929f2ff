//! `kubectl delete --cascade=foreground` against Labyrinth's API server and
//! controllers: the Deployment stays (marked, holding the
//! `foregroundDeletion` finalizer) while its ReplicaSet and pods go, and
//! goes last. A finalizer someone else holds keeps an object until it is
//! removed. The pods are bound to no node, so they go at once when deleted.

use std::sync::{Arc, Mutex};

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::{ConfigMap, Pod};
use kube::api::{ListParams, Patch, PatchParams, PostParams};
use kube::Api;
use labyrinth_controllers::{run_all, ControllersConfig, Which};
use serde_json::json;

mod common;
use common::{kubectl, server, wait_for};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_deployment_goes_after_its_pods() {
    let dir = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    let (running, client) = server(dir.path()).await;
    let kc = running.admin_kubeconfig.clone();
    let cfg = ControllersConfig {
        enabled: vec![Which::Deployment, Which::Replicaset, Which::Gc],
        ..Default::default()
    };
    let controllers = tokio::spawn(run_all(client.clone(), cfg));

    let h = home.path().to_path_buf();
    let kc2 = kc.clone();
    tokio::task::spawn_blocking(move || {
        kubectl(
            &kc2,
            &h,
            &["create", "deployment", "web", "--image=nginx", "--replicas=3"],
        )
    })
    .await
    .unwrap();
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let rsets: Api<ReplicaSet> = Api::namespaced(client.clone(), "default");
    let deploys: Api<Deployment> = Api::namespaced(client.clone(), "default");
    wait_for("three pods", || async {
        (pods.list(&ListParams::default()).await.ok()?.items.len() == 3).then_some(())
    })
    .await;

    // Watch the order of disappearance while kubectl deletes in the
    // foreground (and waits, as it does by default).
    let seen: Arc<Mutex<Vec<(usize, usize, bool)>>> = Arc::default();
    let watcher = {
        let (seen, pods, rsets, deploys) = (seen.clone(), pods.clone(), rsets.clone(), deploys.clone());
        tokio::spawn(async move {
            loop {
                let p = pods
                    .list(&ListParams::default())
                    .await
                    .map(|l| l.items.len())
                    .unwrap_or(99);
                let r = rsets
                    .list(&ListParams::default())
                    .await
                    .map(|l| l.items.len())
                    .unwrap_or(99);
                let d = deploys.get_opt("web").await.ok().flatten().is_some();
                seen.lock().unwrap().push((p, r, d));
                if !d {
                    return;
                }
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        })
    };
    let h = home.path().to_path_buf();
    let out = tokio::task::spawn_blocking(move || {
        kubectl(
            &kc,
            &h,
            &[
                "delete",
                "deployment",
                "web",
                "--cascade=foreground",
                "--timeout=90s",
            ],
        )
    })
    .await
    .unwrap();
    assert!(out.contains("deployment.apps \"web\" deleted"), "{out}");
    watcher.await.unwrap();
    let seen = seen.lock().unwrap().clone();
    // While the Deployment existed, its dependents went first; once it was
    // gone nothing of it was left.
    assert!(
        seen.iter().any(|&(p, _, d)| d && p == 0),
        "never saw the Deployment wait for its pods: {seen:?}"
    );
    let last = *seen.last().unwrap();
    assert_eq!(last, (0, 0, false), "{seen:?}");

    // A finalizer another party holds keeps a marked object until removed.
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let cm: ConfigMap =
        serde_json::from_value(json!({"metadata": {"name": "held", "finalizers": ["example.com/keep"]}}))
            .unwrap();
    cms.create(&PostParams::default(), &cm).await.unwrap();
    cms.delete("held", &Default::default()).await.unwrap();
    let marked = cms.get("held").await.unwrap();
    assert!(marked.metadata.deletion_timestamp.is_some());
    cms.patch(
        "held",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"finalizers": []}})),
    )
    .await
    .unwrap();
    assert!(
        cms.get_opt("held").await.unwrap().is_none(),
        "released, then gone"
    );

    controllers.abort();
}
