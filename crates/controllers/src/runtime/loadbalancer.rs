//! The LoadBalancer address loop: on any Service change, decide every
//! LoadBalancer's address from the pool (`crate::loadbalancer`) and write
//! the changes into the Services' status, with an event for each address
//! given and each Service left pending.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::Service;
use kube::api::{Patch, PatchParams};
use kube::runtime::reflector::Store;
use kube::{Api, Client, Resource};
use labyrinth_contracts::events::{self as ev, Reason};
use labyrinth_contracts::lb_pool::AddressPool;
use labyrinth_contracts::recorder::Recorder;
use serde_json::json;
use tokio::sync::Notify;

use super::api::{api_code, MANAGER};
use crate::loadbalancer::{decide, Action};

pub async fn run(client: Client, services: Store<Service>, changes: Arc<Notify>, pool: AddressPool) {
    if !super::shared::ready(&services).await {
        return;
    }
    let events = Recorder::new(client.clone(), ev::LOADBALANCER_CONTROLLER);
    // Pending Services already told why (uid, message): one event each,
    // not one per Service change anywhere in the cluster.
    let mut warned: HashSet<(String, String)> = HashSet::new();
    let mut written: HashSet<(String, String, String)> = HashSet::new();
    loop {
        let all = services.state();
        let refs: Vec<&Service> = all.iter().map(|s| s.as_ref()).collect();
        for act in decide(&refs, &pool) {
            let (ns, name) = match &act {
                Action::Assign { ns, name, .. }
                | Action::Clear { ns, name }
                | Action::Pending { ns, name, .. } => (ns.clone(), name.clone()),
            };
            let Some(svc) = refs.iter().find(|s| {
                s.metadata.namespace.as_deref() == Some(&ns) && s.metadata.name.as_deref() == Some(&name)
            }) else {
                continue;
            };
            let uid = svc.metadata.uid.clone().unwrap_or_default();
            let api: Api<Service> = Api::namespaced(client.clone(), &ns);
            let patch = match &act {
                Action::Assign { ip, .. } => {
                    json!({"status": {"loadBalancer": {"ingress": [{"ip": ip.to_string(), "ipMode": "VIP"}]}}})
                }
                Action::Clear { .. } => json!({"status": {"loadBalancer": {"ingress": null}}}),
                Action::Pending { message, .. } => {
                    if warned.insert((uid.clone(), message.clone())) {
                        tracing::warn!(%ns, %name, %message, "LoadBalancer pending");
                        events.record(svc.object_ref(&()), Reason::AllocationFailed, message.clone());
                    }
                    continue;
                }
            };
            // The watch may not have brought our own write back yet: the
            // same decision on the same version of the Service is done.
            let rv = svc.metadata.resource_version.clone().unwrap_or_default();
            let stamp = (uid.clone(), rv, patch.to_string());
            if written.contains(&stamp) {
                continue;
            }
            let pp = PatchParams {
                field_manager: Some(MANAGER.into()),
                ..Default::default()
            };
            match api.patch_status(&name, &pp, &Patch::Merge(&patch)).await {
                Ok(_) => {
                    written.insert(stamp);
                    if let Action::Assign { ip, .. } = act {
                        warned.retain(|(u, _)| *u != uid);
                        tracing::info!(%ns, %name, %ip, "LoadBalancer address assigned");
                        events.record(
                            svc.object_ref(&()),
                            Reason::IPAllocated,
                            format!("Assigned IP [\"{ip}\"]"),
                        );
                    }
                }
                // Gone meanwhile: its address is free on the next pass.
                Err(e) if api_code(&e) == Some(404) => {}
                Err(e) => tracing::warn!(%ns, %name, error = %e, "could not write the LoadBalancer status"),
            }
        }
        // Only what the current versions could repeat is worth keeping.
        written.retain(|(u, rv, _)| {
            refs.iter().any(|s| {
                s.metadata.uid.as_deref() == Some(u) && s.metadata.resource_version.as_deref() == Some(rv)
            })
        });
        tokio::select! {
            _ = changes.notified() => {}
            _ = tokio::time::sleep(Duration::from_secs(30)) => {}
        }
    }
}
