//! Node pod-CIDR allocator loop: on any node change, give every node
//! without a pod CIDR its subnet (spec.podCIDR and spec.podCIDRs).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use ipnet::Ipv4Net;
use k8s_openapi::api::core::v1::Node;
use kube::api::{Patch, PatchParams};
use kube::runtime::reflector::Store;
use kube::{Api, Client, ResourceExt};
use serde_json::json;
use tokio::sync::Notify;

use super::api::MANAGER;
use crate::nodeipam::CidrAllocator;

pub async fn run(client: Client, nodes: Store<Node>, changes: Arc<Notify>, alloc: CidrAllocator) {
    if !super::shared::ready(&nodes).await {
        return;
    }
    let api: Api<Node> = Api::all(client);
    // What we wrote and the cache may not show yet: fed back into the plan
    // so a lagging cache never makes us hand out a subnet twice.
    let mut written: HashMap<String, Ipv4Net> = HashMap::new();
    loop {
        let state = nodes.state();
        written.retain(|name, _| state.iter().any(|n| &n.name_any() == name));
        let view: Vec<(String, Option<String>)> = state
            .iter()
            .map(|n| {
                let name = n.name_any();
                let cidr = n
                    .spec
                    .as_ref()
                    .and_then(|s| s.pod_cidr.clone())
                    .filter(|c| !c.is_empty())
                    .or_else(|| written.get(&name).map(|c| c.to_string()));
                (name, cidr)
            })
            .collect();
        for (name, result) in alloc.plan(&view) {
            match result {
                Ok(cidr) => {
                    let patch =
                        json!({"spec": {"podCIDR": cidr.to_string(), "podCIDRs": [cidr.to_string()]}});
                    let pp = PatchParams {
                        field_manager: Some(MANAGER.into()),
                        ..Default::default()
                    };
                    match api.patch(&name, &pp, &Patch::Merge(&patch)).await {
                        Ok(_) => {
                            tracing::info!(node = %name, %cidr, "allocated pod CIDR");
                            written.insert(name, cidr);
                        }
                        Err(e) => tracing::warn!(node = %name, error = %e, "could not set pod CIDR"),
                    }
                }
                Err(e) => tracing::warn!(error = %e, "pod CIDR allocation"),
            }
        }
        tokio::select! {
            _ = changes.notified() => {}
            _ = tokio::time::sleep(Duration::from_secs(30)) => {}
        }
    }
}
