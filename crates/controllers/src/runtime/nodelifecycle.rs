//! Node lifecycle loop: every monitor period, mark nodes whose heartbeats
//! stopped and keep the not-ready/unreachable taints in step with Ready.

use std::time::Duration;

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Node;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Patch, PatchParams};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::{Api, Client, ResourceExt};
use serde_json::json;

use super::api::MANAGER;
use crate::nodelifecycle::evaluate;

pub async fn run(
    client: Client,
    nodes: Store<Node>,
    leases: Option<Store<Lease>>,
    grace: Duration,
    period: Duration,
) {
    if !super::shared::ready(&nodes).await {
        return;
    }
    if let Some(l) = &leases {
        super::shared::ready(l).await;
    }
    let api: Api<Node> = Api::all(client);
    let pp = PatchParams {
        field_manager: Some(MANAGER.into()),
        ..Default::default()
    };
    let mut tick = tokio::time::interval(period);
    loop {
        tick.tick().await;
        let now = Timestamp::now();
        for node in nodes.state() {
            let name = node.name_any();
            let renew = leases.as_ref().and_then(|l| {
                l.get(&ObjectRef::new(&name).within("kube-node-lease"))
                    .and_then(|lease| lease.spec.as_ref()?.renew_time.as_ref().map(|t| t.0))
            });
            let update = evaluate(&node, renew, now, grace);
            // resourceVersion makes each write conditional: if the agent has
            // just posted a heartbeat, ours fails and the next tick re-reads.
            let rv = node.resource_version();
            if let Some(conds) = update.conditions {
                tracing::info!(node = %name, "no heartbeat within {}s; conditions set to Unknown", grace.as_secs());
                let patch = json!({"metadata": {"resourceVersion": rv}, "status": {"conditions": conds}});
                if let Err(e) = api.patch_status(&name, &pp, &Patch::Merge(&patch)).await {
                    tracing::warn!(node = %name, error = %e, "could not mark node Unknown");
                    continue;
                }
            }
            if let Some(taints) = update.taints {
                let patch = json!({"spec": {"taints": taints}});
                match api.patch(&name, &pp, &Patch::Merge(&patch)).await {
                    Ok(_) => tracing::info!(node = %name, "taints updated for Ready state"),
                    Err(e) => tracing::warn!(node = %name, error = %e, "could not update taints"),
                }
            }
        }
    }
}
