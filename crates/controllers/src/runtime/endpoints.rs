//! Endpoints controller loop: on any change of Services, EndpointSlices or
//! Endpoints, bring every managed Service's v1 Endpoints in step with its
//! slices (crate::endpoints) and delete those whose Service is gone.
//! Everything is recomputed from the caches each round; a write from a stale
//! cache gets 409 and the next round (its own watch event) fixes it.

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Endpoints, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::PostParams;
use kube::runtime::reflector::Store;
use kube::{Api, Client, ResourceExt};
use tokio::sync::Notify;

use super::api::api_code;
use crate::endpoints::{desired, leftovers, managed, up_to_date};

pub struct Loop {
    pub client: Client,
    pub services: Store<Service>,
    pub slices: Store<EndpointSlice>,
    pub endpoints: Store<Endpoints>,
    pub changes: Arc<Notify>,
}

impl Loop {
    pub async fn run(self) {
        use super::shared::ready;
        if !(ready(&self.services).await && ready(&self.slices).await && ready(&self.endpoints).await) {
            return;
        }
        loop {
            self.round().await;
            tokio::select! {
                _ = self.changes.notified() => {}
                _ = tokio::time::sleep(Duration::from_secs(30)) => {}
            }
        }
    }

    async fn round(&self) {
        let services = self.services.state();
        let slices = self.slices.state();
        let existing = self.endpoints.state();
        let slice_refs: Vec<&EndpointSlice> = slices.iter().map(|s| s.as_ref()).collect();
        for svc in services
            .iter()
            .filter(|s| managed(s) && s.metadata.deletion_timestamp.is_none())
        {
            let ns = svc.namespace().unwrap_or_default();
            let want = desired(svc, &slice_refs);
            let api: Api<Endpoints> = Api::namespaced(self.client.clone(), &ns);
            let have = existing
                .iter()
                .find(|e| e.namespace().as_deref() == Some(ns.as_str()) && e.name_any() == svc.name_any());
            let result = match have {
                None => api.create(&PostParams::default(), &want).await.map(|_| "created"),
                Some(h) if up_to_date(h, &want) => continue,
                Some(h) => {
                    let mut upd = want.clone();
                    upd.metadata.resource_version = h.resource_version();
                    upd.metadata.annotations = h.metadata.annotations.clone();
                    api.replace(&svc.name_any(), &PostParams::default(), &upd)
                        .await
                        .map(|_| "updated")
                }
            };
            match result {
                Ok(what) => tracing::debug!(%ns, service = %svc.name_any(), what, "endpoints"),
                Err(e) if matches!(api_code(&e), Some(404 | 409)) => {}
                Err(e) => {
                    tracing::warn!(%ns, service = %svc.name_any(), error = %e, "could not write endpoints")
                }
            }
        }
        let eps: Vec<&Endpoints> = existing.iter().map(|e| e.as_ref()).collect();
        let svcs: Vec<&Service> = services.iter().map(|s| s.as_ref()).collect();
        for (ns, name, uid) in leftovers(&eps, &svcs) {
            super::gc::delete_by_uid::<Endpoints>(
                &self.client,
                &ns,
                &name,
                uid,
                "endpoints of a removed service",
            )
            .await;
        }
    }
}
