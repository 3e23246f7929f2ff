//! ServiceAccounts controller loop: on any Namespace or ServiceAccount
//! change, create the `default` account of each namespace lacking one.

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Namespace, ServiceAccount};
use kube::api::PostParams;
use kube::runtime::reflector::Store;
use kube::{Api, Client};
use tokio::sync::Notify;

use super::api::api_code;
use crate::serviceaccounts::{missing_default, DEFAULT};

pub async fn run(
    client: Client,
    namespaces: Store<Namespace>,
    accounts: Store<ServiceAccount>,
    changes: Arc<Notify>,
) {
    use super::shared::ready;
    if !(ready(&namespaces).await && ready(&accounts).await) {
        return;
    }
    loop {
        let nss = namespaces.state();
        let sas = accounts.state();
        let ns_refs: Vec<&Namespace> = nss.iter().map(|n| n.as_ref()).collect();
        let sa_refs: Vec<&ServiceAccount> = sas.iter().map(|a| a.as_ref()).collect();
        for ns in missing_default(&ns_refs, &sa_refs) {
            let api: Api<ServiceAccount> = Api::namespaced(client.clone(), &ns);
            let mut sa = ServiceAccount::default();
            sa.metadata.name = Some(DEFAULT.into());
            match api.create(&PostParams::default(), &sa).await {
                Ok(_) => tracing::info!(%ns, "created the default ServiceAccount"),
                // Already there (a lagging cache), or the namespace just went.
                Err(e) if matches!(api_code(&e), Some(404 | 409)) => {}
                Err(e) => tracing::warn!(%ns, error = %e, "could not create the default ServiceAccount"),
            }
        }
        tokio::select! {
            _ = changes.notified() => {}
            _ = tokio::time::sleep(Duration::from_secs(30)) => {}
        }
    }
}
