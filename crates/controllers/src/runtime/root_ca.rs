//! Root CA publisher loop: on any Namespace change (and every 30 s, which
//! also puts back a deleted or edited ConfigMap), read the CA from
//! `kube-public/cluster-info` and make each namespace's `kube-root-ca.crt`
//! hold it.

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::api::{ListParams, PostParams};
use kube::runtime::reflector::Store;
use kube::{Api, Client};
use tokio::sync::Notify;

use super::api::api_code;
use crate::root_ca::{ca_of_cluster_info, fixes, Fix, KEY, NAME};

pub async fn run(client: Client, namespaces: Store<Namespace>, changes: Arc<Notify>) {
    if !super::shared::ready(&namespaces).await {
        return;
    }
    loop {
        if let Err(e) = round(&client, &namespaces).await {
            tracing::warn!(error = %e, "publishing {NAME}");
        }
        tokio::select! {
            _ = changes.notified() => {}
            _ = tokio::time::sleep(Duration::from_secs(30)) => {}
        }
    }
}

async fn round(client: &Client, namespaces: &Store<Namespace>) -> anyhow::Result<()> {
    let public: Api<ConfigMap> = Api::namespaced(client.clone(), "kube-public");
    let info = public.get("cluster-info").await?;
    let kubeconfig = info
        .data
        .as_ref()
        .and_then(|d| d.get("kubeconfig"))
        .ok_or_else(|| anyhow::anyhow!("kube-public/cluster-info has no kubeconfig"))?;
    let ca = ca_of_cluster_info(kubeconfig).map_err(anyhow::Error::msg)?;
    let all: Api<ConfigMap> = Api::all(client.clone());
    let found = all
        .list(&ListParams::default().fields(&format!("metadata.name={NAME}")))
        .await?;
    let nss = namespaces.state();
    let ns_refs: Vec<&Namespace> = nss.iter().map(|n| n.as_ref()).collect();
    let map_refs: Vec<&ConfigMap> = found.items.iter().collect();
    for fix in fixes(&ca, &ns_refs, &map_refs) {
        let (Fix::Create(ns) | Fix::Update(ns)) = &fix;
        let api: Api<ConfigMap> = Api::namespaced(client.clone(), ns);
        let mut cm = ConfigMap::default();
        cm.metadata.name = Some(NAME.into());
        cm.data = Some([(KEY.to_string(), ca.clone())].into());
        let done = match fix {
            Fix::Create(_) => api.create(&PostParams::default(), &cm).await.map(|_| ()),
            Fix::Update(_) => {
                let patch = kube::api::Patch::Merge(serde_json::json!({"data": {KEY: ca}}));
                api.patch(NAME, &Default::default(), &patch).await.map(|_| ())
            }
        };
        match done {
            Ok(()) => tracing::info!(%ns, "published {NAME}"),
            // Made meanwhile, or the namespace just went: the next round sees.
            Err(e) if matches!(api_code(&e), Some(404 | 409)) => {}
            Err(e) => tracing::warn!(%ns, error = %e, "could not publish {NAME}"),
        }
    }
    Ok(())
}
